#include "common/file_util.h"

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pynq {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class ReadRegularFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("pynq-file-util-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  absl::Status Read(const fs::path& path, size_t max = 1024) {
    return ReadRegularFile(path.string(), "shown-name", max).status();
  }

  fs::path dir_;
};

TEST_F(ReadRegularFileTest, ReadsARegularFileAndALinkToOne) {
  std::ofstream(dir_ / "f") << "hello";
  fs::create_symlink(dir_ / "f", dir_ / "link");
  EXPECT_EQ(*ReadRegularFile((dir_ / "f").string(), "f", 5), "hello");
  EXPECT_EQ(*ReadRegularFile((dir_ / "link").string(), "link", 5), "hello");
}

TEST_F(ReadRegularFileTest, MissingFileIsNotFound) {
  EXPECT_EQ(Read(dir_ / "nope").code(), absl::StatusCode::kNotFound);
}

TEST_F(ReadRegularFileTest, AFifoIsRefusedAtOnceWithoutBlocking) {
  ASSERT_EQ(mkfifo((dir_ / "fifo").c_str(), 0600), 0);
  const auto start = std::chrono::steady_clock::now();
  const absl::Status status = Read(dir_ / "fifo");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(status.message()), HasSubstr("shown-name is a FIFO"));
}

TEST_F(ReadRegularFileTest, DevicesAndDirectoriesAreRefused) {
  fs::create_symlink("/dev/zero", dir_ / "zero");
  EXPECT_THAT(std::string(Read(dir_ / "zero").message()), HasSubstr("a character device"));
  EXPECT_THAT(std::string(Read(dir_).message()), HasSubstr("a directory"));
}

TEST_F(ReadRegularFileTest, ASymlinkLoopIsRefused) {
  fs::create_symlink("loop", dir_ / "loop");
  const absl::Status status = Read(dir_ / "loop");
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(status.message()), HasSubstr("symbolic"));
}

TEST_F(ReadRegularFileTest, AFileOverTheLimitIsRefusedUnread) {
  std::ofstream(dir_ / "big") << std::string(2000, 'x');
  const absl::Status status = Read(dir_ / "big", 1999);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(status.message()), HasSubstr("holds 2000 bytes; the limit is 1999"));
  EXPECT_TRUE(Read(dir_ / "big", 2000).ok());
}

TEST_F(ReadRegularFileTest, MessagesNameTheDisplayNameNotThePath) {
  ASSERT_EQ(mkfifo((dir_ / "fifo").c_str(), 0600), 0);
  EXPECT_THAT(std::string(Read(dir_ / "fifo").message()), ::testing::Not(HasSubstr(dir_.string())));
}

}  // namespace
}  // namespace pynq
