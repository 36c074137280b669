#include "server/batcher.h"

#include <utility>

#include "prometheus/gauge.h"

namespace pynq::server {

Batcher::Batcher(Options options) : options_(std::move(options)) {}

Batcher::~Batcher() {
  std::deque<std::unique_ptr<InferRequest>> left;
  {
    std::lock_guard<std::mutex> lock(mu_);
    left.swap(queue_);
  }
  for (auto& r : left) r->Answer(absl::UnavailableError("server shutting down"), {});
}

absl::Status Batcher::Enqueue(std::unique_ptr<InferRequest> request) {
  absl::Status refusal;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) {
      refusal = absl::UnavailableError("server is shutting down; not accepting requests");
    } else if (queued_images_ + request->images() > options_.max_queue_images) {
      refusal = absl::ResourceExhaustedError(
          "model queue full (" + std::to_string(queued_images_) + " images waiting, limit " +
          std::to_string(options_.max_queue_images) + "); retry later");
    } else {
      queued_images_ += request->images();
      queue_.push_back(std::move(request));
      UpdateDepthLocked();
    }
  }
  if (!refusal.ok()) {
    request->Answer(refusal, {});  // outside the lock: an answer runs gRPC code
    return refusal;
  }
  cv_.notify_one();
  return absl::OkStatus();
}

std::optional<Clock::time_point> Batcher::DecideLocked(
    Clock::time_point now, std::vector<std::unique_ptr<InferRequest>>* expired,
    std::vector<std::unique_ptr<InferRequest>>* batch) {
  std::vector<QueuedRequest> snapshot;
  snapshot.reserve(queue_.size());
  for (const auto& r : queue_) snapshot.push_back({r->images(), r->arrived(), r->deadline()});
  const BatchDecision d = DecideBatch(snapshot, now, options_.batching, closed_);

  // Move out the expired and the first `take` live requests, keeping the rest in order.
  std::deque<std::unique_ptr<InferRequest>> rest;
  size_t next_expired = 0;
  int to_take = d.take;
  for (size_t i = 0; i < queue_.size(); ++i) {
    std::unique_ptr<InferRequest>& r = queue_[i];
    if (next_expired < d.expired.size() && d.expired[next_expired] == i) {
      ++next_expired;
      queued_images_ -= r->images();
      expired->push_back(std::move(r));
    } else if (to_take > 0) {
      --to_take;
      queued_images_ -= r->images();
      batch->push_back(std::move(r));
    } else {
      rest.push_back(std::move(r));
    }
  }
  queue_.swap(rest);
  UpdateDepthLocked();
  return d.wake_at;
}

std::vector<std::unique_ptr<InferRequest>> Batcher::NextBatch() {
  std::vector<std::unique_ptr<InferRequest>> batch;
  while (true) {
    std::vector<std::unique_ptr<InferRequest>> expired;
    bool finished = false;
    bool more_waiting = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      while (true) {
        const std::optional<Clock::time_point> wake_at =
            DecideLocked(Clock::now(), &expired, &batch);
        if (!batch.empty() || !expired.empty()) break;
        if (closed_ && queue_.empty()) {
          finished = true;
          break;
        }
        if (wake_at.has_value()) {
          cv_.wait_until(lock, *wake_at);
        } else {
          cv_.wait(lock);
        }
      }
      more_waiting = !queue_.empty();
    }
    // Another worker may form the next batch while this one runs.
    if (more_waiting) cv_.notify_one();
    // Answered outside the lock: an answer runs gRPC code.
    for (auto& r : expired) {
      r->Answer(absl::DeadlineExceededError("deadline passed while queued; not computed"), {});
    }
    if (!batch.empty() || finished) return batch;
  }
}

void Batcher::Close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

size_t Batcher::depth() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

void Batcher::UpdateDepthLocked() {
  if (options_.depth_gauge != nullptr)
    options_.depth_gauge->Set(static_cast<double>(queue_.size()));
}

}  // namespace pynq::server
