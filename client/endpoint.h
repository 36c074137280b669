// The server's address as the user gives it (--host HOST[:PORT]) and the endpoints derived from it.
#ifndef PYNQ_CLIENT_ENDPOINT_H_
#define PYNQ_CLIENT_ENDPOINT_H_

#include <string>

#include "absl/status/statusor.h"

namespace pynq::client {

inline constexpr int kDefaultGrpcPort = 8001;
inline constexpr int kDefaultMetricsPort = 8002;

struct Endpoint {
  std::string host;  // a name or an address; an IPv6 address without brackets
  int port = kDefaultGrpcPort;

  // "host:port" for gRPC, IPv6 addresses in brackets.
  std::string GrpcTarget() const;
  // http://host:8002/metrics: where infer-server serves its Prometheus metrics.
  std::string DefaultMetricsUrl() const;
};

// "HOST", "HOST:PORT", "[V6]", "[V6]:PORT" or a bare IPv6 address; the port defaults to 8001.
// INVALID_ARGUMENT for an empty host or a port that is not 1..65535.
[[nodiscard]] absl::StatusOr<Endpoint> ParseEndpoint(const std::string& text);

}  // namespace pynq::client

#endif  // PYNQ_CLIENT_ENDPOINT_H_
