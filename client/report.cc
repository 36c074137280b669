#include "client/report.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"

namespace pynq::client {

double Percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return std::numeric_limits<double>::quiet_NaN();
  const double rank = std::clamp(q, 0.0, 1.0) * static_cast<double>(sorted.size() - 1);
  const size_t below = static_cast<size_t>(std::floor(rank));
  const size_t above = std::min(below + 1, sorted.size() - 1);
  return sorted[below] + (sorted[above] - sorted[below]) * (rank - static_cast<double>(below));
}

LatencyStats ComputeLatencyStats(std::vector<double> samples_us) {
  LatencyStats s;
  s.count = samples_us.size();
  if (samples_us.empty()) {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    s.min = s.p50 = s.p90 = s.p99 = s.max = s.mean = s.std = nan;
    return s;
  }
  std::sort(samples_us.begin(), samples_us.end());
  s.min = samples_us.front();
  s.max = samples_us.back();
  s.p50 = Percentile(samples_us, 0.50);
  s.p90 = Percentile(samples_us, 0.90);
  s.p99 = Percentile(samples_us, 0.99);
  double sum = 0;
  for (double v : samples_us) sum += v;
  s.mean = sum / static_cast<double>(s.count);
  double squares = 0;
  for (double v : samples_us) squares += (v - s.mean) * (v - s.mean);
  s.std = std::sqrt(squares / static_cast<double>(s.count));  // population deviation
  return s;
}

Report BuildReport(const std::string& model, const std::string& source, const Dataset& data,
                   const RunResult& run) {
  Report r;
  r.model = model;
  r.dataset = data.name;
  r.source = source;
  r.images = run.images.size();
  r.errors = run.errors();
  r.aborted = run.aborted;
  const size_t classes = data.class_names.size();
  r.confusion.assign(classes, std::vector<int64_t>(classes, 0));
  for (size_t c = 0; c < classes; ++c) {
    r.per_class.push_back(ClassRow{c, data.class_names[c], 0, 0, {}});
  }
  std::vector<double> latencies;
  for (size_t i = 0; i < run.images.size(); ++i) {
    const ImageResult& image = run.images[i];
    ClassRow& row = r.per_class[data.labels[i]];
    ++row.total;
    if (!image.ok()) {
      if (r.error_samples.size() < kMaxErrorSamples) {
        r.error_samples.push_back(absl::StrCat("image ", i, ": ", image.error));
      }
      continue;
    }
    latencies.push_back(static_cast<double>(image.latency_us));
    const size_t predicted = static_cast<size_t>(image.predicted);
    ++r.confusion[row.label][predicted];
    if (predicted == row.label) {
      ++row.correct;
      ++r.correct;
    } else {
      ++row.misclassified_as[predicted];
    }
  }
  for (const std::string& what : run.unmatched) {
    if (r.error_samples.size() < kMaxErrorSamples) r.error_samples.push_back(what);
  }
  r.latency = ComputeLatencyStats(std::move(latencies));
  r.wall_s = absl::ToDoubleSeconds(run.wall);
  r.throughput_ips = r.wall_s > 0 ? static_cast<double>(r.latency.count) / r.wall_s : 0;
  return r;
}

}  // namespace pynq::client
