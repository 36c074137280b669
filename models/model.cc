#include "models/model.h"

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <system_error>
#include <unordered_map>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace pynq::models {
namespace {

using ::pynq::model::Activation;
using ::pynq::model::Conv2D;
using ::pynq::model::Dense;
using ::pynq::model::InputSpec;
using ::pynq::model::Layer;
using ::pynq::model::MaxPool2D;
using ::pynq::model::ModelFile;
using ::pynq::model::QuantParams;
using ::pynq::model::Requantization;
using Shape = Model::Shape;

constexpr uint32_t kFormatVersion = 1;
constexpr int64_t kMaxDim = 65536;  // any channel count, height, width or feature count
constexpr int64_t kMaxWindow = 64;  // kernel sizes and strides
constexpr int64_t kMaxTensorElements = int64_t{1} << 26;   // 64 MiB of int8 per tensor
constexpr int64_t kMaxActivationBytes = int64_t{1} << 28;  // all of one image's tensors
constexpr int64_t kMinMultiplier = int64_t{1} << 30;       // a normalized Q31 multiplier, >= 0.5
constexpr int kMinShift = -31;
constexpr int kMaxShift = 30;
// |q - zero_point| <= 255 for int8 q and zero point, |w| <= 128: the largest product magnitude.
constexpr int64_t kMaxProduct = 255 * 128;
constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();

// Builds INVALID_ARGUMENT errors that name the origin and, while inside one, the layer:
// "mnist-cnn-q8/1/model.pb: layer 2 (conv2): weights hold 100 bytes, 16x8x3x3 needs 1152".
class ErrorContext {
 public:
  // (Debian's abseil does not take std::string_view in StrCat: hence the std::string copies.)
  explicit ErrorContext(std::string_view origin)
      : origin_(origin), prefix_(absl::StrCat(origin_, ": ")) {}

  void EnterLayer(int index, const std::string& name) {
    prefix_ = absl::StrCat(origin_, ": layer ", index, " (", name, "): ");
  }
  void LeaveLayers() { prefix_ = absl::StrCat(origin_, ": "); }

  template <typename... Args>
  absl::Status Error(const Args&... args) const {
    return absl::InvalidArgumentError(absl::StrCat(prefix_, args...));
  }

