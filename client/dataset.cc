#include "client/dataset.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <system_error>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "client/dataset_files.h"
#include "common/status_macros.h"

namespace pynq::client {
namespace {

constexpr uint32_t kIdxImagesMagic = 0x00000803;  // 2051: unsigned bytes, 3 dimensions
constexpr uint32_t kIdxLabelsMagic = 0x00000801;  // 2049: unsigned bytes, 1 dimension
constexpr size_t kIdxImagesHeader = 16;
constexpr size_t kIdxLabelsHeader = 8;
constexpr size_t kNumClasses = 10;
constexpr size_t kCifarImageBytes = 3 * 32 * 32;
constexpr size_t kCifarRecordBytes = 1 + kCifarImageBytes;
constexpr size_t kReadChunk = 1 << 20;

const std::array<const char*, kNumClasses> kFashionNames = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
const std::array<const char*, kNumClasses> kCifarNames = {
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};

// The whole file, gunzipped when it is gzip (zlib reads plain files through unchanged).
absl::StatusOr<std::vector<uint8_t>> ReadMaybeGzip(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return absl::NotFoundError(absl::StrCat(path, ": no such file"));
  }
  gzFile file = gzopen(path.c_str(), "rb");
  if (file == nullptr) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::vector<uint8_t> bytes;
  for (;;) {
    const size_t old_size = bytes.size();
    bytes.resize(old_size + kReadChunk);
    const int got = gzread(file, bytes.data() + old_size, kReadChunk);
    bytes.resize(old_size + static_cast<size_t>(std::max(got, 0)));
    if (got <= 0) break;
  }
  int err = Z_OK;
  const std::string message = gzerror(file, &err);
  gzclose(file);
  if (err == Z_BUF_ERROR) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": truncated gzip stream (", message, ")"));
  }
  if (err != Z_OK) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": cannot decompress: ", message));
  }
  return bytes;
}

uint32_t ReadBigEndian32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

absl::Status CheckMagic(const std::string& path, const std::vector<uint8_t>& bytes, size_t header,
                        uint32_t want) {
  if (bytes.size() < header) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": truncated: ", bytes.size(),
                                                   " bytes, shorter than the ", header,
                                                   "-byte IDX header"));
  }
  const uint32_t magic = ReadBigEndian32(bytes.data());
  if (magic != want) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": bad magic number ", magic, " (expected ", want, "): not an IDX ",
                     want == kIdxImagesMagic ? "images" : "labels", " file"));
  }
  return absl::OkStatus();
}

absl::Status CheckSize(const std::string& path, size_t have, size_t want, absl::string_view what) {
  if (have < want) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": truncated: ", what, " need ", want, " bytes, the file has ", have));
  }
  if (have > want) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", have - want, " unexpected trailing bytes after ", what));
  }
  return absl::OkStatus();
}

absl::Status CheckLabels(const std::string& path, const std::vector<uint8_t>& labels) {
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] >= kNumClasses) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": label of record ", i, " is ", labels[i], ", out of range 0..9"));
    }
  }
  return absl::OkStatus();
}

std::vector<std::string> MnistClassNames(DatasetKind kind) {
  std::vector<std::string> names;
  for (size_t i = 0; i < kNumClasses; ++i) {
    names.push_back(kind == DatasetKind::kFashionMnist ? kFashionNames[i] : std::to_string(i));
  }
  return names;
}

// CIFAR-10's names from batches.meta.txt beside the data when it holds ten, else the built-in
// list (the same names, in label order).
std::vector<std::string> CifarClassNames(const std::string& data_path) {
  std::vector<std::string> names;
  const std::string meta = FindCifarMetaFile(data_path);
  if (!meta.empty()) {
    std::ifstream in(meta);
    for (std::string line; std::getline(in, line);) {
      absl::string_view name = absl::StripAsciiWhitespace(line);
      if (!name.empty()) names.emplace_back(name);
    }
  }
  if (names.size() != kNumClasses) names.assign(kCifarNames.begin(), kCifarNames.end());
  return names;
}

