// The server's Prometheus metrics: families created once at start-up, labelled children created
// once per model when it loads, and held in small structs that the request path updates without
// any label look-up or string building.
#ifndef PYNQ_SERVER_METRICS_H_
#define PYNQ_SERVER_METRICS_H_

#include <array>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "accel/fpga/accelerator.h"
#include "prometheus/counter.h"
#include "prometheus/exposer.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "server/memory_budget.h"

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
  BackendMetrics fpga;

  // Counts one answered request.
  void CountOutcome(absl::StatusCode code) const {
    const int i = static_cast<int>(code);
    outcome[i >= 0 && i < 17 ? i : static_cast<int>(absl::StatusCode::kUnknown)]->Increment();
  }
};

// One accelerator's children, updated by the accelerator itself (it is its observer).
class FabricMetrics final : public accel::fpga::AcceleratorObserver {
 public:
  void OnTransfer(int images, size_t mm2s_bytes, size_t s2mm_bytes, double seconds) override {
    mm2s_transfers->Increment();
    s2mm_transfers->Increment();
    mm2s_bytes_total->Increment(static_cast<double>(mm2s_bytes));
    s2mm_bytes_total->Increment(static_cast<double>(s2mm_bytes));
    transfer_seconds->Observe(seconds);
    images_per_transfer->Observe(images);
  }
  void OnFallback(accel::fpga::FallbackReason reason) override {
    fallbacks[static_cast<int>(reason)]->Increment();
  }
  void OnHealth(bool is_healthy) override { healthy->Set(is_healthy ? 1 : 0); }
  void OnReset(bool succeeded) override { (succeeded ? resets_ok : resets_failed)->Increment(); }

  prometheus::Counter* mm2s_transfers = nullptr;
  prometheus::Counter* s2mm_transfers = nullptr;
  prometheus::Counter* mm2s_bytes_total = nullptr;
  prometheus::Counter* s2mm_bytes_total = nullptr;
  prometheus::Histogram* transfer_seconds = nullptr;
  prometheus::Histogram* images_per_transfer = nullptr;
  std::array<prometheus::Counter*, accel::fpga::kNumFallbackReasons> fallbacks{};
  prometheus::Gauge* healthy = nullptr;
  prometheus::Counter* resets_ok = nullptr;
  prometheus::Counter* resets_failed = nullptr;
};

// Owns the registry and the families; hands out ModelMetrics. Thread-compatible: call
// AddModel during start-up only (the children it returns are then used from any thread).
class ServerMetrics {
 public:
  ServerMetrics();

  // Creates the labelled children of one model version.
  ModelMetrics* AddModel(const std::string& model, const std::string& version);

  // Creates the children of the accelerator `instance` serving a model version.
  FabricMetrics* AddAccelerator(const std::string& model, const std::string& version,
                                const std::string& instance);

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
  prometheus::Family<prometheus::Counter>& dma_transfers_;
  prometheus::Family<prometheus::Counter>& dma_bytes_;
  prometheus::Family<prometheus::Histogram>& dma_seconds_;
  prometheus::Family<prometheus::Histogram>& images_per_transfer_;
  prometheus::Family<prometheus::Counter>& fallbacks_;
  prometheus::Family<prometheus::Gauge>& healthy_;
  prometheus::Family<prometheus::Counter>& resets_;
  prometheus::Counter* unknown_model_;
  std::vector<std::unique_ptr<ModelMetrics>> models_;
  std::vector<std::unique_ptr<FabricMetrics>> accelerators_;
};

struct MetricsEndpointOptions {
  std::string address;  // host:port; port 0 picks a free one
  // civetweb worker threads: each serves one connection at a time, so a slow client holds
  // one thread, never the endpoint.
  int threads = 4;
  // The longest a request may take to arrive, headers included; an idle or trickling client
  // is disconnected after it.
  std::chrono::milliseconds request_timeout{5000};
  const MemoryBudget* budget = nullptr;  // exported when set; must outlive the endpoint
};

// A running /metrics endpoint (prometheus-cpp's Exposer on civetweb). Thread-compatible.
class MetricsEndpoint {
 public:
  // Serves `registry`, the process_* families and the memory budget's gauges at
  // http://address/metrics. FAILED_PRECONDITION with the reason when the port cannot be bound.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<MetricsEndpoint>> Start(
      const MetricsEndpointOptions& options, const std::shared_ptr<prometheus::Registry>& registry);

  MetricsEndpoint(const MetricsEndpoint&) = delete;
  MetricsEndpoint& operator=(const MetricsEndpoint&) = delete;
  ~MetricsEndpoint() { Stop(); }

  int port() const { return port_; }

  // Stops serving, within a few tens of milliseconds: civetweb's threads only look at its stop
  // flag between 2-second polls, so Stop wakes them, the listener by connecting to it and the
  // workers by shutting down the connections they hold (an idle or trickling client's).
  // Idempotent.
  void Stop();

 private:
  MetricsEndpoint() = default;

  std::shared_ptr<prometheus::Collectable> collector_;  // the exposer holds it weakly
  std::unique_ptr<prometheus::Exposer> exposer_;
  int port_ = 0;
};

}  // namespace pynq::server

#endif  // PYNQ_SERVER_METRICS_H_
