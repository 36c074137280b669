#include "server/metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <system_error>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"

namespace pynq::server {
namespace {

namespace fs = std::filesystem;

// The standard process_* families and the memory budget's gauges, read when scraped (not on
// the request path).
class ServerCollector final : public prometheus::Collectable {
 public:
  explicit ServerCollector(const MemoryBudget* budget) : budget_(budget) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    std::vector<prometheus::MetricFamily> out;
    long pages_total = 0;
    long pages_resident = 0;
    if (std::FILE* f = std::fopen("/proc/self/statm", "r")) {
      if (std::fscanf(f, "%ld %ld", &pages_total, &pages_resident) != 2) pages_resident = 0;
      std::fclose(f);
    }
    const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
    out.push_back(Single("process_resident_memory_bytes", "Resident memory size in bytes.",
                         prometheus::MetricType::Gauge, pages_resident * page));
    out.push_back(Single("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                         prometheus::MetricType::Gauge, pages_total * page));
    out.push_back(Single("process_start_time_seconds",
                         "Start time of the process since the Unix epoch in seconds.",
                         prometheus::MetricType::Gauge, start_time_seconds_));
    if (budget_ != nullptr) {
      out.push_back(Single("pynq_server_memory_budget_bytes",
                           "The memory budget for queued requests and unread answers.",
                           prometheus::MetricType::Gauge, static_cast<double>(budget_->limit())));
      out.push_back(Single("pynq_server_memory_budget_used_bytes",
                           "Bytes of the memory budget held by queued requests and unread answers.",
                           prometheus::MetricType::Gauge, static_cast<double>(budget_->used())));
      out.push_back(Single("pynq_server_memory_budget_refusals_total",
                           "Requests refused (RESOURCE_EXHAUSTED) because the budget was full.",
                           prometheus::MetricType::Counter,
                           static_cast<double>(budget_->refusals())));
    }
    return out;
  }

 private:
  static prometheus::MetricFamily Single(const char* name, const char* help,
                                         prometheus::MetricType type, double value) {
    prometheus::MetricFamily family;
    family.name = name;
    family.help = help;
    family.type = type;
    family.metric.emplace_back();
    if (type == prometheus::MetricType::Counter) {
      family.metric.back().counter.value = value;
    } else {
      family.metric.back().gauge.value = value;
    }
    return family;
  }

  const MemoryBudget* const budget_;
  const double start_time_seconds_ =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
};

// Wakes the civetweb threads serving `port` in this process: shuts down every accepted
// connection on it (its worker's poll returns) and connects once to its listening socket (the
// master thread's poll returns). Sockets are found through /proc/self/fd by their local port.
void WakeListenerAndWorkers(int port) {
  if (port <= 0) return;
  std::vector<sockaddr_storage> listeners;
  std::error_code ec;
  for (fs::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end; it.increment(ec)) {
    int fd = -1;
    if (!absl::SimpleAtoi(it->path().filename().string(), &fd)) continue;
    sockaddr_storage local{};
    socklen_t len = sizeof(local);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0) continue;
    int local_port = -1;
    if (local.ss_family == AF_INET) {
      local_port = ntohs(reinterpret_cast<sockaddr_in*>(&local)->sin_port);
    } else if (local.ss_family == AF_INET6) {
      local_port = ntohs(reinterpret_cast<sockaddr_in6*>(&local)->sin6_port);
    }
    if (local_port != port) continue;
    int listening = 0;
    socklen_t optlen = sizeof(listening);
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &optlen) != 0) continue;
    if (listening != 0) {
      listeners.push_back(local);
    } else {
      shutdown(fd, SHUT_RDWR);
    }
  }
  for (sockaddr_storage& addr : listeners) {
    // A wildcard listener is reached on loopback.
    if (addr.ss_family == AF_INET) {
      auto* in = reinterpret_cast<sockaddr_in*>(&addr);
      if (in->sin_addr.s_addr == htonl(INADDR_ANY)) in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    } else {
      auto* in6 = reinterpret_cast<sockaddr_in6*>(&addr);
      if (IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr)) in6->sin6_addr = in6addr_loopback;
    }
    const int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) continue;
    const socklen_t len = addr.ss_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
    // Non-blocking: the SYN is enough to wake the poll; the result does not matter.
    connect(fd, reinterpret_cast<const sockaddr*>(&addr), len);
    close(fd);
  }
}

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
      dma_transfers_(prometheus::BuildCounter()
                         .Name("pynq_fpga_dma_transfers_total")
                         .Help("AXI DMA transfers completed, by direction (mm2s: to the "
                               "accelerator, s2mm: from it); one pair per fabric batch.")
                         .Register(*registry_)),
      dma_bytes_(prometheus::BuildCounter()
                     .Name("pynq_fpga_dma_bytes_total")
                     .Help("Bytes moved by completed AXI DMA transfers, by direction.")
                     .Register(*registry_)),
      dma_seconds_(prometheus::BuildHistogram()
                       .Name("pynq_fpga_dma_transfer_duration_seconds")
                       .Help("One batch's MM2S + S2MM transfer, start to both channels idle.")
                       .Register(*registry_)),
      images_per_transfer_(prometheus::BuildHistogram()
                               .Name("pynq_fpga_images_per_transfer")
                               .Help("Images carried by one completed DMA transfer.")
                               .Register(*registry_)),
      fallbacks_(prometheus::BuildCounter()
                     .Name("pynq_fpga_fallbacks_total")
                     .Help("Batches of a model with an accelerator that ran on the CPU, by "
                           "reason (busy is the normal overflow under load; the others are "
                           "faults or limits).")
                     .Register(*registry_)),
      healthy_(prometheus::BuildGauge()
                   .Name("pynq_fpga_accelerator_healthy")
                   .Help("1 while the accelerator may serve, 0 after a fault until its reset "
                         "and check succeed.")
                   .Register(*registry_)),
      resets_(prometheus::BuildCounter()
                  .Name("pynq_fpga_accelerator_resets_total")
                  .Help("Background resets of an accelerator after a fault, by outcome (a "
                        "success includes the check against the CPU).")
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
  prometheus::Labels fpga = labels;
  fpga["backend"] = "fpga";
  m->fpga.compute_seconds = &compute_seconds_.Add(fpga, LatencyBuckets());
  m->fpga.batch_size = &batch_size_.Add(
      fpga, prometheus::Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64, 128, 256});
  models_.push_back(std::move(m));
  return models_.back().get();
}

