// Load benchmark: infer-server (in-process, loopback gRPC) under closed-loop unary load at
// several concurrencies, beside a bare gRPC echo service that answers the same request with a
// same-sized response and no work. Prints images/s and latency percentiles for both, the server's
// per-request overhead (latency minus the backend's batch-1 compute time) against the echo's
// latency, and the server's resident memory idle and under load.
//
// "echo-h" is the echo answered from a worker thread (the hand-off infer-server makes); "echo-c"
// the same with the worker busy for the model's batch-1 compute time before each answer: the
// control for the per-request overhead, since on a VM a core left idle for milliseconds wakes
// far more slowly than one idle for microseconds.
//
// Usage: server_bench [--seconds S] [--concurrency 1,8,64] [--repository DIR]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "accel/cpu/cpu_backend.h"
#include "grpcpp/grpcpp.h"
#include "models/model.h"
#include "prometheus/metric_family.h"
#include "prometheus/registry.h"
#include "proto/inference.grpc.pb.h"
#include "server/server.h"
#include "spdlog/spdlog.h"

namespace {

using Clock = std::chrono::steady_clock;

constexpr char kModel[] = "mnist-cnn-q8";

// A response shaped like the real one (10 FP32 + 1 INT64), with no work behind it.
void FillEchoResponse(const inference::ModelInferRequest& request,
                      inference::ModelInferResponse* response) {
  response->set_model_name(request.model_name());
  response->set_id(request.id());
  response->add_outputs()->set_name("logits");
  response->add_raw_output_contents(std::string(40, '\0'));
  response->add_outputs()->set_name("class");
  response->add_raw_output_contents(std::string(8, '\0'));
}

// Answers ModelInfer inline from the callback.
class EchoService final : public inference::GRPCInferenceService::CallbackService {
  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* context,
                                       const inference::ModelInferRequest* request,
                                       inference::ModelInferResponse* response) override {
    FillEchoResponse(*request, response);
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

// The same echo, but answered from a worker thread, as infer-server answers from its batch
// workers: isolates what the hand-off between threads costs in gRPC's send path.
class HandoffEchoService final : public inference::GRPCInferenceService::CallbackService {
 public:
  // `busy` is how long the worker computes (spins) before each answer; zero for none.
  explicit HandoffEchoService(std::chrono::microseconds busy = std::chrono::microseconds(0))
      : busy_(busy), worker_([this] { Loop(); }) {}
  ~HandoffEchoService() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    worker_.join();
  }

  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* context,
                                       const inference::ModelInferRequest* request,
                                       inference::ModelInferResponse* response) override {
    FillEchoResponse(*request, response);
    auto* reactor = context->DefaultReactor();
    {
      std::lock_guard<std::mutex> lock(mu_);
      pending_.push_back(reactor);
    }
    cv_.notify_one();
    return reactor;
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      cv_.wait(lock, [this] { return stop_ || !pending_.empty(); });
      if (pending_.empty()) return;
      std::vector<grpc::ServerUnaryReactor*> batch;
      batch.swap(pending_);
      lock.unlock();
      for (auto* r : batch) {
        const Clock::time_point until = Clock::now() + busy_;
        while (Clock::now() < until) {
        }
        r->Finish(grpc::Status::OK);
      }
      lock.lock();
    }
  }

  const std::chrono::microseconds busy_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<grpc::ServerUnaryReactor*> pending_;
  bool stop_ = false;
  std::thread worker_;
};

struct Result {
  double images_per_s = 0;
  double p50_us = 0, p90_us = 0, p99_us = 0, mean_us = 0;
  size_t errors = 0;
};

double Percentile(std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  const size_t k = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
  return v[k];
}

// `concurrency` threads, each sending unary requests back to back for `seconds`.
Result Load(int port, int concurrency, double seconds, const std::string& pixels) {
  auto channel =
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials());
  auto stub = inference::GRPCInferenceService::NewStub(channel);
  inference::ModelInferRequest request;
  request.set_model_name(kModel);
  auto* in = request.add_inputs();
  in->set_name("image");
  in->set_datatype("UINT8");
  for (int64_t d : {1, 1, 28, 28}) in->add_shape(d);
  request.add_raw_input_contents(pixels);

  std::vector<std::vector<double>> latencies(static_cast<size_t>(concurrency));
  std::atomic<size_t> errors{0};
  const Clock::time_point end = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                                   std::chrono::duration<double>(seconds));
  const Clock::time_point start = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < concurrency; ++t) {
    threads.emplace_back([&, t] {
      while (Clock::now() < end) {
        grpc::ClientContext context;
        inference::ModelInferResponse response;
        const Clock::time_point sent = Clock::now();
        if (!stub->ModelInfer(&context, request, &response).ok()) ++errors;
        latencies[static_cast<size_t>(t)].push_back(
            std::chrono::duration<double, std::micro>(Clock::now() - sent).count());
      }
    });
  }
  for (auto& t : threads) t.join();
  const double wall = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  Result r;
  r.errors = errors.load();
  r.images_per_s = static_cast<double>(all.size()) / wall;
  double sum = 0;
  for (double x : all) sum += x;
  r.mean_us = all.empty() ? 0 : sum / static_cast<double>(all.size());
  r.p50_us = Percentile(all, 0.50);
  r.p90_us = Percentile(all, 0.90);
  r.p99_us = Percentile(all, 0.99);
  return r;
}

// Sum and count of the server's compute histogram (all labels): its exact mean per request.
std::pair<double, double> ComputeSumCount(const prometheus::Registry& registry) {
  double sum = 0, count = 0;
  for (const prometheus::MetricFamily& f : registry.Collect()) {
    if (f.name != "pynq_inference_compute_duration_seconds") continue;
    for (const prometheus::ClientMetric& m : f.metric) {
      sum += m.histogram.sample_sum;
      count += static_cast<double>(m.histogram.sample_count);
    }
  }
  return {sum, count};
}

