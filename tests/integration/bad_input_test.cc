// Every kind of bad input gets a clear status, and the server keeps serving: after each bad
// request a good one still succeeds. Runs over loopback gRPC against an in-process server whose
// repository holds one good model and broken ones: a config that does not parse, a truncated
// int8 model file, a binarized model file with a malformed layer and a truncated one.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/model.pb.h"
#include "tests/integration/test_server.h"

namespace pynq {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr char kModel[] = "mnist-cnn-q8";
constexpr char kBinarized[] = "mnist-lfc-w1a1";

// Copies zoo model `from` into `repo` as `to` (config renamed) and returns its model.pb path.
fs::path CopyZooModelAs(const fs::path& repo, const std::string& from, const std::string& to) {
  const fs::path zoo = fs::path(testing::SourceDir()) / "models/zoo" / from;
  fs::create_directories(repo / to / "1");
  std::ifstream cfg(zoo / "config.pbtxt");
  std::string text((std::istreambuf_iterator<char>(cfg)), std::istreambuf_iterator<char>());
  text.replace(text.find("\"" + from + "\""), from.size() + 2, "\"" + to + "\"");
  std::ofstream(repo / to / "config.pbtxt") << text;
  fs::copy(zoo / "1/model.pb", repo / to / "1/model.pb");
  return repo / to / "1/model.pb";
}

class BadInputTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    repo_ =
        new fs::path(fs::temp_directory_path() / ("pynq-bad-input-" + std::to_string(::getpid())));
    fs::remove_all(*repo_);
    const fs::path zoo = fs::path(testing::SourceDir()) / "models/zoo" / kModel;
    fs::create_directories(*repo_);
    fs::copy(zoo, *repo_ / kModel, fs::copy_options::recursive);

    // A config that does not parse.
    fs::create_directories(*repo_ / "broken-config/1");
    fs::copy(zoo / "1/model.pb", *repo_ / "broken-config/1/model.pb");
    std::ofstream(*repo_ / "broken-config/config.pbtxt") << "name: \"broken-config\"\n"
                                                            "max_batch_size: banana\n";
    // A good config over a truncated model file.
    fs::create_directories(*repo_ / "broken-model/1");
    std::ifstream cfg(zoo / "config.pbtxt");
    std::string text((std::istreambuf_iterator<char>(cfg)), std::istreambuf_iterator<char>());
    text.replace(text.find(kModel), std::string(kModel).size(), "broken-model");
    std::ofstream(*repo_ / "broken-model/config.pbtxt") << text;
    const auto size = fs::file_size(zoo / "1/model.pb");
    fs::copy(zoo / "1/model.pb", *repo_ / "broken-model/1/model.pb");
    fs::resize_file(*repo_ / "broken-model/1/model.pb", size / 2);

    // A binarized model whose second layer's packed weights are cut short, and one whose file is.
    const fs::path bnn = CopyZooModelAs(*repo_, kBinarized, "broken-bnn");
    pynq::model::ModelFile file;
    {
      std::ifstream in(bnn, std::ios::binary);
      ASSERT_TRUE(file.ParseFromIstream(&in)) << bnn;
    }
    file.mutable_layers(1)->mutable_binary_dense()->mutable_weights()->resize(100);
    {
      std::ofstream out(bnn, std::ios::binary | std::ios::trunc);
      ASSERT_TRUE(file.SerializeToOstream(&out));
    }
    const fs::path cut = CopyZooModelAs(*repo_, kBinarized, "truncated-bnn");
    fs::resize_file(cut, fs::file_size(cut) / 2);

    server::ServerOptions options = testing::LoopbackOptions(repo_->string());
    options.max_message_bytes = 1 << 20;
    auto server = server::InferenceServer::Create(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = server->release();
  }

  static void TearDownTestSuite() {
    delete server_;
    fs::remove_all(*repo_);
    delete repo_;
  }

  void SetUp() override {
    // A failed ASSERT in SetUpTestSuite only skips the tests: make each of them fail instead.
    ASSERT_NE(server_, nullptr) << "suite set-up failed (see above)";
    stub_ = testing::Connect(server_->grpc_port());
  }

  // A good single-image request.
  static inference::ModelInferRequest Good() {
    static const std::vector<uint8_t> kZeros(784, 0);
    return testing::MnistRequest(kModel, kZeros.data(), 1);
  }

