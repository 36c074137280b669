// The server's Prometheus metrics: families created once at start-up, labelled children created
// once per model when it loads, and held in small structs that the request path updates without
// any label look-up or string building.
#ifndef PYNQ_SERVER_METRICS_H_
#define PYNQ_SERVER_METRICS_H_

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "prometheus/counter.h"
#include "prometheus/exposer.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace pynq::server {

// Latency buckets in seconds: 25 us to 2 s, fine enough to resolve 50 us and 1 s.
const prometheus::Histogram::BucketBoundaries& LatencyBuckets();

// One backend's children for one model.
struct BackendMetrics {
  prometheus::Histogram* compute_seconds = nullptr;  // one observation per request
  prometheus::Histogram* batch_size = nullptr;       // one observation per batch
};

// One model's children. Pointers stay valid as long as the ServerMetrics that made them.
// prometheus-cpp children are thread-safe, so any thread may update them.
struct ModelMetrics {
  // Requests answered, by outcome: index 0 is success, then one per absl::StatusCode.
  std::array<prometheus::Counter*, 17> outcome{};
  prometheus::Histogram* request_seconds = nullptr;  // arrival to answer, successes only
  prometheus::Histogram* queue_seconds = nullptr;    // arrival to batch dispatch
  prometheus::Gauge* queue_depth = nullptr;
  BackendMetrics cpu;

  // Counts one answered request.
  void CountOutcome(absl::StatusCode code) const {
    const int i = static_cast<int>(code);
    outcome[i >= 0 && i < 17 ? i : static_cast<int>(absl::StatusCode::kUnknown)]->Increment();
  }
};

// Owns the registry and the families; hands out ModelMetrics. Thread-compatible: call
// AddModel during start-up only (the children it returns are then used from any thread).
class ServerMetrics {
 public:
  ServerMetrics();

  // Creates the labelled children of one model version.
  ModelMetrics* AddModel(const std::string& model, const std::string& version);

  // Counts a request for a model the server does not know (no per-name label: unbounded).
  void CountUnknownModel() { unknown_model_->Increment(); }

  const std::shared_ptr<prometheus::Registry>& registry() const { return registry_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& request_seconds_;
  prometheus::Family<prometheus::Histogram>& queue_seconds_;
  prometheus::Family<prometheus::Histogram>& compute_seconds_;
  prometheus::Family<prometheus::Histogram>& batch_size_;
  prometheus::Family<prometheus::Gauge>& queue_depth_;
  prometheus::Counter* unknown_model_;
  std::vector<std::unique_ptr<ModelMetrics>> models_;
};

// Serves `registry` (and the process collector) at http://address/metrics. FAILED_PRECONDITION
// with the reason when the port cannot be bound.
[[nodiscard]] absl::StatusOr<std::unique_ptr<prometheus::Exposer>> StartMetricsEndpoint(
    const std::string& address, const std::shared_ptr<prometheus::Registry>& registry);

}  // namespace pynq::server

#endif  // PYNQ_SERVER_METRICS_H_
