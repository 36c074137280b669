// Integer reference kernels of the CPU backend, written after TFLite's reference integer kernels
// (lite/kernels/internal/reference/integer_ops/): one function per op, a params struct, plain
// loops into an int32 accumulator, then bias, MultiplyByQuantizedMultiplier, output zero point,
// clamp, cast, always in that order. Tensors are int8, channels first (C, H, W), row-major: the
// layout of the model file and of the datasets. The Python exporter (models/train/quant.py)
// computes the same integers; tests compare them bit for bit.
//
// Every function is pure and thread-safe; none allocates. Callers pass shapes that the model
// loader has validated (models/model.cc), so the kernels do not check them again.
#ifndef PYNQ_ACCEL_CPU_KERNELS_H_
#define PYNQ_ACCEL_CPU_KERNELS_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>

namespace pynq::accel::cpu {

// ---- Fixed-point primitives (gemmlowp's fixedpoint.h, TFLite's common.h). ----

// round(a * b / 2^31) with gemmlowp's rounding (nudge +-2^30, truncate toward zero); saturates
// the one overflowing case, INT32_MIN * INT32_MIN, to INT32_MAX.
inline int32_t SaturatingRoundingDoublingHighMul(int32_t a, int32_t b) {
  const bool overflow = a == b && a == std::numeric_limits<int32_t>::min();
  const int64_t ab_64 = static_cast<int64_t>(a) * static_cast<int64_t>(b);
  const int32_t nudge = ab_64 >= 0 ? (1 << 30) : (1 - (1 << 30));
  const auto ab_x2_high32 = static_cast<int32_t>((ab_64 + nudge) / (int64_t{1} << 31));
  return overflow ? std::numeric_limits<int32_t>::max() : ab_x2_high32;
}

// x / 2^exponent rounded to nearest, ties away from zero. exponent in 0..31.
inline int32_t RoundingDivideByPOT(int32_t x, int exponent) {
  const auto mask = static_cast<int32_t>((int64_t{1} << exponent) - 1);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

// x * quantized_multiplier * 2^(shift - 31), rounded as TFLite's MultiplyByQuantizedMultiplier:
// a left shift (shift > 0) before the doubling high multiply, a rounding right shift (shift < 0)
// after it. shift in -31..30. One difference, where TFLite is undefined: TFLite computes the left
// shift as `x * (1 << left_shift)`, which overflows int32 for large x; here it saturates.
inline int32_t MultiplyByQuantizedMultiplier(int32_t x, int32_t quantized_multiplier, int shift) {
  const int left_shift = shift > 0 ? shift : 0;
  const int right_shift = shift > 0 ? 0 : -shift;
  const int64_t shifted = static_cast<int64_t>(x) * (int64_t{1} << left_shift);
  const auto x_shifted = static_cast<int32_t>(std::clamp<int64_t>(
      shifted, std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max()));
  return RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x_shifted, quantized_multiplier),
                             right_shift);
}

// ---- Shapes and parameters. ----

// One int8 tensor, channels first.
struct TensorShape {
  int channels = 0;
  int height = 0;
  int width = 0;
};

// Conv filter, OIHW.
struct FilterShape {
  int out_channels = 0;
  int in_channels = 0;
  int height = 0;
  int width = 0;
};

struct ConvParams {
  int32_t input_offset = 0;   // minus the input zero point
  int32_t output_offset = 0;  // the output zero point
  int stride_height = 1;
  int stride_width = 1;
  int padding_top = 0;   // rows of real zeros above the input (bottom padding is implied by
  int padding_left = 0;  // the output shape)
  int32_t quantized_activation_min = -128;  // the fused activation (ReLU: the output zero point)
  int32_t quantized_activation_max = 127;
};

struct FullyConnectedParams {
  int32_t input_offset = 0;
  int32_t output_offset = 0;
  int32_t quantized_activation_min = -128;
  int32_t quantized_activation_max = 127;
};

struct PoolParams {
  int filter_height = 1;
  int filter_width = 1;
  int stride_height = 1;
  int stride_width = 1;
};

struct AddParams {
  int32_t a_offset = 0;  // minus each input's zero point
  int32_t b_offset = 0;
  int left_shift = 0;
  int32_t a_multiplier = 0;
  int a_shift = 0;
  int32_t b_multiplier = 0;
  int b_shift = 0;
  int32_t output_multiplier = 0;
  int output_shift = 0;
  int32_t output_offset = 0;
  int32_t quantized_activation_min = -128;
  int32_t quantized_activation_max = 127;
};

struct GlobalAveragePoolParams {
  int32_t input_offset = 0;
  int32_t multiplier = 0;
  int shift = 0;
  int32_t output_offset = 0;
};

