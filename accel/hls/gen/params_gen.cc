#include "accel/hls/gen/params_gen.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "models/model.h"
#include "nlohmann/json.hpp"

namespace pynq::hls_gen {

const std::vector<std::string>& KernelNames() {
  static const std::vector<std::string> names = {"lfc_w1a1", "lfc_w1a2", "mnist_cnn_q8"};
  return names;
}

absl::StatusOr<std::string> GenerateParamsHeader(const std::string& kernel,
                                                 const models::Model& model,
                                                 const std::string& source) {
  if (kernel == "lfc_w1a1") return GenerateLfcParams(kernel, 1, model, source);
  if (kernel == "lfc_w1a2") return GenerateLfcParams(kernel, 2, model, source);
  if (kernel == "mnist_cnn_q8") return GenerateMnistCnnParams(kernel, model, source);
  return absl::InvalidArgumentError(
      absl::StrCat("unknown kernel \"", kernel, "\"; known: ", absl::StrJoin(KernelNames(), ", ")));
}

std::string SidecarEntry(const std::string& instance, const models::Model& model) {
  nlohmann::ordered_json entry;
  entry["instance"] = std::string(instance);
  entry["model"] = model.name();
  entry["digest"] = model.digest();
  return entry.dump();
}

absl::Status LayerMismatch(const std::string& kernel, const models::Model& model, int index,
                           const std::string& need) {
  return absl::InvalidArgumentError(absl::StrCat(model.name(), ": layer ", index, " (",
                                                 model.file().layers(index).name(), "): ", kernel,
                                                 " needs ", need));
}

absl::Status CheckMnistInputAndChain(const std::string& kernel, const models::Model& model,
                                     int layers) {
  const auto input_error = [&](const std::string& what) {
    return absl::InvalidArgumentError(
        absl::StrCat(model.name(), ": input: ", kernel, " needs ", what));
  };
  if (model.input_dims() != std::vector<int64_t>{1, 28, 28}) {
    return input_error(
        absl::StrCat("1x28x28 images, the model takes ", absl::StrJoin(model.input_dims(), "x")));
  }
  if (model.file().input().encoding() != pynq::model::InputSpec::UINT8_MINUS_128 ||
      model.input_zero_point() != -128) {
    return input_error(
        absl::StrCat("UINT8_MINUS_128 pixels with zero point -128 (v = pixel), "
                     "the model's zero point is ",
                     model.input_zero_point()));
  }
  const models::Model::Shape& in = model.input_shape();
  if (in.channels != 1 || in.height != 28 || in.width != 28) {
    return input_error("the image as it came, the model resamples it");
  }
  if (model.file().layers_size() != layers) {
    return absl::InvalidArgumentError(absl::StrCat(model.name(), ": ", kernel, " needs ", layers,
                                                   " layers, the model has ",
                                                   model.file().layers_size()));
  }
  for (int i = 0; i < layers; ++i) {
    if (model.layer_info()[i].input != i - 1) {
      return LayerMismatch(kernel, model, i, "a plain chain: each layer reads the one before");
    }
  }
  return absl::OkStatus();
}

}  // namespace pynq::hls_gen
