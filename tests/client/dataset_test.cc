// The dataset readers against the real test sets (INFER_DATA_DIR) and against broken copies.
#include "client/dataset.h"

#include <zlib.h>

#include <array>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "client/dataset_files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pynq::client {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

std::string DataDir() {
  const char* dir = std::getenv("INFER_DATA_DIR");
  return dir == nullptr ? "" : dir;
}

// A fresh, empty folder for one test.
std::string MakeTempDir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  fs::path dir = fs::path(::testing::TempDir()) /
                 (std::string("pynq_dataset_") + info->test_suite_name() + "_" + info->name());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

// Gunzips with zlib directly: the reference the reader is compared with.
std::vector<uint8_t> Gunzip(const std::string& path) {
  gzFile file = gzopen(path.c_str(), "rb");
  EXPECT_NE(file, nullptr) << path;
  std::vector<uint8_t> out;
  std::array<uint8_t, 65536> chunk;
  int got = 0;
  while (file != nullptr && (got = gzread(file, chunk.data(), chunk.size())) > 0) {
    out.insert(out.end(), chunk.begin(), chunk.begin() + got);
  }
  if (file != nullptr) gzclose(file);
  return out;
}

std::vector<uint8_t> ReadRaw(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

void WriteFile(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

std::vector<int> CountLabels(const std::vector<uint8_t>& labels) {
  std::vector<int> counts(10, 0);
  for (uint8_t label : labels) ++counts.at(label);
  return counts;
}

class ClientDatasetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_dir_ = DataDir();
    ASSERT_TRUE(!data_dir_.empty() && fs::is_directory(data_dir_))
        << "INFER_DATA_DIR must name the datasets folder (ctest sets it)";
  }
  std::string data_dir_;
};

TEST_F(ClientDatasetTest, MnistTestSetMatchesTheOfficialFiles) {
  absl::StatusOr<Dataset> set = LoadTestSet(DatasetKind::kMnist, data_dir_);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->name, "mnist");
  ASSERT_EQ(set->size(), 10000u);
  EXPECT_THAT(set->image_dims, ElementsAre(1, 28, 28));
  EXPECT_EQ(set->image_bytes, 784u);
  EXPECT_EQ(set->pixels.size(), 10000u * 784u);
  // Per-class counts of the MNIST test split, as published (datasets README).
  EXPECT_THAT(CountLabels(set->labels),
              ElementsAre(980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009));
  EXPECT_THAT(set->class_names, ElementsAre("0", "1", "2", "3", "4", "5", "6", "7", "8", "9"));

  // Pixels and labels are the bytes after the 16- and 8-byte IDX headers.
  const std::vector<uint8_t> images = Gunzip(data_dir_ + "/mnist/t10k-images-idx3-ubyte.gz");
  const std::vector<uint8_t> labels = Gunzip(data_dir_ + "/mnist/t10k-labels-idx1-ubyte.gz");
  ASSERT_EQ(images.size(), 16u + 10000u * 784u);
  EXPECT_TRUE(std::equal(set->pixels.begin(), set->pixels.end(), images.begin() + 16));
  EXPECT_TRUE(std::equal(set->labels.begin(), set->labels.end(), labels.begin() + 8));
  const auto first = set->image(0);
  EXPECT_EQ(first.size(), 784u);
  EXPECT_TRUE(std::equal(first.begin(), first.end(), images.begin() + 16));
  const auto last = set->image(9999);
  EXPECT_TRUE(std::equal(last.begin(), last.end(), images.end() - 784));
}

