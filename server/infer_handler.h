// The transport-independent core of the front end: finds the model, validates a
// ModelInferRequest against it, queues it, and turns the int8 logits into the protocol's
// outputs. The gRPC reactors (server/service.h) are thin wrappers around Submit.
#ifndef PYNQ_SERVER_INFER_HANDLER_H_
#define PYNQ_SERVER_INFER_HANDLER_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/inference.pb.h"
#include "server/metrics.h"
#include "server/model_repository.h"
#include "server/model_runner.h"
#include "server/request.h"

namespace pynq::server {

// One model as the server serves it. Immutable once the server runs.
struct ServedModel {
  ModelEntry entry;
  const ModelMetrics* metrics = nullptr;  // null when the model is not ready
  std::unique_ptr<ModelRunner> runner;    // null when the model is not ready
  inference::ModelMetadataResponse metadata;

  bool ready() const { return runner != nullptr; }
};

// Which outputs a request asked for.
struct OutputSelection {
  bool logits = true;
  bool classes = true;
};

// A request that passed validation: where its pixels are and how many images they hold.
struct ValidatedInput {
  std::string_view pixels;
  int images = 0;
  OutputSelection outputs;
};

// Checks `request` against `model`: one input of the configured name, datatype UINT8, shape
// [N, dims...] with 1 <= N <= max_batch_size, bytes matching the shape, raw contents or typed
// contents but not both, known output names. Typed contents (uint_contents) are packed into
// `scratch`, which the returned pixels then point into. INVALID_ARGUMENT naming the tensor and
// what was expected otherwise.
[[nodiscard]] absl::StatusOr<ValidatedInput> ValidateInferRequest(
    const inference::ModelInferRequest& request, const ServedModel& model, std::string* scratch);

// Writes the answer for `images` images: model name/version, id, and the selected outputs
// (logits FP32 [N,classes], class INT64 [N]) as raw_output_contents.
void FillInferResponse(const ServedModel& model, const inference::ModelInferRequest& request,
                       const OutputSelection& outputs, int images, absl::Span<const int8_t> logits,
                       inference::ModelInferResponse* response);

// Builds a model's ModelMetadata answer from its config (batch dimension -1).
inference::ModelMetadataResponse BuildMetadata(const ModelEntry& entry);

// Thread-safe: Submit is called concurrently from gRPC threads.
class InferHandler {
 public:
  // Called exactly once per Submit, from any thread, with OK after `response` was filled or the
  // error that ended the request. Must not block.
  using Reply = std::function<void(const absl::Status& status)>;

  InferHandler(std::vector<std::unique_ptr<ServedModel>> models, ServerMetrics* metrics);
  InferHandler(const InferHandler&) = delete;
  InferHandler& operator=(const InferHandler&) = delete;

  // Validates and queues `request`. `keepalive` must own `request` and `response` (and any
  // storage they point into) until `reply` has run. `deadline` is max() when there is none.
  void Submit(const inference::ModelInferRequest& request, Clock::time_point deadline,
              std::shared_ptr<void> keepalive, inference::ModelInferResponse* response,
              Reply reply);

  // The model named `name` (any state). NOT_FOUND naming the loaded models otherwise, or when
  // `version` is set and not the one served.
  [[nodiscard]] absl::StatusOr<const ServedModel*> Find(std::string_view name,
                                                        std::string_view version) const;

  const std::map<std::string, std::unique_ptr<ServedModel>, std::less<>>& models() const {
    return models_;
  }

  // True while accepting requests and at least one model is ready.
  bool ready() const { return accepting_.load() && any_ready_; }

  // Refuses new requests (UNAVAILABLE) from now on; queued ones still run.
  void StopAccepting();

  // Refuses new requests (UNAVAILABLE), then runs every queued request to its answer.
  void Drain();

 private:
  // Constant after construction.
  std::map<std::string, std::unique_ptr<ServedModel>, std::less<>> models_;
  ServerMetrics* const metrics_;
  bool any_ready_ = false;

  std::atomic<bool> accepting_{true};
};

}  // namespace pynq::server

#endif  // PYNQ_SERVER_INFER_HANDLER_H_
