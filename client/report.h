// The run's report: accuracy, per-class results and the confusion matrix, client latency
// percentiles, throughput, errors, and the server's view; as text (stdout) and as JSON.
#ifndef PYNQ_CLIENT_REPORT_H_
#define PYNQ_CLIENT_REPORT_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "client/dataset.h"
#include "client/runner.h"
#include "client/server_view.h"
#include "nlohmann/json.hpp"

namespace pynq::client {

// The q-quantile (0..1) of ascending `sorted` by linear interpolation between the closest ranks
// (numpy's default): rank q*(n-1). NaN when empty.
double Percentile(const std::vector<double>& sorted, double q);

// Client-side latency over the successful requests, microseconds. All NaN when there are none.
struct LatencyStats {
  size_t count = 0;
  double min = 0, p50 = 0, p90 = 0, p99 = 0, max = 0, mean = 0, std = 0;
};
LatencyStats ComputeLatencyStats(std::vector<double> samples_us);

struct ClassRow {
  size_t label = 0;
  std::string name;
  int64_t correct = 0;
  int64_t total = 0;                           // images of this class sent
  std::map<size_t, int64_t> misclassified_as;  // predicted class -> count (wrong answers only)
};

struct Report {
  std::string model;
  std::string dataset;
  std::string source;  // the file the images came from
  size_t images = 0;   // sent
  size_t correct = 0;
  size_t errors = 0;  // failed requests and unmatched answers
  std::vector<ClassRow> per_class;
  std::vector<std::vector<int64_t>> confusion;  // [label][predicted], answered images only
  LatencyStats latency;
  double wall_s = 0;
  double throughput_ips = 0;               // successful answers per second of wall time
  std::vector<std::string> error_samples;  // the first few, "image 17: why"
  std::string aborted;                     // why the run stopped early, if it did
  std::optional<ServerView> server;
  std::string server_note;  // why there is no server section, when there is none

  // correct / images: a failed request counts as a wrong answer. 0 when no image was sent.
  double accuracy() const { return images == 0 ? 0 : static_cast<double>(correct) / images; }
};

// How many error messages a report keeps.
inline constexpr size_t kMaxErrorSamples = 5;

// The report of `run` over the first run.images.size() images of `data`.
Report BuildReport(const std::string& model, const std::string& source, const Dataset& data,
                   const RunResult& run);

// "310 us", "1.94 ms", "12.3 ms", "1.20 s"; "n/a" for NaN.
std::string FormatMicros(double us);

// The human-readable report (stdout), ending in a newline.
std::string FormatReport(const Report& report);

// The JSON report; see docs/client.md for the schema.
nlohmann::json ReportToJson(const Report& report);

}  // namespace pynq::client

#endif  // PYNQ_CLIENT_REPORT_H_
