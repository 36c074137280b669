// infer-client's whole run (RunClient) against the fake service and a fake metrics endpoint:
// exit codes, the JSON report, the server's view from metric deltas.
#include "client/client_app.h"

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/client/fake_inference_service.h"
#include "tests/client/http_test_server.h"

namespace pynq::client {
namespace {

namespace fs = std::filesystem;
using test::FakeBehaviour;
using test::FakeServer;
using test::HttpResponse;
using test::HttpTestServer;
using ::testing::HasSubstr;

constexpr size_t kImages = 20;
constexpr size_t kWrong = 5;  // the last kWrong labels disagree with the fake model

void PutBigEndian32(uint32_t v, std::vector<uint8_t>* out) {
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<uint8_t>(v >> shift));
}

// A 20-image MNIST-format test set in a fresh folder; returns the images file.
std::string WriteTinyMnist() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const fs::path dir = fs::path(::testing::TempDir()) / (std::string("pynq_app_") + info->name());
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::vector<uint8_t> images;
  std::vector<uint8_t> labels;
  PutBigEndian32(2051, &images);
  PutBigEndian32(kImages, &images);
  PutBigEndian32(28, &images);
  PutBigEndian32(28, &images);
  PutBigEndian32(2049, &labels);
  PutBigEndian32(kImages, &labels);
  for (size_t i = 0; i < kImages; ++i) {
    std::string pixels(784, '\0');
    for (size_t p = 0; p < pixels.size(); ++p)
      pixels[p] = static_cast<char>((i * 31 + p * 7) % 256);
    images.insert(images.end(), pixels.begin(), pixels.end());
    const int64_t right = test::FakeClass(pixels);
    labels.push_back(static_cast<uint8_t>(i < kImages - kWrong ? right : (right + 1) % 10));
  }
  const std::string images_path = (dir / "t10k-images-idx3-ubyte").string();
  std::ofstream(images_path, std::ios::binary)
      .write(reinterpret_cast<const char*>(images.data()), images.size());
  std::ofstream((dir / "t10k-labels-idx1-ubyte").string(), std::ios::binary)
      .write(reinterpret_cast<const char*>(labels.data()), labels.size());
  return images_path;
}

FakeBehaviour MnistModel(std::vector<int64_t> shape = {-1, 1, 28, 28}) {
  FakeBehaviour b;
  b.metadata.set_name("mnist-cnn-q8");
  auto* input = b.metadata.add_inputs();
  input->set_name("input");
  input->set_datatype("UINT8");
  for (int64_t d : shape) input->add_shape(d);
  b.metadata.add_outputs()->set_name("logits");
  b.metadata.add_outputs()->set_name("class");
  return b;
}

class ClientAppTest : public ::testing::Test {
 protected:
  ClientOptions Options(const FakeServer& server) {
    ClientOptions o;
    o.dataset = "mnist";
    o.host = server.address();
    o.data_file = WriteTinyMnist();
    o.json_path = (fs::path(o.data_file).parent_path() / "report.json").string();
    o.no_metrics = true;
    o.progress = false;
    return o;
  }
  nlohmann::json ReadJson(const ClientOptions& o) {
    std::ifstream in(o.json_path);
    return nlohmann::json::parse(in);
  }
};

TEST_F(ClientAppTest, CompleteRunExitsZeroAndWritesJson) {
  FakeServer server(MnistModel(), kImages);
  // The fake metrics count what the fake service answered: zero before the run, all after.
  HttpTestServer metrics([&server] {
    const int n = server.service().answered_ok();
    return HttpResponse(
        "200 OK",
        "pynq_inference_requests_total{model=\"mnist-cnn-q8\",version=\"1\",outcome=\"success\"} " +
            std::to_string(n) +
            "\npynq_inference_batch_size_count{model=\"mnist-cnn-q8\",version=\"1\",backend="
            "\"cpu\"} " +
            std::to_string(n / 2) +
            "\npynq_inference_batch_size_sum{model=\"mnist-cnn-q8\",version=\"1\",backend=\"cpu\"}"
            " " +
            std::to_string(n) + "\nprocess_resident_memory_bytes 1e7\n");
  });
  ClientOptions o = Options(server);
  o.no_metrics = false;
  o.metrics_url = metrics.Url();
  ASSERT_EQ(RunClient(o), kExitOk);
  const nlohmann::json j = ReadJson(o);
  EXPECT_EQ(j["model"], "mnist-cnn-q8");
  EXPECT_EQ(j["images"], kImages);
  EXPECT_EQ(j["correct"], kImages - kWrong);
  EXPECT_DOUBLE_EQ(j["accuracy"].get<double>(), 0.75);
  EXPECT_EQ(j["errors"], 0);
  EXPECT_EQ(j["source"], o.data_file);
  ASSERT_FALSE(j["server"].is_null());
  EXPECT_EQ(j["server"]["requests"], kImages);
  EXPECT_EQ(j["server"]["batches"], kImages / 2);
  EXPECT_DOUBLE_EQ(j["server"]["avg_batch_size"].get<double>(), 2.0);
  EXPECT_EQ(j["server"]["rss_bytes"], 1e7);
  EXPECT_GE(metrics.requests(), 2);
}

