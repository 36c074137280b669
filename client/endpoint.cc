#include "client/endpoint.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace pynq::client {
namespace {

std::string Bracketed(const std::string& host) {
  return host.find(':') == std::string::npos ? host : absl::StrCat("[", host, "]");
}

absl::StatusOr<int> ParsePort(const std::string& text, const std::string& whole) {
  int port = 0;
  if (!absl::SimpleAtoi(text, &port) || port < 1 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad port '", text, "' in --host ", whole, " (expected 1..65535)"));
  }
  return port;
}

}  // namespace

std::string Endpoint::GrpcTarget() const { return absl::StrCat(Bracketed(host), ":", port); }

std::string Endpoint::DefaultMetricsUrl() const {
  return absl::StrCat("http://", Bracketed(host), ":", kDefaultMetricsPort, "/metrics");
}

absl::StatusOr<Endpoint> ParseEndpoint(const std::string& text) {
  Endpoint e;
  std::string port;
  if (!text.empty() && text.front() == '[') {  // [v6] or [v6]:port
    const size_t close = text.find(']');
    if (close == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("unclosed '[' in --host ", text));
    }
    e.host = text.substr(1, close - 1);
    if (close + 1 < text.size()) {
      if (text[close + 1] != ':') {
        return absl::InvalidArgumentError(absl::StrCat("expected ':' after ']' in --host ", text));
      }
      port = text.substr(close + 2);
    }
  } else if (std::count(text.begin(), text.end(), ':') == 1) {  // host:port
    const size_t colon = text.find(':');
    e.host = text.substr(0, colon);
    port = text.substr(colon + 1);
  } else {  // a name, an IPv4 address, or a bare IPv6 address
    e.host = text;
  }
  if (e.host.empty())
    return absl::InvalidArgumentError(absl::StrCat("no host in --host '", text, "'"));
  if (!port.empty() || (text.back() == ':')) {
    absl::StatusOr<int> parsed = ParsePort(port, text);
    if (!parsed.ok()) return parsed.status();
    e.port = *parsed;
  }
  return e;
}

}  // namespace pynq::client
