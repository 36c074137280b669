// Reading a Prometheus /metrics page over HTTP (libcurl).
#ifndef PYNQ_CLIENT_METRICS_SCRAPE_H_
#define PYNQ_CLIENT_METRICS_SCRAPE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/prom_text.h"

namespace pynq::client {

// The body of `url` (http:// or https://), which must answer 200 within `timeout`.
// UNAVAILABLE with libcurl's reason when it cannot be fetched, or the HTTP status otherwise.
[[nodiscard]] absl::StatusOr<std::string> HttpGet(const std::string& url, absl::Duration timeout);

// HttpGet + ParsePrometheusText: the page's samples.
[[nodiscard]] absl::StatusOr<std::vector<Sample>> ScrapeMetrics(const std::string& url,
                                                                absl::Duration timeout);

}  // namespace pynq::client

#endif  // PYNQ_CLIENT_METRICS_SCRAPE_H_
