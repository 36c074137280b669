// Attacks on a running infer-server from clients that do not play by the rules (issue 11's
// findings 2, 3, 4 and 7), each on loopback, bounded in count and time. The server runs as its
// own process, so its memory is measured alone; after each attack, good requests sent beside
// or after it must all be answered.
#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/raw_grpc.h"
#include "tests/integration/server_process.h"
#include "tests/integration/test_server.h"

namespace pynq {
namespace {

using ::testing::HasSubstr;

constexpr char kModel[] = "mnist-cnn-q8";

std::vector<std::string> ServerArgs(std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"--model-repository", testing::SourceDir() + "/models/zoo",
                                   "--address",          "127.0.0.1",
                                   "--grpc-port",        "0",
                                   "--metrics-port",     "0",
                                   "--log-level",        "info"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

inference::ModelInferRequest Good(const std::string& id = "") {
  static const std::vector<uint8_t> kZeros(784, 0);
  return testing::MnistRequest(kModel, kZeros.data(), 1, id);
}

class HostileClientTest : public ::testing::Test {
 protected:
  void Start(std::vector<std::string> extra = {}) {
    server_ = std::make_unique<testing::ServerProcess>(PYNQ_INFER_SERVER_BIN,
                                                       ServerArgs(std::move(extra)));
    ASSERT_TRUE(server_->WaitForPorts()) << server_->log();
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->grpc_port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = inference::GRPCInferenceService::NewStub(channel_);
  }

  // After every attack: the server still answers a good request, and its RSS is within the
  // bound; then it stops cleanly on SIGTERM.
  void TearDown() override {
    if (server_ == nullptr) return;
    ExpectGoodRequestAnswered();
    testing::ExpectRssBelow(*server_, testing::kAttackRssBoundBytes, "after the attack");
    if (HasFailure()) std::printf("server log:\n%s\n", server_->log().c_str());
    server_->Signal(SIGTERM);
    const std::optional<int> status = server_->Wait(std::chrono::seconds(30));
    ASSERT_TRUE(status.has_value()) << "the server did not exit after SIGTERM";
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << server_->log();
  }

  grpc::Status Infer(const inference::ModelInferRequest& request,
                     inference::ModelInferResponse* response = nullptr) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    inference::ModelInferResponse ignored;
    return stub_->ModelInfer(&context, request, response != nullptr ? response : &ignored);
  }

  void ExpectGoodRequestAnswered() {
    const grpc::Status status = Infer(Good());
    EXPECT_TRUE(status.ok()) << "a good request after the attack failed: "
                             << status.error_message();
  }

  std::unique_ptr<testing::ServerProcess> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<inference::GRPCInferenceService::Stub> stub_;
};

// Finding 2: streams whose clients send 1 MB requests and never read the answers. The server
// stops reading them once they hold their share (per-stream bytes, the server's budget), so
// its memory stays bounded; once the clients read, every request gets exactly one answer.
TEST_F(HostileClientTest, StreamsThatNeverReadTheirAnswersStayWithinTheMemoryBudget) {
  // Sanitizer builds copy memory slowly (TSan checks every byte gRPC hands over): there the
  // attack is scaled down (8 KB requests, 64 KiB per stream, 40 requests a stream) and only its
  // behaviour is checked.
  const bool small = testing::kSanitized;
  Start({"--memory-budget", small ? "1MiB" : "32MiB", "--stream-max-bytes",
         small ? "64KiB" : "16MiB"});
  // The budget plus the server's own working set (~25 MB idle) and gRPC's buffers.
  constexpr int64_t kBound = int64_t{96} << 20;
  constexpr int kStreams = 3;
  const int kRequestsPerStream = small ? 40 : 120;
  const std::string padding(small ? size_t{8} << 10 : size_t{1} << 20, 'x');

  struct Stream {
    grpc::ClientContext context;
    std::unique_ptr<
        grpc::ClientReaderWriter<inference::ModelInferRequest, inference::ModelStreamInferResponse>>
        rw;
    std::thread writer;
    std::atomic<int> written{0};
    std::map<std::string, std::string> answers;  // id prefix -> error message ("" = success)
    int duplicate_answers = 0;
  };
  std::vector<std::unique_ptr<Stream>> streams;
  testing::RssSampler sampler(server_->pid(), std::chrono::milliseconds(50));
  for (int s = 0; s < kStreams; ++s) {
    auto stream = std::make_unique<Stream>();
    stream->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
    stream->rw = stub_->ModelStreamInfer(&stream->context);
    Stream* raw = stream.get();
    stream->writer = std::thread([raw, s, &padding, kRequestsPerStream] {
      for (int i = 0; i < kRequestsPerStream; ++i) {
        const std::string id = "s" + std::to_string(s) + "-" + std::to_string(i) + ":";
        if (!raw->rw->Write(Good(id + padding))) return;
        raw->written.fetch_add(1);
      }
      raw->rw->WritesDone();
    });
    streams.push_back(std::move(stream));
  }
  // Nobody reads for 4 s: the writers block once the server stops reading their streams.
  std::this_thread::sleep_for(std::chrono::seconds(4));
  int written_while_unread = 0;
  for (const auto& s : streams) written_while_unread += s->written.load();
  const int64_t peak_unread = sampler.Stop();
  std::printf(
      "[ attack ] %d requests of %zu bytes written while no answer was read; peak RSS "
      "%lld MiB\n",
      written_while_unread, padding.size(), static_cast<long long>(peak_unread >> 20));
  if (!small) {  // scaled down, the whole attack fits in the kernel's socket buffers
    EXPECT_LT(written_while_unread, kStreams * kRequestsPerStream)
        << "the server kept reading streams whose answers nobody took";
    EXPECT_LT(peak_unread, kBound);
  }

  // Now the clients read: every request sent is answered exactly once.
  for (auto& s : streams) {
    inference::ModelStreamInferResponse response;
    while (s->rw->Read(&response)) {
      const std::string& id = response.infer_response().id();
      const std::string prefix = id.substr(0, id.find(':'));
      if (!s->answers.emplace(prefix, response.error_message()).second) ++s->duplicate_answers;
    }
    s->writer.join();
    const grpc::Status status = s->rw->Finish();
    EXPECT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(s->written.load(), kRequestsPerStream);
    EXPECT_EQ(s->answers.size(), static_cast<size_t>(kRequestsPerStream));
    EXPECT_EQ(s->duplicate_answers, 0);
    for (const auto& [id, error] : s->answers) {
      // Success, or refused for memory while other streams held the budget: never lost.
      if (!error.empty()) {
        EXPECT_THAT(error, HasSubstr("RESOURCE_EXHAUSTED")) << id;
      }
    }
  }
  testing::ExpectRssBelow(*server_, kBound, "after the streams drained");
  ExpectGoodRequestAnswered();
}

// The budget also bounds unary calls: one that would pass it is refused, and says why.
TEST_F(HostileClientTest, UnaryRequestPastTheMemoryBudgetIsResourceExhausted) {
  Start({"--memory-budget", "1MiB"});
  inference::ModelInferRequest big = Good();
  big.set_id(std::string(600 << 10, 'i'));  // held twice (gRPC's bytes, our copy): 1.2 MB
  const grpc::Status status = Infer(big);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("memory budget"));
  ExpectGoodRequestAnswered();
}

// Finding 3: a message that is not a ModelInferRequest inside a stream is answered with an
// error and the stream goes on; the requests after it are all answered; the status is OK.
TEST_F(HostileClientTest, MalformedStreamMessageIsAnsweredAndTheStreamGoesOn) {
  Start();
  testing::RawStream stream(channel_, testing::kModelStreamInferMethod);
  ASSERT_TRUE(stream.started());
  ASSERT_TRUE(stream.Write(std::string("\xff\xff\xff\xff garbage", 12)));
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(stream.Write(Good("good-" + std::to_string(i)).SerializeAsString()));
  ASSERT_TRUE(stream.WritesDone());
  std::map<std::string, std::string> answers;
  std::vector<std::string> errors;
  std::string bytes;
  while (stream.Read(&bytes)) {
    inference::ModelStreamInferResponse response;
    ASSERT_TRUE(response.ParseFromString(bytes));
    if (response.infer_response().id().empty()) {
      errors.push_back(response.error_message());
    } else {
      answers[response.infer_response().id()] = response.error_message();
    }
  }
  const grpc::Status status = stream.Finish();
  EXPECT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0], HasSubstr("INVALID_ARGUMENT"));
  EXPECT_THAT(errors[0], HasSubstr("not a valid inference.ModelInferRequest"));
  ASSERT_EQ(answers.size(), 5u);
  for (const auto& [id, error] : answers) EXPECT_EQ(error, "") << id;
}

