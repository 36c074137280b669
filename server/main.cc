// infer-server: the gRPC inference daemon. See docs/ and `infer-server --help`.
#include <signal.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "google/protobuf/stubs/logging.h"
#include "server/server.h"
#include "server/systemd.h"
#include "spdlog/spdlog.h"

namespace {

std::string DefaultRepository() {
  // Installed layout first, then a source checkout's zoo.
  for (const char* p : {"/usr/share/pynq-infer/models", "models/zoo"}) {
    std::error_code ec;
    if (std::filesystem::is_directory(p, ec)) return p;
  }
  return "models/zoo";
}

}  // namespace

int main(int argc, char** argv) {
  pynq::server::ServerOptions options;
  options.model_repository = DefaultRepository();
  std::string address = "0.0.0.0";
  int grpc_port = 8001;
  int metrics_port = 8002;
  bool allow_metrics = true;
  std::string log_level = "info";
  int drain_ms = static_cast<int>(options.drain_timeout.count());
  int metrics_timeout_ms = static_cast<int>(options.metrics_request_timeout.count());
  int fabric_timeout_ms = static_cast<int>(options.fabric.transfer_timeout.count());
  double sim_clock_mhz = options.fabric.sim_clock_hz / 1e6;

  CLI::App app{
      "infer-server: serves quantized models over gRPC (KServe Open Inference Protocol v2, "
      "with Triton's ModelStreamInfer) and exports Prometheus metrics."};
  app.add_option(
         "--model-repository", options.model_repository,
         "Folder of models: <repo>/<model>/config.pbtxt and <repo>/<model>/<version>/model.pb")
      ->capture_default_str();
  app.add_option("--address", address, "Address to listen on (gRPC and metrics)")
      ->capture_default_str();
  app.add_option("--grpc-port", grpc_port, "gRPC port (0: pick a free one)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  app.add_option("--metrics-port", metrics_port, "Prometheus /metrics port (0: pick a free one)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  app.add_flag("--allow-metrics,!--no-metrics", allow_metrics, "Serve /metrics")
      ->capture_default_str();
  app.add_option("--cpu-threads", options.cpu_threads,
                 "Threads of the CPU backend's oneTBB arena (0: one per core)")
      ->check(CLI::Range(0, 256))
      ->capture_default_str();
  app.add_option("--max-message-bytes", options.max_message_bytes,
                 "Largest request accepted; larger ones get RESOURCE_EXHAUSTED")
      ->check(CLI::Range(1024, 256 << 20))
      ->capture_default_str();
  app.add_option("--drain-timeout-ms", drain_ms,
                 "On SIGTERM/SIGINT, how long to wait for open calls before cancelling them")
      ->check(CLI::Range(0, 600000))
      ->capture_default_str();
  app.add_option("--memory-budget", options.memory_budget_bytes,
                 "Bytes (suffixes KiB, MiB, GiB) that requests queued or in flight and answers not "
                 "yet read may hold across all calls; past it requests get RESOURCE_EXHAUSTED and "
                 "streams stop being read")
      ->transform(CLI::AsSizeValue(false))
      ->check(CLI::Range(uint64_t{1} << 20, uint64_t{1} << 40))
      ->capture_default_str();
  app.add_option("--stream-max-bytes", options.stream_limits.max_bytes,
                 "Bytes one stream may hold (requests and unread answers) before it is not read "
                 "further until answers drain")
      ->transform(CLI::AsSizeValue(false))
      ->check(CLI::Range(uint64_t{64} << 10, uint64_t{1} << 40))
      ->capture_default_str();
  app.add_option("--stream-max-in-flight", options.stream_limits.max_in_flight,
                 "Requests one stream may have unanswered or unread before it is not read further")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  app.add_option("--max-concurrent-streams", options.max_concurrent_streams,
                 "HTTP/2 streams (calls) one client connection may have open at once")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  app.add_option("--metrics-threads", options.metrics_threads,
                 "Threads serving /metrics (a slow client holds one of them)")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--metrics-request-timeout-ms", metrics_timeout_ms,
                 "How long a /metrics request may take to arrive before its client is dropped")
      ->check(CLI::Range(100, 600000))
      ->capture_default_str();
  app.add_option("--overlay", options.fabric.overlay,
                 "FPGA overlay: 'none' (CPU only), 'sim' (the virtual overlay: the HLS kernels "
                 "in C simulation behind a model of the AXI DMA, timings modelled), or the path "
                 "of a board overlay's .hwh (with its .models.json beside it). Models without "
                 "an accelerator, and batches the fabric cannot take, run on the CPU")
      ->capture_default_str();
  app.add_option("--fpga-platform", options.fabric.platform,
                 "How a .hwh overlay is reached: 'uio' (UIO + u-dma-buf, PYNQ-Z1/Z2) or 'xrt'")
      ->check(CLI::IsMember({"uio", "xrt"}))
      ->capture_default_str();
  app.add_option("--xclbin", options.fabric.xclbin, "The overlay's .xclbin (--fpga-platform xrt)");
  app.add_option("--udmabuf", options.fabric.udmabuf,
                 "The u-dma-buf device whose memory holds the DMA buffers (--fpga-platform uio)")
      ->capture_default_str();
  app.add_option("--dispatch", options.fabric.dispatch,
                 "With an accelerator: 'share' runs a batch on the CPU whenever the fabric is "
                 "busy, so both serve under load; 'fabric-first' makes batches wait for the "
                 "fabric and leaves the CPU only what the fabric cannot run (faults, batches "
                 "larger than one transfer)")
      ->check(CLI::IsMember({"share", "fabric-first"}))
      ->capture_default_str();
  app.add_option("--fabric-timeout-ms", fabric_timeout_ms,
                 "A DMA transfer not finished after this long is abandoned: its batch re-runs "
                 "on the CPU and the accelerator is reset in the background")
      ->check(CLI::Range(1, 600000))
      ->capture_default_str();
  app.add_flag("--sim-realtime,!--no-sim-realtime", options.fabric.sim_realtime,
               "Virtual overlay: finish each transfer no earlier than the cycle model says a "
               "board would (default on)");
  app.add_option("--sim-length-width", options.fabric.sim_length_width,
                 "Virtual overlay: the AXI DMA's c_sg_length_width (one transfer carries at most "
                 "2^W - 1 bytes)")
      ->check(CLI::Range(8, 26))
      ->capture_default_str();
  app.add_option("--sim-clock-mhz", sim_clock_mhz,
                 "Virtual overlay: the fabric clock of the cycle model (PYNQ-Z1/Z2: 100)")
      ->check(CLI::Range(1.0, 1000.0))
      ->capture_default_str();
  app.add_option("--sim-fault", options.fabric.sim_fault,
                 "Virtual overlay, for demos: inject a fault into every transfer, or the next N "
                 "with NAME:N. NAME: mm2s-interr, mm2s-slverr, mm2s-decerr, s2mm-interr, "
                 "s2mm-slverr, s2mm-decerr, hang, short-s2mm");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, critical or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  spdlog::set_level(spdlog::level::from_str(log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%t] %v");
  options.grpc_address = absl::StrCat(address, ":", grpc_port);
  options.metrics_address = allow_metrics ? absl::StrCat(address, ":", metrics_port) : "";
  options.drain_timeout = std::chrono::milliseconds(drain_ms);
  options.metrics_request_timeout = std::chrono::milliseconds(metrics_timeout_ms);
  options.fabric.transfer_timeout = std::chrono::milliseconds(fabric_timeout_ms);
  options.fabric.sim_clock_hz = sim_clock_mhz * 1e6;
  // protobuf logs (a request with a non-UTF-8 string, say) are a client's doing: debug level,
  // so a hostile client cannot fill the journal.
  google::protobuf::SetLogHandler(
      [](google::protobuf::LogLevel level, const char* file, int line, const std::string& message) {
        if (level >= google::protobuf::LOGLEVEL_FATAL) {
          spdlog::critical("protobuf {}:{}: {}", file, line, message);
        } else {
          spdlog::debug("protobuf: {}", message);
        }
      });

  // Block the stop signals in every thread (the ones started below inherit the mask); this
  // thread takes them synchronously with sigwait.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  absl::StatusOr<std::unique_ptr<pynq::server::InferenceServer>> server =
      pynq::server::InferenceServer::Create(options);
  if (!server.ok()) {
    spdlog::critical("cannot start: {}", server.status().ToString());
    return EXIT_FAILURE;
  }
  pynq::server::NotifySystemd("READY=1\nSTATUS=serving");
  pynq::server::Watchdog watchdog;

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  spdlog::info("received {}; draining", signal_number == SIGTERM ? "SIGTERM" : "SIGINT");
  pynq::server::NotifySystemd("STOPPING=1");
  watchdog.Stop();
  (*server)->Shutdown();
  return EXIT_SUCCESS;
}
