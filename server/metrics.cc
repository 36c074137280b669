#include "server/metrics.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <exception>

#include "absl/strings/ascii.h"
#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"

namespace pynq::server {
namespace {

// The standard process_* families, read from /proc when scraped (not on the request path).
class ProcessCollector final : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override {
    std::vector<prometheus::MetricFamily> out;
    long pages_total = 0;
    long pages_resident = 0;
    if (std::FILE* f = std::fopen("/proc/self/statm", "r")) {
      if (std::fscanf(f, "%ld %ld", &pages_total, &pages_resident) != 2) pages_resident = 0;
      std::fclose(f);
    }
    const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
    out.push_back(Gauge("process_resident_memory_bytes", "Resident memory size in bytes.",
                        pages_resident * page));
    out.push_back(
        Gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", pages_total * page));
    out.push_back(Gauge("process_start_time_seconds",
                        "Start time of the process since the Unix epoch in seconds.",
                        start_time_seconds_));
    return out;
  }

 private:
  static prometheus::MetricFamily Gauge(const char* name, const char* help, double value) {
    prometheus::MetricFamily family;
    family.name = name;
    family.help = help;
    family.type = prometheus::MetricType::Gauge;
    family.metric.emplace_back();
    family.metric.back().gauge.value = value;
    return family;
  }

  const double start_time_seconds_ =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
};

// Outcome label values: "success" for OK, else the status code's name in snake case.
std::string OutcomeLabel(int code) {
  if (code == 0) return "success";
  std::string name = absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
  return absl::AsciiStrToLower(name);
}

}  // namespace

const prometheus::Histogram::BucketBoundaries& LatencyBuckets() {
  static const auto* const kBuckets = new prometheus::Histogram::BucketBoundaries{
      25e-6,  50e-6, 75e-6, 100e-6, 150e-6, 200e-6, 300e-6, 500e-6, 750e-6, 1e-3,
      1.5e-3, 2e-3,  3e-3,  5e-3,   7.5e-3, 10e-3,  15e-3,  20e-3,  30e-3,  50e-3,
      75e-3,  0.1,   0.15,  0.2,    0.3,    0.5,    0.75,   1.0,    2.0};
  return *kBuckets;
}

ServerMetrics::ServerMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      requests_(prometheus::BuildCounter()
                    .Name("pynq_inference_requests_total")
                    .Help("Inference requests answered, by outcome (success or the error code).")
                    .Register(*registry_)),
      request_seconds_(prometheus::BuildHistogram()
                           .Name("pynq_inference_request_duration_seconds")
                           .Help("Successful requests' time in the server, arrival to answer.")
                           .Register(*registry_)),
      queue_seconds_(prometheus::BuildHistogram()
                         .Name("pynq_inference_queue_duration_seconds")
                         .Help("Time a request waited in its model's queue before its batch ran.")
                         .Register(*registry_)),
      compute_seconds_(prometheus::BuildHistogram()
                           .Name("pynq_inference_compute_duration_seconds")
                           .Help("Compute time of the batch each request rode in, per request.")
                           .Register(*registry_)),
      batch_size_(prometheus::BuildHistogram()
                      .Name("pynq_inference_batch_size")
                      .Help("Images per batch sent to a backend, one observation per batch.")
                      .Register(*registry_)),
      queue_depth_(prometheus::BuildGauge()
                       .Name("pynq_inference_queue_depth")
                       .Help("Requests waiting in the model's queue.")
                       .Register(*registry_)),
      unknown_model_(&prometheus::BuildCounter()
                          .Name("pynq_inference_unknown_model_requests_total")
                          .Help("Requests naming a model the server does not have.")
                          .Register(*registry_)
                          .Add({})) {}

ModelMetrics* ServerMetrics::AddModel(const std::string& model, const std::string& version) {
  auto m = std::make_unique<ModelMetrics>();
  const prometheus::Labels labels{{"model", model}, {"version", version}};
  for (int code = 0; code < 17; ++code) {
    prometheus::Labels l = labels;
    l["outcome"] = OutcomeLabel(code);
    m->outcome[code] = &requests_.Add(l);
  }
  m->request_seconds = &request_seconds_.Add(labels, LatencyBuckets());
  m->queue_seconds = &queue_seconds_.Add(labels, LatencyBuckets());
  m->queue_depth = &queue_depth_.Add(labels);

  prometheus::Labels cpu = labels;
  cpu["backend"] = "cpu";
  m->cpu.compute_seconds = &compute_seconds_.Add(cpu, LatencyBuckets());
  m->cpu.batch_size = &batch_size_.Add(
      cpu, prometheus::Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64, 128, 256});
  models_.push_back(std::move(m));
  return models_.back().get();
}

absl::StatusOr<std::unique_ptr<prometheus::Exposer>> StartMetricsEndpoint(
    const std::string& address, const std::shared_ptr<prometheus::Registry>& registry) {
  static const auto* const kProcess =
      new std::shared_ptr<ProcessCollector>(std::make_shared<ProcessCollector>());
  std::unique_ptr<prometheus::Exposer> exposer;
  try {
    exposer = std::make_unique<prometheus::Exposer>(address, /*num_threads=*/1);
  } catch (const std::exception& e) {
    // civetweb throws when it cannot bind; this is the only exception we let cross into us.
    return absl::FailedPreconditionError("cannot serve metrics on " + address + ": " + e.what());
  }
  exposer->RegisterCollectable(registry);
  exposer->RegisterCollectable(*kProcess);
  return exposer;
}

}  // namespace pynq::server
