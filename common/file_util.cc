#include "common/file_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace pynq {
absl::StatusOr<std::string> ReadRegularFile(const std::string& path,
                                            const std::string& display_name, size_t max_bytes) {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
  Fd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
  if (fd.get() < 0) {
    const int err = errno;
    const std::string why = std::strerror(err);
    if (err == ENOENT) return absl::NotFoundError(absl::StrCat(display_name, ": no such file"));
    if (err == ELOOP) {
      return absl::FailedPreconditionError(
          absl::StrCat(display_name, ": cannot be opened: ", why, " (a symbolic-link loop?)"));
    }
    return absl::FailedPreconditionError(absl::StrCat(display_name, ": cannot be opened: ", why));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return absl::InternalError(absl::StrCat(display_name, ": cannot stat: ", std::strerror(errno)));
  }
  if (!S_ISREG(st.st_mode)) {
    const char* kind = S_ISDIR(st.st_mode)    ? "a directory"
                       : S_ISFIFO(st.st_mode) ? "a FIFO"
                       : S_ISSOCK(st.st_mode) ? "a socket"
                       : S_ISCHR(st.st_mode)  ? "a character device"
                       : S_ISBLK(st.st_mode)  ? "a block device"
                                              : "not a regular file";
    return absl::FailedPreconditionError(
        absl::StrCat(display_name, " is ", kind, "; only regular files are read"));
  }
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat(display_name, " holds ", st.st_size, " bytes; the limit is ", max_bytes));
  }
  // The file was opened non-blocking; reads of a regular file do not block anyway. Read at most
  // one byte past the limit, in case the file grew after fstat.
  std::string bytes;
  bytes.resize(static_cast<size_t>(st.st_size) + 1);
  size_t got = 0;
  while (true) {
    if (got == bytes.size()) {
      if (bytes.size() > max_bytes) break;
      bytes.resize(std::min(max_bytes + 1, bytes.size() * 2 + 4096));
    }
    const ssize_t n = ::read(fd.get(), bytes.data() + got, bytes.size() - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError(
          absl::StrCat(display_name, ": read failed: ", std::strerror(errno)));
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  if (got > max_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat(display_name, " grew past the limit of ", max_bytes, " bytes while read"));
  }
  bytes.resize(got);
  return bytes;
}

}  // namespace pynq