  grpc::Status Infer(const inference::ModelInferRequest& request) {
    grpc::ClientContext context;
    inference::ModelInferResponse response;
    return stub_->ModelInfer(&context, request, &response);
  }

  // Sends `bad`, expects `code` with a message containing `text`, then a good request.
  void ExpectRefusedThenServing(const inference::ModelInferRequest& bad, grpc::StatusCode code,
                                const std::string& text) {
    const grpc::Status status = Infer(bad);
    EXPECT_EQ(status.error_code(), code) << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr(text));
    const grpc::Status good = Infer(Good());
    EXPECT_TRUE(good.ok()) << "the next good request failed: " << good.error_message();
  }

  static fs::path* repo_;
  static server::InferenceServer* server_;
  std::unique_ptr<inference::GRPCInferenceService::Stub> stub_;
};

fs::path* BadInputTest::repo_ = nullptr;
server::InferenceServer* BadInputTest::server_ = nullptr;

TEST_F(BadInputTest, UnknownModelIsNotFound) {
  inference::ModelInferRequest r = Good();
  r.set_model_name("no-such-model");
  ExpectRefusedThenServing(r, grpc::StatusCode::NOT_FOUND, "unknown model 'no-such-model'");
}

TEST_F(BadInputTest, UnknownVersionIsNotFound) {
  inference::ModelInferRequest r = Good();
  r.set_model_version("7");
  ExpectRefusedThenServing(r, grpc::StatusCode::NOT_FOUND, "no version '7'");
}

TEST_F(BadInputTest, WrongDatatypeIsInvalidArgument) {
  inference::ModelInferRequest r = Good();
  r.mutable_inputs(0)->set_datatype("FP32");
  ExpectRefusedThenServing(r, grpc::StatusCode::INVALID_ARGUMENT,
                           "input 'image': datatype 'FP32', expected UINT8");
}

TEST_F(BadInputTest, WrongShapeIsInvalidArgument) {
  inference::ModelInferRequest r = Good();
  r.mutable_inputs(0)->mutable_shape()->RemoveLast();  // [1,1,28]
  ExpectRefusedThenServing(r, grpc::StatusCode::INVALID_ARGUMENT,
                           "shape [1,1,28], expected [N,1,28,28]");
  inference::ModelInferRequest transposed = Good();
  transposed.mutable_inputs(0)->set_shape(1, 28);
  transposed.mutable_inputs(0)->set_shape(3, 1);
  ExpectRefusedThenServing(transposed, grpc::StatusCode::INVALID_ARGUMENT, "input 'image': shape");
}

TEST_F(BadInputTest, ByteCountNotMatchingTheShapeIsInvalidArgument) {
  inference::ModelInferRequest r = Good();
  r.mutable_raw_input_contents(0)->pop_back();
  ExpectRefusedThenServing(r, grpc::StatusCode::INVALID_ARGUMENT,
                           "783 bytes, but shape [1,1,28,28] of UINT8 needs 784");
}

TEST_F(BadInputTest, BothContentsAndRawIsInvalidArgument) {
  inference::ModelInferRequest r = Good();
  for (int i = 0; i < 784; ++i) r.mutable_inputs(0)->mutable_contents()->add_uint_contents(0);
  ExpectRefusedThenServing(r, grpc::StatusCode::INVALID_ARGUMENT,
                           "both 'contents' and 'raw_input_contents'");
}

TEST_F(BadInputTest, TypedContentsAloneAreAccepted) {
  inference::ModelInferRequest r = Good();
  r.clear_raw_input_contents();
  for (int i = 0; i < 784; ++i) r.mutable_inputs(0)->mutable_contents()->add_uint_contents(0);
  EXPECT_TRUE(Infer(r).ok());
}

TEST_F(BadInputTest, BatchLargerThanMaxBatchSizeIsInvalidArgument) {
  const std::vector<uint8_t> pixels(65 * 784, 0);
  ExpectRefusedThenServing(testing::MnistRequest(kModel, pixels.data(), 65),
                           grpc::StatusCode::INVALID_ARGUMENT,
                           "batch of 65 exceeds max_batch_size 64");
}

