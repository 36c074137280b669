// Unary ModelInfer calls driven from the calling thread through a completion queue: a fixed set
// of call slots, each reused for the next image as soon as its call completes.
#include <memory>
#include <vector>

#include "client/run_book.h"
#include "grpcpp/grpcpp.h"

namespace pynq::client {
namespace {

// One call in flight. A ClientContext serves one call only, so each call gets a fresh one.
struct CallSlot {
  size_t index = 0;
  std::unique_ptr<grpc::ClientContext> context;
  inference::ModelInferRequest request;
  inference::ModelInferResponse response;
  grpc::Status status;
  std::unique_ptr<grpc::ClientAsyncResponseReaderInterface<inference::ModelInferResponse>> call;
};

class UnaryRun {
 public:
  UnaryRun(inference::GRPCInferenceService::StubInterface& stub, const InferTarget& target,
           const Dataset& data, size_t count, const RunnerOptions& options)
      : stub_(stub),
        data_(data),
        count_(count),
        options_(options),
        book_(count, data.class_names.size()),
        ticker_(options),
        slots_(options.concurrency) {
    for (CallSlot& slot : slots_) {
      InitRequest(target, &slot.request);
      free_.push_back(&slot);
    }
  }

  RunResult Run() {
    while (next_ < count_ || free_.size() < slots_.size()) {
      while (next_ < count_ && !free_.empty()) {
        Start(free_.back());
        free_.pop_back();
      }
      Wait();
      ticker_.Tick(book_.answered());
    }
    cq_.Shutdown();
    void* tag = nullptr;
    bool ok = false;
    while (cq_.Next(&tag, &ok)) {
    }
    ticker_.Tick(book_.answered(), /*force=*/true);
    return book_.Finish();
  }

 private:
  void Start(CallSlot* slot) {
    slot->index = next_++;
    slot->context = std::make_unique<grpc::ClientContext>();
    if (options_.timeout > absl::ZeroDuration()) {
      slot->context->set_deadline(std::chrono::system_clock::now() +
                                  absl::ToChronoNanoseconds(options_.timeout));
    }
    SetImage(slot->index, data_.image(slot->index), &slot->request);
    slot->response.Clear();
    book_.Sent(slot->index);
    slot->call = stub_.PrepareAsyncModelInfer(slot->context.get(), slot->request, &cq_);
    slot->call->StartCall();
    slot->call->Finish(&slot->response, &slot->status, slot);
  }

  void Wait() {
    void* tag = nullptr;
    bool ok = false;
    const auto deadline =
        std::chrono::system_clock::now() + absl::ToChronoNanoseconds(options_.progress_interval);
    if (cq_.AsyncNext(&tag, &ok, deadline) != grpc::CompletionQueue::GOT_EVENT) return;
    auto* slot = static_cast<CallSlot*>(tag);
    if (slot->status.ok()) {
      book_.Answer(slot->index, ReadPredictedClass(slot->response));
    } else {
      book_.Answer(slot->index,
                   absl::Status(static_cast<absl::StatusCode>(slot->status.error_code()),
                                GrpcStatusString(slot->status)));
    }
    free_.push_back(slot);
  }

  inference::GRPCInferenceService::StubInterface& stub_;
  const Dataset& data_;
  const size_t count_;
  const RunnerOptions& options_;
  RunBook book_;
  ProgressTicker ticker_;
  grpc::CompletionQueue cq_;
  std::vector<CallSlot> slots_;
  std::vector<CallSlot*> free_;
  size_t next_ = 0;
};

}  // namespace

RunResult RunUnary(inference::GRPCInferenceService::StubInterface& stub, const InferTarget& target,
                   const Dataset& data, size_t count, const RunnerOptions& options) {
  return UnaryRun(stub, target, data, count, options).Run();
}

}  // namespace pynq::client
