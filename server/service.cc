#include "server/service.h"

#include <algorithm>
#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/strings.h"
#include "grpcpp/support/proto_buffer_reader.h"
#include "spdlog/spdlog.h"

namespace pynq::server {
namespace {

using inference::ModelInferRequest;
using inference::ModelInferResponse;
using inference::ModelStreamInferResponse;

constexpr char kDraining[] = "server is shutting down; not accepting requests";

// `t` + `d`, or Clock::time_point::max() when that would overflow (a "timeout" of 1e17 us).
Clock::time_point SaturatingAdd(Clock::time_point t, std::chrono::microseconds d) {
  const auto room =
      std::chrono::duration_cast<std::chrono::microseconds>(Clock::time_point::max() - t);
  if (d >= room) return Clock::time_point::max();
  return t + std::chrono::duration_cast<Clock::duration>(d);
}

// The request's deadline: the earlier of the call's deadline and the protocol's optional
// "timeout" parameter (microseconds, as Triton reads it; 0 or less: none). Saturates: a huge
// timeout means no deadline, never one in the past.
Clock::time_point RequestDeadline(const ModelInferRequest& request,
                                  std::chrono::system_clock::time_point call_deadline) {
  const Clock::time_point now = Clock::now();
  Clock::time_point deadline = Clock::time_point::max();
  if (call_deadline < std::chrono::system_clock::time_point::max() - std::chrono::hours(24 * 365)) {
    deadline = SaturatingAdd(now, std::chrono::duration_cast<std::chrono::microseconds>(
                                      call_deadline - std::chrono::system_clock::now()));
  }
  auto it = request.parameters().find("timeout");
  if (it != request.parameters().end() && it->second.has_int64_param() &&
      it->second.int64_param() > 0) {
    deadline =
        std::min(deadline, SaturatingAdd(now, std::chrono::microseconds(it->second.int64_param())));
  }
  return deadline;
}

grpc::ServerUnaryReactor* Answer(grpc::CallbackServerContext* context, const grpc::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(status);
  return reactor;
}

// Parses a request from gRPC's bytes (consuming them). False when they are not a
// ModelInferRequest.
bool ParseRequest(grpc::ByteBuffer* bytes, ModelInferRequest* request) {
  grpc::ProtoBufferReader reader(bytes);
  const bool ok = request->ParseFromZeroCopyStream(&reader);
  bytes->Clear();
  return ok;
}

std::string NotARequest(size_t bytes) {
  return absl::StrCat("the message (", bytes,
                      " bytes) is not a valid inference.ModelInferRequest: malformed protobuf, "
                      "or a string field that is not UTF-8");
}

std::string OverBudget(const MemoryBudget& budget, size_t bytes) {
  return absl::StrCat("server memory budget exhausted: ", budget.used(), " of ", budget.limit(),
                      " bytes held by queued requests and unread answers, this request needs ",
                      bytes, "; retry later");
}

// Serializes `message` into `out`; false (logged) on failure, which only a bug can cause.
template <typename Message>
bool Serialize(const Message& message, grpc::ByteBuffer* out) {
  bool own = false;
  const grpc::Status s = grpc::SerializationTraits<Message>::Serialize(message, out, &own);
  if (!s.ok()) spdlog::error("cannot serialize an answer: {}", s.error_message());
  return s.ok();
}

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      Truncated(std::string(status.message()), kMaxStatusBytes));
}

// A ModelInfer call. Charges the budget for the message gRPC holds and for our parsed copy,
// parses, submits, and finishes from the answer. Deletes itself in OnDone.
class UnaryInfer final : public grpc::ServerUnaryReactor {
 public:
  UnaryInfer(InferenceService* service, grpc::CallbackServerContext* context,
             const grpc::ByteBuffer* request, grpc::ByteBuffer* response)
      : service_(service), context_(context), wire_(request), out_(response) {
    service_->CallStarted(nullptr);
  }

