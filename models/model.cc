#include "models/model.h"

#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/status_macros.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/wire_format_lite.h"
#include "openssl/evp.h"

namespace pynq::models {
namespace {

using ::pynq::model::Activation;
using ::pynq::model::Add;
using ::pynq::model::BinaryDense;
using ::pynq::model::Conv2D;
using ::pynq::model::Dense;
using ::pynq::model::GlobalAveragePool;
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

// Returns the request's image shape (dims) in `image` and the int8 tensor the first layer reads
// (after the optional resampling) as the result.
absl::StatusOr<Shape> CheckInput(const ErrorContext& ctx, const InputSpec& input, Shape& image) {
  if (input.dims_size() != 3) {
    return ctx.Error("input has ", input.dims_size(), " dims, expected 3 (C, H, W)");
  }
  for (int i = 0; i < 3; ++i) {
    PYNQ_RETURN_IF_ERROR(CheckRange(ctx, input.dims(i), 1, kMaxDim, absl::StrCat("input dim ", i)));
  }
  image = Shape{static_cast<int>(input.dims(0)), static_cast<int>(input.dims(1)),
                static_cast<int>(input.dims(2))};
  if (input.dims(0) * input.dims(1) * input.dims(2) > kMaxTensorElements) {
    return ctx.Error("input ", ShapeText(image), " has more than ", kMaxTensorElements, " bytes");
  }
  if (input.encoding() != InputSpec::UINT8_MINUS_128) {
    return ctx.Error("input encoding ", static_cast<int>(input.encoding()),
                     " is not supported (this reader knows UINT8_MINUS_128)");
  }
  PYNQ_RETURN_IF_ERROR(CheckQuant(ctx, input.quant(), "input"));
  if (!input.has_resample()) return image;
  const InputSpec::Resample& r = input.resample();
  Shape cropped = image;
  if (r.crop_height() != 0 || r.crop_width() != 0) {
    PYNQ_RETURN_IF_ERROR(CheckRange(ctx, r.crop_top(), 0, image.height - 1, "resample crop_top"));
    PYNQ_RETURN_IF_ERROR(CheckRange(ctx, r.crop_left(), 0, image.width - 1, "resample crop_left"));
    PYNQ_RETURN_IF_ERROR(
        CheckRange(ctx, r.crop_height(), 1, image.height - r.crop_top(), "resample crop_height"));
    PYNQ_RETURN_IF_ERROR(
        CheckRange(ctx, r.crop_width(), 1, image.width - r.crop_left(), "resample crop_width"));
    cropped.height = r.crop_height();
    cropped.width = r.crop_width();
  } else if (r.crop_top() != 0 || r.crop_left() != 0) {
    return ctx.Error("resample crop_top/crop_left are set but crop_height/crop_width are 0");
  }
  PYNQ_RETURN_IF_ERROR(CheckRange(ctx, r.downscale(), 0, kMaxWindow, "resample downscale"));
  const int f = std::max(1, r.downscale());
  if (cropped.height % f != 0 || cropped.width % f != 0) {
    return ctx.Error("resample: the cropped image ", cropped.height, "x", cropped.width,
                     " is not a multiple of downscale ", f);
  }
  return Shape{cropped.channels, cropped.height / f, cropped.width / f};
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

// A Q31 multiplier/shift pair outside a per-channel Requantization message.
absl::Status CheckMultiplier(const ErrorContext& ctx, int64_t m, int64_t shift,
                             const std::string& what, int max_shift = kMaxShift) {
  if (m != 0 && m < kMinMultiplier) {
    return ctx.Error(what, " multiplier ", m,
                     " is neither 0 nor a normalized Q31 value in [2^30, 2^31 - 1]");
  }
  return CheckRange(ctx, shift, kMinShift, max_shift, absl::StrCat(what, " shift"));
}

absl::StatusOr<Shape> CheckAdd(const ErrorContext& ctx, const Add& a, const Shape& in_a,
                               const Shape& in_b) {
  if (in_a.channels != in_b.channels || in_a.height != in_b.height || in_a.width != in_b.width) {
    return ctx.Error("add of tensors of different shapes: ", ShapeText(in_a), " and ",
                     ShapeText(in_b));
  }
  // |q - z| <= 255 shifted left by at most 22 stays below 2^30; the input multipliers are at
  // most 1 (shift <= 0), so each rescaled input and their sum fit int32.
  PYNQ_RETURN_IF_ERROR(CheckRange(ctx, a.left_shift(), 0, 22, "add left_shift"));
  PYNQ_RETURN_IF_ERROR(CheckMultiplier(ctx, a.a_multiplier(), a.a_shift(), "add a", 0));
  PYNQ_RETURN_IF_ERROR(CheckMultiplier(ctx, a.b_multiplier(), a.b_shift(), "add b", 0));
  PYNQ_RETURN_IF_ERROR(CheckMultiplier(ctx, a.output_multiplier(), a.output_shift(), "add output"));
  if (a.activation() != pynq::model::ACTIVATION_NONE &&
      a.activation() != pynq::model::ACTIVATION_RELU) {
    return ctx.Error("activation ", static_cast<int>(a.activation()), " is not supported");
  }
  return in_a;
}

absl::StatusOr<Shape> CheckGlobalAveragePool(const ErrorContext& ctx, const GlobalAveragePool& g,
                                             const Shape& in) {
  const int64_t area = int64_t{in.height} * in.width;
  if (area * 255 > kInt32Max) {
    return ctx.Error("global_average_pool over ", in.height, "x", in.width,
                     " could overflow an int32 sum");
  }
  PYNQ_RETURN_IF_ERROR(CheckMultiplier(ctx, g.multiplier(), g.shift(), "global_average_pool"));
  return Shape{in.channels, 1, 1};
}

// What a binary_dense layer may read: values its kernel can bit-pack exactly. `producer` is the
// layer that wrote the input (null: the model input, whose values q - z span 256 consecutive
// integers starting at -128 - z).
absl::Status CheckBinaryInput(const ErrorContext& ctx, const BinaryDense& d, const Layer* producer,
                              int32_t input_zero_point) {
  if (d.input_values() == BinaryDense::BIPOLAR) {
    if (d.input_bits() != 1) {
      return ctx.Error("BIPOLAR inputs have 1 bit, input_bits is ", d.input_bits());
    }
    if (producer == nullptr || !producer->has_binary_dense() ||
        producer->binary_dense().output() != BinaryDense::THRESHOLDS ||
        producer->binary_dense().output_values() != BinaryDense::BIPOLAR) {
      return ctx.Error(
          "reads BIPOLAR values, but its input is not the BIPOLAR output of a "
          "binary_dense layer");
    }
    return absl::OkStatus();
  }
  if (d.input_values() != BinaryDense::UNSIGNED) {
    return ctx.Error("input_values ", static_cast<int>(d.input_values()),
                     " is not BIPOLAR or UNSIGNED");
  }
  PYNQ_RETURN_IF_ERROR(CheckRange(ctx, d.input_bits(), 1, 8, "input_bits"));
  if (producer == nullptr) {
    if (input_zero_point != -128 || d.input_bits() != 8) {
      return ctx.Error("reads the model input as ", d.input_bits(),
                       "-bit UNSIGNED values, which needs input_bits 8 and input zero point "
                       "-128 (it is ",
                       input_zero_point, ")");
    }
    return absl::OkStatus();
  }
  if (!producer->has_binary_dense() ||
      producer->binary_dense().output() != BinaryDense::THRESHOLDS ||
      producer->binary_dense().output_values() != BinaryDense::UNSIGNED ||
      producer->binary_dense().output_bits() > d.input_bits()) {
    return ctx.Error("reads ", d.input_bits(),
                     "-bit UNSIGNED values, but its input is not the UNSIGNED output of a "
                     "binary_dense layer with at most that many bits");
  }
  return absl::OkStatus();
}

absl::StatusOr<Shape> CheckBinaryDense(const ErrorContext& ctx, const BinaryDense& d,
                                       const Shape& in, const Layer* producer,
                                       int32_t input_zero_point, const QuantParams& out_quant) {
  if (static_cast<size_t>(d.in_features()) != in.elements() || d.in_features() < 1) {
    return ctx.Error("binary_dense expects ", d.in_features(), " input features, its input ",
                     ShapeText(in), " has ", in.elements());
  }
  PYNQ_RETURN_IF_ERROR(CheckRange(ctx, d.out_features(), 1, kMaxDim, "out_features"));
  PYNQ_RETURN_IF_ERROR(CheckBinaryInput(ctx, d, producer, input_zero_point));
  const int64_t words = (int64_t{d.in_features()} + 63) / 64;
  const int64_t expected = words * 8 * d.out_features();
  if (static_cast<int64_t>(d.weights().size()) != expected) {
    return ctx.Error("weights hold ", d.weights().size(), " bytes, ", d.out_features(), " rows of ",
                     words, " 64-bit words need ", expected);
  }
  if (const int used = d.in_features() % 64; used != 0) {
    for (int64_t o = 0; o < d.out_features(); ++o) {
      const auto* last =
          reinterpret_cast<const uint8_t*>(d.weights().data()) + (o * words + words - 1) * 8;
      uint64_t word = 0;
      for (int b = 0; b < 8; ++b) word |= uint64_t{last[b]} << (8 * b);
      if ((word >> used) != 0) {
        return ctx.Error("weight row ", o, " sets bits past in_features (", d.in_features(),
                         "); unused bits must be 0");
      }
    }
  }
  // |acc| <= in_features * (2^bits - 1) <= 65536 * 255 for any input: fits int32 with room.
  const int64_t max_acc = int64_t{d.in_features()} * ((int64_t{1} << d.input_bits()) - 1);
  switch (d.output()) {
    case BinaryDense::THRESHOLDS: {
      int count = 1;
      if (d.output_values() == BinaryDense::BIPOLAR) {
        if (d.output_bits() != 1) {
          return ctx.Error("BIPOLAR outputs have 1 bit, output_bits is ", d.output_bits());
        }
      } else if (d.output_values() == BinaryDense::UNSIGNED) {
        PYNQ_RETURN_IF_ERROR(CheckRange(ctx, d.output_bits(), 1, 7, "output_bits"));
        count = (1 << d.output_bits()) - 1;
      } else {
        return ctx.Error("output_values ", static_cast<int>(d.output_values()),
                         " is not BIPOLAR or UNSIGNED");
      }
      if (d.thresholds_size() != int64_t{count} * d.out_features()) {
        return ctx.Error(d.thresholds_size(), " thresholds, expected ", count, " per channel x ",
                         d.out_features(), " channels");
      }
      for (int o = 0; o < d.out_features(); ++o) {
        for (int k = 1; k < count; ++k) {
          if (d.thresholds(o * count + k) < d.thresholds(o * count + k - 1)) {
            return ctx.Error("thresholds of channel ", o, " are not ascending (", k - 1, ": ",
                             d.thresholds(o * count + k - 1), ", ", k, ": ",
                             d.thresholds(o * count + k), ")");
          }
        }
      }
      if (out_quant.zero_point() != 0) {
        return ctx.Error("THRESHOLDS outputs are integers: output zero point must be 0, is ",
                         out_quant.zero_point());
      }
      break;
    }
    case BinaryDense::REQUANTIZED: {
      if (d.bias_size() != d.out_features()) {
        return ctx.Error(d.bias_size(), " biases for ", d.out_features(), " output channels");
      }
      PYNQ_RETURN_IF_ERROR(CheckRequant(ctx, d.requant(), d.out_features()));
      int64_t max_bias = 0;
      for (int32_t b : d.bias()) max_bias = std::max(max_bias, std::abs(static_cast<int64_t>(b)));
      if (max_acc + max_bias > kInt32Max) {
        return ctx.Error("an int32 accumulator could overflow: ", max_acc, " plus a bias of up to ",
                         max_bias);
      }
      break;
    }
    default:
      return ctx.Error("output ", static_cast<int>(d.output()),
                       " is not THRESHOLDS or REQUANTIZED");
  }
  return Shape{d.out_features(), 1, 1};
}

// The tensors layer `index` reads: -1 (model input) or earlier layers; `count` of them.
absl::StatusOr<std::vector<int>> ResolveInputs(const ErrorContext& ctx, const Layer& layer,
                                               int index, int count) {
  if (layer.inputs_size() == 0) {
    if (count == 1) return std::vector<int>{index - 1};
    return ctx.Error("names no inputs; this kind reads exactly ", count);
  }
  if (layer.inputs_size() != count) {
    return ctx.Error("reads ", layer.inputs_size(), " tensors; this kind reads exactly ", count);
  }
  std::vector<int> inputs;
  for (int src : layer.inputs()) {
    if (src < -1 || src >= index) {
      return ctx.Error("reads tensor ", src,
                       "; a layer may read the model input (-1) or an earlier "
                       "layer (0..",
                       index - 1, ")");
    }
    inputs.push_back(src);
  }
  return inputs;
}

// Why `bytes` did not parse as a ModelFile, as precisely as the wire format allows: walks the
// top-level fields and, when a layer's record runs past the end of the file, names that layer
// (its index, and its name, which the exporter writes first). Empty when no such layer is found.
std::string DescribeParseFailure(const std::string& bytes) {
  using ::google::protobuf::internal::WireFormatLite;
  constexpr int kLayersField = 5;  // ModelFile.layers
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
  const int size = static_cast<int>(bytes.size());
  ::google::protobuf::io::CodedInputStream in(data, size);
  int layer = 0;
  while (true) {
    const uint32_t tag = in.ReadTag();
    if (tag == 0) return "";
    if (WireFormatLite::GetTagFieldNumber(tag) != kLayersField ||
        WireFormatLite::GetTagWireType(tag) != WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      if (!WireFormatLite::SkipField(&in, tag)) return "";
      continue;
    }
    uint32_t length = 0;
    if (!in.ReadVarint32(&length)) return absl::StrCat("the file ends inside layer ", layer);
    const int start = in.CurrentPosition();
    const int remaining = size - start;
    if (static_cast<int64_t>(length) > remaining) {
      pynq::model::Layer partial;
      (void)partial.ParsePartialFromArray(data + start, remaining);  // keeps what precedes the cut
      const std::string name =
          partial.name().empty() ? "" : absl::StrCat(" (", partial.name(), ")");
      return absl::StrCat("layer ", layer, name, " is truncated: its record has ", length,
                          " bytes, the file ends after ", remaining);
    }
    pynq::model::Layer whole;
    if (!whole.ParseFromArray(data + start, static_cast<int>(length))) {
      const std::string name = whole.name().empty() ? "" : absl::StrCat(" (", whole.name(), ")");
      return absl::StrCat("layer ", layer, name, " is malformed (protobuf parsing failed)");
    }
    in.Skip(static_cast<int>(length));
    ++layer;
  }
}

// SHA-256 of the deterministic serialization, lower-case hex (see Model::digest).
std::string DigestOf(const ModelFile& file) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    file.SerializeToCodedStream(&coded);
  }
  unsigned char hash[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), hash, &length, EVP_sha256(), nullptr) != 1) {
    return "";  // OpenSSL out of memory: the digest matches no overlay, so the CPU serves
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * length);
  for (unsigned int i = 0; i < length; ++i) {
    hex.push_back(kHex[hash[i] >> 4]);
    hex.push_back(kHex[hash[i] & 15]);
  }
  return hex;
}

