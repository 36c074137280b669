#include "server/batch_policy.h"

#include <algorithm>

namespace pynq::server {

BatchDecision DecideBatch(absl::Span<const QueuedRequest> queue, Clock::time_point now,
                          const BatchingOptions& options, bool draining) {
  BatchDecision decision;
  const int max_images = std::max(1, options.max_batch_size);

  int images = 0;     // images in the candidate batch
  int taken = 0;      // live requests in the candidate batch
  bool full = false;  // the next live request would not fit
  bool preferred = false;
  Clock::time_point oldest = Clock::time_point::max();
  Clock::time_point earliest_deadline = Clock::time_point::max();
  for (size_t i = 0; i < queue.size(); ++i) {
    const QueuedRequest& r = queue[i];
    if (r.deadline <= now) {
      decision.expired.push_back(i);
      continue;
    }
    if (full) continue;  // keep scanning only for expired requests
    if (taken > 0 && images + r.images > max_images) {
      full = true;
      continue;
    }
    images += r.images;
    ++taken;
    oldest = std::min(oldest, r.arrived);
    earliest_deadline = std::min(earliest_deadline, r.deadline);
    if (images >= max_images) full = true;
    preferred = std::binary_search(options.preferred_batch_sizes.begin(),
                                   options.preferred_batch_sizes.end(), images);
  }
  if (taken == 0) return decision;

  const Clock::time_point delay_end = oldest + options.max_queue_delay;
  if (full || preferred || draining || delay_end <= now) {
    decision.take = taken;
    return decision;
  }
  decision.wake_at = std::min(delay_end, earliest_deadline);
  return decision;
}

}  // namespace pynq::server
