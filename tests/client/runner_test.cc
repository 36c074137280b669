// The stream and unary runners against a fake GRPCInferenceService in this process: answers out
// of order, error answers, a stalled request, a stream that fails, the in-flight bound.
#include "client/runner.h"

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "client/endpoint.h"
#include "client/infer_protocol.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/client/fake_inference_service.h"

namespace pynq::client {
namespace {

using inference::ModelInferRequest;
using inference::ModelInferResponse;
using test::FakeBehaviour;
using test::FakeClass;
using test::FakeService;
using ::testing::HasSubstr;

constexpr size_t kImages = 60;

// kImages images of 1x2x2 with varied pixels; labels chosen so that about half are "correct".
Dataset FakeSet() {
  Dataset d;
  d.name = "fake";
  d.image_dims = {1, 2, 2};
  d.image_bytes = 4;
  d.class_names = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
  for (size_t i = 0; i < kImages; ++i) {
    const uint8_t px[4] = {static_cast<uint8_t>(i), static_cast<uint8_t>(3 * i), 7,
                           static_cast<uint8_t>(i * i)};
    d.pixels.insert(d.pixels.end(), px, px + 4);
    d.labels.push_back(static_cast<uint8_t>(i % 2 == 0 ? (i + 4 + 3 * i + i * i) % 10 : 0));
  }
  return d;
}

class ClientRunnerTest : public ::testing::Test {
 protected:
  void Start(FakeBehaviour behaviour, size_t total = kImages) {
    server_ = std::make_unique<test::FakeServer>(std::move(behaviour), total);
    service_ = &server_->service();
    stub_ = inference::GRPCInferenceService::NewStub(
        grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials()));
    target_.model_name = "fake-model";
    target_.input_name = "image";
    target_.input_shape = {1, 1, 2, 2};
    target_.outputs = {"class"};
  }

  RunResult Run(RunnerOptions options, size_t count = kImages) {
    return RunInference(*stub_, target_, data_, count, options);
  }

  // Every image answered with FakeClass of its own pixels, except those in `failed`.
  void ExpectAnswers(const RunResult& run, const std::set<size_t>& failed) {
    ASSERT_EQ(run.images.size(), kImages);
    for (size_t i = 0; i < kImages; ++i) {
      const ImageResult& r = run.images[i];
      if (failed.count(i) > 0) {
        EXPECT_FALSE(r.ok()) << i;
        continue;
      }
      ASSERT_TRUE(r.ok()) << i << ": " << r.error;
      const auto px = data_.image(i);
      EXPECT_EQ(r.predicted, FakeClass(std::string(px.begin(), px.end()))) << i;
      EXPECT_GE(r.latency_us, 0) << i;
    }
  }

