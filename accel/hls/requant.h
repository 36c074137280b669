// Per-channel requantization of an int32 accumulator to int8, written for hardware: shifts and
// one 32x32 multiply, no division. Computes exactly the integers of accel/cpu/kernels.h
// (MultiplyByQuantizedMultiplier with gemmlowp's rounding, then zero point and clamp); the test
// benches compare the two over edge cases and random values.
#ifndef PYNQ_ACCEL_HLS_REQUANT_H_
#define PYNQ_ACCEL_HLS_REQUANT_H_

#include <cstdint>

namespace pynq::hls_kernels {

// The int32 range, spelled out: <limits> is not needed for two constants.
constexpr std::int32_t kInt32Min = -2147483647 - 1;
constexpr std::int32_t kInt32Max = 2147483647;

// round(a * b / 2^31), halves away from zero, as gemmlowp's SaturatingRoundingDoublingHighMul:
// the product is nudged by +-2^30 and the quotient truncated toward zero, written as a shift of
// the magnitude so that no divider is built. The one overflowing case, INT32_MIN * INT32_MIN,
// saturates to INT32_MAX.
inline std::int32_t DoublingHighMulRounded(std::int32_t a, std::int32_t b) {
  if (a == kInt32Min && b == kInt32Min) return kInt32Max;
  const std::int64_t product = static_cast<std::int64_t>(a) * b;
  // |product| <= 2^62, so neither the nudged value nor its negation overflows int64.
  const std::int64_t nudged =
      product >= 0 ? product + (std::int64_t{1} << 30) : product + 1 - (std::int64_t{1} << 30);
  const std::int64_t high = nudged >= 0 ? (nudged >> 31) : -((-nudged) >> 31);
  return static_cast<std::int32_t>(high);
}

// x / 2^exponent, rounded to nearest with ties away from zero (gemmlowp's RoundingDivideByPOT);
// exponent in 0..31. The arithmetic shift floors; the remainder decides whether to step up.
inline std::int32_t RoundingShiftRight(std::int32_t x, int exponent) {
  const std::int32_t mask = static_cast<std::int32_t>((std::int64_t{1} << exponent) - 1);
  const std::int32_t floor = x >> exponent;
  const std::int32_t remainder = x & mask;
  const std::int32_t half = (mask >> 1) + (x < 0 ? 1 : 0);
  return remainder > half ? floor + 1 : floor;
}

// x * multiplier * 2^(shift - 31) as TFLite's MultiplyByQuantizedMultiplier: a saturating left
// shift before the high multiply when shift > 0, a rounding right shift after it when shift < 0.
// shift in -31..30.
inline std::int32_t ScaleByQ31(std::int32_t x, std::int32_t multiplier, int shift) {
  std::int32_t scaled = x;
  if (shift > 0) {
    const std::int64_t wide = static_cast<std::int64_t>(x) * (std::int64_t{1} << shift);
    scaled = wide > kInt32Max   ? kInt32Max
             : wide < kInt32Min ? kInt32Min
                                : static_cast<std::int32_t>(wide);
  }
  const std::int32_t high = DoublingHighMulRounded(scaled, multiplier);
  return shift < 0 ? RoundingShiftRight(high, -shift) : high;
}

// The whole output step of one channel: bias, scale, output zero point, clamp to
// [out_min, out_max] (the fused activation; within -128..127), in that order.
inline std::int8_t RequantizeToInt8(std::int32_t acc, std::int32_t bias, std::int32_t multiplier,
                                    std::int32_t shift, std::int32_t zero_point,
                                    std::int32_t out_min, std::int32_t out_max) {
  std::int32_t q = ScaleByQ31(acc + bias, multiplier, shift) + zero_point;
  q = q < out_min ? out_min : q;
  q = q > out_max ? out_max : q;
  return static_cast<std::int8_t>(q);
}

// The output zero point and the clamp of a requantized layer (ReLU: min = the zero point).
struct OutputRange {
  std::int32_t zero_point;
  std::int32_t min;
  std::int32_t max;
};

}  // namespace pynq::hls_kernels

#endif  // PYNQ_ACCEL_HLS_REQUANT_H_
