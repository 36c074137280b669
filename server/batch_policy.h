// The dynamic batching policy, as a pure function: a snapshot of the queue, the time, and the
// model's batching options in; what to do now out. No clock, no lock, no thread: the batcher
// (server/batcher.h) wraps it, and its tests are golden cases.
#ifndef PYNQ_SERVER_BATCH_POLICY_H_
#define PYNQ_SERVER_BATCH_POLICY_H_

#include <chrono>
#include <optional>
#include <vector>

#include "absl/types/span.h"
#include "server/request.h"

namespace pynq::server {

struct BatchingOptions {
  // Most images in one batch (the model's max_batch_size), >= 1.
  int max_batch_size = 1;
  // How long the oldest request may wait for company before its batch closes anyway.
  std::chrono::microseconds max_queue_delay{0};
  // Batch sizes at which to close early, without waiting out the delay (Triton's
  // preferred_batch_size), ascending. Empty: only max_batch_size closes early.
  std::vector<int> preferred_batch_sizes;
};

// What the policy sees of one queued request.
struct QueuedRequest {
  int images = 1;
  Clock::time_point arrived;
  Clock::time_point deadline = Clock::time_point::max();
};

struct BatchDecision {
  // Indices (into the queue snapshot) of requests whose deadline has passed: answer them
  // DEADLINE_EXCEEDED, never compute them.
  std::vector<size_t> expired;
  // Number of leading live requests (in queue order, skipping the expired) to run as one batch
  // now; 0 means none yet.
  int take = 0;
  // When `take` is 0 and requests wait: the time at which the decision must be made again
  // (the oldest request's delay runs out, or its deadline passes). Empty: wait for a new request.
  std::optional<Clock::time_point> wake_at;
};

// Decides over `queue` (oldest first) at `now`. A batch closes when it is full (the next request
// would not fit, or max_batch_size is reached), when it reaches a preferred size, when the
// oldest request has waited max_queue_delay, or at once when `draining` (shutdown: no waiting).
// A request holding more images than max_batch_size never reaches the queue (the front end
// refuses it), but is taken alone if it does.
BatchDecision DecideBatch(absl::Span<const QueuedRequest> queue, Clock::time_point now,
                          const BatchingOptions& options, bool draining);

}  // namespace pynq::server

#endif  // PYNQ_SERVER_BATCH_POLICY_H_
