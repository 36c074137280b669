// A fake GRPCInferenceService for the client's tests: answers "class" = FakeClass(pixels), with
// knobs for out-of-order, error, missing, duplicate and slow answers and a failing stream.
#ifndef PYNQ_TESTS_CLIENT_FAKE_INFERENCE_SERVICE_H_
#define PYNQ_TESTS_CLIENT_FAKE_INFERENCE_SERVICE_H_

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/inference.grpc.pb.h"

namespace pynq::client::test {

using inference::ModelInferRequest;
using inference::ModelInferResponse;
using inference::ModelStreamInferResponse;

// The fake model's answer: a function of the pixels, so a wrong image shows up as a wrong class.
inline int64_t FakeClass(const std::string& pixels) {
  int64_t sum = 0;
  for (unsigned char c : pixels) sum += c;
  return sum % 10;
}

struct FakeBehaviour {
  size_t reverse_group = 1;             // stream: answer in groups of this size, reversed
  std::set<size_t> error_ids;           // answered with error_message (id set)
  std::set<size_t> error_without_id;    // answered with error_message, no id
  std::set<size_t> never_answer;        // never answered
  std::set<size_t> duplicate;           // answered twice
  size_t fail_stream_after = SIZE_MAX;  // end the stream UNAVAILABLE after this many reads
  std::set<size_t> unary_slow;          // unary: these answer after 4 s
  bool typed_contents = false;          // class in int64_contents instead of raw bytes
  // Stream: when > 0, hold every request until none has arrived for this long, then answer the
  // held ones in reverse order. The number held is then exactly the client's window.
  int answer_when_idle_ms = 0;
  inference::ModelMetadataResponse metadata;  // what ModelMetadata answers for its name
};

class FakeService final : public inference::GRPCInferenceService::Service {
 public:
  FakeService(FakeBehaviour behaviour, size_t total) : b_(std::move(behaviour)), total_(total) {}