  Dataset data_ = FakeSet();
  InferTarget target_;
  std::unique_ptr<test::FakeServer> server_;
  FakeService* service_ = nullptr;
  std::unique_ptr<inference::GRPCInferenceService::Stub> stub_;
};

TEST_F(ClientRunnerTest, StreamMatchesOutOfOrderAnswersById) {
  FakeBehaviour b;
  b.answer_when_idle_ms = 30;
  Start(b);
  RunnerOptions options;
  options.concurrency = 4;
  size_t last_progress = 0;
  options.progress = [&](size_t done) { last_progress = done; };
  const RunResult run = Run(options);
  ExpectAnswers(run, {});
  EXPECT_EQ(run.answered, kImages);
  EXPECT_EQ(run.errors(), 0u);
  EXPECT_TRUE(run.aborted.empty());
  EXPECT_EQ(last_progress, kImages);
  // The server held exactly the client's window: it was filled, never exceeded.
  EXPECT_EQ(service_->max_in_flight(), 4);
  // Every request carried the model, the input and the image, once per image.
  const std::vector<ModelInferRequest> seen = service_->seen();
  ASSERT_EQ(seen.size(), kImages);
  std::set<std::string> ids;
  for (const ModelInferRequest& r : seen) {
    ids.insert(r.id());
    EXPECT_EQ(r.model_name(), "fake-model");
    ASSERT_EQ(r.inputs_size(), 1);
    EXPECT_EQ(r.inputs(0).datatype(), "UINT8");
    EXPECT_THAT(r.inputs(0).shape(), ::testing::ElementsAre(1, 1, 2, 2));
    ASSERT_EQ(r.outputs_size(), 1);
    EXPECT_EQ(r.outputs(0).name(), "class");
    const auto px = data_.image(std::stoul(r.id()));
    EXPECT_EQ(r.raw_input_contents(0), std::string(px.begin(), px.end()));
  }
  EXPECT_EQ(ids.size(), kImages);
}

TEST_F(ClientRunnerTest, StreamConcurrencyOneIsSequential) {
  FakeBehaviour b;
  b.typed_contents = true;
  b.answer_when_idle_ms = 5;
  Start(b);
  RunnerOptions options;
  options.concurrency = 1;
  ExpectAnswers(Run(options), {});
  EXPECT_EQ(service_->max_in_flight(), 1);
}

TEST_F(ClientRunnerTest, StreamErrorAnswersFailTheirImages) {
  FakeBehaviour b;
  b.reverse_group = 3;
  b.error_ids = {5, 17};
  b.duplicate = {20};
  Start(b);
  RunnerOptions options;
  options.concurrency = 3;
  const RunResult run = Run(options);
  ExpectAnswers(run, {5, 17});
  EXPECT_EQ(run.images[5].error, "fake error 5");
  EXPECT_GE(run.images[5].latency_us, 0);  // an answer, though an error
  ASSERT_EQ(run.unmatched.size(), 1u);     // the repeated answer for 20
  EXPECT_THAT(run.unmatched[0], HasSubstr("20"));
  EXPECT_EQ(run.errors(), 3u);
  EXPECT_EQ(run.answered, kImages);
}

TEST_F(ClientRunnerTest, StreamErrorWithoutIdFailsTheOldestOutstanding) {
  FakeBehaviour b;
  b.error_without_id = {9};  // answered in order: 9 is the oldest when it fails
  Start(b);
  RunnerOptions options;
  options.concurrency = 4;
  const RunResult run = Run(options);
  ExpectAnswers(run, {9});
  EXPECT_EQ(run.images[9].error, "fake error without id");
}

TEST_F(ClientRunnerTest, StreamStalledRequestTimesOut) {
  FakeBehaviour b;
  b.never_answer = {7};
  Start(b);
  RunnerOptions options;
  options.concurrency = 4;
  options.timeout = absl::Milliseconds(500);
  options.progress_interval = absl::Milliseconds(20);
  const RunResult run = Run(options);
  ExpectAnswers(run, {7});
  EXPECT_THAT(run.images[7].error, HasSubstr("no answer"));
  EXPECT_THAT(run.aborted, HasSubstr("--timeout-ms"));
  EXPECT_EQ(run.answered, kImages - 1);
}

TEST_F(ClientRunnerTest, StreamFailureFailsEveryUnansweredImage) {
  FakeBehaviour b;
  b.fail_stream_after = 10;
  Start(b);
  RunnerOptions options;
  options.concurrency = 2;
  const RunResult run = Run(options);
  EXPECT_EQ(run.answered, 10u);
  for (size_t i = 0; i < 10; ++i) EXPECT_TRUE(run.images[i].ok()) << i;
  for (size_t i = 10; i < kImages; ++i) {
    EXPECT_THAT(run.images[i].error, HasSubstr("UNAVAILABLE")) << i;
  }
  EXPECT_THAT(run.aborted, HasSubstr("fake server going away"));
  EXPECT_EQ(run.errors(), kImages - 10);
}

TEST_F(ClientRunnerTest, StreamToNoServerFailsEveryImage) {
  stub_ = inference::GRPCInferenceService::NewStub(
      grpc::CreateChannel("127.0.0.1:1", grpc::InsecureChannelCredentials()));
  const RunResult run = Run(RunnerOptions{});
  EXPECT_EQ(run.answered, 0u);
  EXPECT_EQ(run.errors(), kImages);
  EXPECT_THAT(run.aborted, HasSubstr("UNAVAILABLE"));
}

TEST_F(ClientRunnerTest, LimitSendsOnlyTheFirstImages) {
  Start(FakeBehaviour{}, /*total=*/5);
  const RunResult run = Run(RunnerOptions{}, 5);
  ASSERT_EQ(run.images.size(), 5u);
  EXPECT_EQ(run.answered, 5u);
  EXPECT_EQ(service_->seen().size(), 5u);
}

TEST_F(ClientRunnerTest, UnaryAnswersErrorsAndDeadlines) {
  FakeBehaviour b;
  b.error_ids = {3};
  b.unary_slow = {11};
  Start(b);
  RunnerOptions options;
  options.unary = true;
  options.concurrency = 5;
  // Far beyond a normal call, even the first of a run under TSan on a loaded machine (500 ms was
  // not), far below the slow answer.
  options.timeout = absl::Seconds(2);
  const RunResult run = Run(options);
  ExpectAnswers(run, {3, 11});
  EXPECT_THAT(run.images[3].error, HasSubstr("INVALID_ARGUMENT: fake error 3"));
  EXPECT_THAT(run.images[11].error, HasSubstr("DEADLINE_EXCEEDED"));
  EXPECT_EQ(run.errors(), 2u);
  EXPECT_LE(service_->max_in_flight(), 5);
  EXPECT_GE(service_->max_in_flight(), 2);  // calls did overlap
}

// ---- the protocol helpers ----

inference::ModelMetadataResponse Metadata(const std::string& datatype, std::vector<int64_t> shape) {
  inference::ModelMetadataResponse m;
  m.set_name("m");
  auto* in = m.add_inputs();
  in->set_name("input");
  in->set_datatype(datatype);
  for (int64_t d : shape) in->add_shape(d);
  m.add_outputs()->set_name("logits");
  m.add_outputs()->set_name("class");
  m.add_outputs()->set_name("features");
  return m;
}

TEST(ClientInferProtocolTest, MetadataMustMatchTheImages) {
  absl::StatusOr<InferTarget> t =
      MatchModelMetadata(Metadata("UINT8", {-1, 1, 28, 28}), {1, 28, 28});
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->input_name, "input");
  EXPECT_THAT(t->input_shape, ::testing::ElementsAre(1, 1, 28, 28));
  EXPECT_THAT(t->outputs, ::testing::ElementsAre("logits", "class"));

