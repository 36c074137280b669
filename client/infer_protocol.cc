#include "client/infer_protocol.h"

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace pynq::client {
namespace {

using TensorMetadata = inference::ModelMetadataResponse::TensorMetadata;
using OutputTensor = inference::ModelInferResponse::InferOutputTensor;

std::string ShapeString(absl::Span<const int64_t> shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ","), "]");
}

bool ShapeAccepts(const TensorMetadata& input, const std::vector<int64_t>& image_dims) {
  const auto& shape = input.shape();
  if (static_cast<size_t>(shape.size()) != image_dims.size() + 1) return false;
  if (shape[0] != -1 && shape[0] != 1) return false;  // a variable batch, or exactly one
  return std::equal(image_dims.begin(), image_dims.end(), shape.begin() + 1);
}

// Little-endian element `i` of a raw output; the caller checked the size.
template <typename T>
T ReadLittleEndian(const std::string& raw, size_t i) {
  uint8_t bytes[sizeof(T)];
  std::memcpy(bytes, raw.data() + i * sizeof(T), sizeof(T));
  using Bits = std::conditional_t<sizeof(T) == 8, uint64_t, uint32_t>;
  Bits bits = 0;
  for (size_t b = 0; b < sizeof(T); ++b) bits |= Bits{bytes[b]} << (8 * b);
  T value;
  std::memcpy(&value, &bits, sizeof(T));
  return value;
}

// The index of output `name` in `response`, or -1.
int FindOutput(const inference::ModelInferResponse& response, const std::string& name) {
  for (int i = 0; i < response.outputs_size(); ++i) {
    if (response.outputs(i).name() == name) return i;
  }
  return -1;
}

absl::StatusOr<int64_t> ReadClassOutput(const inference::ModelInferResponse& response, int i) {
  const OutputTensor& out = response.outputs(i);
  if (out.datatype() != "INT64") {
    return absl::InvalidArgumentError(
        absl::StrCat("output 'class' is ", out.datatype(), ", expected INT64"));
  }
  if (i < response.raw_output_contents_size()) {
    const std::string& raw = response.raw_output_contents(i);
    if (raw.size() != sizeof(int64_t)) {
      return absl::InvalidArgumentError(
          absl::StrCat("output 'class' has ", raw.size(), " bytes, expected 8"));
    }
    return ReadLittleEndian<int64_t>(raw, 0);
  }
  if (out.contents().int64_contents_size() == 1) return out.contents().int64_contents(0);
  return absl::InvalidArgumentError("output 'class' carries no single INT64 value");
}

absl::StatusOr<int64_t> ArgMaxLogits(const inference::ModelInferResponse& response, int i) {
  const OutputTensor& out = response.outputs(i);
  if (out.datatype() != "FP32") {
    return absl::InvalidArgumentError(
        absl::StrCat("output 'logits' is ", out.datatype(), ", expected FP32"));
  }
  std::vector<float> scores;
  if (i < response.raw_output_contents_size()) {
    const std::string& raw = response.raw_output_contents(i);
    if (raw.empty() || raw.size() % sizeof(float) != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("output 'logits' has ", raw.size(), " bytes, not a whole FP32 vector"));
    }
    for (size_t k = 0; k < raw.size() / sizeof(float); ++k) {
      scores.push_back(ReadLittleEndian<float>(raw, k));
    }
  } else {
    scores.assign(out.contents().fp32_contents().begin(), out.contents().fp32_contents().end());
  }
  if (scores.empty()) return absl::InvalidArgumentError("output 'logits' is empty");
  return std::max_element(scores.begin(), scores.end()) - scores.begin();
}

}  // namespace

absl::StatusOr<InferTarget> MatchModelMetadata(const inference::ModelMetadataResponse& metadata,
                                               const std::vector<int64_t>& image_dims) {
  const std::string& model = metadata.name();
  if (metadata.inputs_size() != 1) {
    return absl::FailedPreconditionError(
        absl::StrCat("model ", model, " has ", metadata.inputs_size(),
                     " inputs; infer-client sends one image tensor"));
  }
  const TensorMetadata& input = metadata.inputs(0);
  if (input.datatype() != "UINT8") {
    return absl::FailedPreconditionError(absl::StrCat("model ", model, " input '", input.name(),
                                                      "' is ", input.datatype(),
                                                      "; infer-client sends UINT8 images"));
  }
  if (!ShapeAccepts(input, image_dims)) {
    return absl::FailedPreconditionError(
        absl::StrCat("model ", model, " input '", input.name(), "' has shape ",
                     ShapeString(input.shape()), " but the dataset's images are ",
                     ShapeString(image_dims), " (wrong --model for this --dataset?)"));
  }
  InferTarget target;
  target.model_name = model;
  target.input_name = input.name();
  target.input_shape = {1};
  target.input_shape.insert(target.input_shape.end(), image_dims.begin(), image_dims.end());
  std::vector<std::string> offered;
  for (const TensorMetadata& output : metadata.outputs()) {
    offered.push_back(output.name());
    if (output.name() == kLogitsOutput || output.name() == kClassOutput) {
      target.outputs.push_back(output.name());
    }
  }
  if (!offered.empty() && target.outputs.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("model ", model, " has neither a 'class' nor a 'logits' output (it has: ",
                     absl::StrJoin(offered, ", "), ")"));
  }
  return target;
}

void InitRequest(const InferTarget& target, inference::ModelInferRequest* request) {
  request->Clear();
  request->set_model_name(target.model_name);
  request->set_model_version(target.model_version);
  auto* input = request->add_inputs();
  input->set_name(target.input_name);
  input->set_datatype("UINT8");
  for (int64_t dim : target.input_shape) input->add_shape(dim);
  for (const std::string& name : target.outputs) request->add_outputs()->set_name(name);
  request->add_raw_input_contents();
}

void SetImage(size_t index, absl::Span<const uint8_t> image,
              inference::ModelInferRequest* request) {
  request->set_id(std::to_string(index));
  request->mutable_raw_input_contents(0)->assign(reinterpret_cast<const char*>(image.data()),
                                                 image.size());
}

absl::StatusOr<size_t> ParseRequestId(const std::string& id) {
  uint64_t index = 0;
  if (id.empty() || !absl::SimpleAtoi(id, &index)) {
    return absl::InvalidArgumentError(absl::StrCat("response id '", id, "' is not an index"));
  }
  return static_cast<size_t>(index);
}

absl::StatusOr<int64_t> ReadPredictedClass(const inference::ModelInferResponse& response) {
  if (const int i = FindOutput(response, kClassOutput); i >= 0) {
    return ReadClassOutput(response, i);
  }
  if (const int i = FindOutput(response, kLogitsOutput); i >= 0) {
    return ArgMaxLogits(response, i);
  }
  return absl::InvalidArgumentError("response has neither a 'class' nor a 'logits' output");
}

}  // namespace pynq::client
