#include "client/progress.h"

#include <algorithm>

#include "absl/strings/str_format.h"

namespace pynq::client {

namespace {
constexpr int kBarWidth = 30;
// The bar's images/s is measured over about this much time.
constexpr std::chrono::seconds kRateWindow{1};
}  // namespace

Progress::Progress(size_t total, std::FILE* out, bool tty, std::chrono::seconds line_interval)
    : total_(total),
      out_(out),
      tty_(tty),
      line_interval_(line_interval),
      start_(Clock::now()),
      window_start_(start_),
      last_line_(start_) {}

double Progress::Rate(size_t from_done, Clock::time_point from, size_t done,
                      Clock::time_point now) {
  const double seconds = std::chrono::duration<double>(now - from).count();
  return seconds > 0 ? static_cast<double>(done - from_done) / seconds : 0;
}

std::string Progress::BarLine(size_t done, size_t total, double rate, int width) {
  const double fraction = total == 0 ? 1 : std::min(1.0, static_cast<double>(done) / total);
  const int filled = static_cast<int>(fraction * width);
  return absl::StrFormat("[%s%s] %5.1f%% %d/%d  %.0f img/s", std::string(filled, '#'),
                         std::string(width - filled, '.'), 100 * fraction, done, total, rate);
}

void Progress::Update(size_t done) {
  const Clock::time_point now = Clock::now();
  if (tty_) {
    // The rate over the last full window; the average since the start during the first one.
    if (now - window_start_ >= kRateWindow) {
      rate_ = Rate(window_done_, window_start_, done, now);
      window_start_ = now;
      window_done_ = done;
    }
    const double rate = now - start_ < kRateWindow ? Rate(0, start_, done, now) : rate_;
    std::fprintf(out_, "\r%s", BarLine(done, total_, rate, kBarWidth).c_str());
    std::fflush(out_);
    return;
  }
  if (now - last_line_ < line_interval_) return;
  std::fprintf(out_, "progress: %zu/%zu images (%.1f%%), %.0f img/s\n", done, total_,
               total_ == 0 ? 100.0 : 100.0 * done / total_,
               Rate(last_line_done_, last_line_, done, now));
  std::fflush(out_);
  last_line_ = now;
  last_line_done_ = done;
}

void Progress::Finish(size_t done) {
  if (!tty_) return;
  // The final line shows the average over the whole run.
  std::fprintf(out_, "\r%s\n",
               BarLine(done, total_, Rate(0, start_, done, Clock::now()), kBarWidth).c_str());
  std::fflush(out_);
}

}  // namespace pynq::client