 private:
  std::string origin_;
  std::string prefix_;
};

std::string ShapeText(const Shape& s) {
  return absl::StrCat(s.channels, "x", s.height, "x", s.width);
}

absl::Status CheckQuant(const ErrorContext& ctx, const QuantParams& q, const std::string& what) {
  if (!std::isfinite(q.scale()) || q.scale() <= 0.0f) {
    return ctx.Error(what, " scale ", q.scale(), " is not a positive finite number");
  }
  if (q.zero_point() < -128 || q.zero_point() > 127) {
    return ctx.Error(what, " zero point ", q.zero_point(), " is outside the int8 range -128..127");
  }
  return absl::OkStatus();
}

// `value` must lie in [lo, hi]; `what` names it in the error.
absl::Status CheckRange(const ErrorContext& ctx, int64_t value, int64_t lo, int64_t hi,
                        const std::string& what) {
  if (value < lo || value > hi) {
    return ctx.Error(what, " is ", value, ", must be in ", lo, "..", hi);
  }
  return absl::OkStatus();
}

absl::StatusOr<Shape> CheckInput(const ErrorContext& ctx, const InputSpec& input) {
  if (input.dims_size() != 3) {
    return ctx.Error("input has ", input.dims_size(), " dims, expected 3 (C, H, W)");
  }
  for (int i = 0; i < 3; ++i) {
    PYNQ_RETURN_IF_ERROR(CheckRange(ctx, input.dims(i), 1, kMaxDim, absl::StrCat("input dim ", i)));
  }
  const Shape shape{static_cast<int>(input.dims(0)), static_cast<int>(input.dims(1)),
                    static_cast<int>(input.dims(2))};
  if (input.dims(0) * input.dims(1) * input.dims(2) > kMaxTensorElements) {
    return ctx.Error("input ", ShapeText(shape), " has more than ", kMaxTensorElements, " bytes");
  }
  if (input.encoding() != InputSpec::UINT8_MINUS_128) {
    return ctx.Error("input encoding ", static_cast<int>(input.encoding()),
                     " is not supported (this reader knows UINT8_MINUS_128)");
  }
  PYNQ_RETURN_IF_ERROR(CheckQuant(ctx, input.quant(), "input"));
  return shape;
}

// Per-channel requantization: `channels` entries, multipliers 0 or normalized Q31, shifts in
// TFLite's range.
absl::Status CheckRequant(const ErrorContext& ctx, const Requantization& r, int channels) {
  if (r.multiplier_size() != channels || r.shift_size() != channels) {
    return ctx.Error("requantization has ", r.multiplier_size(), " multipliers and ",
                     r.shift_size(), " shifts, expected one per output channel (", channels, ")");
  }
  for (int c = 0; c < channels; ++c) {
    const int64_t m = r.multiplier(c);
    if (m != 0 && m < kMinMultiplier) {
      return ctx.Error("requantization multiplier[", c, "] = ", m,
                       " is neither 0 nor a normalized Q31 value in [2^30, 2^31 - 1]");
    }
    PYNQ_RETURN_IF_ERROR(CheckRange(ctx, r.shift(c), kMinShift, kMaxShift,
                                    absl::StrCat("requantization shift[", c, "]")));
  }
  return absl::OkStatus();
}

// What conv2d and dense share: weights, per-channel scales, bias, requantization, activation,
// and an accumulator bound that rules out int32 overflow for any input.
struct WeightedLayer {
  const std::string& weights;
  int64_t expected_weight_bytes;
  std::string weight_dims;  // "16x8x3x3", for the error message
  int weight_scales;
  const google::protobuf::RepeatedField<int32_t>& bias;
  const Requantization& requant;
  Activation activation;
  int channels;
  int64_t accumulation_depth;  // products summed per output value
};

absl::Status CheckWeighted(const ErrorContext& ctx, const WeightedLayer& w) {
  if (static_cast<int64_t>(w.weights.size()) != w.expected_weight_bytes) {
    return ctx.Error("weights hold ", w.weights.size(), " bytes, ", w.weight_dims, " needs ",
                     w.expected_weight_bytes);
  }
  if (w.weight_scales != w.channels) {
    return ctx.Error(w.weight_scales, " weight scales for ", w.channels, " output channels");
  }
  if (w.bias.size() != w.channels) {
    return ctx.Error(w.bias.size(), " biases for ", w.channels, " output channels");
  }
  PYNQ_RETURN_IF_ERROR(CheckRequant(ctx, w.requant, w.channels));
  if (w.activation != pynq::model::ACTIVATION_NONE &&
      w.activation != pynq::model::ACTIVATION_RELU) {
    return ctx.Error("activation ", static_cast<int>(w.activation), " is not supported");
  }
  int64_t max_bias = 0;
  for (int32_t b : w.bias) max_bias = std::max(max_bias, std::abs(static_cast<int64_t>(b)));
  if (w.accumulation_depth * kMaxProduct + max_bias > kInt32Max) {
    return ctx.Error("an int32 accumulator could overflow: ", w.accumulation_depth,
                     " products of up to ", kMaxProduct, " plus a bias of up to ", max_bias);
  }
  return absl::OkStatus();
}

absl::StatusOr<Shape> CheckConv(const ErrorContext& ctx, const Conv2D& c, const Shape& in) {
  if (c.in_channels() != in.channels) {
    return ctx.Error("conv2d expects ", c.in_channels(), " input channels, its input ",
                     ShapeText(in), " has ", in.channels);
  }
  PYNQ_RETURN_IF_ERROR(CheckRange(ctx, c.out_channels(), 1, kMaxDim, "out_channels"));
  PYNQ_RETURN_IF_ERROR(CheckRange(ctx, c.kernel_h(), 1, kMaxWindow, "kernel_h"));
  PYNQ_RETURN_IF_ERROR(CheckRange(ctx, c.kernel_w(), 1, kMaxWindow, "kernel_w"));
  PYNQ_RETURN_IF_ERROR(CheckRange(ctx, c.stride_h(), 1, kMaxWindow, "stride_h"));
  PYNQ_RETURN_IF_ERROR(CheckRange(ctx, c.stride_w(), 1, kMaxWindow, "stride_w"));
  PYNQ_RETURN_IF_ERROR(CheckRange(ctx, c.pad_top(), 0, c.kernel_h() - 1, "pad_top"));
  PYNQ_RETURN_IF_ERROR(CheckRange(ctx, c.pad_bottom(), 0, c.kernel_h() - 1, "pad_bottom"));
  PYNQ_RETURN_IF_ERROR(CheckRange(ctx, c.pad_left(), 0, c.kernel_w() - 1, "pad_left"));
  PYNQ_RETURN_IF_ERROR(CheckRange(ctx, c.pad_right(), 0, c.kernel_w() - 1, "pad_right"));
  const int padded_h = in.height + c.pad_top() + c.pad_bottom();
  const int padded_w = in.width + c.pad_left() + c.pad_right();
  if (padded_h < c.kernel_h() || padded_w < c.kernel_w()) {
    return ctx.Error("kernel ", c.kernel_h(), "x", c.kernel_w(),
                     " is larger than the padded input ", padded_h, "x", padded_w);
  }
  const Shape out{c.out_channels(), (padded_h - c.kernel_h()) / c.stride_h() + 1,
                  (padded_w - c.kernel_w()) / c.stride_w() + 1};
  const int64_t depth = int64_t{c.in_channels()} * c.kernel_h() * c.kernel_w();
  PYNQ_RETURN_IF_ERROR(
      CheckWeighted(ctx, WeightedLayer{c.weights(), depth * c.out_channels(),
                                       absl::StrCat(c.out_channels(), "x", c.in_channels(), "x",
                                                    c.kernel_h(), "x", c.kernel_w()),
                                       c.weight_scales_size(), c.bias(), c.requant(),
                                       c.activation(), c.out_channels(), depth}));
  return out;
}

absl::StatusOr<Shape> CheckDense(const ErrorContext& ctx, const Dense& d, const Shape& in) {
  if (static_cast<size_t>(d.in_features()) != in.elements()) {
    return ctx.Error("dense expects ", d.in_features(), " input features, its input ",
                     ShapeText(in), " has ", in.elements());
  }
  PYNQ_RETURN_IF_ERROR(CheckRange(ctx, d.out_features(), 1, kMaxDim, "out_features"));
  PYNQ_RETURN_IF_ERROR(CheckWeighted(
      ctx,
      WeightedLayer{d.weights(), int64_t{d.in_features()} * d.out_features(),
                    absl::StrCat(d.out_features(), "x", d.in_features()), d.weight_scales_size(),
                    d.bias(), d.requant(), d.activation(), d.out_features(), d.in_features()}));
  return Shape{d.out_features(), 1, 1};
}

absl::StatusOr<Shape> CheckMaxPool(const ErrorContext& ctx, const MaxPool2D& p, const Shape& in,
                                   const QuantParams& in_quant, const QuantParams& out_quant) {
  PYNQ_RETURN_IF_ERROR(
      CheckRange(ctx, p.kernel_h(), 1, std::min<int64_t>(kMaxWindow, in.height), "kernel_h"));
  PYNQ_RETURN_IF_ERROR(
      CheckRange(ctx, p.kernel_w(), 1, std::min<int64_t>(kMaxWindow, in.width), "kernel_w"));
  PYNQ_RETURN_IF_ERROR(CheckRange(ctx, p.stride_h(), 1, kMaxWindow, "stride_h"));
  PYNQ_RETURN_IF_ERROR(CheckRange(ctx, p.stride_w(), 1, kMaxWindow, "stride_w"));
  if (out_quant.scale() != in_quant.scale() || out_quant.zero_point() != in_quant.zero_point()) {
    return ctx.Error("max_pool2d output quantization (", out_quant.scale(), ", ",
                     out_quant.zero_point(), ") differs from its input's (", in_quant.scale(), ", ",
                     in_quant.zero_point(), "): pooling does not rescale");
  }
  return Shape{in.channels, (in.height - p.kernel_h()) / p.stride_h() + 1,
               (in.width - p.kernel_w()) / p.stride_w() + 1};
}

// The tensor layer `index` reads: -1 (model input) or an earlier layer.
absl::StatusOr<int> ResolveInput(const ErrorContext& ctx, const Layer& layer, int index) {
  if (layer.inputs_size() == 0) return index - 1;
  if (layer.inputs_size() > 1) {
    return ctx.Error("reads ", layer.inputs_size(), " tensors; this kind reads exactly 1");
  }
  const int src = layer.inputs(0);
  if (src < -1 || src >= index) {
    return ctx.Error("reads tensor ", src,
                     "; a layer may read the model input (-1) or an earlier "
                     "layer (0..",
                     index - 1, ")");
  }
  return src;
}

std::pair<int32_t, int32_t> ActivationRange(Activation activation, int32_t zero_point) {
  if (activation == pynq::model::ACTIVATION_RELU) return {std::max(-128, zero_point), 127};
  return {-128, 127};
}

}  // namespace

