// One inference request as it travels from the front end through the queue to a backend.
#ifndef PYNQ_SERVER_REQUEST_H_
#define PYNQ_SERVER_REQUEST_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>

#include "absl/status/status.h"
#include "absl/types/span.h"

namespace pynq::server {

using Clock = std::chrono::steady_clock;

// A validated request for `images` images of one model. It does not own its pixels: `keepalive`
// owns whatever holds them (the unary call's message, or a stream message moved to the heap) and
// lives as long as the request. Each request is answered exactly once: Answer() calls `done`
// the first time and ignores later calls; a request destroyed unanswered answers INTERNAL, so no
// path can lose one. Not thread-safe except Answer(), which may race with itself.
class InferRequest {
 public:
  // `logits` holds images * classes int8 values; empty unless `status` is OK. Runs on whatever
  // thread answers (a batcher worker, or the front end for early errors): it must not block.
  using Done = std::function<void(const absl::Status& status, absl::Span<const int8_t> logits)>;

  InferRequest(std::string_view pixels, int images, Clock::time_point deadline,
               std::shared_ptr<void> keepalive, Done done)
      : pixels_(pixels),
        images_(images),
        arrived_(Clock::now()),
        deadline_(deadline),
        keepalive_(std::move(keepalive)),
        done_(std::move(done)) {}
  InferRequest(const InferRequest&) = delete;
  InferRequest& operator=(const InferRequest&) = delete;
  ~InferRequest() {
    Answer(absl::InternalError("request dropped without an answer (server bug)"), {});
  }

  std::string_view pixels() const { return pixels_; }
  int images() const { return images_; }
  Clock::time_point arrived() const { return arrived_; }
  // Clock::time_point::max() when the client set none.
  Clock::time_point deadline() const { return deadline_; }

  // Answers the request unless it was answered already. Returns true when this call answered.
  bool Answer(const absl::Status& status, absl::Span<const int8_t> logits) {
    if (answered_.exchange(true, std::memory_order_acq_rel)) return false;
    done_(status, logits);
    return true;
  }

 private:
  const std::string_view pixels_;
  const int images_;
  const Clock::time_point arrived_;
  const Clock::time_point deadline_;
  const std::shared_ptr<void> keepalive_;
  const Done done_;
  std::atomic<bool> answered_{false};
};

}  // namespace pynq::server

#endif  // PYNQ_SERVER_REQUEST_H_