TEST_F(ClientDatasetTest, FashionMnistHasItsNamesAndAThousandPerClass) {
  absl::StatusOr<Dataset> set = LoadTestSet(DatasetKind::kFashionMnist, data_dir_);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->name, "fashion-mnist");
  ASSERT_EQ(set->size(), 10000u);
  EXPECT_THAT(CountLabels(set->labels), ElementsAreArray(std::vector<int>(10, 1000)));
  EXPECT_THAT(set->class_names, ElementsAre("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                            "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"));
}

TEST_F(ClientDatasetTest, UncompressedFilesReadTheSameAsGzip) {
  const std::string dir = MakeTempDir();
  fs::create_directories(dir + "/mnist");
  WriteFile(dir + "/mnist/t10k-images-idx3-ubyte",
            Gunzip(data_dir_ + "/mnist/t10k-images-idx3-ubyte.gz"));
  WriteFile(dir + "/mnist/t10k-labels-idx1-ubyte",
            Gunzip(data_dir_ + "/mnist/t10k-labels-idx1-ubyte.gz"));
  absl::StatusOr<std::string> path = FindTestSetFile(DatasetKind::kMnist, dir);
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(*path, dir + "/mnist/t10k-images-idx3-ubyte");

  absl::StatusOr<Dataset> plain = LoadTestSet(DatasetKind::kMnist, dir);
  absl::StatusOr<Dataset> gz = LoadTestSet(DatasetKind::kMnist, data_dir_);
  ASSERT_TRUE(plain.ok()) << plain.status();
  ASSERT_TRUE(gz.ok()) << gz.status();
  EXPECT_EQ(plain->pixels, gz->pixels);
  EXPECT_EQ(plain->labels, gz->labels);
}

TEST_F(ClientDatasetTest, ImagesFileFindsLabelsWithTheOtherCompression) {
  const std::string dir = MakeTempDir();
  WriteFile(dir + "/t10k-images-idx3-ubyte",
            Gunzip(data_dir_ + "/fashion-mnist/t10k-images-idx3-ubyte.gz"));
  fs::copy_file(data_dir_ + "/fashion-mnist/t10k-labels-idx1-ubyte.gz",
                dir + "/t10k-labels-idx1-ubyte.gz");
  // The data dir itself holds the files: accepted as well as <dir>/fashion-mnist/.
  absl::StatusOr<Dataset> set = LoadTestSet(DatasetKind::kFashionMnist, dir);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->size(), 10000u);
}

TEST_F(ClientDatasetTest, CifarFallsBackToTheExactSubset) {
  absl::StatusOr<std::string> path = FindTestSetFile(DatasetKind::kCifar10, data_dir_);
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(fs::path(*path).filename(), "test_batch.first1000.bin.gz");

  absl::StatusOr<Dataset> set = LoadTestSet(DatasetKind::kCifar10, data_dir_);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->name, "cifar10");
  ASSERT_EQ(set->size(), 1000u);
  EXPECT_THAT(set->image_dims, ElementsAre(3, 32, 32));
  EXPECT_EQ(set->image_bytes, 3072u);

  // Labels: the first 1000 lines of the official label list.
  std::ifstream in(data_dir_ + "/cifar-10/labels/test_batch.labels.txt");
  std::vector<uint8_t> expected;
  for (int label = 0; expected.size() < 1000 && in >> label;) {
    expected.push_back(static_cast<uint8_t>(label));
  }
  ASSERT_EQ(expected.size(), 1000u);
  EXPECT_EQ(set->labels, expected);
  EXPECT_EQ(CountLabels(set->labels), CountLabels(expected));

  // Record i = 1 label byte + 3072 planar pixels.
  const std::vector<uint8_t> raw = Gunzip(*path);
  ASSERT_EQ(raw.size(), 1000u * 3073u);
  const auto image = set->image(999);
  EXPECT_TRUE(std::equal(image.begin(), image.end(), raw.begin() + 999 * 3073 + 1));
  EXPECT_THAT(set->class_names, ElementsAre("airplane", "automobile", "bird", "cat", "deer", "dog",
                                            "frog", "horse", "ship", "truck"));
}

TEST_F(ClientDatasetTest, CifarJpegCopyNamedDirectly) {
  absl::StatusOr<Dataset> set =
      LoadFile(DatasetKind::kCifar10, data_dir_ + "/cifar-10/jpeg/test.bin.gz");
  ASSERT_TRUE(set.ok()) << set.status();
  ASSERT_EQ(set->size(), 10000u);
  EXPECT_THAT(CountLabels(set->labels), ElementsAreArray(std::vector<int>(10, 1000)));
  EXPECT_EQ(set->class_names.at(9), "truck");
}

