#include "server/server.h"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "accel/cpu/cpu_backend.h"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"

namespace pynq::server {
namespace {

constexpr int kDefaultInstances = 2;
constexpr int kAnswerHeadroomBytes = 1 << 20;
// Calls that arrive while gRPC stops are still answered (UNAVAILABLE) for this long.
constexpr auto kLateCallGrace = std::chrono::milliseconds(100);

// Why gRPC could not listen on `address` (host:port): binds a probe socket the way gRPC would
// and names the error, so "address already in use" reaches the operator in words.
std::string WhyCannotListen(const std::string& address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) return "expected host:port";
  std::string host = address.substr(0, colon);
  const std::string port = address.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  const int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &found);
  if (rc != 0) return absl::StrCat("cannot resolve it: ", gai_strerror(rc));
  std::string why = "gRPC refused it (see its log above)";
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, a->ai_addr, a->ai_addrlen) != 0) {
      const int err = errno;
      why = err == EADDRINUSE
                ? "the port is in use (is another infer-server running? only one may listen)"
                : absl::StrCat("bind failed: ", std::strerror(err));
      close(fd);
      break;
    }
    close(fd);
  }
  freeaddrinfo(found);
  return why;
}
constexpr char kVersion[] = "0.1.0";

BatchingOptions BatchingFromConfig(const config::ModelConfig& config) {
  BatchingOptions b;
  b.max_batch_size = config.max_batch_size();
  b.max_queue_delay =
      std::chrono::microseconds(config.dynamic_batching().max_queue_delay_microseconds());
  b.preferred_batch_sizes.assign(config.dynamic_batching().preferred_batch_size().begin(),
                                 config.dynamic_batching().preferred_batch_size().end());
  std::sort(b.preferred_batch_sizes.begin(), b.preferred_batch_sizes.end());
  return b;
}

int InstancesFromConfig(const config::ModelConfig& config) {
  int n = 0;
  for (const auto& group : config.instance_group()) n += group.count();
  return n > 0 ? n : kDefaultInstances;
}

}  // namespace

