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
  accel::fpga::Accelerator* fabric = runner->options_.fabric;
  for (int i = 0; i < runner->options_.instances; ++i) {
    auto worker = std::make_unique<Worker>();
    if (fabric != nullptr) {
      PYNQ_ASSIGN_OR_RETURN(worker->dma_input, fabric->AllocateBuffer(in_bytes));
      PYNQ_ASSIGN_OR_RETURN(worker->dma_output, fabric->AllocateBuffer(out_bytes));
    }
    if (fabric == nullptr || worker->dma_input->uncached()) {
      PYNQ_ASSIGN_OR_RETURN(worker->input, runner->options_.backend->Allocate(in_bytes));
    }
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

const int8_t* ModelRunner::TryFabric(Worker* worker, int images) {
  accel::fpga::FallbackReason reason{};
  absl::Status error;
  const accel::fpga::Accelerator::Outcome outcome = options_.fabric->TryRun(
      *worker->dma_input, images, *worker->dma_output, &reason, &error, options_.wait_for_fabric);
  if (outcome != accel::fpga::Accelerator::Outcome::kRan) return nullptr;
  return reinterpret_cast<const int8_t*>(worker->dma_output->data());
}

void ModelRunner::RunBatch(Worker* worker, std::vector<std::unique_ptr<InferRequest>>& batch) {
  const models::Model& model = *options_.model;
  const Clock::time_point dispatched = Clock::now();

  // The one copy of each request's pixels: straight into the batch buffer (DMA memory when the
  // fabric may run it).
  uint8_t* in = worker->dma_input != nullptr ? worker->dma_input->data() : worker->input->data();
  int images = 0;
  for (const auto& r : batch) {
    std::memcpy(in + static_cast<size_t>(images) * model.input_bytes(), r->pixels().data(),
                r->pixels().size());
    images += r->images();
  }
  const size_t in_bytes = static_cast<size_t>(images) * model.input_bytes();
  const size_t classes = static_cast<size_t>(model.num_classes());

  const int8_t* out = options_.fabric != nullptr ? TryFabric(worker, images) : nullptr;
  const bool on_fabric = out != nullptr;
  absl::Status status;
  if (!on_fabric) {
    // The CPU runs it, from the same bytes. Uncached DMA memory is copied to cached memory
    // first: the kernels read every pixel many times.
    const uint8_t* cpu_in = in;
    if (worker->dma_input != nullptr && worker->dma_input->uncached()) {
      std::memcpy(worker->input->data(), in, in_bytes);
      cpu_in = worker->input->data();
    }
    auto* cpu_out = reinterpret_cast<int8_t*>(worker->output->data());
    status = options_.backend->Run(model, images, absl::MakeConstSpan(cpu_in, in_bytes),
                                   absl::MakeSpan(cpu_out, static_cast<size_t>(images) * classes));
    out = cpu_out;
  }
  const Clock::time_point computed = Clock::now();

  const ModelMetrics* metrics = options_.metrics;
  const BackendMetrics* backend_metrics = nullptr;
  if (metrics != nullptr) {
    backend_metrics = on_fabric ? &metrics->fpga : &metrics->cpu;
    backend_metrics->batch_size->Observe(images);
  }
  if (!status.ok()) {
    spdlog::error("model {}: the {} backend failed a batch of {} images: {}", model.name(),
                  options_.backend->name(), images, status.ToString());
  }
  size_t offset = 0;
  for (auto& r : batch) {
    if (metrics != nullptr) {
      metrics->queue_seconds->Observe(Seconds(dispatched - r->arrived()));
      backend_metrics->compute_seconds->Observe(Seconds(computed - dispatched));
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
