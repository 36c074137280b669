// The whole path over loopback gRPC: all 10,000 MNIST test images streamed through a running
// server, checked against the in-process CPU backend bit for bit, and scored.
#include <cstring>
#include <map>
#include <vector>

#include "accel/cpu/cpu_backend.h"
#include "client/dataset.h"
#include "gtest/gtest.h"
#include "models/model.h"
#include "tests/integration/test_server.h"

namespace pynq {
namespace {

constexpr char kModel[] = "mnist-cnn-q8";
constexpr int kClasses = 10;

class EndToEndTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<client::Dataset> data =
        client::LoadTestSet(client::DatasetKind::kMnist, testing::DataDir());
    ASSERT_TRUE(data.ok()) << data.status();
    data_ = new client::Dataset(*std::move(data));

    absl::StatusOr<std::unique_ptr<const models::Model>> model =
        models::Model::LoadFromFile(testing::SourceDir() + "/models/zoo/mnist-cnn-q8/1/model.pb");
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = model->release();
    auto cpu = accel::cpu::CpuBackend::Create({});
    ASSERT_TRUE(cpu.ok()) << cpu.status();
    cpu_ = cpu->release();
    expected_ = new std::vector<int8_t>(data_->size() * kClasses);
    computed_ = new std::vector<bool>(data_->size(), false);

    auto server = server::InferenceServer::Create(
        testing::LoopbackOptions(testing::SourceDir() + "/models/zoo"));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = server->release();
  }

  // A failed ASSERT in SetUpTestSuite only skips the tests: make each of them fail instead.
  void SetUp() override { ASSERT_NE(server_, nullptr) << "suite set-up failed (see above)"; }

  static void TearDownTestSuite() {
    delete server_;
    delete cpu_;
    delete computed_;
    delete expected_;
    delete model_;
    delete data_;
  }

  // The reference for images [first, first + n): the same model run in-process by the CPU
  // backend, computed once per image, in chunks.
  static void ComputeExpected(size_t first, size_t n) {
    for (size_t start = first; start < first + n; start += 500) {
      const size_t count = std::min<size_t>(500, first + n - start);
      if ((*computed_)[start] && (*computed_)[start + count - 1]) continue;
      ASSERT_TRUE(cpu_->Run(*model_, static_cast<int>(count),
                            absl::MakeConstSpan(data_->image(start).data(), count * 784),
                            absl::MakeSpan(expected_->data() + start * kClasses, count * kClasses))
                      .ok());
      std::fill(computed_->begin() + static_cast<long>(start),
                computed_->begin() + static_cast<long>(start + count), true);
    }
  }

  // Streams images [0, count) over one ModelStreamInfer call, `kWindow` in flight, checks every
  // answer bit for bit and returns how many were classified correctly.
  static size_t StreamAndCheck(size_t count);

  // The FP32 logits the server must send for image `i`: its int8 logits dequantized.
  static std::vector<float> ExpectedLogits(size_t i) {
    std::vector<float> out(kClasses);
    for (int c = 0; c < kClasses; ++c) {
      out[c] = model_->output_scale() *
               static_cast<float>(static_cast<int32_t>((*expected_)[i * kClasses + c]) -
                                  model_->output_zero_point());
    }
    return out;
  }

  static int64_t ExpectedClass(size_t i) {
    const int8_t* row = expected_->data() + i * kClasses;
    return std::max_element(row, row + kClasses) - row;
  }

  // Checks one image's answer inside `response` (image `k` of the response) bit for bit.
  static void CheckAnswer(const inference::ModelInferResponse& response, size_t image, int k) {
    ASSERT_EQ(response.outputs_size(), 2);
    ASSERT_EQ(response.raw_output_contents_size(), 2);
    ASSERT_EQ(response.outputs(0).name(), "logits");
    ASSERT_EQ(response.outputs(1).name(), "class");
    const std::string& logits = response.raw_output_contents(0);
    const std::string& cls = response.raw_output_contents(1);
    ASSERT_GE(logits.size(), (k + 1) * kClasses * sizeof(float));
    ASSERT_GE(cls.size(), (k + 1) * sizeof(int64_t));
    std::vector<float> got(kClasses);
    std::memcpy(got.data(), logits.data() + k * kClasses * sizeof(float), kClasses * sizeof(float));
    const std::vector<float> want = ExpectedLogits(image);
    EXPECT_EQ(0, std::memcmp(got.data(), want.data(), kClasses * sizeof(float)))
        << "logits of image " << image << " differ from the in-process CPU backend";
    int64_t c = 0;
    std::memcpy(&c, cls.data() + k * sizeof(int64_t), sizeof(c));
    EXPECT_EQ(c, ExpectedClass(image)) << "image " << image;
  }

  static client::Dataset* data_;
  static const models::Model* model_;
  static std::vector<int8_t>* expected_;
  static std::vector<bool>* computed_;
  static accel::cpu::CpuBackend* cpu_;
  static server::InferenceServer* server_;
};

client::Dataset* EndToEndTest::data_ = nullptr;
const models::Model* EndToEndTest::model_ = nullptr;
std::vector<int8_t>* EndToEndTest::expected_ = nullptr;
std::vector<bool>* EndToEndTest::computed_ = nullptr;
accel::cpu::CpuBackend* EndToEndTest::cpu_ = nullptr;
server::InferenceServer* EndToEndTest::server_ = nullptr;

