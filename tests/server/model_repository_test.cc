#include "server/model_repository.h"

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pynq::server {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

// The repository root: $PYNQ_SOURCE_DIR, else the tree the test was built from.
std::string SourceDir() {
  const char* dir = std::getenv("PYNQ_SOURCE_DIR");
  if (dir != nullptr && *dir != '\0') return dir;
  return PYNQ_TEST_SOURCE_DIR;
}

// A scratch repository holding a copy of the zoo's MNIST model under a name of the test's.
class ModelRepositoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("pynq-repo-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
    zoo_ = fs::path(SourceDir()) / "models/zoo/mnist-cnn-q8";
  }
  void TearDown() override { fs::remove_all(root_); }

  // Adds model `name` with the zoo's model file and `config` as its config.pbtxt.
  void AddModel(const std::string& name, const std::string& config) {
    fs::create_directories(root_ / name / "1");
    fs::copy(zoo_ / "1/model.pb", root_ / name / "1/model.pb");
    std::ofstream(root_ / name / "config.pbtxt") << config;
  }

  static std::string Config(const std::string& name, const std::string& extra = "",
                            const std::string& dims = "1, 28, 28") {
    return "name: \"" + name + "\"\nmax_batch_size: 8\n" +
           "input [ { name: \"image\" data_type: TYPE_UINT8 dims: [ " + dims + " ] } ]\n" + extra;
  }

  ModelEntry LoadOnly() {
    auto entries = LoadRepository(root_.string());
    EXPECT_TRUE(entries.ok()) << entries.status();
    EXPECT_EQ(entries->size(), 1u);
    return std::move(entries->front());
  }

  fs::path root_;
  fs::path zoo_;
};

TEST_F(ModelRepositoryTest, TheZooLoadsAndItsConfigMatchesItsModel) {
  auto entries = LoadRepository((fs::path(SourceDir()) / "models/zoo").string());
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_FALSE(entries->empty());
  for (const ModelEntry& e : *entries) {
    EXPECT_TRUE(e.status.ok()) << e.name << ": " << e.status;
    EXPECT_EQ(e.version, "1");
    ASSERT_NE(e.model, nullptr);
    EXPECT_EQ(e.config.output_size(), 2);
  }
}

TEST_F(ModelRepositoryTest, DefaultsFillOutputsAndQueueSize) {
  AddModel("m", Config("m"));
  ModelEntry e = LoadOnly();
  ASSERT_TRUE(e.status.ok()) << e.status;
  ASSERT_EQ(e.config.output_size(), 2);
  EXPECT_EQ(e.config.output(0).name(), "logits");
  EXPECT_EQ(e.config.output(0).dims(0), 10);
  EXPECT_EQ(e.config.output(1).name(), "class");
  EXPECT_EQ(e.config.max_queue_size(), 32u * 8u);
}

TEST_F(ModelRepositoryTest, TheHighestVersionFolderIsServed) {
  AddModel("m", Config("m"));
  fs::create_directories(root_ / "m/3");
  fs::copy(zoo_ / "1/model.pb", root_ / "m/3/model.pb");
  fs::create_directories(root_ / "m/notaversion");
  EXPECT_EQ(LoadOnly().version, "3");
}

TEST_F(ModelRepositoryTest, SyntaxErrorNamesFileLineAndColumn) {
  AddModel("m", "name: \"m\"\nmax_batch_size: 8\ninput [ { name: \"image\" data_typo: 1 } ]\n");
  ModelEntry e = LoadOnly();
  EXPECT_EQ(e.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(e.status.message()), HasSubstr("m/config.pbtxt: line 3, column"));
  EXPECT_THAT(std::string(e.status.message()), HasSubstr("data_typo"));
  EXPECT_EQ(e.model, nullptr);
}

