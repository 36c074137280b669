// infer-server as a library: loads the model repository, starts the CPU backend, one
// ModelRunner per ready model, the gRPC service and the metrics endpoint. main.cc adds flags and
// signals; the tests and benchmarks start it in-process on ephemeral ports.
#ifndef PYNQ_SERVER_SERVER_H_
#define PYNQ_SERVER_SERVER_H_

#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "accel/backend.h"
#include "accel/fpga/accelerator.h"
#include "grpcpp/grpcpp.h"
#include "server/fabric.h"
#include "server/infer_handler.h"
#include "server/memory_budget.h"
#include "server/metrics.h"
#include "server/service.h"

namespace pynq::server {

struct ServerOptions {
  std::string model_repository;
  // host:port; port 0 picks a free port (see grpc_port()).
  std::string grpc_address = "0.0.0.0:8001";
  // host:port for /metrics; empty: no metrics endpoint. Port 0 picks a free port.
  std::string metrics_address = "0.0.0.0:8002";
  // oneTBB threads for the CPU backend; 0: one per hardware thread.
  int cpu_threads = 0;
  // Largest request message accepted; larger ones are refused with RESOURCE_EXHAUSTED.
  int max_message_bytes = 4 << 20;
  // How long Shutdown waits for open calls before cancelling them.
  std::chrono::milliseconds drain_timeout{15000};
  // The server-wide memory budget (server/memory_budget.h): requests queued or in flight and
  // answers not yet taken, across every call. 64 MiB: an eighth of a PYNQ-Z1's 512 MB.
  size_t memory_budget_bytes = size_t{64} << 20;
  StreamLimits stream_limits;
  // HTTP/2 streams (calls) one connection may have open at once.
  int max_concurrent_streams = 64;
  // The metrics endpoint's civetweb threads, and how long one request may take to arrive
  // (an idle or slow client is dropped after it).
  int metrics_threads = 4;
  std::chrono::milliseconds metrics_request_timeout{5000};
  // The FPGA overlay (--overlay): none, the virtual overlay, or a board's .hwh.
  FabricOptions fabric;
};

// Thread-safe: Shutdown may be called from any thread, once the server started.
class InferenceServer {
 public:
  // Loads the repository (models that fail are logged and served as not ready), starts
  // everything and returns a serving server. NOT_FOUND when the repository is missing;
  // FAILED_PRECONDITION when no model could be loaded or a port cannot be bound.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<InferenceServer>> Create(
      const ServerOptions& options);

  InferenceServer(const InferenceServer&) = delete;
  InferenceServer& operator=(const InferenceServer&) = delete;
  ~InferenceServer();

  int grpc_port() const { return grpc_port_; }
  // 0 when the metrics endpoint is off.
  int metrics_port() const { return metrics_port_; }
  const InferHandler& handler() const { return *handler_; }
  // The server's metrics registry (also served at /metrics when enabled).
  const std::shared_ptr<prometheus::Registry>& registry() const { return metrics_->registry(); }
  // The overlay the server opened (has_overlay() false when CPU only).
  const Fabric& fabric() const { return *fabric_; }

  // Stops taking requests (new ones get UNAVAILABLE), waits up to drain_timeout for open calls
  // to be answered and end, cancels what is left, stops the workers and the metrics endpoint.
  // Returns within drain_timeout + kShutdownMarginMs. Idempotent.
  void Shutdown();

  // What Shutdown may take beyond drain_timeout: gRPC's and civetweb's own stopping.
  static constexpr int kShutdownMarginMs = 500;

 private:
  InferenceServer() = default;

  ServerOptions options_;
  std::unique_ptr<ServerMetrics> metrics_;
  std::unique_ptr<MemoryBudget> budget_;
  // Declared in the order they must outlive each other: the platform (in fabric_) outlives
  // every DMA buffer and accelerator; the CPU backend outlives the accelerators (their check);
  // the accelerators outlive the runners (in handler_) that offer them batches.
  std::unique_ptr<Fabric> fabric_;
  std::unique_ptr<accel::Backend> cpu_;
  std::vector<std::unique_ptr<accel::fpga::Accelerator>> accelerators_;
  std::unique_ptr<InferHandler> handler_;
  std::unique_ptr<InferenceService> service_;
  std::unique_ptr<grpc::Server> grpc_;
  std::unique_ptr<MetricsEndpoint> metrics_endpoint_;
  int grpc_port_ = 0;
  int metrics_port_ = 0;
  std::once_flag shutdown_once_;
};

}  // namespace pynq::server

#endif  // PYNQ_SERVER_SERVER_H_
