// The server's own account of a run, from two scrapes of its Prometheus endpoint (before and
// after): counter and histogram deltas filtered to one model, percentiles estimated from bucket
// deltas the way Prometheus's histogram_quantile() does.
#ifndef PYNQ_CLIENT_SERVER_VIEW_H_
#define PYNQ_CLIENT_SERVER_VIEW_H_

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "client/prom_text.h"

namespace pynq::client {

// A cumulative histogram: (upper bound `le`, observations <= le) by increasing le, the last
// bound +Inf; summed over every label set that matched.
struct Histogram {
  std::vector<std::pair<double, double>> buckets;
  double count = 0;  // the _count sample
  double sum = 0;    // the _sum sample
};

// Selects series: every label in `match` must be present with that value.
bool LabelsMatch(const Labels& labels, const Labels& match);

// The sum over matching series of (after - before) of samples named `name`, per value of the
// label `by` ("" for one total under the key ""). A series that went down (the server restarted)
// counts its `after` value and sets *reset.
std::map<std::string, double> CounterDelta(const std::vector<Sample>& before,
                                           const std::vector<Sample>& after,
                                           const std::string& name, const Labels& match,
                                           const std::string& by, bool* reset);

// The delta histogram of family `family` (its _bucket, _count and _sum samples), summed over the
// matching label sets (e.g. over backends).
Histogram HistogramDelta(const std::vector<Sample>& before, const std::vector<Sample>& after,
                         const std::string& family, const Labels& match, bool* reset);

// The q-quantile (0 <= q <= 1) by linear interpolation inside the bucket holding rank q*count,
// as Prometheus's histogram_quantile(): the first bucket starts at 0 (if its bound is positive);
// a rank in the +Inf bucket gives the highest finite bound. NaN when there are no observations
// or no +Inf bucket.
double HistogramQuantile(double q, const Histogram& histogram);

// A latency histogram in seconds, summarized.
struct StageSummary {
  double count = 0;
  double mean_s = 0;
  double p50_s = 0;
  double p90_s = 0;
  double p99_s = 0;
};
StageSummary Summarize(const Histogram& histogram);

// What the server says about the run, for one model.
struct ServerView {
  std::map<std::string, double> outcomes;          // pynq_inference_requests_total by outcome
  double requests = 0;                             // summed over outcomes
  StageSummary end_to_end;                         // pynq_inference_request_duration_seconds
  StageSummary queue;                              // pynq_inference_queue_duration_seconds
  StageSummary compute;                            // pynq_inference_compute_duration_seconds
  double batches = 0;                              // pynq_inference_batch_size _count
  double batched_images = 0;                       // pynq_inference_batch_size _sum
  std::map<std::string, double> backend_requests;  // compute observations by backend
  std::map<std::string, double> backend_batches;   // batch-size observations by backend
  std::map<std::string, double> backend_images;    // batch-size sums by backend: images served
  std::map<std::string, double> fallbacks;         // pynq_fpga_fallbacks_total by reason
  std::optional<double> queue_depth;               // gauge, after the run
  std::optional<double> rss_bytes;                 // process_resident_memory_bytes, after
  // pynq_fpga_dma_transfers_total delta by direction ("mm2s", "s2mm"); empty when the server
  // exports none (no overlay).
  std::map<std::string, double> dma_transfers;
  bool counters_reset = false;  // a counter went down: the server restarted during the run

  double avg_batch() const { return batches > 0 ? batched_images / batches : 0; }
};

// The run's server view for `model` from the scrapes before and after it.
ServerView ComputeServerView(const std::vector<Sample>& before, const std::vector<Sample>& after,
                             const std::string& model);

}  // namespace pynq::client

#endif  // PYNQ_CLIENT_SERVER_VIEW_H_