TEST_F(ModelRepositoryTest, FieldProblemsAreNamed) {
  const std::pair<std::string, std::string> cases[] = {
      {"name: \"m\"\nmax_batch_size: 0\n", "max_batch_size 0 is outside 1..1024"},
      {Config("m", "", "1, 28, 28").replace(0, 9, "name: \"other\""), "differs from its folder"},
      {Config("m", "", "1, 28, 29"), "dims [1,28,29] differ from the model file's [1,28,28]"},
      {Config("m", "output [ { name: \"probs\" data_type: TYPE_FP32 dims: [10] } ]"),
       "output 'probs' is unknown"},
      {Config("m", "output [ { name: \"logits\" data_type: TYPE_FP32 dims: [9] } ]"),
       "output 'logits' must be TYPE_FP32 dims [10]"},
      {Config("m", "dynamic_batching { preferred_batch_size: [ 16 ] }"),
       "preferred_batch_size 16 is outside 1..max_batch_size (8)"},
      {Config("m", "platform: \"tensorflow_savedmodel\""), "platform 'tensorflow_savedmodel'"},
      {"name: \"m\"\nmax_batch_size: 8\ninput [ { name: \"image\" data_type: TYPE_FP32 dims: [1] } "
       "]",
       "only TYPE_UINT8 is served"},
  };
  for (const auto& [config, message] : cases) {
    fs::remove_all(root_ / "m");
    AddModel("m", config);
    ModelEntry e = LoadOnly();
    EXPECT_FALSE(e.status.ok()) << config;
    EXPECT_THAT(std::string(e.status.message()), HasSubstr(message)) << config;
    EXPECT_EQ(e.model, nullptr);
  }
}

TEST_F(ModelRepositoryTest, ABrokenModelDoesNotStopTheOthers) {
  AddModel("good", Config("good"));
  AddModel("truncated", Config("truncated"));
  fs::resize_file(root_ / "truncated/1/model.pb", 100);
  AddModel("missing-version", Config("missing-version"));
  fs::remove_all(root_ / "missing-version/1");
  auto entries = LoadRepository(root_.string());
  ASSERT_TRUE(entries.ok());
  ASSERT_EQ(entries->size(), 3u);
  EXPECT_TRUE((*entries)[0].status.ok());  // sorted: good, missing-version, truncated
  EXPECT_THAT(std::string((*entries)[1].status.message()), HasSubstr("no version folder"));
  EXPECT_THAT(std::string((*entries)[2].status.message()), HasSubstr("truncated/1/model.pb"));
}

TEST_F(ModelRepositoryTest, TrapsInTheRepositoryMarkOnlyTheirModelNotReady) {
  AddModel("good", Config("good"));
  fs::create_directory_symlink("loop", root_ / "loop");
  AddModel("version-loop", Config("version-loop"));
  fs::create_directory_symlink("7", root_ / "version-loop/7");
  AddModel("fifo", Config("fifo"));
  fs::remove(root_ / "fifo/config.pbtxt");
  ASSERT_EQ(mkfifo((root_ / "fifo/config.pbtxt").c_str(), 0600), 0);
  AddModel("model-is-fifo", Config("model-is-fifo"));
  fs::remove(root_ / "model-is-fifo/1/model.pb");
  ASSERT_EQ(mkfifo((root_ / "model-is-fifo/1/model.pb").c_str(), 0600), 0);
  AddModel("escape", Config("escape", "default_model_filename: \"../../good/1/model.pb\""));
  AddModel("huge", Config("huge", "# " + std::string(kMaxConfigBytes, 'x')));
  std::ofstream(root_ / "README") << "not a model";  // plain files at the top are skipped
  fs::create_directories(root_ / ".hidden");

  const auto start = std::chrono::steady_clock::now();
  auto entries = LoadRepository(root_.string());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  ASSERT_TRUE(entries.ok()) << entries.status();
  std::map<std::string, std::string> why;
  for (const ModelEntry& e : *entries) {
    why[e.name] = std::string(e.status.message());
    // Clients may read the reason: no path on this machine in it.
    EXPECT_THAT(why[e.name], Not(HasSubstr(root_.string()))) << e.name;
  }
  ASSERT_EQ(why.size(), 7u);
  EXPECT_EQ(why["good"], "");
  EXPECT_THAT(why["loop"], HasSubstr("loop: cannot be read: Too many levels of symbolic links"));
  EXPECT_THAT(why["version-loop"], HasSubstr("version-loop/7: cannot be read"));
  EXPECT_THAT(why["fifo"], HasSubstr("fifo/config.pbtxt is a FIFO"));
  EXPECT_THAT(why["model-is-fifo"], HasSubstr("model-is-fifo/1/model.pb is a FIFO"));
  EXPECT_THAT(why["escape"], HasSubstr("must be a file name inside the version folder"));
  EXPECT_THAT(why["huge"], HasSubstr("huge/config.pbtxt holds"));
}

TEST_F(ModelRepositoryTest, AMissingRepositoryIsNotFound) {
  EXPECT_EQ(LoadRepository((root_ / "nope").string()).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace pynq::server