  void Start(bool draining) {
    if (draining) {
      Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, kDraining));
      return;
    }
    const size_t bytes = wire_->Length();
    charge_ = BudgetCharge::Try(service_->budget_, 2 * bytes);
    if (!charge_.ok()) {
      Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                          OverBudget(*service_->budget_, 2 * bytes)));
      return;
    }
    grpc::ByteBuffer bytes_copy(*wire_);  // shares gRPC's slices; parsing consumes the copy
    if (!ParseRequest(&bytes_copy, &request_)) {
      Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, NotARequest(bytes)));
      return;
    }
    service_->handler_->Submit(request_, RequestDeadline(request_, context_->deadline()), nullptr,
                               &response_, [this](const absl::Status& s) { OnAnswered(s); });
  }

  void OnDone() override {
    service_->CallDone(nullptr);
    delete this;
  }

 private:
  void OnAnswered(const absl::Status& status) {
    if (status.ok()) {
      if (!Serialize(response_, out_)) {
        Finish(grpc::Status(grpc::StatusCode::INTERNAL, "cannot serialize the answer"));
        return;
      }
      // gRPC's request bytes and our parsed request live until OnDone, beside the answer.
      charge_.Resize(2 * wire_->Length() + out_->Length());
    }
    Finish(ToGrpcStatus(status));
  }

  InferenceService* const service_;
  grpc::CallbackServerContext* const context_;
  const grpc::ByteBuffer* const wire_;  // gRPC's, until OnDone
  grpc::ByteBuffer* const out_;         // gRPC's, until OnDone
  BudgetCharge charge_;
  ModelInferRequest request_;
  ModelInferResponse response_;
};

