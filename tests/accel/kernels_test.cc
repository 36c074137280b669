// Golden cases for the integer kernels: the fixed-point rounding (worked out by hand from
// gemmlowp's definitions), and small convolutions, dense layers and pools computed by hand.
#include "accel/cpu/kernels.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pynq::accel::cpu {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;

constexpr int32_t kMin = std::numeric_limits<int32_t>::min();
constexpr int32_t kMax = std::numeric_limits<int32_t>::max();
constexpr int32_t kHalf = 1 << 30;  // 0.5 in Q31
// multiplier 2^30 with shift 1 is exactly 1.0: requantization leaves the accumulator as is.
constexpr int32_t kOne = 1 << 30;
constexpr int kOneShift = 1;

TEST(KernelsTest, SaturatingRoundingDoublingHighMul) {
  EXPECT_EQ(SaturatingRoundingDoublingHighMul(kMin, kMin), kMax);  // the one overflow: saturates
  EXPECT_EQ(SaturatingRoundingDoublingHighMul(kMax, kMax), kMax - 1);
  EXPECT_EQ(SaturatingRoundingDoublingHighMul(kMin, kMax), kMin + 1);
  EXPECT_EQ(SaturatingRoundingDoublingHighMul(kHalf, kHalf), 1 << 29);  // 0.5 * 0.5
  EXPECT_EQ(SaturatingRoundingDoublingHighMul(100, kHalf), 50);
  // Ties: +0.5 -> 1 and +1.5 -> 2, but -0.5 -> 0 and -1.5 -> -1 (nudge, then truncation).
  EXPECT_EQ(SaturatingRoundingDoublingHighMul(1, kHalf), 1);
  EXPECT_EQ(SaturatingRoundingDoublingHighMul(3, kHalf), 2);
  EXPECT_EQ(SaturatingRoundingDoublingHighMul(-1, kHalf), 0);
  EXPECT_EQ(SaturatingRoundingDoublingHighMul(-3, kHalf), -1);
  EXPECT_EQ(SaturatingRoundingDoublingHighMul(0, kMax), 0);
}

TEST(KernelsTest, RoundingDivideByPOTRoundsHalfAwayFromZero) {
  EXPECT_EQ(RoundingDivideByPOT(5, 1), 3);    // 2.5
  EXPECT_EQ(RoundingDivideByPOT(-5, 1), -3);  // -2.5
  EXPECT_EQ(RoundingDivideByPOT(4, 1), 2);
  EXPECT_EQ(RoundingDivideByPOT(6, 2), 2);    // 1.5
  EXPECT_EQ(RoundingDivideByPOT(-6, 2), -2);  // -1.5
  EXPECT_EQ(RoundingDivideByPOT(5, 2), 1);    // 1.25
  EXPECT_EQ(RoundingDivideByPOT(-5, 2), -1);  // -1.25
  EXPECT_EQ(RoundingDivideByPOT(7, 2), 2);    // 1.75
  EXPECT_EQ(RoundingDivideByPOT(-7, 2), -2);  // -1.75
  EXPECT_EQ(RoundingDivideByPOT(-123, 0), -123);
  EXPECT_EQ(RoundingDivideByPOT(kMin, 31), -1);
  EXPECT_EQ(RoundingDivideByPOT(kMax, 31), 1);
  EXPECT_EQ(RoundingDivideByPOT(1 << 29, 31), 0);  // 0.25
}

TEST(KernelsTest, MultiplyByQuantizedMultiplierGolden) {
  EXPECT_EQ(MultiplyByQuantizedMultiplier(100, kHalf, 0), 50);
  EXPECT_EQ(MultiplyByQuantizedMultiplier(-3, kHalf, -1),
            -1);  // -0.75: -1.5 -> -1, then -0.5 -> -1
  // Two roundings, as in TFLite: 5 * 0.5 = 2.5 -> 3, then 3 / 2 = 1.5 -> 2 (exact: 1.25).
  EXPECT_EQ(MultiplyByQuantizedMultiplier(5, kHalf, -1), 2);
  EXPECT_EQ(MultiplyByQuantizedMultiplier(1000, 1518500250, -3), 88);  // 1000 * 0.70710678 / 8
  EXPECT_EQ(MultiplyByQuantizedMultiplier(-1000, 1518500250, -3), -88);
  EXPECT_EQ(MultiplyByQuantizedMultiplier(3, kHalf, 2), 6);  // left shift before the multiply
  EXPECT_EQ(MultiplyByQuantizedMultiplier(12345, kOne, kOneShift), 12345);
  EXPECT_EQ(MultiplyByQuantizedMultiplier(-12345, kOne, kOneShift), -12345);
  EXPECT_EQ(MultiplyByQuantizedMultiplier(kMax, kMax, 0), kMax - 1);
  EXPECT_EQ(MultiplyByQuantizedMultiplier(kMin, kMax, -31), -1);
  EXPECT_EQ(MultiplyByQuantizedMultiplier(12345, 0, 0), 0);
  // The left shift saturates instead of overflowing: INT32_MAX * 4 -> INT32_MAX, times 0.5.
  EXPECT_EQ(MultiplyByQuantizedMultiplier(kMax, kHalf, 2), 1 << 30);
  EXPECT_EQ(MultiplyByQuantizedMultiplier(kMin, kHalf, 2), -(1 << 30));
}

