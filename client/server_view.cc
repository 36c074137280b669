#include "client/server_view.h"

#include <cmath>
#include <limits>

namespace pynq::client {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The value of the series in `samples` with exactly `name` and `labels`, or 0.
double Previous(const std::vector<Sample>& samples, const std::string& name, const Labels& labels) {
  for (const Sample& s : samples) {
    if (s.name == name && s.labels == labels) return s.value;
  }
  return 0;
}

// after - before for one series; a counter that went down restarted from zero.
double SeriesDelta(double before, double after, bool* reset) {
  if (after < before) {
    *reset = true;
    return after;
  }
  return after - before;
}

std::optional<double> GaugeSum(const std::vector<Sample>& samples, const std::string& name,
                               const Labels& match) {
  std::optional<double> total;
  for (const Sample& s : samples) {
    if (s.name == name && LabelsMatch(s.labels, match)) total = total.value_or(0) + s.value;
  }
  return total;
}

// Summed delta of `name` over matching series, by the label `by`.
void AddDeltas(const std::vector<Sample>& before, const std::vector<Sample>& after,
               const std::string& name, const Labels& match, const std::string& by,
               std::map<std::string, double>* out, bool* reset) {
  for (const Sample& s : after) {
    if (s.name != name || !LabelsMatch(s.labels, match)) continue;
    const auto key = s.labels.find(by);
    (*out)[key == s.labels.end() ? "" : key->second] +=
        SeriesDelta(Previous(before, name, s.labels), s.value, reset);
  }
}

double Total(const std::map<std::string, double>& by_key) {
  double total = 0;
  for (const auto& [key, value] : by_key) total += value;
  return total;
}

}  // namespace

bool LabelsMatch(const Labels& labels, const Labels& match) {
  for (const auto& [name, value] : match) {
    const auto it = labels.find(name);
    if (it == labels.end() || it->second != value) return false;
  }
  return true;
}

std::map<std::string, double> CounterDelta(const std::vector<Sample>& before,
                                           const std::vector<Sample>& after,
                                           const std::string& name, const Labels& match,
                                           const std::string& by, bool* reset) {
  std::map<std::string, double> out;
  AddDeltas(before, after, name, match, by, &out, reset);
  return out;
}

Histogram HistogramDelta(const std::vector<Sample>& before, const std::vector<Sample>& after,
                         const std::string& family, const Labels& match, bool* reset) {
  Histogram h;
  std::map<double, double> by_le;  // ordered by bound; +Inf sorts last
  const std::string bucket_name = family + "_bucket";
  for (const Sample& s : after) {
    if (s.name != bucket_name || !LabelsMatch(s.labels, match)) continue;
    const auto le = s.labels.find("le");
    if (le == s.labels.end()) continue;
    by_le[std::strtod(le->second.c_str(), nullptr)] +=
        SeriesDelta(Previous(before, bucket_name, s.labels), s.value, reset);
  }
  h.buckets.assign(by_le.begin(), by_le.end());
  h.count = Total(CounterDelta(before, after, family + "_count", match, "", reset));
  h.sum = Total(CounterDelta(before, after, family + "_sum", match, "", reset));
  return h;
}

double HistogramQuantile(double q, const Histogram& histogram) {
  const auto& b = histogram.buckets;
  if (b.size() < 2 || !std::isinf(b.back().first)) return kNaN;
  const double total = b.back().second;
  if (total <= 0 || std::isnan(q)) return kNaN;
  if (q < 0) return -std::numeric_limits<double>::infinity();
  if (q > 1) return std::numeric_limits<double>::infinity();
  const double rank = q * total;
  size_t i = 0;
  while (i + 1 < b.size() - 1 && b[i].second < rank) ++i;
  if (b[i].second < rank) return b[b.size() - 2].first;  // rank falls in the +Inf bucket
  if (i == 0 && b[0].first <= 0) return b[0].first;
  const double start = i == 0 ? 0 : b[i - 1].first;
  const double below = i == 0 ? 0 : b[i - 1].second;
  const double in_bucket = b[i].second - below;
  if (in_bucket <= 0) return b[i].first;
  return start + (b[i].first - start) * ((rank - below) / in_bucket);
}

StageSummary Summarize(const Histogram& histogram) {
  StageSummary s;
  s.count = histogram.count;
  s.mean_s = histogram.count > 0 ? histogram.sum / histogram.count : 0;
  s.p50_s = HistogramQuantile(0.50, histogram);
  s.p90_s = HistogramQuantile(0.90, histogram);
  s.p99_s = HistogramQuantile(0.99, histogram);
  return s;
}

ServerView ComputeServerView(const std::vector<Sample>& before, const std::vector<Sample>& after,
                             const std::string& model) {
  const Labels match = {{"model", model}};
  ServerView v;
  bool* reset = &v.counters_reset;
  v.outcomes =
      CounterDelta(before, after, "pynq_inference_requests_total", match, "outcome", reset);
  v.requests = Total(v.outcomes);
  v.end_to_end = Summarize(
      HistogramDelta(before, after, "pynq_inference_request_duration_seconds", match, reset));
  v.queue = Summarize(
      HistogramDelta(before, after, "pynq_inference_queue_duration_seconds", match, reset));
  v.compute = Summarize(
      HistogramDelta(before, after, "pynq_inference_compute_duration_seconds", match, reset));
  const Histogram batch = HistogramDelta(before, after, "pynq_inference_batch_size", match, reset);
  v.batches = batch.count;
  v.batched_images = batch.sum;
  v.backend_requests = CounterDelta(before, after, "pynq_inference_compute_duration_seconds_count",
                                    match, "backend", reset);
  v.backend_batches =
      CounterDelta(before, after, "pynq_inference_batch_size_count", match, "backend", reset);
  v.queue_depth = GaugeSum(after, "pynq_inference_queue_depth", match);
  v.rss_bytes = GaugeSum(after, "process_resident_memory_bytes", {});
  v.backend_images =
      CounterDelta(before, after, "pynq_inference_batch_size_sum", match, "backend", reset);
  v.fallbacks = CounterDelta(before, after, "pynq_fpga_fallbacks_total", match, "reason", reset);
  v.dma_transfers =
      CounterDelta(before, after, "pynq_fpga_dma_transfers_total", match, "direction", reset);
  return v;
}

}  // namespace pynq::client
