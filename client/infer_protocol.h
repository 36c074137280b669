// The client's side of the Open Inference Protocol: what a model's metadata must say for a dataset
// to be sent to it, how an image becomes a ModelInferRequest, and how the predicted class is read
// from the answer. Pure functions over protobuf messages: no RPCs here.
#ifndef PYNQ_CLIENT_INFER_PROTOCOL_H_
#define PYNQ_CLIENT_INFER_PROTOCOL_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "proto/inference.pb.h"

namespace pynq::client {

// The output names the client asks for: FP32 [1,10] scores and the INT64 [1] predicted class.
inline constexpr char kLogitsOutput[] = "logits";
inline constexpr char kClassOutput[] = "class";

// Everything every request of a run carries, learned from ModelMetadata.
struct InferTarget {
  std::string model_name;
  std::string model_version;  // empty: the server picks
  std::string input_name;
  std::vector<int64_t> input_shape;  // [1, C, H, W]
  std::vector<std::string> outputs;  // requested outputs; empty asks for all
};

// Checks that `metadata` describes a model that takes one UINT8 image of `image_dims` ({C,H,W})
// as a [-1 or 1, C, H, W] tensor and answers a "class" and/or "logits" output. FAILED_PRECONDITION
// saying what differs (datatype, shape, outputs) otherwise.
[[nodiscard]] absl::StatusOr<InferTarget> MatchModelMetadata(
    const inference::ModelMetadataResponse& metadata, const std::vector<int64_t>& image_dims);

// Sets everything but the image and the id: call once per reused request message.
void InitRequest(const InferTarget& target, inference::ModelInferRequest* request);

// Sets the request's id to `index` (decimal) and its single raw input to `image`.
void SetImage(size_t index, absl::Span<const uint8_t> image, inference::ModelInferRequest* request);

// The dataset index in a response's id. INVALID_ARGUMENT when it is not a decimal index.
[[nodiscard]] absl::StatusOr<size_t> ParseRequestId(const std::string& id);

// The predicted class: the "class" output (INT64, raw or typed contents), else the arg-max of
// the "logits" output (FP32). INVALID_ARGUMENT saying what is missing or malformed.
[[nodiscard]] absl::StatusOr<int64_t> ReadPredictedClass(
    const inference::ModelInferResponse& response);

}  // namespace pynq::client

#endif  // PYNQ_CLIENT_INFER_PROTOCOL_H_