// A ModelStreamInfer call. Reads messages one after another and submits each; answers are
// written in completion order, one write in flight at a time. Reading pauses while the stream
// holds StreamLimits' worth of requests or bytes, or while the server's budget is exhausted and
// this stream has answers to wait for (so a paused stream always has a write or an answer that
// will wake it). A message that does not parse, or that the budget cannot take, gets an error
// answer and the stream goes on. Finishes once the client has half-closed (or the call died)
// and every request has been answered and written (or dropped because the call died); while
// the server drains, once what is in flight is written, with UNAVAILABLE. Deletes itself in
// OnDone.
class StreamInfer final : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  StreamInfer(InferenceService* service, grpc::CallbackServerContext* context)
      : service_(service), context_(context) {}

  // Registers with the service and starts reading.
  void Start() {
    service_->CallStarted(this);  // may call Drain(), under the service's lock
    StartReadThenCheck();
  }

  // The server is shutting down: read no more; end once what is in flight is written. Called
  // under the service's lock, so it only marks the stream: true when nothing is in flight and
  // the caller must call Finish() after releasing that lock (the stream cannot end before).
  [[nodiscard]] bool Drain() {
    std::lock_guard<std::mutex> lock(mu_);
    draining_ = true;
    return ShouldFinishLocked();
  }

  // Ends a stream that Drain() said was done.
  void FinishDrained() { Finish(FinalStatus()); }

  void OnReadDone(bool ok) override {
    if (!ok) {  // client half-closed, or the call is gone
      FinishIfDone([this] { reads_done_ = true; });
      return;
    }
    const size_t bytes = read_buffer_.Length();
    auto item = std::make_shared<Item>();
    ++messages_;
    item->charge = BudgetCharge::Try(service_->budget_, bytes);
    const bool parsed = ParseRequest(&read_buffer_, &item->request);
    absl::Status refusal;
    if (!parsed) {
      refusal = absl::InvalidArgumentError(absl::StrCat(
          "stream message ", messages_, ": ", NotARequest(bytes), "; skipped, the stream goes on"));
    } else if (!item->charge.ok()) {
      refusal = absl::ResourceExhaustedError(OverBudget(*service_->budget_, bytes));
    }
    bool read_more;
    {
      std::lock_guard<std::mutex> lock(mu_);
      // Ended by a drain while this message was on its way: the stream's UNAVAILABLE status
      // answers it (and the client learns nothing was computed).
      if (finished_) return;
      last_read_bytes_ = bytes;
      ++in_flight_;
      held_bytes_ += item->charge.bytes();
      read_paused_ = ShouldPauseLocked();
      read_more = read_starting_ = !read_paused_;
    }
    if (refusal.ok()) {
      service_->handler_->Submit(
          item->request, RequestDeadline(item->request, context_->deadline()), item,
          item->response.mutable_infer_response(),
          [this, item](const absl::Status& status) { OnAnswered(item, status); });
    } else {
      OnAnswered(item, refusal);
    }
    if (read_more) StartReadThenCheck();
  }

  void OnWriteDone(bool ok) override {
    std::shared_ptr<Item> next;
    bool finish = false;
    bool resume_reading = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      held_bytes_ -= pending_.front()->charge.bytes();
      pending_.pop_front();  // its charge goes back with it
      --in_flight_;
      if (!ok) {
        // The client is gone: drop what waits; later answers are dropped as they come.
        broken_ = true;
        for (const auto& item : pending_) held_bytes_ -= item->charge.bytes();
        in_flight_ -= static_cast<int>(pending_.size());
        pending_.clear();
      }
      if (!pending_.empty()) {
        next = pending_.front();
      } else {
        writing_ = false;
      }
      if (read_paused_ && !ShouldPauseLocked()) {
        read_paused_ = false;
        resume_reading = read_starting_ = true;
      }
      finish = ShouldFinishLocked();
    }
    if (next != nullptr) StartWrite(&next->answer);
    if (resume_reading) StartReadThenCheck();
    if (finish) Finish(FinalStatus());
  }

  void OnCancel() override {
    // A paused read chain has no read outstanding to report the end: end it here.
    FinishIfDone([this] {
      if (read_paused_) {
        read_paused_ = false;
        reads_done_ = true;
      }
    });
  }

  void OnDone() override {
    service_->CallDone(this);
    delete this;
  }

 private:
  // One request read from the stream: the parsed request until answered, then its answer's
  // bytes until written. Its charge holds the budget for whichever it is.
  struct Item {
    ModelInferRequest request;
    ModelStreamInferResponse response;
    grpc::ByteBuffer answer;
    BudgetCharge charge;
  };

  // Starts the next read (read_starting_ was set under the lock when it was decided), then
  // finishes the call if it was asked to end meanwhile: the call is never finished between the
  // decision to read and the read's start, so no read starts after Finish.
  void StartReadThenCheck() {
    StartRead(&read_buffer_);
    FinishIfDone([this] { read_starting_ = false; });
  }

  // Runs `update` under the lock, then finishes the call when that leaves nothing to do.
  template <typename Update>
  void FinishIfDone(Update update) {
    bool finish;
    {
      std::lock_guard<std::mutex> lock(mu_);
      update();
      finish = ShouldFinishLocked();
    }
    if (finish) Finish(FinalStatus());
  }

  // Called once per request read, from whichever thread answered it.
  void OnAnswered(const std::shared_ptr<Item>& item, const absl::Status& status) {
    ModelStreamInferResponse& response = item->response;
    if (!status.ok()) {
      // Name and id still identify the answer (a stream's answers arrive out of order); they
      // are cut when long, so an error answer stays small whatever the request held.
      ModelInferResponse* r = response.mutable_infer_response();
      r->Clear();
      r->set_model_name(Truncated(item->request.model_name()));
      r->set_model_version(Truncated(item->request.model_version()));
      r->set_id(Truncated(item->request.id()));
      response.set_error_message(Truncated(status.ToString(), kMaxStatusBytes));
    }
    if (!Serialize(response, &item->answer)) {
      ModelStreamInferResponse internal;
      internal.set_error_message("INTERNAL: cannot serialize the answer");
      Serialize(internal, &item->answer);
    }
    // The request and the answer's message are no longer needed: only the bytes are kept.
    ModelInferRequest().Swap(&item->request);
    ModelStreamInferResponse().Swap(&response);
    const size_t before = item->charge.bytes();
    item->charge.Resize(item->answer.Length());

    bool write = false;
    bool finish = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      held_bytes_ = held_bytes_ - before + item->charge.bytes();
      if (broken_) {
        held_bytes_ -= item->charge.bytes();
        --in_flight_;
        finish = ShouldFinishLocked();
      } else {
        pending_.push_back(item);
        if (!writing_) write = writing_ = true;
      }
    }
    if (write) StartWrite(&item->answer);
    if (finish) Finish(FinalStatus());
  }

  // Whether to stop reading for now. A stream with nothing in flight always reads on: its next
  // message is charged or refused, so it can never wait for another stream's memory.
  bool ShouldPauseLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (draining_ || in_flight_ == 0) return draining_;
    return in_flight_ >= service_->limits_.max_in_flight ||
           held_bytes_ >= service_->limits_.max_bytes ||
           service_->budget_->available() < std::max<size_t>(last_read_bytes_, 1);
  }

  // True exactly once: when nothing more will be read, answered or written.
  bool ShouldFinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_ || read_starting_ || (!reads_done_ && !draining_) || in_flight_ > 0 || writing_) {
      return false;
    }
    finished_ = true;
    return true;
  }

  grpc::Status FinalStatus() {
    std::lock_guard<std::mutex> lock(mu_);
    if (draining_ && !reads_done_) return grpc::Status(grpc::StatusCode::UNAVAILABLE, kDraining);
    return grpc::Status::OK;
  }

  InferenceService* const service_;
  grpc::CallbackServerContext* const context_;
  // Touched only by the read chain (one read at a time).
  grpc::ByteBuffer read_buffer_;
  int64_t messages_ = 0;

  std::mutex mu_;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;  // read, not yet written or dropped
  size_t last_read_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool read_starting_ ABSL_GUARDED_BY(mu_) = true;  // the first read starts in Start()
  size_t held_bytes_ ABSL_GUARDED_BY(mu_) = 0;      // their charges
  std::deque<std::shared_ptr<Item>> pending_ ABSL_GUARDED_BY(mu_);  // front is being written
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool read_paused_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

