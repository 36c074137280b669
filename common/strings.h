// Putting strings that come from outside (a client's model name or request id, a config's field)
// into error messages and logs without letting them grow either without bound.
#ifndef PYNQ_COMMON_STRINGS_H_
#define PYNQ_COMMON_STRINGS_H_

#include <cstddef>
#include <string>
#include <string_view>

namespace pynq {

// The longest piece of an outside string that a message repeats.
inline constexpr size_t kMaxEchoBytes = 128;

// `text` made safe to repeat in a message: bytes outside printable ASCII are C-escaped ("\n",
// "\x01"), and when `text` is longer than `max_bytes` only its first `max_bytes` bytes are kept,
// followed by "... (N bytes)". The result is at most 4 * max_bytes + 32 bytes long.
std::string BoundedForMessage(std::string_view text, size_t max_bytes = kMaxEchoBytes);

// `text` itself when it holds at most `max_bytes` bytes, else its first `max_bytes` bytes
// followed by "... (N bytes)": for echoing a field (an id) where its exact bytes matter when
// they fit.
std::string Truncated(std::string_view text, size_t max_bytes = kMaxEchoBytes);

}  // namespace pynq

#endif  // PYNQ_COMMON_STRINGS_H_
