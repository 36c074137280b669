// Progress of a run on a terminal (a bar redrawn in place, with percent and the images/s of the
// last second) or in a log (a plain line every few seconds, with the images/s since the last).
#ifndef PYNQ_CLIENT_PROGRESS_H_
#define PYNQ_CLIENT_PROGRESS_H_

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <string>

namespace pynq::client {

class Progress {
 public:
  using Clock = std::chrono::steady_clock;

  // Writes to `out`; `tty` picks the bar (redrawn in place) over plain lines every
  // `line_interval`. Not thread-safe: call from one thread.
  Progress(size_t total, std::FILE* out, bool tty,
           std::chrono::seconds line_interval = std::chrono::seconds(5));

  // `done` of total images answered by now.
  void Update(size_t done);
  // The final state, and a newline after a bar.
  void Finish(size_t done);

  // The bar line for `done` of `total` at `rate` images/s, `width` characters of bar.
  static std::string BarLine(size_t done, size_t total, double rate, int width);

 private:
  // Images per second from (from, from_done) to (now, done).
  static double Rate(size_t from_done, Clock::time_point from, size_t done, Clock::time_point now);

  const size_t total_;
  std::FILE* const out_;
  const bool tty_;
  const Clock::duration line_interval_;
  const Clock::time_point start_;
  Clock::time_point window_start_;  // the bar's rate window
  size_t window_done_ = 0;
  double rate_ = 0;
  Clock::time_point last_line_;  // the last plain line
  size_t last_line_done_ = 0;
};

}  // namespace pynq::client

#endif  // PYNQ_CLIENT_PROGRESS_H_
