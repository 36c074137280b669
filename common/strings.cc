#include "common/strings.h"

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace pynq {

std::string BoundedForMessage(std::string_view text, size_t max_bytes) {
  const absl::string_view kept(text.data(), std::min(text.size(), max_bytes));
  std::string out = absl::CHexEscape(kept);
  if (text.size() > max_bytes) absl::StrAppend(&out, "... (", text.size(), " bytes)");
  return out;
}

std::string Truncated(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  return absl::StrCat(absl::string_view(text.data(), max_bytes), "... (", text.size(), " bytes)");
}

}  // namespace pynq
