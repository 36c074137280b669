#include "client/dataset_files.h"

#include <filesystem>
#include <system_error>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace pynq::client {
namespace {

namespace fs = std::filesystem;

constexpr char kIdxImages[] = "t10k-images-idx3-ubyte";
constexpr char kImagesMarker[] = "-images-idx3-ubyte";
constexpr char kLabelsMarker[] = "-labels-idx1-ubyte";

bool IsRegularFile(const std::string& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);
}

std::string Join(const std::string& dir, const std::string& name) {
  return (fs::path(dir) / fs::path(name)).string();
}

// `dir`/`name` and `dir`/`name`.gz, the uncompressed first.
void AddBoth(const std::string& dir, const std::string& name, std::vector<std::string>* out) {
  out->push_back(Join(dir, name));
  out->push_back(Join(dir, name + ".gz"));
}

}  // namespace

const char* DatasetName(DatasetKind kind) {
  switch (kind) {
    case DatasetKind::kMnist:
      return "mnist";
    case DatasetKind::kFashionMnist:
      return "fashion-mnist";
    case DatasetKind::kCifar10:
      return "cifar10";
  }
  return "unknown";
}

std::vector<std::string> TestSetCandidates(DatasetKind kind, const std::string& data_dir) {
  std::vector<std::string> out;
  switch (kind) {
    case DatasetKind::kMnist:
      AddBoth(Join(data_dir, "mnist"), kIdxImages, &out);
      AddBoth(data_dir, kIdxImages, &out);
      break;
    case DatasetKind::kFashionMnist:
      AddBoth(Join(data_dir, "fashion-mnist"), kIdxImages, &out);
      AddBoth(data_dir, kIdxImages, &out);
      break;
    case DatasetKind::kCifar10:
      AddBoth(Join(data_dir, "cifar-10-batches-bin"), "test_batch.bin", &out);
      AddBoth(Join(data_dir, "cifar-10"), "test_batch.bin", &out);
      AddBoth(data_dir, "test_batch.bin", &out);
      out.push_back(Join(Join(data_dir, "cifar-10"), "test_batch.first1000.bin.gz"));
      break;
  }
  return out;
}

absl::StatusOr<std::string> FindTestSetFile(DatasetKind kind, const std::string& data_dir) {
  std::vector<std::string> tried = TestSetCandidates(kind, data_dir);
  for (const std::string& path : tried) {
    if (IsRegularFile(path)) return path;
  }
  return absl::NotFoundError(absl::StrCat("no ", DatasetName(kind), " test set in ", data_dir,
                                          "; tried: ", absl::StrJoin(tried, ", ")));
}

absl::StatusOr<std::string> FindIdxLabelsFile(const std::string& images_path) {
  const fs::path path(images_path);
  std::string name = path.filename().string();
  const size_t at = name.rfind(kImagesMarker);
  if (at == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(images_path,
                     ": cannot find its labels file: expected an images file named "
                     "like t10k-images-idx3-ubyte[.gz]"));
  }
  name.replace(at, sizeof(kImagesMarker) - 1, kLabelsMarker);
  const bool gz = name.size() > 3 && name.compare(name.size() - 3, 3, ".gz") == 0;
  const std::string stem = gz ? name.substr(0, name.size() - 3) : name;
  const std::string dir = path.parent_path().string();
  // Same compression as the images first, then the other.
  std::vector<std::string> tried = {Join(dir, gz ? stem + ".gz" : stem),
                                    Join(dir, gz ? stem : stem + ".gz")};
  for (const std::string& candidate : tried) {
    if (IsRegularFile(candidate)) return candidate;
  }
  return absl::NotFoundError(
      absl::StrCat("no labels file for ", images_path, "; tried: ", absl::StrJoin(tried, ", ")));
}

std::string FindCifarMetaFile(const std::string& data_path) {
  const fs::path dir = fs::path(data_path).parent_path();
  for (const fs::path& candidate :
       {dir / "batches.meta.txt", dir.parent_path() / "batches.meta.txt"}) {
    if (IsRegularFile(candidate.string())) return candidate.string();
  }
  return "";
}

}  // namespace pynq::client
