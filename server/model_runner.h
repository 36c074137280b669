// Runs one model: its queue (Batcher) and the worker threads that take batches from it, copy the
// requests' pixels once into a batch buffer, run the batch and answer each request. It is also
// the model's dispatcher: when the model has an accelerator, each worker's input buffer is DMA
// memory, and a batch goes to the fabric when the accelerator is healthy and free, to the CPU
// otherwise (or when the fabric fails it: then the CPU re-runs it from the same bytes), so under
// load both serve at once and every request is still answered exactly once.
#ifndef PYNQ_SERVER_MODEL_RUNNER_H_
#define PYNQ_SERVER_MODEL_RUNNER_H_

#include <memory>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "accel/backend.h"
#include "accel/fpga/accelerator.h"
#include "models/model.h"
#include "server/batcher.h"
#include "server/metrics.h"
#include "server/request.h"

namespace pynq::server {

// Thread-safe: Enqueue may be called from any thread while workers run.
class ModelRunner {
 public:
  struct Options {
    std::shared_ptr<const models::Model> model;
    accel::Backend* backend = nullptr;  // the CPU; not owned; outlives the runner
    // The model's accelerator, or null (CPU only). Not owned; outlives the runner.
    accel::fpga::Accelerator* fabric = nullptr;
    // With a fabric: false (share) runs a batch on the CPU whenever the fabric is busy, so both
    // serve at once; true (fabric first) waits for the fabric, and the CPU runs only what the
    // fabric cannot (faults, batches larger than a transfer).
    bool wait_for_fabric = false;
    const ModelMetrics* metrics = nullptr;  // not owned; outlives the runner
    BatchingOptions batching;
    int max_queue_images = 1024;
    // Worker threads, each with its own batch buffers: while one runs a batch (on the fabric,
    // say), the next forms and copies into another. >= 1.
    int instances = 1;
  };

  // Allocates every worker's buffers (DMA memory from the accelerator when there is one) and
  // starts the workers.
  // INVALID_ARGUMENT for bad options; the backend's error when it cannot allocate.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<ModelRunner>> Create(Options options);

  ModelRunner(const ModelRunner&) = delete;
  ModelRunner& operator=(const ModelRunner&) = delete;
  // Drains (see Drain) if not done yet.
  ~ModelRunner();

  // Queues a validated request (images <= max_batch_size), or answers it with the refusal.
  absl::Status Enqueue(std::unique_ptr<InferRequest> request) {
    return batcher_.Enqueue(std::move(request));
  }

  // Stops taking requests, runs everything already queued, and joins the workers.
  void Drain();

  const models::Model& model() const { return *options_.model; }
  bool has_fabric() const { return options_.fabric != nullptr; }

 private:
  struct Worker {
    // Without an accelerator: the CPU backend's input buffer. With one: DMA buffers for the
    // fabric's input and output; `input` is then allocated only when the DMA memory is mapped
    // uncached, as a cached copy for the CPU kernels to read instead.
    std::unique_ptr<accel::BatchBuffer> input;
    std::unique_ptr<accel::fpga::DmaBuffer> dma_input;
    std::unique_ptr<accel::fpga::DmaBuffer> dma_output;
    // The CPU's logits: never the DMA output, which a hung transfer may still write.
    std::unique_ptr<accel::BatchBuffer> output;
    std::thread thread;
  };

  explicit ModelRunner(Options options);
  void WorkerLoop(Worker* worker);
  void RunBatch(Worker* worker, std::vector<std::unique_ptr<InferRequest>>& batch);
  // Runs `images` images from the worker's input on the fabric if it takes them; returns the
  // logits, or null when the CPU must run the batch.
  const int8_t* TryFabric(Worker* worker, int images);

  // Constant after construction.
  const Options options_;
  Batcher batcher_;
  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace pynq::server

#endif  // PYNQ_SERVER_MODEL_RUNNER_H_