TEST(KernelsTest, MultiplyByQuantizedMultiplierIsWithinOneOfExact) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int32_t> acc(-(1 << 24), 1 << 24);
  std::uniform_int_distribution<int32_t> mult(1 << 30, kMax);
  std::uniform_int_distribution<int> shift(-20, 0);
  for (int i = 0; i < 10000; ++i) {
    const int32_t x = acc(rng);
    const int32_t m = mult(rng);
    const int s = shift(rng);
    const double exact = std::ldexp(static_cast<double>(x) * m, s - 31);
    EXPECT_LE(std::abs(MultiplyByQuantizedMultiplier(x, m, s) - exact), 1.0)
        << x << " " << m << " " << s;
  }
}

TEST(KernelsTest, ConvPerChannelByHand) {
  // Input 1x3x3 with zero point 1, so the values seen are q - 1 = 0..8.
  const std::vector<int8_t> input = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  // Two 2x2 filters: [[1,2],[3,4]] and [[-1,0],[0,0]].
  const std::vector<int8_t> filter = {1, 2, 3, 4, -1, 0, 0, 0};
  const std::vector<int32_t> bias = {5, 0};
  const std::vector<int32_t> multiplier = {kOne, kHalf};
  const std::vector<int32_t> shift = {kOneShift, 0};
  ConvParams params;
  params.input_offset = -1;
  params.output_offset = -10;
  std::vector<int8_t> output(8);
  ConvPerChannel(params, multiplier.data(), shift.data(), {1, 3, 3}, input.data(), {2, 1, 2, 2},
                 filter.data(), bias.data(), {2, 2, 2}, output.data());
  // Channel 0: 27 37 57 67, + bias 5, x1, -10. Channel 1: 0 -1 -3 -4, x0.5 -> 0 0 -1 -2, -10.
  EXPECT_THAT(output, ElementsAre(22, 32, 52, 62, -10, -10, -11, -12));

  // The same with ReLU fused as the clamp at the output zero point.
  params.quantized_activation_min = -10;
  ConvPerChannel(params, multiplier.data(), shift.data(), {1, 3, 3}, input.data(), {2, 1, 2, 2},
                 filter.data(), bias.data(), {2, 2, 2}, output.data());
  EXPECT_THAT(output, ElementsAre(22, 32, 52, 62, -10, -10, -10, -10));

  // A large bias saturates at 127 rather than wrapping.
  const std::vector<int32_t> big_bias = {1000, -1000};
  ConvPerChannel(params, multiplier.data(), shift.data(), {1, 3, 3}, input.data(), {2, 1, 2, 2},
                 filter.data(), big_bias.data(), {2, 2, 2}, output.data());
  EXPECT_THAT(output, ElementsAre(127, 127, 127, 127, -10, -10, -10, -10));
}

TEST(KernelsTest, ConvPaddingAddsRealZerosAndStrideSkips) {
  // Every input value is one step above the zero point (-5), a 3x3 filter of ones: each output
  // counts the input pixels under the filter. Padding counts nothing, even though its int8 value
  // would be the zero point.
  const std::vector<int8_t> input(9, -4);
  const std::vector<int8_t> filter(9, 1);
  const int32_t multiplier = kOne;
  const int shift = kOneShift;
  ConvParams params;
  params.input_offset = 5;
  params.padding_top = 1;
  params.padding_left = 1;
  std::vector<int8_t> same(9);
  ConvPerChannel(params, &multiplier, &shift, {1, 3, 3}, input.data(), {1, 1, 3, 3}, filter.data(),
                 nullptr, {1, 3, 3}, same.data());
  EXPECT_THAT(same, ElementsAre(4, 6, 4, 6, 9, 6, 4, 6, 4));

  params.stride_height = 2;
  params.stride_width = 2;
  std::vector<int8_t> strided(4);
  ConvPerChannel(params, &multiplier, &shift, {1, 3, 3}, input.data(), {1, 1, 3, 3}, filter.data(),
                 nullptr, {1, 2, 2}, strided.data());
  EXPECT_THAT(strided, ElementsAre(4, 4, 4, 4));

  // Asymmetric: no rows above, one column left and right; output 1x3.
  params = ConvParams{};
  params.input_offset = 5;
  params.padding_left = 1;
  std::vector<int8_t> row(3);
  ConvPerChannel(params, &multiplier, &shift, {1, 3, 3}, input.data(), {1, 1, 3, 3}, filter.data(),
                 nullptr, {1, 1, 3}, row.data());
  EXPECT_THAT(row, ElementsAre(6, 9, 6));
}