TEST_F(BadInputTest, EmptyInputIsInvalidArgument) {
  ExpectRefusedThenServing(testing::MnistRequest(kModel, nullptr, 0),
                           grpc::StatusCode::INVALID_ARGUMENT, "is empty");
  inference::ModelInferRequest no_data = Good();
  no_data.clear_raw_input_contents();
  ExpectRefusedThenServing(no_data, grpc::StatusCode::INVALID_ARGUMENT, "no data");
  inference::ModelInferRequest no_inputs = Good();
  no_inputs.clear_inputs();
  ExpectRefusedThenServing(no_inputs, grpc::StatusCode::INVALID_ARGUMENT,
                           "takes exactly one input tensor 'image', got 0");
}

TEST_F(BadInputTest, UnknownOutputIsInvalidArgument) {
  inference::ModelInferRequest r = Good();
  r.add_outputs()->set_name("probabilities");
  ExpectRefusedThenServing(r, grpc::StatusCode::INVALID_ARGUMENT, "unknown output 'probabilities'");
}

TEST_F(BadInputTest, OversizedMessageIsResourceExhausted) {
  inference::ModelInferRequest r = Good();
  r.mutable_raw_input_contents(0)->resize(2 << 20);  // over the 1 MiB limit set above
  ExpectRefusedThenServing(r, grpc::StatusCode::RESOURCE_EXHAUSTED, "");
}

TEST_F(BadInputTest, ExpiredTimeoutIsDeadlineExceededAndNeverComputed) {
  inference::ModelInferRequest r = Good();
  (*r.mutable_parameters())["timeout"].set_int64_param(1);  // 1 us: gone before it is queued
  ExpectRefusedThenServing(r, grpc::StatusCode::DEADLINE_EXCEEDED, "deadline");
}

TEST_F(BadInputTest, MalformedConfigAndModelFileLeaveOnlyThoseModelsNotReady) {
  for (const char* name : {"broken-config", "broken-model", "broken-bnn", "truncated-bnn"}) {
    grpc::ClientContext context;
    inference::ModelReadyRequest request;
    request.set_name(name);
    inference::ModelReadyResponse ready;
    ASSERT_TRUE(stub_->ModelReady(&context, request, &ready).ok());
    EXPECT_FALSE(ready.ready()) << name;
  }
  inference::ModelInferRequest r = Good();
  r.set_model_name("broken-config");
  ExpectRefusedThenServing(r, grpc::StatusCode::UNAVAILABLE, "config.pbtxt: line 2");
  r.set_model_name("broken-model");
  ExpectRefusedThenServing(r, grpc::StatusCode::UNAVAILABLE, "model.pb");
  r.set_model_name("broken-bnn");
  ExpectRefusedThenServing(r, grpc::StatusCode::UNAVAILABLE,
                           "layer 1 (fc2): weights hold 100 bytes, 1024 rows of 16 64-bit words "
                           "need 131072");
  r.set_model_name("truncated-bnn");
  ExpectRefusedThenServing(r, grpc::StatusCode::UNAVAILABLE, "is truncated: its record has");

  grpc::ClientContext context;
  inference::ModelReadyRequest request;
  request.set_name(kModel);
  inference::ModelReadyResponse ready;
  ASSERT_TRUE(stub_->ModelReady(&context, request, &ready).ok());
  EXPECT_TRUE(ready.ready());
}

TEST_F(BadInputTest, AStreamAnswersABadRequestWithAnErrorAndKeepsGoing) {
  grpc::ClientContext context;
  auto stream = stub_->ModelStreamInfer(&context);
  inference::ModelInferRequest bad = Good();
  bad.mutable_inputs(0)->set_datatype("INT8");
  bad.set_id("bad");
  inference::ModelInferRequest good = Good();
  good.set_id("good");
  ASSERT_TRUE(stream->Write(bad));
  ASSERT_TRUE(stream->Write(good));
  stream->WritesDone();
  std::map<std::string, std::string> errors;
  inference::ModelStreamInferResponse response;
  while (stream->Read(&response)) errors[response.infer_response().id()] = response.error_message();
  ASSERT_TRUE(stream->Finish().ok());
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_THAT(errors["bad"], HasSubstr("INVALID_ARGUMENT"));
  EXPECT_THAT(errors["bad"], HasSubstr("datatype 'INT8'"));
  EXPECT_EQ(errors["good"], "");
}

}  // namespace
}  // namespace pynq