absl::StatusOr<Dataset> LoadIdx(DatasetKind kind, const std::string& images_path) {
  PYNQ_ASSIGN_OR_RETURN(const std::string labels_path, FindIdxLabelsFile(images_path));
  PYNQ_ASSIGN_OR_RETURN(std::vector<uint8_t> images, ReadMaybeGzip(images_path));
  PYNQ_RETURN_IF_ERROR(CheckMagic(images_path, images, kIdxImagesHeader, kIdxImagesMagic));
  const size_t count = ReadBigEndian32(images.data() + 4);
  const size_t rows = ReadBigEndian32(images.data() + 8);
  const size_t cols = ReadBigEndian32(images.data() + 12);
  const size_t image_bytes = rows * cols;
  PYNQ_RETURN_IF_ERROR(
      CheckSize(images_path, images.size(), kIdxImagesHeader + count * image_bytes,
                absl::StrCat(count, " images of ", rows, "x", cols, " (as the header says)")));

  PYNQ_ASSIGN_OR_RETURN(std::vector<uint8_t> labels, ReadMaybeGzip(labels_path));
  PYNQ_RETURN_IF_ERROR(CheckMagic(labels_path, labels, kIdxLabelsHeader, kIdxLabelsMagic));
  const size_t label_count = ReadBigEndian32(labels.data() + 4);
  PYNQ_RETURN_IF_ERROR(CheckSize(labels_path, labels.size(), kIdxLabelsHeader + label_count,
                                 absl::StrCat(label_count, " labels (as the header says)")));
  if (label_count != count) {
    return absl::InvalidArgumentError(absl::StrCat(
        labels_path, ": ", label_count, " labels for the ", count, " images of ", images_path));
  }
  Dataset set;
  set.name = DatasetName(kind);
  set.image_dims = {1, static_cast<int64_t>(rows), static_cast<int64_t>(cols)};
  set.image_bytes = image_bytes;
  set.pixels.assign(images.begin() + kIdxImagesHeader, images.end());
  set.labels.assign(labels.begin() + kIdxLabelsHeader, labels.end());
  PYNQ_RETURN_IF_ERROR(CheckLabels(labels_path, set.labels));
  set.class_names = MnistClassNames(kind);
  return set;
}

absl::StatusOr<Dataset> LoadCifar(const std::string& path) {
  PYNQ_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, ReadMaybeGzip(path));
  if (bytes.empty() || bytes.size() % kCifarRecordBytes != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": truncated or not a CIFAR-10 binary batch: ", bytes.size(),
        " bytes is not a positive multiple of the ", kCifarRecordBytes, "-byte record"));
  }
  const size_t count = bytes.size() / kCifarRecordBytes;
  Dataset set;
  set.name = DatasetName(DatasetKind::kCifar10);
  set.image_dims = {3, 32, 32};
  set.image_bytes = kCifarImageBytes;
  set.pixels.resize(count * kCifarImageBytes);
  set.labels.resize(count);
  for (size_t i = 0; i < count; ++i) {
    const uint8_t* record = bytes.data() + i * kCifarRecordBytes;
    set.labels[i] = record[0];
    std::copy(record + 1, record + kCifarRecordBytes, set.pixels.begin() + i * kCifarImageBytes);
  }
  PYNQ_RETURN_IF_ERROR(CheckLabels(path, set.labels));
  set.class_names = CifarClassNames(path);
  return set;
}

}  // namespace

absl::StatusOr<DatasetKind> ParseDatasetKind(std::string_view name) {
  const std::string lower = absl::AsciiStrToLower(absl::string_view(name.data(), name.size()));
  if (lower == "mnist") return DatasetKind::kMnist;
  if (lower == "fashion-mnist" || lower == "fashion_mnist") return DatasetKind::kFashionMnist;
  if (lower == "cifar10" || lower == "cifar-10") return DatasetKind::kCifar10;
  return absl::InvalidArgumentError(absl::StrCat("unknown dataset '", std::string(name),
                                                 "': expected mnist, fashion-mnist or cifar10"));
}

absl::StatusOr<std::string> ResolveDataDir(const std::string& flag_value) {
  std::error_code ec;
  if (!flag_value.empty()) {
    if (std::filesystem::is_directory(flag_value, ec)) return flag_value;
    return absl::NotFoundError(
        absl::StrCat("data directory ", flag_value, " (--data-dir) is not a directory"));
  }
  const char* env = std::getenv("INFER_DATA_DIR");
  if (env != nullptr && *env != '\0') {
    if (std::filesystem::is_directory(env, ec)) return std::string(env);
    return absl::NotFoundError(
        absl::StrCat("data directory ", env, " (from INFER_DATA_DIR) is not a directory"));
  }
  const std::string fallback = "../shared/datasets";
  if (std::filesystem::is_directory(fallback, ec)) return fallback;
  return absl::NotFoundError(
      "no data directory: --data-dir is not set, INFER_DATA_DIR is not set, and "
      "../shared/datasets does not exist");
}

absl::StatusOr<Dataset> LoadTestSet(DatasetKind kind, const std::string& data_dir) {
  PYNQ_ASSIGN_OR_RETURN(const std::string path, FindTestSetFile(kind, data_dir));
  return LoadFile(kind, path);
}

absl::StatusOr<Dataset> LoadFile(DatasetKind kind, const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return absl::NotFoundError(absl::StrCat(path, ": no such file"));
  }
  if (kind == DatasetKind::kCifar10) return LoadCifar(path);
  return LoadIdx(kind, path);
}

}  // namespace pynq::client