  grpc::Status ModelMetadata(grpc::ServerContext*, const inference::ModelMetadataRequest* request,
                             inference::ModelMetadataResponse* response) override {
    if (request->name() != b_.metadata.name()) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "no model " + request->name());
    }
    *response = b_.metadata;
    return grpc::Status::OK;
  }

  grpc::Status ModelStreamInfer(
      grpc::ServerContext*,
      grpc::ServerReaderWriter<ModelStreamInferResponse, ModelInferRequest>* stream) override {
    if (b_.answer_when_idle_ms > 0) return AnswerWhenIdle(stream);
    std::vector<ModelInferRequest> held;
    size_t received = 0;
    ModelInferRequest request;
    while (stream->Read(&request)) {
      ++received;
      if (received > b_.fail_stream_after) {
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, "fake server going away");
      }
      NoteInFlight(+1);
      held.push_back(request);
      if (held.size() < b_.reverse_group && received < total_) continue;
      std::reverse(held.begin(), held.end());
      for (const ModelInferRequest& r : held) Answer(r, stream);
      held.clear();
    }
    return grpc::Status::OK;
  }

  grpc::Status ModelInfer(grpc::ServerContext*, const ModelInferRequest* request,
                          ModelInferResponse* response) override {
    NoteInFlight(+1);
    const size_t id = std::stoul(request->id());
    if (b_.unary_slow.count(id) > 0) {
      std::this_thread::sleep_for(std::chrono::seconds(4));
    }
    NoteInFlight(-1);
    if (b_.error_ids.count(id) > 0) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "fake error " + request->id());
    }
    Fill(*request, response);
    ++answered_ok_;
    return grpc::Status::OK;
  }

  int max_in_flight() const { return max_in_flight_.load(); }
  // Requests answered with a class so far.
  int answered_ok() const { return answered_ok_.load(); }
  std::vector<ModelInferRequest> seen() {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }

 private:
  using Stream = grpc::ServerReaderWriter<ModelStreamInferResponse, ModelInferRequest>;

  // A reader thread queues requests; this thread answers whatever is held once the client has
  // paused for answer_when_idle_ms (one Read and one Write at a time is allowed on a stream).
  grpc::Status AnswerWhenIdle(Stream* stream) {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<ModelInferRequest> queued;
    bool done = false;
    std::thread reader([&] {
      ModelInferRequest r;
      while (stream->Read(&r)) {
        NoteInFlight(+1);
        std::lock_guard<std::mutex> lock(mu);
        queued.push_back(r);
        cv.notify_one();
      }
      std::lock_guard<std::mutex> lock(mu);
      done = true;
      cv.notify_one();
    });
    std::vector<ModelInferRequest> held;
    for (;;) {
      std::unique_lock<std::mutex> lock(mu);
      const bool woke = cv.wait_for(lock, std::chrono::milliseconds(b_.answer_when_idle_ms),
                                    [&] { return !queued.empty() || done; });
      if (woke && !queued.empty()) {
        held.insert(held.end(), queued.begin(), queued.end());
        queued.clear();
        continue;
      }
      if (done && held.empty()) break;
      lock.unlock();
      std::reverse(held.begin(), held.end());
      for (const ModelInferRequest& r : held) Answer(r, stream);
      held.clear();
    }
    reader.join();
    return grpc::Status::OK;
  }

  void Answer(const ModelInferRequest& r,
              grpc::ServerReaderWriter<ModelStreamInferResponse, ModelInferRequest>* stream) {
    const size_t id = std::stoul(r.id());
    {
      std::lock_guard<std::mutex> lock(mu_);
      seen_.push_back(r);
    }
    if (b_.never_answer.count(id) > 0) return;
    NoteInFlight(-1);
    ModelStreamInferResponse out;
    if (b_.error_ids.count(id) > 0) {
      out.set_error_message("fake error " + r.id());
      out.mutable_infer_response()->set_id(r.id());
    } else if (b_.error_without_id.count(id) > 0) {
      out.set_error_message("fake error without id");
    } else {
      Fill(r, out.mutable_infer_response());
      ++answered_ok_;
    }
    stream->Write(out);
    if (b_.duplicate.count(id) > 0) stream->Write(out);
  }

  void Fill(const ModelInferRequest& r, ModelInferResponse* out) const {
    out->set_model_name(r.model_name());
    out->set_id(r.id());
    auto* tensor = out->add_outputs();
    tensor->set_name("class");
    tensor->set_datatype("INT64");
    tensor->add_shape(1);
    const int64_t cls = FakeClass(r.raw_input_contents(0));
    if (b_.typed_contents) {
      tensor->mutable_contents()->add_int64_contents(cls);
    } else {
      out->add_raw_output_contents(std::string(reinterpret_cast<const char*>(&cls), 8));
    }
  }

  void NoteInFlight(int delta) {
    const int now = in_flight_.fetch_add(delta) + delta;
    int max = max_in_flight_.load();
    while (now > max && !max_in_flight_.compare_exchange_weak(max, now)) {
    }
  }

  const FakeBehaviour b_;
  const size_t total_;
  std::atomic<int> in_flight_{0};
  std::atomic<int> max_in_flight_{0};
  std::atomic<int> answered_ok_{0};
  std::mutex mu_;
  std::vector<ModelInferRequest> seen_;
};

// A FakeService serving on a loopback port for the life of this object.
class FakeServer {
 public:
  FakeServer(FakeBehaviour behaviour, size_t total) : service_(std::move(behaviour), total) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    EXPECT_NE(server_, nullptr);
  }
  ~FakeServer() { server_->Shutdown(std::chrono::system_clock::now()); }

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  FakeService& service() { return service_; }

 private:
  FakeService service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace pynq::client::test

#endif  // PYNQ_TESTS_CLIENT_FAKE_INFERENCE_SERVICE_H_
