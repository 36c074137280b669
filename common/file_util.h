// Reading configuration and model files that an operator (or an attacker with write access to
// a folder) controls: never blocks, never follows anything but a regular file, never reads more
// than a stated maximum.
#ifndef PYNQ_COMMON_FILE_UTIL_H_
#define PYNQ_COMMON_FILE_UTIL_H_

#include <unistd.h>

#include <cstddef>
#include <string>
#include <utility>

#include "absl/status/statusor.h"

namespace pynq {

// Owns a file descriptor: closes it when it goes out of scope. Movable, not copyable.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&&) = delete;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// Returns the whole content of the regular file at `path` (symbolic links are followed to
// what they name). Opens without blocking, so a FIFO cannot stall the caller, and checks the
// opened file itself, so nothing can be swapped in between the check and the read.
// NOT_FOUND when nothing is there; FAILED_PRECONDITION when it is not a regular file (a
// directory, FIFO, socket or device, a symbolic-link loop); RESOURCE_EXHAUSTED when it holds
// more than `max_bytes`; INTERNAL on a read error. Messages name `display_name`, not `path`, so
// callers choose whether a path may reach a client.
[[nodiscard]] absl::StatusOr<std::string> ReadRegularFile(const std::string& path,
                                                          const std::string& display_name,
                                                          size_t max_bytes);

}  // namespace pynq

#endif  // PYNQ_COMMON_FILE_UTIL_H_
