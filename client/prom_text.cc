#include "client/prom_text.h"

#include <cctype>
#include <cstdlib>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace pynq::client {
namespace {

// A cursor over one line.
class LineReader {
 public:
  explicit LineReader(absl::string_view line) : rest_(line) {}

  void SkipSpaces() {
    while (!rest_.empty() && (rest_.front() == ' ' || rest_.front() == '\t'))
      rest_.remove_prefix(1);
  }
  bool Consume(char c) {
    if (rest_.empty() || rest_.front() != c) return false;
    rest_.remove_prefix(1);
    return true;
  }
  // [a-zA-Z_:][a-zA-Z0-9_:]* (label names use the same without ':'; accepting it is harmless).
  std::string Name() {
    size_t n = 0;
    while (n < rest_.size() && (std::isalnum(static_cast<unsigned char>(rest_[n])) ||
                                rest_[n] == '_' || rest_[n] == ':')) {
      ++n;
    }
    if (n > 0 && std::isdigit(static_cast<unsigned char>(rest_[0]))) return "";
    std::string name(rest_.substr(0, n));
    rest_.remove_prefix(n);
    return name;
  }
  // A double-quoted label value with \\, \" and \n escapes; false when unterminated.
  bool QuotedValue(std::string* out) {
    if (!Consume('"')) return false;
    while (!rest_.empty()) {
      const char c = rest_.front();
      rest_.remove_prefix(1);
      if (c == '"') return true;
      if (c != '\\') {
        out->push_back(c);
        continue;
      }
      if (rest_.empty()) return false;
      const char e = rest_.front();
      rest_.remove_prefix(1);
      out->push_back(e == 'n' ? '\n' : e);  // \\ -> \, \" -> ", anything else kept as is
    }
    return false;
  }
  // The next whitespace-separated token.
  absl::string_view Token() {
    SkipSpaces();
    size_t n = 0;
    while (n < rest_.size() && rest_[n] != ' ' && rest_[n] != '\t') ++n;
    absl::string_view token = rest_.substr(0, n);
    rest_.remove_prefix(n);
    return token;
  }
  bool AtEnd() {
    SkipSpaces();
    return rest_.empty();
  }

 private:
  absl::string_view rest_;
};

// A sample value: a float, "+Inf", "-Inf" or "NaN" (strtod reads all of them).
bool ParseValue(absl::string_view token, double* value) {
  if (token.empty()) return false;
  const std::string text(token);
  char* end = nullptr;
  *value = std::strtod(text.c_str(), &end);
  return end == text.c_str() + text.size();
}

absl::Status ParseLabels(LineReader& reader, Labels* labels) {
  for (;;) {
    reader.SkipSpaces();
    if (reader.Consume('}')) return absl::OkStatus();
    const std::string name = reader.Name();
    if (name.empty()) return absl::InvalidArgumentError("expected a label name");
    reader.SkipSpaces();
    if (!reader.Consume('=')) return absl::InvalidArgumentError("expected '=' after " + name);
    reader.SkipSpaces();
    std::string value;
    if (!reader.QuotedValue(&value)) {
      return absl::InvalidArgumentError("expected a quoted value for label " + name);
    }
    (*labels)[name] = std::move(value);
    reader.SkipSpaces();
    if (!reader.Consume(',')) {
      if (reader.Consume('}')) return absl::OkStatus();
      return absl::InvalidArgumentError("expected ',' or '}' after label " + name);
    }
  }
}

absl::StatusOr<Sample> ParseSample(absl::string_view line) {
  LineReader reader(line);
  Sample sample;
  sample.name = reader.Name();
  if (sample.name.empty()) return absl::InvalidArgumentError("expected a metric name");
  reader.SkipSpaces();
  if (reader.Consume('{')) {
    absl::Status status = ParseLabels(reader, &sample.labels);
    if (!status.ok()) return status;
  }
  const absl::string_view value = reader.Token();
  if (!ParseValue(value, &sample.value)) {
    return absl::InvalidArgumentError(absl::StrCat("bad value '", value, "'"));
  }
  const absl::string_view timestamp = reader.Token();
  double ignored = 0;
  if (!timestamp.empty() && !ParseValue(timestamp, &ignored)) {
    return absl::InvalidArgumentError(absl::StrCat("bad timestamp '", timestamp, "'"));
  }
  if (!reader.AtEnd()) return absl::InvalidArgumentError("unexpected text after the sample");
  return sample;
}

// "# TYPE name type" records the family's type; other comments are ignored.
void ParseComment(absl::string_view line, Exposition* out) {
  std::vector<absl::string_view> words =
      absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
  if (words.size() >= 4 && words[0] == "#" && words[1] == "TYPE") {
    out->types[std::string(words[2])] = std::string(words[3]);
  }
}

}  // namespace

absl::StatusOr<Exposition> ParsePrometheusText(absl::string_view text) {
  Exposition out;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    if (line.front() == '#') {
      ParseComment(line, &out);
      continue;
    }
    absl::StatusOr<Sample> sample = ParseSample(line);
    if (!sample.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("metrics line ", line_number, ": ", sample.status().message(), ": ", line));
    }
    out.samples.push_back(*std::move(sample));
  }
  return out;
}

}  // namespace pynq::client
