// One ModelStreamInfer stream driven from the calling thread through a completion queue: at most
// one Write and one Read outstanding (gRPC's rule for a stream), and at most `concurrency`
// requests between their Write and their answer.
#include <cstdint>
#include <memory>

#include "absl/strings/str_cat.h"
#include "client/run_book.h"
#include "grpcpp/grpcpp.h"

namespace pynq::client {
namespace {

using inference::ModelInferRequest;
using inference::ModelStreamInferResponse;
using Stream = grpc::ClientAsyncReaderWriterInterface<ModelInferRequest, ModelStreamInferResponse>;

enum class Op : intptr_t { kStart = 1, kWrite, kRead, kWritesDone, kFinish };

void* TagOf(Op op) { return reinterpret_cast<void*>(static_cast<intptr_t>(op)); }
Op OpOf(void* tag) { return static_cast<Op>(reinterpret_cast<intptr_t>(tag)); }

class StreamRun {
 public:
  StreamRun(inference::GRPCInferenceService::StubInterface& stub, const InferTarget& target,
            const Dataset& data, size_t count, const RunnerOptions& options)
      : stub_(stub),
        data_(data),
        count_(count),
        options_(options),
        book_(count, data.class_names.size()),
        ticker_(options) {
    InitRequest(target, &request_);
  }

  RunResult Run() {
    stream_ = stub_.PrepareAsyncModelStreamInfer(&context_, &cq_);
    stream_->StartCall(TagOf(Op::kStart));
    while (!finished_) {
      StartOps();
      Wait();
      ticker_.Tick(book_.answered());
    }
    cq_.Shutdown();
    void* tag = nullptr;
    bool ok = false;
    while (cq_.Next(&tag, &ok)) {
    }
    if (book_.answered() < count_) {
      book_.Abort(abort_reason_.empty() ? StreamEndReason() : abort_reason_);
    }
    ticker_.Tick(book_.answered(), /*force=*/true);
    return book_.Finish();
  }

 private:
  // Issues whatever the state allows: the next read, the next write (or WritesDone), Finish.
  void StartOps() {
    if (!started_) return;
    if (!reading_ && !read_closed_) {
      stream_->Read(&response_, TagOf(Op::kRead));
      reading_ = true;
    }
    if (!writing_ && !writes_closed_) {
      if (next_ < count_ && book_.outstanding() < options_.concurrency) {
        SetImage(next_, data_.image(next_), &request_);
        book_.Sent(next_++);
        stream_->Write(request_, TagOf(Op::kWrite));
        writing_ = true;
      } else if (next_ == count_ && book_.outstanding() == 0) {
        stream_->WritesDone(TagOf(Op::kWritesDone));
        writing_ = true;
        writes_closed_ = true;
      }
    }
    if (read_closed_ && !writing_ && !finish_called_) {
      stream_->Finish(&status_, TagOf(Op::kFinish));
      finish_called_ = true;
    }
  }

  // Waits for one completion (or a progress tick) and applies it.
  void Wait() {
    void* tag = nullptr;
    bool ok = false;
    const auto deadline =
        std::chrono::system_clock::now() + absl::ToChronoNanoseconds(options_.progress_interval);
    if (cq_.AsyncNext(&tag, &ok, deadline) != grpc::CompletionQueue::GOT_EVENT) {
      CheckIdle();
      return;
    }
    switch (OpOf(tag)) {
      case Op::kStart:
        started_ = true;
        if (!ok) read_closed_ = writes_closed_ = true;  // the call failed: Finish says why
        break;
      case Op::kWrite:
        writing_ = false;
        if (!ok) writes_closed_ = true;  // the stream is over; reads will drain and end
        break;
      case Op::kWritesDone:
        writing_ = false;
        break;
      case Op::kRead:
        reading_ = false;
        if (ok) {
          HandleResponse();
        } else {
          read_closed_ = true;  // no more answers: writing more is pointless
          writes_closed_ = true;
        }
        break;
      case Op::kFinish:
        finished_ = true;
        break;
    }
  }

  // Matches an answer to its image by id. An error without an id (the server could not read the
  // request) goes to the oldest outstanding image.
  void HandleResponse() {
    const inference::ModelInferResponse& answer = response_.infer_response();
    const std::string& error = response_.error_message();
    if (!error.empty() && answer.id().empty()) {
      if (book_.outstanding() == 0) {
        book_.Unmatched(absl::StrCat("error without id: ", error));
      } else {
        book_.Answer(book_.oldest_outstanding(), absl::UnknownError(error));
      }
      return;
    }
    const absl::StatusOr<size_t> index = ParseRequestId(answer.id());
    if (!index.ok() || *index >= count_) {
      book_.Unmatched(absl::StrCat("answer with unknown id '", answer.id(), "'",
                                   error.empty() ? "" : ": ", error));
      return;
    }
    book_.Answer(*index, error.empty() ? ReadPredictedClass(answer)
                                       : absl::StatusOr<int64_t>(absl::UnknownError(error)));
  }

  // Cancels the stream when it waits on the server (answers in flight, or the close after
  // WritesDone) and nothing was heard for options_.timeout.
  void CheckIdle() {
    const bool waiting = book_.outstanding() > 0 || (writes_closed_ && !read_closed_);
    if (options_.timeout <= absl::ZeroDuration() || !waiting || cancelled_) return;
    if (RunBook::Clock::now() - book_.last_event() < absl::ToChronoNanoseconds(options_.timeout)) {
      return;
    }
    abort_reason_ =
        absl::StrCat("no answer from the server for ", absl::FormatDuration(options_.timeout),
                     " with ", book_.outstanding(), " requests in flight (--timeout-ms)");
    context_.TryCancel();
    cancelled_ = true;
  }

  std::string StreamEndReason() const {
    if (!status_.ok()) {
      return absl::StrCat("stream failed: ", GrpcStatusString(status_));
    }
    return absl::StrCat("the server closed the stream after ", book_.answered(), " of ", count_,
                        " answers");
  }

  inference::GRPCInferenceService::StubInterface& stub_;
  const Dataset& data_;
  const size_t count_;
  const RunnerOptions& options_;
  RunBook book_;
  ProgressTicker ticker_;

  grpc::ClientContext context_;
  grpc::CompletionQueue cq_;
  std::unique_ptr<Stream> stream_;
  ModelInferRequest request_;  // reused: one Write at a time
  ModelStreamInferResponse response_;
  grpc::Status status_;

  size_t next_ = 0;  // the next image to send
  bool started_ = false;
  bool reading_ = false;
  bool writing_ = false;        // a Write or WritesDone is outstanding
  bool read_closed_ = false;    // a Read returned false: no more answers
  bool writes_closed_ = false;  // WritesDone sent, or writing failed
  bool finish_called_ = false;
  bool finished_ = false;
  bool cancelled_ = false;
  std::string abort_reason_;
};

}  // namespace

RunResult RunStream(inference::GRPCInferenceService::StubInterface& stub, const InferTarget& target,
                    const Dataset& data, size_t count, const RunnerOptions& options) {
  return StreamRun(stub, target, data, count, options).Run();
}

}  // namespace pynq::client
