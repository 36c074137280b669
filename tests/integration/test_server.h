// Starts infer-server in-process on ephemeral ports for integration tests and benchmarks.
#ifndef PYNQ_TESTS_INTEGRATION_TEST_SERVER_H_
#define PYNQ_TESTS_INTEGRATION_TEST_SERVER_H_

#include <condition_variable>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "grpcpp/grpcpp.h"
#include "proto/inference.grpc.pb.h"
#include "server/server.h"

namespace pynq::testing {

// The repository root: $PYNQ_SOURCE_DIR, else the tree the test was built from.
inline std::string SourceDir() {
  const char* dir = std::getenv("PYNQ_SOURCE_DIR");
  if (dir != nullptr && *dir != '\0') return dir;
  return PYNQ_TEST_SOURCE_DIR;
}

// The dataset folder (INFER_DATA_DIR, which ctest sets).
inline std::string DataDir() {
  const char* dir = std::getenv("INFER_DATA_DIR");
  return dir != nullptr ? dir : "../shared/datasets";
}

inline server::ServerOptions LoopbackOptions(const std::string& repository) {
  server::ServerOptions o;
  o.model_repository = repository;
  o.grpc_address = "127.0.0.1:0";
  o.metrics_address = "127.0.0.1:0";
  o.drain_timeout = std::chrono::milliseconds(5000);
  return o;
}

inline std::unique_ptr<inference::GRPCInferenceService::Stub> Connect(int port) {
  return inference::GRPCInferenceService::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
}

// A ModelInferRequest for `images` MNIST-shaped images taken from `pixels`.
inline inference::ModelInferRequest MnistRequest(const std::string& model, const uint8_t* pixels,
                                                 int images, const std::string& id = "") {
  inference::ModelInferRequest r;
  r.set_model_name(model);
  r.set_id(id);
  auto* in = r.add_inputs();
  in->set_name("image");
  in->set_datatype("UINT8");
  for (int64_t d : {static_cast<int64_t>(images), int64_t{1}, int64_t{28}, int64_t{28}}) {
    in->add_shape(d);
  }
  r.add_raw_input_contents(reinterpret_cast<const char*>(pixels),
                           static_cast<size_t>(images) * 784);
  return r;
}

// Sends `count` requests (`make(i)` builds request i) over one ModelStreamInfer call with at most
// `window` unanswered, calling `on_answer` on this thread for each answer as it arrives; returns
// the call's final status. A write that fails ends the sending early (the status says why).
inline grpc::Status StreamWindowed(
    inference::GRPCInferenceService::Stub& stub, size_t count, int window,
    const std::function<inference::ModelInferRequest(size_t)>& make,
    const std::function<void(const inference::ModelStreamInferResponse&)>& on_answer) {
  grpc::ClientContext context;
  auto stream = stub.ModelStreamInfer(&context);
  std::mutex mu;
  std::condition_variable cv;
  int in_flight = 0;
  std::thread writer([&] {
    for (size_t i = 0; i < count; ++i) {
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return in_flight < window; });
        ++in_flight;
      }
      if (!stream->Write(make(i))) break;
    }
    stream->WritesDone();
  });
  inference::ModelStreamInferResponse response;
  while (stream->Read(&response)) {
    {
      std::lock_guard<std::mutex> lock(mu);
      --in_flight;
    }
    cv.notify_one();
    on_answer(response);
  }
  writer.join();
  return stream->Finish();
}

}  // namespace pynq::testing

#endif  // PYNQ_TESTS_INTEGRATION_TEST_SERVER_H_