// A binarized dense layer (proto/model.proto, BinaryDense); see BinaryDenseReference.
struct BinaryDenseParams {
  int in_features = 0;
  int out_features = 0;
  bool input_bipolar = false;  // BIPOLAR (-1/+1) inputs, else UNSIGNED of input_bits bits
  int input_bits = 1;
  int32_t input_offset = 0;  // minus the input zero point: v = q + input_offset
  // Weights: out_features rows of words_per_row little-endian uint64 words (bit = 1: +1).
  const uint8_t* weights = nullptr;
  int words_per_row = 0;
  // THRESHOLDS output when thresholds != null: threshold_count ascending thresholds per channel;
  // writes n (UNSIGNED) or 2n - 1 (BIPOLAR) where n of them are <= acc.
  const int32_t* thresholds = nullptr;
  int threshold_count = 0;
  bool output_bipolar = false;
  // REQUANTIZED output otherwise: per-channel bias, multiplier and shift, output zero point.
  const int32_t* bias = nullptr;
  const int32_t* output_multiplier = nullptr;
  const int32_t* output_shift = nullptr;
  int32_t output_offset = 0;
};

// Integer crop and block-average downscale of uint8 images (InputSpec.Resample), then the
// UINT8_MINUS_128 encoding.
struct ResampleParams {
  int crop_top = 0;
  int crop_left = 0;
  int downscale = 1;  // 1: none
};

// ---- Ops. ----

// int8 convolution with per-output-channel requantization (output_multiplier/output_shift hold
// filter_shape.out_channels entries; bias_data the same, or null for no bias).
void ConvPerChannel(const ConvParams& params, const int32_t* output_multiplier,
                    const int32_t* output_shift, const TensorShape& input_shape,
                    const int8_t* input_data, const FilterShape& filter_shape,
                    const int8_t* filter_data, const int32_t* bias_data,
                    const TensorShape& output_shape, int8_t* output_data);

// int8 fully connected layer with per-output-channel requantization: `weights` is
// [output_size][input_size] row-major; the input is the whole input tensor, flattened (CHW).
void FullyConnectedPerChannel(const FullyConnectedParams& params, const int32_t* output_multiplier,
                              const int32_t* output_shift, int input_size, const int8_t* input_data,
                              int output_size, const int8_t* weights, const int32_t* bias_data,
                              int8_t* output_data);

// Max pooling per channel, no padding; output keeps the input's scale and zero point.
void MaxPool(const PoolParams& params, const TensorShape& input_shape, const int8_t* input_data,
             const TensorShape& output_shape, int8_t* output_data);

// The UINT8_MINUS_128 input encoding: q = pixel - 128, exact for every pixel.
void Uint8ToInt8(const uint8_t* input_data, size_t size, int8_t* output_data);

// Crops `image_shape` pixels to `output_shape` * downscale at (crop_top, crop_left), averages
// each downscale x downscale block ((sum + d*d/2) / (d*d)), then encodes q = pixel - 128.
void ResampleUint8ToInt8(const ResampleParams& params, const TensorShape& image_shape,
                         const uint8_t* input_data, const TensorShape& output_shape,
                         int8_t* output_data);

// TFLite's integer Add of two int8 tensors of `size` elements (see proto/model.proto, Add).
void AddElementwise(const AddParams& params, size_t size, const int8_t* a_data,
                    const int8_t* b_data, int8_t* output_data);

// Mean over each channel's H x W, requantized: output has input_shape.channels values.
void GlobalAveragePoolInt8(const GlobalAveragePoolParams& params, const TensorShape& input_shape,
                           const int8_t* input_data, int8_t* output_data);

// The reference binarized dense layer: acc[o] = sum_i w[o][i] * (q[i] + input_offset) with
// w = +1 or -1 read bit by bit, then thresholds or requantization. The definition the bit-packed
// XNOR-popcount kernel (fast_kernels.h) must match.
void BinaryDenseReference(const BinaryDenseParams& params, const int8_t* input_data,
                          int8_t* output_data);

// The last step of a binarized dense layer, shared by both kernels: channel `o`'s accumulator
// to its int8 output.
inline int8_t BinaryDenseOutput(const BinaryDenseParams& params, int o, int32_t acc) {
  if (params.thresholds != nullptr) {
    const int32_t* t = params.thresholds + static_cast<size_t>(o) * params.threshold_count;
    int32_t n = 0;
    for (int k = 0; k < params.threshold_count; ++k) n += acc >= t[k] ? 1 : 0;
    return static_cast<int8_t>(params.output_bipolar ? 2 * n - 1 : n);
  }
  int32_t q = MultiplyByQuantizedMultiplier(acc + params.bias[o], params.output_multiplier[o],
                                            params.output_shift[o]) +
              params.output_offset;
  q = std::min<int32_t>(127, std::max<int32_t>(-128, q));
  return static_cast<int8_t>(q);
}

}  // namespace pynq::accel::cpu

#endif  // PYNQ_ACCEL_CPU_KERNELS_H_