TEST_F(HostileClientTest, MalformedUnaryMessageIsInvalidArgumentSayingWhy) {
  Start();
  std::string reply;
  const grpc::Status status = testing::RawUnaryCall(channel_, testing::kModelInferMethod,
                                                    std::string("\x0a\xff\xff\xff", 4), &reply);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("not a valid inference.ModelInferRequest"));
  // A model name that is not UTF-8 does not parse either (proto3 strings are checked).
  inference::ModelInferRequest bad_utf8 = Good();
  const std::string name = "mnist\xc3\x28";
  bad_utf8.set_model_name(name);
  // Serializing logs protobuf's UTF-8 complaint; the bytes are what a careless client sends.
  const std::string serialized = bad_utf8.SerializeAsString();
  const grpc::Status utf8 =
      testing::RawUnaryCall(channel_, testing::kModelInferMethod, serialized, &reply);
  EXPECT_EQ(utf8.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << utf8.error_message();
  ExpectGoodRequestAnswered();
}

// Finding 4: names and ids of any length are cut in error answers, so no answer outgrows a
// message or trailer limit and the good requests after it still get theirs.
TEST_F(HostileClientTest, HugeModelNameIsCutInTheStreamsErrorAnswer) {
  Start();
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  auto stream = stub_->ModelStreamInfer(&context);
  inference::ModelInferRequest unknown = Good(std::string(1 << 20, 'd'));  // a 1 MB id too
  unknown.set_model_name(std::string(2 << 20, 'n'));
  ASSERT_TRUE(stream->Write(unknown));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(stream->Write(Good("good-" + std::to_string(i))));
  stream->WritesDone();
  int good = 0;
  std::vector<inference::ModelStreamInferResponse> errors;
  inference::ModelStreamInferResponse response;
  while (stream->Read(&response)) {
    if (response.error_message().empty()) {
      ++good;
    } else {
      errors.push_back(response);
    }
  }
  const grpc::Status status = stream->Finish();
  EXPECT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  EXPECT_EQ(good, 5);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_LT(errors[0].ByteSizeLong(), 4096u);
  EXPECT_THAT(errors[0].error_message(), HasSubstr("NOT_FOUND: unknown model 'nnnn"));
  EXPECT_THAT(errors[0].error_message(), HasSubstr("... (2097152 bytes)"));
  EXPECT_THAT(errors[0].infer_response().id(), HasSubstr("... (1048576 bytes)"));
}

