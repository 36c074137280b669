#include "server/systemd.h"

#include <systemd/sd-daemon.h>

#include <chrono>
#include <cstdint>

#include "spdlog/spdlog.h"

namespace pynq::server {

bool NotifySystemd(const std::string& state) {
  const int r = sd_notify(/*unset_environment=*/0, state.c_str());
  if (r <= 0) spdlog::debug("sd_notify({}) not sent ({})", state, r);
  return r > 0;
}

Watchdog::Watchdog() {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(/*unset_environment=*/0, &usec) <= 0 || usec == 0) return;
  const auto period = std::chrono::microseconds(usec / 2);
  spdlog::info("systemd watchdog enabled: pinging every {} ms", period.count() / 1000);
  thread_ = std::thread([this, period] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      sd_notify(0, "WATCHDOG=1");
      cv_.wait_for(lock, period, [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return stop_; });
    }
  });
}

void Watchdog::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace pynq::server
