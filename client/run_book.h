// Internal to the runner: the ledger of one run (what was sent when, what was answered) and the
// two transports that fill it. Single-threaded: the runner drives everything from one thread
// around a completion queue, so protobuf messages and the ledger are never shared.
#ifndef PYNQ_CLIENT_RUN_BOOK_H_
#define PYNQ_CLIENT_RUN_BOOK_H_

#include <chrono>
#include <cstddef>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/runner.h"
#include "grpcpp/support/status.h"

namespace pynq::client {

class RunBook {
 public:
  using Clock = std::chrono::steady_clock;

  RunBook(size_t count, size_t num_classes);

  // Image `index` is about to be sent now.
  void Sent(size_t index);
  // Records the answer to `index`: a class, or the error that the server gave. An index that is
  // not outstanding (never sent, already answered) is recorded as unmatched instead.
  void Answer(size_t index, const absl::StatusOr<int64_t>& predicted);
  // An answer that names no request: counted as unmatched.
  void Unmatched(std::string what);
  // Fails every image without an answer (sent or not) with `why`, and records it as the reason
  // the run was cut short.
  void Abort(const std::string& why);

  size_t answered() const { return result_.answered; }
  size_t outstanding() const { return outstanding_.size(); }
  // The outstanding image sent first; only when outstanding() > 0.
  size_t oldest_outstanding() const { return *outstanding_.begin(); }
  Clock::time_point last_event() const { return last_event_; }

  // The result; the book is spent afterwards.
  RunResult Finish();

 private:
  const size_t num_classes_;
  RunResult result_;
  std::vector<Clock::time_point> sent_at_;
  std::set<size_t> outstanding_;  // sent, not answered; images go out in index order
  Clock::time_point first_sent_{};
  Clock::time_point last_event_{};
  bool any_sent_ = false;
};

RunResult RunStream(inference::GRPCInferenceService::StubInterface& stub, const InferTarget& target,
                    const Dataset& data, size_t count, const RunnerOptions& options);
RunResult RunUnary(inference::GRPCInferenceService::StubInterface& stub, const InferTarget& target,
                   const Dataset& data, size_t count, const RunnerOptions& options);

// "UNAVAILABLE: failed to connect ...": the code's name and the message.
std::string GrpcStatusString(const grpc::Status& status);

// Calls options.progress when it is due (every progress_interval) or when `force` is set.
class ProgressTicker {
 public:
  explicit ProgressTicker(const RunnerOptions& options) : options_(options) {}
  void Tick(size_t answered, bool force = false);

 private:
  const RunnerOptions& options_;
  RunBook::Clock::time_point next_{};
};

}  // namespace pynq::client

#endif  // PYNQ_CLIENT_RUN_BOOK_H_
