// A quantized model, loaded from our model file (proto/model.proto, `<version>/model.pb`) and
// validated once at load time, so nothing on the request path checks it again.
#ifndef PYNQ_MODELS_MODEL_H_
#define PYNQ_MODELS_MODEL_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/model.pb.h"

namespace pynq::models {

// An immutable, validated model. Thread-safe: every method is const and may be called from any
// thread. The backends read its layers; the server reads its geometry and labels.
class Model {
 public:
  // Reads and validates the file at `path`. On any problem returns INVALID_ARGUMENT (or NOT_FOUND
  // when the file is missing) with a message naming the file, the layer (index and name) and what
  // is wrong: "model.pb: layer 2 (conv2): weights hold 100 bytes, 16x8x3x3 needs 1152".
  // Files larger than kMaxFileBytes, and anything but a regular file (a FIFO, a device, a
  // symbolic-link loop), are refused without being read.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<const Model>> LoadFromFile(
      const std::string& path);

  // Parses and validates a model file's bytes; `origin` names it in error messages.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<const Model>> FromBytes(
      const std::string& bytes, std::string_view origin);

  // The largest model file read: 64 MiB, far above the zoo's largest (0.4 MB) and a quarter of
  // what a 512 MB board can spare.
  static constexpr size_t kMaxFileBytes = size_t{64} << 20;

  // Validates an already parsed message; `origin` names it in error messages.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<const Model>> FromProto(
      pynq::model::ModelFile file, std::string_view origin);

  const std::string& name() const { return file_.name(); }

  // Lower-case hex SHA-256 of the model's deterministic protobuf serialization: the same for
  // the same weights whichever file or process it came from. An FPGA overlay records the digest
  // of the model its bitstream's weights were generated from, and the server uses that
  // accelerator only for a model with the same digest.
  const std::string& digest() const { return digest_; }

  // A number no other Model object of this process has had or will have (a reloaded file gets a
  // new one), so a backend may key what it derives from a model by it.
  uint64_t id() const { return id_; }

  // Per-image input geometry, channels first: {1, 28, 28} for MNIST, {3, 32, 32} for CIFAR-10.
  // The input is uint8, exactly as the dataset stores it.
  const std::vector<int64_t>& input_dims() const { return input_dims_; }
  // Bytes per image: the product of input_dims().
  size_t input_bytes() const { return input_bytes_; }

  // Number of logits per image (the output classes).
  int num_classes() const { return num_classes_; }
  // One label per class, index = class id; may be empty when the file carries none.
  const std::vector<std::string>& labels() const { return labels_; }

  // The int8 logits dequantize as output_scale() * (q - output_zero_point()).
  float output_scale() const { return output_scale_; }
  int32_t output_zero_point() const { return output_zero_point_; }

  // The validated message; the kernels walk its layers.
  const pynq::model::ModelFile& file() const { return file_; }

  // One int8 tensor's geometry, channels first, row-major. Dense outputs are {n, 1, 1}.
  struct Shape {
    int channels = 0;
    int height = 0;
    int width = 0;
    size_t elements() const {
      return static_cast<size_t>(channels) * static_cast<size_t>(height) *
             static_cast<size_t>(width);
    }
  };

  // What the loader derived for one layer, so the backends need not re-derive or re-check it.
  struct LayerInfo {
    // The tensor the layer reads: -1 = the model's int8 input, else an earlier layer's index.
    int input = -1;
    // An add's second operand (-1 for every other kind, and for an add of the model input) and
    // its zero point.
    int second_input = -1;
    int32_t second_zero_point = 0;
    Shape input_shape;
    Shape output_shape;
    // Zero point of the tensor read (the kernels add its negation to every input value).
    int32_t input_zero_point = 0;
    // The fused activation as an int8 clamp on the output (ReLU: the output zero point).
    int32_t output_min = -128;
    int32_t output_max = 127;
    // Byte offset of this layer's output in the per-image activation arena (see below).
    size_t output_offset = 0;
  };

  // One entry per layer, index for index with file().layers().
  const std::vector<LayerInfo>& layer_info() const { return layer_info_; }
  // The request's image ({C, H, W} = input_dims()), and the int8 tensor the first layer reads:
  // the same shape, unless the file's input resampling (InputSpec.resample) crops or downscales.
  const Shape& image_shape() const { return image_shape_; }
  const Shape& input_shape() const { return input_shape_; }
  int32_t input_zero_point() const { return input_zero_point_; }
  // Bytes of int8 activations one image needs when no tensor is reused: the input tensor at
  // offset 0, then every layer's output at its LayerInfo::output_offset. So a layer may read any
  // earlier tensor (residual blocks), and a backend sizes its per-thread scratch from this.
  size_t activation_bytes() const { return activation_bytes_; }

 private:
  explicit Model(pynq::model::ModelFile file);

  const uint64_t id_;
  pynq::model::ModelFile file_;
  std::string digest_;
  std::vector<int64_t> input_dims_;
  size_t input_bytes_ = 0;
  int num_classes_ = 0;
  std::vector<std::string> labels_;
  float output_scale_ = 1.0f;
  int32_t output_zero_point_ = 0;
  std::vector<LayerInfo> layer_info_;
  Shape image_shape_;
  Shape input_shape_;
  int32_t input_zero_point_ = 0;
  size_t activation_bytes_ = 0;
};

}  // namespace pynq::models

#endif  // PYNQ_MODELS_MODEL_H_