absl::StatusOr<std::unique_ptr<InferenceServer>> InferenceServer::Create(
    const ServerOptions& options) {
  std::unique_ptr<InferenceServer> server(new InferenceServer());
  server->options_ = options;
  server->metrics_ = std::make_unique<ServerMetrics>();
  server->budget_ = std::make_unique<MemoryBudget>(options.memory_budget_bytes);

  accel::cpu::CpuBackend::Options cpu_options;
  cpu_options.threads = options.cpu_threads;
  PYNQ_ASSIGN_OR_RETURN(server->cpu_, accel::cpu::CpuBackend::Create(cpu_options));
  PYNQ_RETURN_IF_ERROR(Fabric::ValidateOptions(options.fabric));
  absl::StatusOr<std::unique_ptr<Fabric>> fabric = Fabric::Open(options.fabric);
  if (!fabric.ok()) {
    // The board's overlay is missing or broken: serve anyway, on the CPU, and say so loudly.
    spdlog::error("overlay '{}' is unusable: {}; serving every model on the CPU",
                  options.fabric.overlay, fabric.status().ToString());
    FabricOptions none = options.fabric;
    none.overlay = "none";
    fabric = Fabric::Open(none);
  }
  server->fabric_ = std::move(*fabric);

  PYNQ_ASSIGN_OR_RETURN(std::vector<ModelEntry> entries, LoadRepository(options.model_repository));
  std::vector<std::unique_ptr<ServedModel>> served;
  int ready = 0;
  for (ModelEntry& entry : entries) {
    auto model = std::make_unique<ServedModel>();
    model->entry = std::move(entry);
    ModelEntry& e = model->entry;
    if (e.status.ok()) {
      ModelMetrics* metrics = server->metrics_->AddModel(e.name, e.version);
      ModelRunner::Options runner;
      runner.model = e.model;
      runner.backend = server->cpu_.get();
      std::unique_ptr<accel::fpga::Accelerator> accel = server->fabric_->Attach(
          e.model, server->cpu_.get(), static_cast<int>(e.config.max_batch_size()),
          [&](const std::string& instance) {
            return server->metrics_->AddAccelerator(e.name, e.version, instance);
          });
      runner.metrics = metrics;
      runner.batching = BatchingFromConfig(e.config);
      runner.max_queue_images = static_cast<int>(e.config.max_queue_size());
      runner.instances = InstancesFromConfig(e.config);
      if (accel != nullptr) {
        runner.fabric = accel.get();
        runner.wait_for_fabric = options.fabric.dispatch == "fabric-first";
        // One batch, one transfer: batches stop at what one transfer carries.
        if (accel->max_images_per_transfer() < runner.batching.max_batch_size) {
          spdlog::warn(
              "model {}: batches limited to {} images (one DMA transfer) instead of "
              "max_batch_size {}; larger requests run on the CPU",
              e.name, accel->max_images_per_transfer(), runner.batching.max_batch_size);
          runner.batching.max_batch_size = accel->max_images_per_transfer();
        }
        server->accelerators_.push_back(std::move(accel));
      }
      absl::StatusOr<std::unique_ptr<ModelRunner>> r = ModelRunner::Create(std::move(runner));
      if (r.ok()) {
        model->runner = std::move(*r);
        model->metrics = metrics;
      } else {
        e.status = r.status();
      }
    }
    if (model->ready()) {
      ++ready;
      spdlog::info(
          "model {} version {} ready: input {} bytes/image, {} classes, max batch {}, "
          "max queue delay {} us, {} instance(s); {}",
          e.name, e.version, e.model->input_bytes(), e.model->num_classes(),
          e.config.max_batch_size(), e.config.dynamic_batching().max_queue_delay_microseconds(),
          InstancesFromConfig(e.config),
          model->runner->has_fabric() ? "fabric with CPU fallback" : "CPU only");
    } else {
      spdlog::error("model {} NOT READY (serving the others): {} [folder {}]", e.name,
                    e.status.ToString(), e.path);
    }
    model->metadata = BuildMetadata(e);
    served.push_back(std::move(model));
  }
  if (ready == 0) {
    return absl::FailedPreconditionError(absl::StrCat("no model in '", options.model_repository,
                                                      "' could be loaded (see the errors above)"));
  }
  server->handler_ = std::make_unique<InferHandler>(std::move(served), server->metrics_.get());
  server->service_ = std::make_unique<InferenceService>(
      server->handler_.get(), server->budget_.get(), options.stream_limits, kVersion);

  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.grpc_address, grpc::InsecureServerCredentials(),
                           &server->grpc_port_);
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  // An answer echoes its request's id and adds at most max_batch_size * classes outputs, so it
  // can outgrow the largest request by a little, never by a megabyte.
  builder.SetMaxSendMessageSize(options.max_message_bytes + kAnswerHeadroomBytes);
  // gRPC enables SO_REUSEPORT by default, which lets a second server bind the same port and
  // take half the connections: one port, one server.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, options.max_concurrent_streams);
  // HTTP/2 flow control is what bounds the bytes gRPC takes off a stream the server has stopped
  // reading. BDP probing grows those windows to tens of MB per stream (measured: three unread
  // streams took 182 MB off their clients, server RSS 198 MiB); without it they stay at gRPC's
  // 64 KiB lookahead (48 MB, 67 MiB).
  builder.AddChannelArgument(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  builder.RegisterService(server->service_.get());
  server->grpc_ = builder.BuildAndStart();
  if (server->grpc_ == nullptr || server->grpc_port_ == 0) {
    // Leave nothing running: drain the runners before failing.
    server->handler_->Drain();
    return absl::FailedPreconditionError(absl::StrCat("cannot listen for gRPC on ",
                                                      options.grpc_address, ": ",
                                                      WhyCannotListen(options.grpc_address)));
  }
  if (!options.metrics_address.empty()) {
    MetricsEndpointOptions endpoint;
    endpoint.address = options.metrics_address;
    endpoint.threads = options.metrics_threads;
    endpoint.request_timeout = options.metrics_request_timeout;
    endpoint.budget = server->budget_.get();
    absl::StatusOr<std::unique_ptr<MetricsEndpoint>> exposer =
        MetricsEndpoint::Start(endpoint, server->metrics_->registry());
    if (!exposer.ok()) {
      server->Shutdown();
      return exposer.status();
    }
    server->metrics_endpoint_ = std::move(*exposer);
    server->metrics_port_ = server->metrics_endpoint_->port();
  }
  spdlog::info("infer-server {} serving {} of {} model(s): gRPC on port {}, metrics on {}",
               kVersion, ready, server->handler_->models().size(), server->grpc_port_,
               server->metrics_port_ == 0
                   ? std::string("(off)")
                   : absl::StrCat("port ", server->metrics_port_, " /metrics"));
  return server;
}

InferenceServer::~InferenceServer() { Shutdown(); }

void InferenceServer::Shutdown() {
  std::call_once(shutdown_once_, [this] {
    const Clock::time_point deadline = Clock::now() + options_.drain_timeout;
    // Beside the drain, not after it: scrapes during a drain are not worth its time.
    std::thread metrics_stop([this] {
      if (metrics_endpoint_ != nullptr) metrics_endpoint_->Stop();
    });
    if (grpc_ != nullptr) {
      spdlog::info(
          "shutting down: new requests get UNAVAILABLE; waiting up to {} ms for {} open "
          "call(s)",
          options_.drain_timeout.count(), service_->open_calls());
      // Our own refusals first: gRPC, once shut down, cancels the calls it still accepts.
      handler_->StopAccepting();
      service_->BeginDrain();
      const bool drained = service_->WaitForCalls(deadline);
      if (!drained) {
        spdlog::warn("drain timeout: cancelling {} call(s) still open", service_->open_calls());
      }
      // The runners keep working until Drain below, so every queued request is answered.
      const auto grace = drained ? kLateCallGrace : Clock::duration::zero();
      grpc_->Shutdown(std::chrono::system_clock::now() +
                      std::chrono::duration_cast<std::chrono::system_clock::duration>(grace));
    }
    if (handler_ != nullptr) handler_->Drain();
    if (grpc_ != nullptr) grpc_->Wait();
    metrics_stop.join();
    spdlog::info("shutdown complete");
  });
}

}  // namespace pynq::server