absl::StatusOr<std::unique_ptr<const Model>> Model::LoadFromFile(const std::string& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (!std::filesystem::exists(status)) {
    return absl::NotFoundError(absl::StrCat(path, ": no such model file"));
  }
  if (!std::filesystem::is_regular_file(status)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a regular file"));
  }
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  const std::streamoff size = in ? static_cast<std::streamoff>(in.tellg()) : -1;
  std::string bytes(size > 0 ? static_cast<size_t>(size) : 0, '\0');
  if (size < 0 || !in.seekg(0) || !in.read(bytes.data(), size)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": cannot be read"));
  }
  pynq::model::ModelFile file;
  if (!file.ParseFromString(bytes)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a pynq.model.ModelFile: protobuf parsing failed on its ",
                     bytes.size(), " bytes (truncated, or not a model file)"));
  }
  return FromProto(std::move(file), path);
}

absl::StatusOr<std::unique_ptr<const Model>> Model::FromProto(pynq::model::ModelFile file,
                                                              std::string_view origin) {
  ErrorContext ctx(origin);
  if (file.format_version() != kFormatVersion) {
    return ctx.Error("format_version ", file.format_version(),
                     " is not supported (this reader knows ", kFormatVersion, ")");
  }
  if (file.name().empty()) return ctx.Error("the model has no name");
  PYNQ_ASSIGN_OR_RETURN(const Shape input_shape, CheckInput(ctx, file.input()));
  if (file.layers_size() == 0) return ctx.Error("the model has no layers");

  auto model = std::unique_ptr<Model>(new Model(std::move(file)));
  const ModelFile& f = model->file_;
  model->input_shape_ = input_shape;
  model->input_zero_point_ = f.input().quant().zero_point();
  std::unordered_map<std::string, int> names;
  int64_t offset = static_cast<int64_t>(input_shape.elements());
  for (int i = 0; i < f.layers_size(); ++i) {
    const Layer& layer = f.layers(i);
    ctx.EnterLayer(i, layer.name());
    if (layer.name().empty()) return ctx.Error("the layer has no name");
    if (auto [it, fresh] = names.emplace(layer.name(), i); !fresh) {
      return ctx.Error("the name is also used by layer ", it->second);
    }
    LayerInfo info;
    PYNQ_ASSIGN_OR_RETURN(info.input, ResolveInput(ctx, layer, i));
    PYNQ_RETURN_IF_ERROR(CheckQuant(ctx, layer.output(), "output"));
    const QuantParams& in_quant =
        info.input < 0 ? f.input().quant() : f.layers(info.input).output();
    info.input_shape = info.input < 0 ? input_shape : model->layer_info_[info.input].output_shape;
    info.input_zero_point = in_quant.zero_point();
    Activation activation = pynq::model::ACTIVATION_NONE;
    switch (layer.kind_case()) {
      case Layer::kConv2D: {
        PYNQ_ASSIGN_OR_RETURN(info.output_shape, CheckConv(ctx, layer.conv2d(), info.input_shape));
        activation = layer.conv2d().activation();
        break;
      }
      case Layer::kDense: {
        PYNQ_ASSIGN_OR_RETURN(info.output_shape, CheckDense(ctx, layer.dense(), info.input_shape));
        activation = layer.dense().activation();
        break;
      }
      case Layer::kMaxPool2D: {
        PYNQ_ASSIGN_OR_RETURN(
            info.output_shape,
            CheckMaxPool(ctx, layer.max_pool2d(), info.input_shape, in_quant, layer.output()));
        break;
      }
      case Layer::KIND_NOT_SET:
        return ctx.Error("no layer kind set (empty, or a kind newer than this reader)");
    }
    const int64_t elements = int64_t{info.output_shape.channels} * info.output_shape.height *
                             info.output_shape.width;  // 64-bit: size_t is 32 bits on the board
    if (elements > kMaxTensorElements) {
      return ctx.Error("output ", ShapeText(info.output_shape), " has more than ",
                       kMaxTensorElements, " elements");
    }
    std::tie(info.output_min, info.output_max) =
        ActivationRange(activation, layer.output().zero_point());
    info.output_offset = static_cast<size_t>(offset);
    offset += elements;
    if (offset > kMaxActivationBytes) {
      return ctx.Error("activations up to this layer need ", offset, " bytes per image, more than ",
                       kMaxActivationBytes);
    }
    model->layer_info_.push_back(info);
  }
  ctx.LeaveLayers();

  const Layer& last = f.layers(f.layers_size() - 1);
  const size_t classes = model->layer_info_.back().output_shape.elements();
  if (classes > static_cast<size_t>(kMaxDim)) {
    return ctx.Error("the last layer (", last.name(), ") has ", classes, " outputs; at most ",
                     kMaxDim, " classes");
  }
  if (f.labels_size() != 0 && static_cast<size_t>(f.labels_size()) != classes) {
    return ctx.Error(f.labels_size(), " labels for ", classes, " classes (the outputs of layer ",
                     f.layers_size() - 1, ", ", last.name(), ")");
  }
  model->input_dims_.assign(f.input().dims().begin(), f.input().dims().end());
  model->input_bytes_ = input_shape.elements();
  model->num_classes_ = static_cast<int>(classes);
  model->labels_.assign(f.labels().begin(), f.labels().end());
  model->output_scale_ = last.output().scale();
  model->output_zero_point_ = last.output().zero_point();
  model->activation_bytes_ = static_cast<size_t>(offset);
  return std::unique_ptr<const Model>(std::move(model));
}

}  // namespace pynq::models