TEST_F(ClientAppTest, UnaryRunGivesTheSameAnswers) {
  FakeServer server(MnistModel(), kImages);
  ClientOptions o = Options(server);
  o.unary = true;
  o.concurrency = 3;
  ASSERT_EQ(RunClient(o), kExitOk);
  EXPECT_EQ(ReadJson(o)["correct"], kImages - kWrong);
}

TEST_F(ClientAppTest, MinAccuracyAsFractionOrPercent) {
  FakeServer server(MnistModel(), kImages);
  ClientOptions o = Options(server);
  o.min_accuracy = 0.8;
  EXPECT_EQ(RunClient(o), kExitRunFailed);
  o.min_accuracy = 80;
  EXPECT_EQ(RunClient(o), kExitRunFailed);
  o.min_accuracy = 75;
  EXPECT_EQ(RunClient(o), kExitOk);
  o.min_accuracy = 0.75;
  EXPECT_EQ(RunClient(o), kExitOk);
}

TEST_F(ClientAppTest, RequestErrorsExitOne) {
  FakeBehaviour b = MnistModel();
  b.error_ids = {2, 3};
  FakeServer server(b, kImages);
  ClientOptions o = Options(server);
  EXPECT_EQ(RunClient(o), kExitRunFailed);
  const nlohmann::json j = ReadJson(o);
  EXPECT_EQ(j["errors"], 2);
  EXPECT_THAT(j["error_messages"][0].get<std::string>(), HasSubstr("image 2: fake error 2"));
}

TEST_F(ClientAppTest, SetupProblemsExitTwo) {
  FakeServer server(MnistModel(), kImages);
  ClientOptions o = Options(server);

  ClientOptions unreachable = o;
  unreachable.host = "127.0.0.1:1";
  EXPECT_EQ(RunClient(unreachable), kExitSetup);

  ClientOptions unknown_model = o;
  unknown_model.model = "resnet-9000";
  EXPECT_EQ(RunClient(unknown_model), kExitSetup);

  ClientOptions missing = o;
  missing.data_file = o.data_file + ".nope";
  EXPECT_EQ(RunClient(missing), kExitSetup);

  ClientOptions bad_dataset = o;
  bad_dataset.dataset = "imagenet";
  EXPECT_EQ(RunClient(bad_dataset), kExitSetup);

  FakeServer cifar_model(MnistModel({-1, 3, 32, 32}), kImages);
  ClientOptions wrong_shape = Options(cifar_model);
  EXPECT_EQ(RunClient(wrong_shape), kExitSetup);
  EXPECT_EQ(cifar_model.service().seen().size(), 0u);  // nothing was sent
}

TEST_F(ClientAppTest, UnreachableMetricsStillRuns) {
  FakeServer server(MnistModel(), kImages);
  ClientOptions o = Options(server);
  o.no_metrics = false;
  o.metrics_url = "http://127.0.0.1:1/metrics";
  ASSERT_EQ(RunClient(o), kExitOk);
  const nlohmann::json j = ReadJson(o);
  EXPECT_TRUE(j["server"].is_null());
  EXPECT_THAT(j["server_note"].get<std::string>(), HasSubstr("127.0.0.1:1"));
}

TEST(ClientDefaultModelTest, ByDataset) {
  EXPECT_EQ(DefaultModel("mnist"), "mnist-cnn-q8");
  EXPECT_EQ(DefaultModel("fashion-mnist"), "fashion-cnn-q8");
  EXPECT_EQ(DefaultModel("cifar10"), "cifar10-resnet-q8");
}

}  // namespace
}  // namespace pynq::client