InferenceService::InferenceService(InferHandler* handler, MemoryBudget* budget, StreamLimits limits,
                                   std::string server_version)
    : handler_(handler), budget_(budget), limits_(limits), version_(std::move(server_version)) {}

void InferenceService::CallStarted(StreamInfer* stream) {
  std::lock_guard<std::mutex> lock(mu_);
  ++open_calls_;
  if (stream != nullptr) {
    streams_.insert(stream);
    // Its first read has not started: it cannot be done yet, it will see the flag.
    if (draining_) static_cast<void>(stream->Drain());
  }
}

void InferenceService::CallDone(StreamInfer* stream) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stream != nullptr) streams_.erase(stream);
  if (--open_calls_ == 0) calls_done_.notify_all();
}

void InferenceService::BeginDrain() {
  std::vector<StreamInfer*> done;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (draining_) return;
    draining_ = true;
    for (StreamInfer* s : streams_) {
      if (s->Drain()) done.push_back(s);
    }
  }
  // Outside the lock: no lock is held across a gRPC operation. Each of these streams stays
  // alive until its Finish, which only this loop calls.
  for (StreamInfer* s : done) s->FinishDrained();
}

bool InferenceService::WaitForCalls(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  return calls_done_.wait_until(lock, deadline, [this] { return open_calls_ == 0; });
}

int InferenceService::open_calls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return open_calls_;
}

grpc::ServerUnaryReactor* InferenceService::ServerLive(grpc::CallbackServerContext* context,
                                                       const inference::ServerLiveRequest*,
                                                       inference::ServerLiveResponse* response) {
  response->set_live(true);
  return Answer(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* InferenceService::ServerReady(grpc::CallbackServerContext* context,
                                                        const inference::ServerReadyRequest*,
                                                        inference::ServerReadyResponse* response) {
  response->set_ready(handler_->ready());
  return Answer(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* InferenceService::ModelReady(grpc::CallbackServerContext* context,
                                                       const inference::ModelReadyRequest* request,
                                                       inference::ModelReadyResponse* response) {
  absl::StatusOr<const ServedModel*> model = handler_->Find(request->name(), request->version());
  if (!model.ok()) return Answer(context, ToGrpcStatus(model.status()));
  response->set_ready((*model)->ready() && handler_->ready());
  return Answer(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* InferenceService::ServerMetadata(
    grpc::CallbackServerContext* context, const inference::ServerMetadataRequest*,
    inference::ServerMetadataResponse* response) {
  response->set_name("pynq-infer");
  response->set_version(version_);
  return Answer(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* InferenceService::ModelMetadata(
    grpc::CallbackServerContext* context, const inference::ModelMetadataRequest* request,
    inference::ModelMetadataResponse* response) {
  absl::StatusOr<const ServedModel*> model = handler_->Find(request->name(), request->version());
  if (!model.ok()) return Answer(context, ToGrpcStatus(model.status()));
  *response = (*model)->metadata;
  return Answer(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* InferenceService::ModelInfer(grpc::CallbackServerContext* context,
                                                       const grpc::ByteBuffer* request,
                                                       grpc::ByteBuffer* response) {
  bool draining;
  {
    std::lock_guard<std::mutex> lock(mu_);
    draining = draining_;
  }
  auto* reactor = new UnaryInfer(this, context, request, response);
  reactor->Start(draining);
  return reactor;
}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* InferenceService::ModelStreamInfer(
    grpc::CallbackServerContext* context) {
  auto* reactor = new StreamInfer(this, context);
  reactor->Start();
  return reactor;
}

}  // namespace pynq::server