TEST(KernelsTest, ConvSumsOverInputChannels) {
  // 2 input channels of 2x2, one 1x1 filter [3, -2]: out = 3 * a - 2 * b.
  const std::vector<int8_t> input = {1, 2, 3, 4, 10, 20, 30, 40};
  const std::vector<int8_t> filter = {3, -2};
  const int32_t multiplier = kOne;
  const int shift = kOneShift;
  ConvParams params;
  std::vector<int8_t> output(4);
  ConvPerChannel(params, &multiplier, &shift, {2, 2, 2}, input.data(), {1, 2, 1, 1}, filter.data(),
                 nullptr, {1, 2, 2}, output.data());
  EXPECT_THAT(output, ElementsAre(-17, -34, -51, -68));
}

TEST(KernelsTest, FullyConnectedByHand) {
  const std::vector<int8_t> input = {1, 2, 3};  // zero point 2: seen as -1 0 1
  const std::vector<int8_t> weights = {1, 1, 1, 2, -1, 3};
  const std::vector<int32_t> bias = {10, -5};
  const std::vector<int32_t> multiplier = {kOne, kOne};
  const std::vector<int32_t> shift = {kOneShift, kOneShift};
  FullyConnectedParams params;
  params.input_offset = -2;
  params.output_offset = 3;
  std::vector<int8_t> output(2);
  FullyConnectedPerChannel(params, multiplier.data(), shift.data(), 3, input.data(), 2,
                           weights.data(), bias.data(), output.data());
  EXPECT_THAT(output, ElementsAre(13, -1));  // 0 + 10 + 3, 1 - 5 + 3

  params.quantized_activation_min = 3;  // ReLU at the output zero point
  FullyConnectedPerChannel(params, multiplier.data(), shift.data(), 3, input.data(), 2,
                           weights.data(), bias.data(), output.data());
  EXPECT_THAT(output, ElementsAre(13, 3));

  const std::vector<int32_t> big_bias = {100000, -100000};
  params.quantized_activation_min = -128;
  FullyConnectedPerChannel(params, multiplier.data(), shift.data(), 3, input.data(), 2,
                           weights.data(), big_bias.data(), output.data());
  EXPECT_THAT(output, ElementsAre(127, -128));
}

TEST(KernelsTest, MaxPool) {
  // 2 channels of 4x4.
  const std::vector<int8_t> input = {-128, -5, 3,  0,   //
                                     -7,   -6, 1,  2,   //
                                     9,    8,  -1, -2,  //
                                     7,    10, -3, -4,  //
                                     1,    1,  1,  1,   //
                                     1,    2,  1,  1,   //
                                     1,    1,  1,  1,   //
                                     1,    1,  1,  127};
  PoolParams params;
  params.filter_height = params.filter_width = 2;
  params.stride_height = params.stride_width = 2;
  std::vector<int8_t> output(8);
  MaxPool(params, {2, 4, 4}, input.data(), {2, 2, 2}, output.data());
  EXPECT_THAT(output, ElementsAre(-5, 3, 10, -1, 2, 1, 1, 127));

  // 3x3 windows at stride 1 on the first channel.
  params.filter_height = params.filter_width = 3;
  params.stride_height = params.stride_width = 1;
  std::vector<int8_t> overlapping(4);
  MaxPool(params, {1, 4, 4}, input.data(), {1, 2, 2}, overlapping.data());
  EXPECT_THAT(overlapping, ElementsAre(9, 8, 10, 10));

  // Floor: a 5-wide row with 2x2 windows at stride 2 drops the last column.
  const std::vector<int8_t> odd = {1, 2, 3, 4, 100, 5, 6, 7, 8, 100};
  params.filter_height = params.filter_width = 2;
  params.stride_height = params.stride_width = 2;
  std::vector<int8_t> floor_out(2);
  MaxPool(params, {1, 2, 5}, odd.data(), {1, 1, 2}, floor_out.data());
  EXPECT_THAT(floor_out, ElementsAre(6, 8));
}

TEST(KernelsTest, Uint8ToInt8SubtractsHalfRange) {
  const std::vector<uint8_t> pixels = {0, 1, 127, 128, 129, 255};
  std::vector<int8_t> q(pixels.size());
  Uint8ToInt8(pixels.data(), pixels.size(), q.data());
  EXPECT_THAT(q, ElementsAreArray({-128, -127, -1, 0, 1, 127}));
}

}  // namespace
}  // namespace pynq::accel::cpu