std::pair<int32_t, int32_t> ActivationRange(Activation activation, int32_t zero_point) {
  if (activation == pynq::model::ACTIVATION_RELU) return {std::max(-128, zero_point), 127};
  return {-128, 127};
}

}  // namespace

Model::Model(pynq::model::ModelFile file)
    : id_([] {
        static std::atomic<uint64_t> next{1};
        return next.fetch_add(1, std::memory_order_relaxed);
      }()),
      file_(std::move(file)) {}

absl::StatusOr<std::unique_ptr<const Model>> Model::LoadFromFile(const std::string& path) {
  PYNQ_ASSIGN_OR_RETURN(const std::string bytes, ReadRegularFile(path, path, kMaxFileBytes));
  return FromBytes(bytes, path);
}

absl::StatusOr<std::unique_ptr<const Model>> Model::FromBytes(const std::string& bytes,
                                                              std::string_view origin) {
  const std::string name(origin);
  pynq::model::ModelFile file;
  if (!file.ParseFromString(bytes)) {
    const std::string why = DescribeParseFailure(bytes);
    if (!why.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": ", why));
    }
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": not a pynq.model.ModelFile: protobuf parsing failed on its ",
                     bytes.size(), " bytes (truncated, or not a model file)"));
  }
  return FromProto(std::move(file), origin);
}

