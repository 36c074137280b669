// The two things infer-server asks of systemd: readiness notification (Type=notify) and the
// watchdog. Both are no-ops when not started by systemd (no NOTIFY_SOCKET / WATCHDOG_USEC).
#ifndef PYNQ_SERVER_SYSTEMD_H_
#define PYNQ_SERVER_SYSTEMD_H_

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"

namespace pynq::server {

// Sends `state` ("READY=1", "STOPPING=1", ...) to $NOTIFY_SOCKET. Returns false when there is
// no socket or the send failed (logged at debug level): systemd integration is optional.
bool NotifySystemd(const std::string& state);

// Pings the systemd watchdog at half the interval systemd asked for, from its own thread, while
// the process lives. Does nothing when the watchdog is not enabled. Thread-safe.
class Watchdog {
 public:
  Watchdog();
  ~Watchdog() { Stop(); }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
  void Stop();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace pynq::server

#endif  // PYNQ_SERVER_SYSTEMD_H_