FabricMetrics* ServerMetrics::AddAccelerator(const std::string& model, const std::string& version,
                                             const std::string& instance) {
  auto f = std::make_unique<FabricMetrics>();
  const prometheus::Labels model_labels{{"model", model}, {"version", version}};
  prometheus::Labels labels = model_labels;
  labels["accelerator"] = instance;
  const auto with = [&](const char* key, const char* value) {
    prometheus::Labels l = labels;
    l[key] = value;
    return l;
  };
  f->mm2s_transfers = &dma_transfers_.Add(with("direction", "mm2s"));
  f->s2mm_transfers = &dma_transfers_.Add(with("direction", "s2mm"));
  f->mm2s_bytes_total = &dma_bytes_.Add(with("direction", "mm2s"));
  f->s2mm_bytes_total = &dma_bytes_.Add(with("direction", "s2mm"));
  f->transfer_seconds = &dma_seconds_.Add(labels, LatencyBuckets());
  f->images_per_transfer = &images_per_transfer_.Add(
      labels, prometheus::Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64, 128, 256});
  for (int r = 0; r < accel::fpga::kNumFallbackReasons; ++r) {
    prometheus::Labels l = model_labels;
    l["reason"] = accel::fpga::FallbackReasonName(static_cast<accel::fpga::FallbackReason>(r));
    f->fallbacks[r] = &fallbacks_.Add(l);
  }
  f->healthy = &healthy_.Add(labels);
  f->resets_ok = &resets_.Add(with("outcome", "success"));
  f->resets_failed = &resets_.Add(with("outcome", "failure"));
  accelerators_.push_back(std::move(f));
  return accelerators_.back().get();
}

absl::StatusOr<std::unique_ptr<MetricsEndpoint>> MetricsEndpoint::Start(
    const MetricsEndpointOptions& options, const std::shared_ptr<prometheus::Registry>& registry) {
  // civetweb's own option names; keep-alive stays off (its default), so every scrape is one
  // connection and a thread is never parked on an idle kept-alive socket.
  std::vector<std::string> civetweb{
      "listening_ports",    options.address,
      "num_threads",        std::to_string(std::max(1, options.threads)),
      "request_timeout_ms", std::to_string(options.request_timeout.count()),
  };
  std::unique_ptr<MetricsEndpoint> endpoint(new MetricsEndpoint());
  endpoint->collector_ = std::make_shared<ServerCollector>(options.budget);
  try {
    endpoint->exposer_ = std::make_unique<prometheus::Exposer>(std::move(civetweb));
  } catch (const std::exception& e) {
    // civetweb throws when it cannot bind; this is the only exception we let cross into us.
    return absl::FailedPreconditionError("cannot serve metrics on " + options.address + ": " +
                                         e.what());
  }
  endpoint->exposer_->RegisterCollectable(registry);
  endpoint->exposer_->RegisterCollectable(endpoint->collector_);
  const std::vector<int> ports = endpoint->exposer_->GetListeningPorts();
  endpoint->port_ = ports.empty() ? 0 : ports.front();
  return endpoint;
}

void MetricsEndpoint::Stop() {
  if (exposer_ == nullptr) return;
  std::atomic<bool> stopped{false};
  std::thread stopper([this, &stopped] {
    exposer_.reset();  // mg_stop: sets the stop flag, then joins civetweb's threads
    stopped.store(true);
  });
  // Until they are joined, nudge civetweb's threads so they see the flag now. Gives up after
  // 3 s (civetweb then stops on its own within its 2 s poll quantum).
  for (int i = 0; i < 300 && !stopped.load(); ++i) {
    WakeListenerAndWorkers(port_);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  stopper.join();
  collector_.reset();
}

}  // namespace pynq::server