absl::StatusOr<std::unique_ptr<const Model>> Model::FromProto(pynq::model::ModelFile file,
                                                              std::string_view origin) {
  ErrorContext ctx(origin);
  if (file.format_version() != kFormatVersion) {
    return ctx.Error("format_version ", file.format_version(),
                     " is not supported (this reader knows ", kFormatVersion, ")");
  }
  if (file.name().empty()) return ctx.Error("the model has no name");
  Shape image_shape;
  PYNQ_ASSIGN_OR_RETURN(const Shape input_shape, CheckInput(ctx, file.input(), image_shape));
  if (file.layers_size() == 0) return ctx.Error("the model has no layers");

  auto model = std::unique_ptr<Model>(new Model(std::move(file)));
  const ModelFile& f = model->file_;
  model->digest_ = DigestOf(f);
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
    const int arity = layer.kind_case() == Layer::kAdd ? 2 : 1;
    PYNQ_ASSIGN_OR_RETURN(const std::vector<int> inputs, ResolveInputs(ctx, layer, i, arity));
    info.input = inputs[0];
    info.second_input = arity == 2 ? inputs[1] : -1;
    PYNQ_RETURN_IF_ERROR(CheckQuant(ctx, layer.output(), "output"));
    const auto quant_of = [&](int t) -> const QuantParams& {
      return t < 0 ? f.input().quant() : f.layers(t).output();
    };
    const auto shape_of = [&](int t) {
      return t < 0 ? input_shape : model->layer_info_[t].output_shape;
    };
    const QuantParams& in_quant = quant_of(info.input);
    info.input_shape = shape_of(info.input);
    info.input_zero_point = in_quant.zero_point();
    if (arity == 2) info.second_zero_point = quant_of(info.second_input).zero_point();
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
      case Layer::kAdd: {
        PYNQ_ASSIGN_OR_RETURN(info.output_shape, CheckAdd(ctx, layer.add(), info.input_shape,
                                                          shape_of(info.second_input)));
        activation = layer.add().activation();
        break;
      }
      case Layer::kGlobalAveragePool: {
        PYNQ_ASSIGN_OR_RETURN(
            info.output_shape,
            CheckGlobalAveragePool(ctx, layer.global_average_pool(), info.input_shape));
        break;
      }
      case Layer::kBinaryDense: {
        const Layer* producer = info.input < 0 ? nullptr : &f.layers(info.input);
        PYNQ_ASSIGN_OR_RETURN(info.output_shape,
                              CheckBinaryDense(ctx, layer.binary_dense(), info.input_shape,
                                               producer, info.input_zero_point, layer.output()));
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
  model->image_shape_ = image_shape;
  model->input_bytes_ = image_shape.elements();
  model->num_classes_ = static_cast<int>(classes);
  model->labels_.assign(f.labels().begin(), f.labels().end());
  model->output_scale_ = last.output().scale();
  model->output_zero_point_ = last.output().zero_point();
  model->activation_bytes_ = static_cast<size_t>(offset);
  return std::unique_ptr<const Model>(std::move(model));
}

}  // namespace pynq::models