size_t EndToEndTest::StreamAndCheck(size_t count) {
  ComputeExpected(0, count);
  auto stub = testing::Connect(server_->grpc_port());
  std::vector<int> answers(count, 0);
  size_t correct = 0;
  const grpc::Status status = testing::StreamWindowed(
      *stub, count, /*window=*/64,
      [&](size_t i) {
        return testing::MnistRequest(kModel, data_->image(i).data(), 1, std::to_string(i));
      },
      [&](const inference::ModelStreamInferResponse& response) {
        EXPECT_TRUE(response.error_message().empty()) << response.error_message();
        const size_t i = std::stoul(response.infer_response().id());
        if (i >= count) {
          ADD_FAILURE() << "answer for unknown id " << i;
          return;
        }
        ++answers[i];
        CheckAnswer(response.infer_response(), i, 0);
        if (ExpectedClass(i) == data_->labels[i]) ++correct;
      });
  EXPECT_TRUE(status.ok()) << status.error_message();
  for (size_t i = 0; i < count; ++i) EXPECT_EQ(answers[i], 1) << "image " << i << " answers";
  return correct;
}

// Small enough for the sanitizer builds: the stream machinery under real concurrency.
TEST_F(EndToEndTest, StreamsAThousandImagesBitExact) {
  const size_t correct = StreamAndCheck(1000);
  EXPECT_GE(correct, 980u);
}

// The whole MNIST test set (excluded from the sanitizer runs by its name: WholeTestSet).
TEST_F(EndToEndTest, StreamsTheWholeTestSetBitExactAndAccurate) {
  ASSERT_EQ(data_->size(), 10000u);
  const size_t correct = StreamAndCheck(data_->size());
  const double accuracy = static_cast<double>(correct) / static_cast<double>(data_->size());
  std::printf("mnist-cnn-q8 over gRPC: %zu/%zu correct (%.2f%%)\n", correct, data_->size(),
              100.0 * accuracy);
  EXPECT_GE(accuracy, 0.99);
}

TEST_F(EndToEndTest, UnaryAnswersEqualTheInProcessBackend) {
  ComputeExpected(0, 200);
  auto stub = testing::Connect(server_->grpc_port());
  for (size_t i = 0; i < 200; ++i) {
    grpc::ClientContext context;
    inference::ModelInferResponse response;
    const grpc::Status status = stub->ModelInfer(
        &context, testing::MnistRequest(kModel, data_->image(i).data(), 1, "u"), &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.id(), "u");
    EXPECT_EQ(response.model_name(), kModel);
    CheckAnswer(response, i, 0);
  }
}

TEST_F(EndToEndTest, AMultiImageRequestIsAnsweredImageByImage) {
  auto stub = testing::Connect(server_->grpc_port());
  constexpr int kImages = 37;
  const size_t first = 1234;
  ComputeExpected(first, kImages);
  grpc::ClientContext context;
  inference::ModelInferResponse response;
  ASSERT_TRUE(stub->ModelInfer(&context,
                               testing::MnistRequest(kModel, data_->image(first).data(), kImages),
                               &response)
                  .ok());
  ASSERT_EQ(response.outputs(0).shape_size(), 2);
  EXPECT_EQ(response.outputs(0).shape(0), kImages);
  EXPECT_EQ(response.outputs(0).shape(1), kClasses);
  EXPECT_EQ(response.outputs(1).shape(0), kImages);
  for (int k = 0; k < kImages; ++k) CheckAnswer(response, first + k, k);
}

TEST_F(EndToEndTest, MetadataDescribesTheTensorContract) {
  auto stub = testing::Connect(server_->grpc_port());
  grpc::ClientContext context;
  inference::ModelMetadataRequest request;
  request.set_name(kModel);
  inference::ModelMetadataResponse md;
  ASSERT_TRUE(stub->ModelMetadata(&context, request, &md).ok());
  ASSERT_EQ(md.inputs_size(), 1);
  EXPECT_EQ(md.inputs(0).name(), "image");
  EXPECT_EQ(md.inputs(0).datatype(), "UINT8");
  EXPECT_EQ(std::vector<int64_t>(md.inputs(0).shape().begin(), md.inputs(0).shape().end()),
            (std::vector<int64_t>{-1, 1, 28, 28}));
  ASSERT_EQ(md.outputs_size(), 2);
  EXPECT_EQ(md.outputs(0).name(), "logits");
  EXPECT_EQ(md.outputs(0).datatype(), "FP32");
  EXPECT_EQ(std::vector<int64_t>(md.outputs(0).shape().begin(), md.outputs(0).shape().end()),
            (std::vector<int64_t>{-1, 10}));
  EXPECT_EQ(md.outputs(1).name(), "class");
  EXPECT_EQ(md.outputs(1).datatype(), "INT64");
  EXPECT_EQ(std::vector<int64_t>(md.outputs(1).shape().begin(), md.outputs(1).shape().end()),
            (std::vector<int64_t>{-1}));

  grpc::ClientContext ready_context;
  inference::ServerReadyResponse ready;
  ASSERT_TRUE(stub->ServerReady(&ready_context, {}, &ready).ok());
  EXPECT_TRUE(ready.ready());
}

}  // namespace
}  // namespace pynq