double ResidentMiB() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1 << 20);
}

// The CPU backend's time for one image at batch 1 (median of many), in microseconds.
double ComputeUs(const std::string& repository, const std::string& pixels) {
  auto model = pynq::models::Model::LoadFromFile(repository + "/" + kModel + "/1/model.pb");
  auto cpu = pynq::accel::cpu::CpuBackend::Create({});
  if (!model.ok() || !cpu.ok()) return 0;
  std::vector<int8_t> out(10);
  std::vector<double> times;
  for (int i = 0; i < 2000; ++i) {
    const Clock::time_point t0 = Clock::now();
    (void)(*cpu)->Run(**model, 1,
                      absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(pixels.data()), 784),
                      absl::MakeSpan(out));
    times.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  return Percentile(times, 0.5);
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 3;
  std::vector<int> concurrencies = {1, 8, 64};
  std::string repository = "models/zoo";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--seconds") seconds = std::stod(argv[i + 1]);
    if (flag == "--repository") repository = argv[i + 1];
    if (flag == "--concurrency") {
      concurrencies.clear();
      std::string list = argv[i + 1];
      for (size_t p = 0; p != std::string::npos;) {
        const size_t q = list.find(',', p);
        concurrencies.push_back(std::stoi(list.substr(p, q == std::string::npos ? q : q - p)));
        p = q == std::string::npos ? q : q + 1;
      }
    }
  }
  spdlog::set_level(spdlog::level::warn);
  // A real MNIST-like payload: the exact bytes do not change the work.
  std::string pixels(784, '\0');
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<char>((i * 37) % 251);

  const double rss_before = ResidentMiB();
  pynq::server::ServerOptions options;
  options.model_repository = repository;
  options.grpc_address = "127.0.0.1:0";
  options.metrics_address = "";
  auto server = pynq::server::InferenceServer::Create(options);
  if (!server.ok()) {
    std::fprintf(stderr, "cannot start the server: %s\n", server.status().ToString().c_str());
    return 1;
  }
  const double rss_idle = ResidentMiB();

  int echo_port = 0;
  EchoService echo;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &echo_port);
  builder.RegisterService(&echo);
  std::unique_ptr<grpc::Server> echo_server = builder.BuildAndStart();
  const double compute_us = ComputeUs(repository, pixels);
  int handoff_port = 0;
  auto handoff = std::make_unique<HandoffEchoService>();
  grpc::ServerBuilder handoff_builder;
  handoff_builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &handoff_port);
  handoff_builder.RegisterService(handoff.get());
  std::unique_ptr<grpc::Server> handoff_server = handoff_builder.BuildAndStart();
  // The control for the overhead: the same hand-off, plus a busy worker for as long as the
  // model's batch-1 compute, so the machine idles and wakes as it does around a real request.
  int busy_port = 0;
  auto busy = std::make_unique<HandoffEchoService>(
      std::chrono::microseconds(static_cast<int64_t>(compute_us)));
  grpc::ServerBuilder busy_builder;
  busy_builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &busy_port);
  busy_builder.RegisterService(busy.get());
  std::unique_ptr<grpc::Server> busy_server = busy_builder.BuildAndStart();

  std::printf("backend compute, batch 1: %.1f us/image (median)\n", compute_us);
  std::printf("process RSS: %.1f MiB before the server, %.1f MiB with it idle\n", rss_before,
              rss_idle);
  std::printf("%-6s %-6s %10s %9s %9s %9s %9s %7s\n", "target", "conc", "images/s", "p50_us",
              "p90_us", "p99_us", "mean_us", "errors");
  for (int c : concurrencies) {
    const auto [sum0, count0] = ComputeSumCount(*(*server)->registry());
    const Result s = Load((*server)->grpc_port(), c, seconds, pixels);
    const auto [sum1, count1] = ComputeSumCount(*(*server)->registry());
    // The compute each request actually waited for, in the server, during this load.
    const double server_compute_us = 1e6 * (sum1 - sum0) / std::max(1.0, count1 - count0);
    const Result e = Load(echo_port, c, seconds, pixels);
    const Result h = Load(handoff_port, c, seconds, pixels);
    const Result b = Load(busy_port, c, seconds, pixels);
    for (const auto& [name, r] : {std::pair{"server", s}, std::pair{"echo", e},
                                  std::pair{"echo-h", h}, std::pair{"echo-c", b}}) {
      std::printf("%-6s %-6d %10.0f %9.0f %9.0f %9.0f %9.0f %7zu\n", name, c, r.images_per_s,
                  r.p50_us, r.p90_us, r.p99_us, r.mean_us, r.errors);
    }
    // Per-request overhead: mean latency minus the compute the request waited for.
    const double server_overhead = s.mean_us - server_compute_us;
    const double busy_overhead = b.mean_us - compute_us;
    std::printf(
        "  concurrency %d: server compute %.0f us/request (from its histogram); overhead "
        "(mean - compute): server %.0f us, echo %.0f us (ratio %.2f), echo-c %.0f us "
        "(ratio %.2f)\n",
        c, server_compute_us, server_overhead, e.mean_us, server_overhead / e.mean_us,
        busy_overhead, server_overhead / busy_overhead);
  }
  std::printf("process RSS after load: %.1f MiB\n", ResidentMiB());
  (*server)->Shutdown();
  echo_server->Shutdown();
  handoff_server->Shutdown();
  busy_server->Shutdown();
  return 0;
}
