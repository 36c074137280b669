// A model's request queue and the thread-safe door to the batching policy.
#ifndef PYNQ_SERVER_BATCHER_H_
#define PYNQ_SERVER_BATCHER_H_

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "server/batch_policy.h"
#include "server/request.h"

namespace prometheus {
class Gauge;
}

namespace pynq::server {

// Holds one model's waiting requests, bounded, and hands out batches formed by DecideBatch.
// Thread-safe: the front end calls Enqueue from gRPC threads while the model's workers call
// NextBatch. Requests whose deadline passes in the queue are answered DEADLINE_EXCEEDED here and
// never reach a backend.
class Batcher {
 public:
  struct Options {
    BatchingOptions batching;
    // Bound on the images waiting in the queue; a request that would exceed it is refused.
    int max_queue_images = 1024;
    // Optional: set to the number of waiting requests after every change. Not owned.
    prometheus::Gauge* depth_gauge = nullptr;
  };

  explicit Batcher(Options options);
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;
  // Answers whatever still waits with UNAVAILABLE.
  ~Batcher();

  // Queues `request`, or answers it at once with the refusal, which is also returned
  // (RESOURCE_EXHAUSTED: queue full, the client may retry later; UNAVAILABLE: shutting down).
  absl::Status Enqueue(std::unique_ptr<InferRequest> request);

  // Blocks until a batch is due and returns it (requests oldest first, at most max_batch_size
  // images). After Close(), closes batches at once and returns an empty vector once the queue
  // is empty: the caller's signal to stop.
  std::vector<std::unique_ptr<InferRequest>> NextBatch();

  // Stops accepting requests and wakes every NextBatch caller; queued requests are still
  // handed out (drained). Idempotent.
  void Close();

  // Requests waiting now.
  size_t depth() const;

 private:
  // Runs the policy over queue_; moves expired requests into `expired` and the batch (if due)
  // into `batch`. Returns when to decide again if nothing is due.
  std::optional<Clock::time_point> DecideLocked(Clock::time_point now,
                                                std::vector<std::unique_ptr<InferRequest>>* expired,
                                                std::vector<std::unique_ptr<InferRequest>>* batch)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void UpdateDepthLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Constant after construction.
  const Options options_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<InferRequest>> queue_ ABSL_GUARDED_BY(mu_);
  int queued_images_ ABSL_GUARDED_BY(mu_) = 0;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace pynq::server

#endif  // PYNQ_SERVER_BATCHER_H_