TEST_F(ClientDatasetTest, TruncatedIdxNamesTheFile) {
  const std::string dir = MakeTempDir();
  std::vector<uint8_t> images = Gunzip(data_dir_ + "/mnist/t10k-images-idx3-ubyte.gz");
  images.resize(images.size() - 100);
  WriteFile(dir + "/t10k-images-idx3-ubyte", images);
  fs::copy_file(data_dir_ + "/mnist/t10k-labels-idx1-ubyte.gz", dir + "/t10k-labels-idx1-ubyte.gz");
  absl::StatusOr<Dataset> set = LoadTestSet(DatasetKind::kMnist, dir);
  ASSERT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument) << set.status();
  EXPECT_THAT(set.status().message(), HasSubstr(dir + "/t10k-images-idx3-ubyte"));
  EXPECT_THAT(set.status().message(), HasSubstr("truncated"));
}

TEST_F(ClientDatasetTest, TruncatedGzipNamesTheFile) {
  const std::string dir = MakeTempDir();
  std::vector<uint8_t> gz = ReadRaw(data_dir_ + "/mnist/t10k-labels-idx1-ubyte.gz");
  gz.resize(gz.size() / 2);
  WriteFile(dir + "/t10k-labels-idx1-ubyte.gz", gz);
  fs::copy_file(data_dir_ + "/mnist/t10k-images-idx3-ubyte.gz", dir + "/t10k-images-idx3-ubyte.gz");
  absl::StatusOr<Dataset> set = LoadTestSet(DatasetKind::kMnist, dir);
  ASSERT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument) << set.status();
  EXPECT_THAT(set.status().message(), HasSubstr(dir + "/t10k-labels-idx1-ubyte.gz"));
  EXPECT_THAT(set.status().message(), HasSubstr("truncated"));
}

TEST_F(ClientDatasetTest, BadMagicIsRejected) {
  const std::string dir = MakeTempDir();
  // A labels file where the images file should be.
  WriteFile(dir + "/t10k-images-idx3-ubyte",
            Gunzip(data_dir_ + "/mnist/t10k-labels-idx1-ubyte.gz"));
  fs::copy_file(data_dir_ + "/mnist/t10k-labels-idx1-ubyte.gz", dir + "/t10k-labels-idx1-ubyte.gz");
  absl::StatusOr<Dataset> set = LoadTestSet(DatasetKind::kMnist, dir);
  ASSERT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument) << set.status();
  EXPECT_THAT(set.status().message(), HasSubstr("bad magic"));
  EXPECT_THAT(set.status().message(), HasSubstr(dir + "/t10k-images-idx3-ubyte"));
}

TEST_F(ClientDatasetTest, MissingTestSetListsThePathsTried) {
  const std::string dir = MakeTempDir();
  absl::StatusOr<Dataset> set = LoadTestSet(DatasetKind::kCifar10, dir);
  ASSERT_EQ(set.status().code(), absl::StatusCode::kNotFound) << set.status();
  for (const std::string& path : TestSetCandidates(DatasetKind::kCifar10, dir)) {
    EXPECT_THAT(set.status().message(), HasSubstr(path));
  }
  EXPECT_THAT(set.status().message(), HasSubstr(dir + "/cifar-10/test_batch.first1000.bin.gz"));
  EXPECT_THAT(set.status().message(), HasSubstr(dir + "/cifar-10-batches-bin/test_batch.bin"));
}

TEST(ClientDatasetFilesTest, MissingLabelsFileIsNotFound) {
  const std::string dir = MakeTempDir();
  WriteFile(dir + "/t10k-images-idx3-ubyte", {0, 0, 8, 3});
  absl::StatusOr<Dataset> set = LoadFile(DatasetKind::kMnist, dir + "/t10k-images-idx3-ubyte");
  ASSERT_EQ(set.status().code(), absl::StatusCode::kNotFound) << set.status();
  EXPECT_THAT(set.status().message(), HasSubstr(dir + "/t10k-labels-idx1-ubyte"));
}

