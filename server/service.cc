#include "server/service.h"

#include <chrono>
#include <deque>
#include <memory>
#include <mutex>

#include "absl/base/thread_annotations.h"
#include "spdlog/spdlog.h"

namespace pynq::server {
namespace {

using inference::ModelInferRequest;
using inference::ModelStreamInferResponse;

// Most requests one stream may have unanswered or unwritten before the server stops reading
// from it: a client that sends without reading cannot grow the server's memory without bound.
constexpr int kMaxStreamInFlight = 1024;

// The request's deadline: the earlier of the call's deadline and the protocol's optional
// "timeout" parameter (microseconds, as Triton reads it).
Clock::time_point RequestDeadline(const ModelInferRequest& request,
                                  std::chrono::system_clock::time_point call_deadline) {
  Clock::time_point deadline = Clock::time_point::max();
  if (call_deadline < std::chrono::system_clock::time_point::max() - std::chrono::hours(24 * 365)) {
    deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                  call_deadline - std::chrono::system_clock::now());
  }
  auto it = request.parameters().find("timeout");
  if (it != request.parameters().end() && it->second.has_int64_param() &&
      it->second.int64_param() > 0) {
    deadline =
        std::min(deadline, Clock::now() + std::chrono::microseconds(it->second.int64_param()));
  }
  return deadline;
}

grpc::ServerUnaryReactor* Answer(grpc::CallbackServerContext* context, const grpc::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(status);
  return reactor;
}

// One request read from a stream and its answer, alive until the answer is written.
struct StreamItem {
  ModelInferRequest request;
  ModelStreamInferResponse response;
};

// A ModelStreamInfer call. Reads requests one after another and submits each; answers are
// written in completion order, one write in flight at a time. Finishes once the client has
// half-closed (or the call died) and every submitted request has been answered and written (or
// dropped because the call died). Deletes itself in OnDone.
class StreamReactor final
    : public grpc::ServerBidiReactor<ModelInferRequest, ModelStreamInferResponse> {
 public:
  StreamReactor(InferHandler* handler, grpc::CallbackServerContext* context)
      : handler_(handler), context_(context) {
    StartNextRead();
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // client half-closed, or the call is gone
      bool finish;
      {
        std::lock_guard<std::mutex> lock(mu_);
        reads_done_ = true;
        finish = ShouldFinishLocked();
      }
      if (finish) Finish(grpc::Status::OK);
      return;
    }
    std::shared_ptr<StreamItem> item = std::move(reading_);
    bool read_more;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++in_flight_;
      read_more = in_flight_ < kMaxStreamInFlight;
      read_paused_ = !read_more;
    }
    const Clock::time_point deadline = RequestDeadline(item->request, context_->deadline());
    handler_->Submit(item->request, deadline, item, item->response.mutable_infer_response(),
                     [this, item](const absl::Status& status) { OnAnswered(item, status); });
    if (read_more) StartNextRead();
  }

  void OnWriteDone(bool ok) override {
    std::shared_ptr<StreamItem> next;
    bool finish = false;
    bool resume_reading = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      pending_.pop_front();
      --in_flight_;
      if (!ok) {
        // The client is gone: drop what waits; later answers are dropped as they come.
        broken_ = true;
        in_flight_ -= static_cast<int>(pending_.size());
        pending_.clear();
      }
      if (!pending_.empty()) {
        next = pending_.front();
      } else {
        writing_ = false;
      }
      if (read_paused_ && !reads_done_ && in_flight_ < kMaxStreamInFlight) {
        read_paused_ = false;
        resume_reading = true;
      }
      finish = ShouldFinishLocked();
    }
    if (next != nullptr) StartWrite(&next->response);
    if (resume_reading) StartNextRead();
    if (finish) Finish(grpc::Status::OK);
  }

  void OnCancel() override {
    bool finish;
    {
      std::lock_guard<std::mutex> lock(mu_);
      // A paused read chain has no read outstanding to report the end: end it here.
      if (read_paused_) {
        read_paused_ = false;
        reads_done_ = true;
      }
      finish = ShouldFinishLocked();
    }
    if (finish) Finish(grpc::Status::CANCELLED);
  }

  void OnDone() override { delete this; }

 private:
  void StartNextRead() {
    reading_ = std::make_shared<StreamItem>();
    StartRead(&reading_->request);
  }

  // Called once per submitted request, from whichever thread answered it.
  void OnAnswered(const std::shared_ptr<StreamItem>& item, const absl::Status& status) {
    if (!status.ok()) {
      // Name and id still identify the answer: a stream's answers arrive out of order.
      inference::ModelInferResponse* r = item->response.mutable_infer_response();
      r->Clear();
      r->set_model_name(item->request.model_name());
      r->set_model_version(item->request.model_version());
      r->set_id(item->request.id());
      item->response.set_error_message(status.ToString());
    }
    bool write = false;
    bool finish = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (broken_) {
        --in_flight_;
        finish = ShouldFinishLocked();
      } else {
        pending_.push_back(item);
        if (!writing_) write = writing_ = true;
      }
    }
    if (write) StartWrite(&item->response);
    if (finish) Finish(grpc::Status::OK);
  }

  // True exactly once: when nothing more will be read, answered or written.
  bool ShouldFinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_ || !reads_done_ || in_flight_ > 0 || writing_) return false;
    finished_ = true;
    return true;
  }

  InferHandler* const handler_;
  grpc::CallbackServerContext* const context_;
  std::shared_ptr<StreamItem> reading_;  // touched only by the read chain (one read at a time)

  std::mutex mu_;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;  // submitted, not yet written or dropped
  std::deque<std::shared_ptr<StreamItem>> pending_ ABSL_GUARDED_BY(mu_);  // front is being written
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool read_paused_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

InferenceService::InferenceService(InferHandler* handler, std::string server_version)
    : handler_(handler), version_(std::move(server_version)) {}

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
                                                       const inference::ModelInferRequest* request,
                                                       inference::ModelInferResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  // gRPC owns request and response until Finish, which the reply calls: no keepalive needed.
  handler_->Submit(
      *request, RequestDeadline(*request, context->deadline()), nullptr, response,
      [reactor](const absl::Status& status) { reactor->Finish(ToGrpcStatus(status)); });
  return reactor;
}

grpc::ServerBidiReactor<ModelInferRequest, ModelStreamInferResponse>*
InferenceService::ModelStreamInfer(grpc::CallbackServerContext* context) {
  return new StreamReactor(handler_, context);
}

}  // namespace pynq::server
