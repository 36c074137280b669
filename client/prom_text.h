// A parser for the Prometheus text exposition format (version 0.0.4), enough to read a server's
// /metrics page: samples with labels (escaped values), special values, optional timestamps.
// # HELP and # TYPE lines are read for types only; other comments are skipped.
#ifndef PYNQ_CLIENT_PROM_TEXT_H_
#define PYNQ_CLIENT_PROM_TEXT_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace pynq::client {

using Labels = std::map<std::string, std::string>;

// One line of an exposition: `name{labels} value`. The timestamp, if any, is dropped.
struct Sample {
  std::string name;
  Labels labels;  // values unescaped
  double value = 0;
};

struct Exposition {
  std::vector<Sample> samples;
  std::map<std::string, std::string> types;  // family name -> "counter", "histogram", ...
};

// Parses `text`. INVALID_ARGUMENT naming the line number and what is wrong on a malformed line.
[[nodiscard]] absl::StatusOr<Exposition> ParsePrometheusText(absl::string_view text);

}  // namespace pynq::client

#endif  // PYNQ_CLIENT_PROM_TEXT_H_
