#include "server/server.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "accel/cpu/cpu_backend.h"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"

namespace pynq::server {
namespace {

constexpr int kDefaultInstances = 2;
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

  accel::cpu::CpuBackend::Options cpu_options;
  cpu_options.threads = options.cpu_threads;
  PYNQ_ASSIGN_OR_RETURN(server->cpu_, accel::cpu::CpuBackend::Create(cpu_options));

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
      runner.metrics = metrics;
      runner.batching = BatchingFromConfig(e.config);
      runner.max_queue_images = static_cast<int>(e.config.max_queue_size());
      runner.instances = InstancesFromConfig(e.config);
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
          "max queue delay {} us, {} instance(s) on the {} backend",
          e.name, e.version, e.model->input_bytes(), e.model->num_classes(),
          e.config.max_batch_size(), e.config.dynamic_batching().max_queue_delay_microseconds(),
          InstancesFromConfig(e.config), server->cpu_->name());
    } else {
      spdlog::error("model {} NOT READY (serving the others): {}", e.name, e.status.ToString());
    }
    model->metadata = BuildMetadata(e);
    served.push_back(std::move(model));
  }
  if (ready == 0) {
    return absl::FailedPreconditionError(absl::StrCat("no model in '", options.model_repository,
                                                      "' could be loaded (see the errors above)"));
  }
  server->handler_ = std::make_unique<InferHandler>(std::move(served), server->metrics_.get());
  server->service_ = std::make_unique<InferenceService>(server->handler_.get(), kVersion);

  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.grpc_address, grpc::InsecureServerCredentials(),
                           &server->grpc_port_);
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
  builder.RegisterService(server->service_.get());
  server->grpc_ = builder.BuildAndStart();
  if (server->grpc_ == nullptr || server->grpc_port_ == 0) {
    // Leave nothing running: drain the runners before failing.
    server->handler_->Drain();
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot listen for gRPC on ", options.grpc_address, " (address in use or not local?)"));
  }
  if (!options.metrics_address.empty()) {
    absl::StatusOr<std::unique_ptr<prometheus::Exposer>> exposer =
        StartMetricsEndpoint(options.metrics_address, server->metrics_->registry());
    if (!exposer.ok()) {
      server->Shutdown();
      return exposer.status();
    }
    server->exposer_ = std::move(*exposer);
    const std::vector<int> ports = server->exposer_->GetListeningPorts();
    server->metrics_port_ = ports.empty() ? 0 : ports.front();
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
    if (grpc_ != nullptr) {
      spdlog::info("shutting down: no new calls; waiting up to {} ms for open calls",
                   options_.drain_timeout.count());
      // Waits for open calls; those still open at the deadline are cancelled. The runners keep
      // working meanwhile, so every queued request is answered.
      grpc_->Shutdown(std::chrono::system_clock::now() + options_.drain_timeout);
    }
    if (handler_ != nullptr) handler_->Drain();
    if (grpc_ != nullptr) grpc_->Wait();
    exposer_.reset();
    spdlog::info("shutdown complete");
  });
}

}  // namespace pynq::server