TEST(ClientDatasetFilesTest, CifarPartialRecordAndBadLabel) {
  const std::string dir = MakeTempDir();
  std::vector<uint8_t> two(2 * 3073, 7);
  two[0] = 3;
  two[3073] = 9;
  WriteFile(dir + "/ok.bin", two);
  absl::StatusOr<Dataset> ok = LoadFile(DatasetKind::kCifar10, dir + "/ok.bin");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_THAT(ok->labels, ElementsAre(3, 9));
  EXPECT_EQ(ok->pixels, std::vector<uint8_t>(2 * 3072, 7));
  EXPECT_EQ(ok->class_names.at(0), "airplane");  // built in: no batches.meta.txt here

  two.resize(two.size() - 5);
  WriteFile(dir + "/short.bin", two);
  absl::StatusOr<Dataset> short_set = LoadFile(DatasetKind::kCifar10, dir + "/short.bin");
  EXPECT_EQ(short_set.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(short_set.status().message(), HasSubstr(dir + "/short.bin"));

  std::vector<uint8_t> bad(3073, 0);
  bad[0] = 12;
  WriteFile(dir + "/bad.bin", bad);
  absl::StatusOr<Dataset> bad_set = LoadFile(DatasetKind::kCifar10, dir + "/bad.bin");
  EXPECT_EQ(bad_set.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad_set.status().message(), HasSubstr("out of range"));
}

TEST(ClientDatasetFilesTest, CifarClassNamesFromMetaFile) {
  const std::string dir = MakeTempDir();
  WriteFile(dir + "/one.bin", std::vector<uint8_t>(3073, 0));
  std::ofstream(dir + "/batches.meta.txt") << "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n\n";
  absl::StatusOr<Dataset> set = LoadFile(DatasetKind::kCifar10, dir + "/one.bin");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_THAT(set->class_names, ElementsAre("a", "b", "c", "d", "e", "f", "g", "h", "i", "j"));
}

TEST(ClientDatasetKindTest, ParsesTheAcceptedNames) {
  EXPECT_EQ(*ParseDatasetKind("mnist"), DatasetKind::kMnist);
  EXPECT_EQ(*ParseDatasetKind("fashion-mnist"), DatasetKind::kFashionMnist);
  EXPECT_EQ(*ParseDatasetKind("fashion_mnist"), DatasetKind::kFashionMnist);
  EXPECT_EQ(*ParseDatasetKind("cifar10"), DatasetKind::kCifar10);
  EXPECT_EQ(*ParseDatasetKind("cifar-10"), DatasetKind::kCifar10);
  absl::StatusOr<DatasetKind> bad = ParseDatasetKind("imagenet");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("imagenet"));
}

TEST(ClientDataDirTest, FlagThenEnvironment) {
  const std::string dir = MakeTempDir();
  EXPECT_EQ(*ResolveDataDir(dir), dir);
  EXPECT_EQ(ResolveDataDir(dir + "/nope").status().code(), absl::StatusCode::kNotFound);
  const char* saved = std::getenv("INFER_DATA_DIR");
  const std::string saved_value = saved == nullptr ? "" : saved;
  setenv("INFER_DATA_DIR", dir.c_str(), 1);
  EXPECT_EQ(*ResolveDataDir(""), dir);
  setenv("INFER_DATA_DIR", (dir + "/nope").c_str(), 1);
  absl::StatusOr<std::string> missing = ResolveDataDir("");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("INFER_DATA_DIR"));
  if (saved == nullptr) {
    unsetenv("INFER_DATA_DIR");
  } else {
    setenv("INFER_DATA_DIR", saved_value.c_str(), 1);
  }
}

}  // namespace
}  // namespace pynq::client