  absl::StatusOr<InferTarget> shape =
      MatchModelMetadata(Metadata("UINT8", {-1, 3, 32, 32}), {1, 28, 28});
  EXPECT_EQ(shape.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(shape.status().message(), HasSubstr("[-1,3,32,32]"));
  EXPECT_THAT(shape.status().message(), HasSubstr("[1,28,28]"));

  absl::StatusOr<InferTarget> type =
      MatchModelMetadata(Metadata("FP32", {-1, 1, 28, 28}), {1, 28, 28});
  EXPECT_EQ(type.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(type.status().message(), HasSubstr("FP32"));

  inference::ModelMetadataResponse no_outputs = Metadata("UINT8", {1, 1, 28, 28});
  no_outputs.clear_outputs();
  no_outputs.add_outputs()->set_name("scores");
  EXPECT_EQ(MatchModelMetadata(no_outputs, {1, 28, 28}).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(ClientInferProtocolTest, ReadsTheClassOrFallsBackToLogits) {
  ModelInferResponse r;
  auto* logits = r.add_outputs();
  logits->set_name("logits");
  logits->set_datatype("FP32");
  const float scores[3] = {0.5f, 2.5f, -1.0f};
  r.add_raw_output_contents(std::string(reinterpret_cast<const char*>(scores), sizeof(scores)));
  EXPECT_EQ(*ReadPredictedClass(r), 1);  // arg-max

  auto* cls = r.add_outputs();
  cls->set_name("class");
  cls->set_datatype("INT64");
  const int64_t seven = 7;
  r.add_raw_output_contents(std::string(reinterpret_cast<const char*>(&seven), 8));
  EXPECT_EQ(*ReadPredictedClass(r), 7);  // the class output wins

  r.mutable_raw_output_contents(1)->resize(4);
  EXPECT_EQ(ReadPredictedClass(r).status().code(), absl::StatusCode::kInvalidArgument);

  ModelInferResponse none;
  EXPECT_EQ(ReadPredictedClass(none).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ClientInferProtocolTest, RequestIds) {
  EXPECT_EQ(*ParseRequestId("123"), 123u);
  EXPECT_FALSE(ParseRequestId("").ok());
  EXPECT_FALSE(ParseRequestId("x1").ok());
  EXPECT_FALSE(ParseRequestId("-1").ok());
}

TEST(ClientEndpointTest, HostPortForms) {
  EXPECT_EQ(ParseEndpoint("board")->GrpcTarget(), "board:8001");
  EXPECT_EQ(ParseEndpoint("board:9000")->GrpcTarget(), "board:9000");
  EXPECT_EQ(ParseEndpoint("board:9000")->DefaultMetricsUrl(), "http://board:8002/metrics");
  EXPECT_EQ(ParseEndpoint("[::1]:9000")->GrpcTarget(), "[::1]:9000");
  EXPECT_EQ(ParseEndpoint("[::1]")->GrpcTarget(), "[::1]:8001");
  EXPECT_EQ(ParseEndpoint("::1")->DefaultMetricsUrl(), "http://[::1]:8002/metrics");
  EXPECT_FALSE(ParseEndpoint("").ok());
  EXPECT_FALSE(ParseEndpoint("board:").ok());
  EXPECT_FALSE(ParseEndpoint("board:99999").ok());
  EXPECT_FALSE(ParseEndpoint(":8001").ok());
}

}  // namespace
}  // namespace pynq::client
