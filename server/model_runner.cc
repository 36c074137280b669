#include "server/model_runner.h"

#include <chrono>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"

namespace pynq::server {
namespace {

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

ModelRunner::ModelRunner(Options options)
    : options_(std::move(options)),
      batcher_(Batcher::Options{
          options_.batching, options_.max_queue_images,
          options_.metrics != nullptr ? options_.metrics->queue_depth : nullptr}) {}

absl::StatusOr<std::unique_ptr<ModelRunner>> ModelRunner::Create(Options options) {
  if (options.model == nullptr || options.backend == nullptr) {
    return absl::InvalidArgumentError("ModelRunner needs a model and a backend");
  }
  if (options.instances < 1 || options.batching.max_batch_size < 1) {
    return absl::InvalidArgumentError("ModelRunner needs instances >= 1 and max_batch_size >= 1");
  }
  const size_t batch = static_cast<size_t>(options.batching.max_batch_size);
  const size_t in_bytes = batch * options.model->input_bytes();
  const size_t out_bytes = batch * static_cast<size_t>(options.model->num_classes());
  std::unique_ptr<ModelRunner> runner(new ModelRunner(std::move(options)));
  for (int i = 0; i < runner->options_.instances; ++i) {
    auto worker = std::make_unique<Worker>();
    PYNQ_ASSIGN_OR_RETURN(worker->input, runner->options_.backend->Allocate(in_bytes));
    PYNQ_ASSIGN_OR_RETURN(worker->output, runner->options_.backend->Allocate(out_bytes));
    runner->workers_.push_back(std::move(worker));
  }
  for (auto& worker : runner->workers_) {
    Worker* w = worker.get();
    w->thread = std::thread([r = runner.get(), w] { r->WorkerLoop(w); });
  }
  return runner;
}

ModelRunner::~ModelRunner() { Drain(); }

void ModelRunner::Drain() {
  batcher_.Close();
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
  }
}

void ModelRunner::WorkerLoop(Worker* worker) {
  while (true) {
    std::vector<std::unique_ptr<InferRequest>> batch = batcher_.NextBatch();
    if (batch.empty()) return;  // closed and drained
    RunBatch(worker, batch);
  }
}

void ModelRunner::RunBatch(Worker* worker, std::vector<std::unique_ptr<InferRequest>>& batch) {
  const models::Model& model = *options_.model;
  const Clock::time_point dispatched = Clock::now();

  // The one copy of each request's pixels: straight into the backend's batch buffer.
  uint8_t* in = worker->input->data();
  int images = 0;
  for (const auto& r : batch) {
    std::memcpy(in + static_cast<size_t>(images) * model.input_bytes(), r->pixels().data(),
                r->pixels().size());
    images += r->images();
  }
  const size_t classes = static_cast<size_t>(model.num_classes());
  auto* out = reinterpret_cast<int8_t*>(worker->output->data());
  const absl::Status status = options_.backend->Run(
      model, images, absl::MakeConstSpan(in, static_cast<size_t>(images) * model.input_bytes()),
      absl::MakeSpan(out, static_cast<size_t>(images) * classes));
  const Clock::time_point computed = Clock::now();

  const ModelMetrics* metrics = options_.metrics;
  if (metrics != nullptr) metrics->cpu.batch_size->Observe(images);
  if (!status.ok()) {
    spdlog::error("model {}: backend {} failed a batch of {} images: {}", model.name(),
                  options_.backend->name(), images, status.ToString());
  }
  size_t offset = 0;
  for (auto& r : batch) {
    if (metrics != nullptr) {
      metrics->queue_seconds->Observe(Seconds(dispatched - r->arrived()));
      metrics->cpu.compute_seconds->Observe(Seconds(computed - dispatched));
    }
    const size_t n = static_cast<size_t>(r->images()) * classes;
    if (status.ok()) {
      r->Answer(status, absl::MakeConstSpan(out + offset, n));
    } else {
      r->Answer(absl::Status(status.code(), absl::StrCat("inference failed: ", status.message())),
                {});
    }
    offset += n;
  }
  batch.clear();  // releases each request's pixels before the next batch
}

}  // namespace pynq::server