TEST_F(HostileClientTest, HugeModelNameIsCutInTheUnaryStatus) {
  Start();
  inference::ModelInferRequest unknown = Good();
  unknown.set_model_name(std::string(100000, 'n'));
  const grpc::Status status = Infer(unknown);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND) << status.error_message().size();
  EXPECT_LT(status.error_message().size(), 2048u);
  EXPECT_THAT(status.error_message(), HasSubstr("... (100000 bytes)"));
  // The same for the metadata calls, which echo the name too.
  grpc::ClientContext context;
  inference::ModelMetadataRequest metadata;
  metadata.set_name(std::string(100000, 'm'));
  inference::ModelMetadataResponse ignored;
  const grpc::Status md = stub_->ModelMetadata(&context, metadata, &ignored);
  EXPECT_EQ(md.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_LT(md.error_message().size(), 2048u);
  ExpectGoodRequestAnswered();
}

// Finding 7: a "timeout" parameter so large that now + timeout overflows means no deadline,
// not one in the past.
TEST_F(HostileClientTest, HugeTimeoutParameterSaturatesInsteadOfExpiring) {
  Start();
  for (int64_t timeout : {int64_t{9'300'000'000'000'000}, int64_t{9'223'372'036'854'775'807}}) {
    inference::ModelInferRequest r = Good();
    (*r.mutable_parameters())["timeout"].set_int64_param(timeout);
    const grpc::Status status = Infer(r);
    EXPECT_TRUE(status.ok()) << "timeout " << timeout << ": " << status.error_code() << " "
                             << status.error_message();
  }
  // A small timeout still works as a deadline.
  inference::ModelInferRequest r = Good();
  (*r.mutable_parameters())["timeout"].set_int64_param(1);
  EXPECT_EQ(Infer(r).error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
}

}  // namespace
}  // namespace pynq
