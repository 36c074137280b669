// Runs one model: its queue (Batcher) and the worker threads that take batches from it, copy the
// requests' pixels once into a backend's batch buffer, run the batch and answer each request.
#ifndef PYNQ_SERVER_MODEL_RUNNER_H_
#define PYNQ_SERVER_MODEL_RUNNER_H_

#include <memory>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "accel/backend.h"
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
    accel::Backend* backend = nullptr;      // not owned; outlives the runner
    const ModelMetrics* metrics = nullptr;  // not owned; outlives the runner
    BatchingOptions batching;
    int max_queue_images = 1024;
    // Worker threads, each with its own pair of batch buffers: while one runs a batch, the next
    // forms and copies. >= 1.
    int instances = 1;
  };

  // Allocates every worker's buffers from the backend and starts the workers.
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

 private:
  struct Worker {
    std::unique_ptr<accel::BatchBuffer> input;
    std::unique_ptr<accel::BatchBuffer> output;
    std::thread thread;
  };

  explicit ModelRunner(Options options);
  void WorkerLoop(Worker* worker);
  void RunBatch(Worker* worker, std::vector<std::unique_ptr<InferRequest>>& batch);

  // Constant after construction.
  const Options options_;
  Batcher batcher_;
  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace pynq::server

#endif  // PYNQ_SERVER_MODEL_RUNNER_H_
