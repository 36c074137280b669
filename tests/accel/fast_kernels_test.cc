// The new reference kernels by hand (binarized dense, residual add, global average pool, input
// resampling), and the fast kernels against the reference kernels on random layers of many shapes:
// every output must be equal, since both compute the same integer function.
#include "accel/cpu/fast_kernels.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "accel/cpu/binary_kernels.h"
#include "accel/cpu/conv_kernels.h"
#include "accel/cpu/kernels.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pynq::accel::cpu {
namespace {

using ::testing::ElementsAre;

// Scratch for the fast kernels: 64-byte aligned, as the backend hands it out.
struct Scratch {
  explicit Scratch(size_t bytes) : storage(bytes + 64) {}
  void* get() {
    auto p = reinterpret_cast<uintptr_t>(storage.data());
    return reinterpret_cast<void*>((p + 63) / 64 * 64);
  }
  std::vector<uint8_t> storage;
};

std::vector<int8_t> RandomInt8(std::mt19937& rng, size_t n, int lo = -128, int hi = 127) {
  std::uniform_int_distribution<int> dist(lo, hi);
  std::vector<int8_t> v(n);
  for (auto& x : v) x = static_cast<int8_t>(dist(rng));
  return v;
}

// Bit-packed weight rows (proto BinaryDense.weights) of +1/-1 values.
std::vector<uint8_t> PackRows(const std::vector<std::vector<int>>& rows, int in_features) {
  const size_t words = (static_cast<size_t>(in_features) + 63) / 64;
  std::vector<uint8_t> packed(rows.size() * words * 8, 0);
  for (size_t o = 0; o < rows.size(); ++o) {
    for (int i = 0; i < in_features; ++i) {
      if (rows[o][static_cast<size_t>(i)] > 0) {
        packed[o * words * 8 + static_cast<size_t>(i) / 8] |= static_cast<uint8_t>(1u << (i % 8));
      }
    }
  }
  return packed;
}

// Runs a BinaryDensePlan (the AVX-512 kernels where the CPU has them, unless `portable`) over
// `images` inputs laid `stride` bytes apart; returns their outputs back to back.
std::vector<int8_t> RunBinaryPlan(const BinaryDenseParams& p, bool portable, int images,
                                  const int8_t* x, size_t stride) {
  const fast::BinaryDensePlan plan(p, portable);
  Scratch scratch(plan.ScratchBytes(images));
  std::vector<int8_t> out(static_cast<size_t>(images) * p.out_features);
  plan.Run(images, x, stride, out.data(), static_cast<size_t>(p.out_features), scratch.get());
  return out;
}

TEST(BinaryDenseTest, BipolarXnorPopcountByHand) {
  // Two inputs of 3 features: w = {+1,-1,+1} and {-1,-1,-1}; x = {+1,+1,-1}.
  const std::vector<uint8_t> w = PackRows({{1, -1, 1}, {-1, -1, -1}}, 3);
  const std::vector<int32_t> thresholds = {-1, 2};  // channel 0: acc >= -1; channel 1: acc >= 2
  BinaryDenseParams p;
  p.in_features = 3;
  p.out_features = 2;
  p.input_bipolar = true;
  p.weights = w.data();
  p.words_per_row = 1;
  p.thresholds = thresholds.data();
  p.threshold_count = 1;
  p.output_bipolar = true;
  const std::vector<int8_t> x = {1, 1, -1};
  // acc0 = 1 - 1 - 1 = -1 >= -1 -> +1; acc1 = -1 - 1 + 1 = -1 < 2 -> -1.
  std::vector<int8_t> out(2);
  BinaryDenseReference(p, x.data(), out.data());
  EXPECT_THAT(out, ElementsAre(1, -1));
  for (bool portable : {false, true}) {
    EXPECT_THAT(RunBinaryPlan(p, portable, 1, x.data(), 3), ElementsAre(1, -1));
  }
}

TEST(BinaryDenseTest, UnsignedBitPlanesAndMultiLevelThresholdsByHand) {
  // 2-bit inputs {3, 0, 2}, w = {+1, -1, -1}: acc = 3 - 0 - 2 = 1; w = {-1, +1, +1}: acc = -1.
  const std::vector<uint8_t> w = PackRows({{1, -1, -1}, {-1, 1, 1}}, 3);
  const std::vector<int32_t> thresholds = {-5, 1, 2, -1, 0, 0};  // 3 per channel, ascending
  BinaryDenseParams p;
  p.in_features = 3;
  p.out_features = 2;
  p.input_bits = 2;
  p.weights = w.data();
  p.words_per_row = 1;
  p.thresholds = thresholds.data();
  p.threshold_count = 3;
  const std::vector<int8_t> x = {3, 0, 2};
  std::vector<int8_t> out(2);
  BinaryDenseReference(p, x.data(), out.data());
  EXPECT_THAT(out, ElementsAre(2, 1));  // acc 1 passes -5 and 1; acc -1 passes -1 only
  for (bool portable : {false, true}) {
    EXPECT_THAT(RunBinaryPlan(p, portable, 1, x.data(), 3), ElementsAre(2, 1));
  }
}

TEST(BinaryDenseTest, RequantizedOutputAddsBiasAndScales) {
  const std::vector<uint8_t> w = PackRows({{1, 1}}, 2);
  const std::vector<int32_t> bias = {4}, multiplier = {1 << 30}, shift = {0};  // x 0.5
  BinaryDenseParams p;
  p.in_features = 2;
  p.out_features = 1;
  p.input_bits = 8;
  p.input_offset = 128;  // the model input: v = q + 128 = pixel
  p.weights = w.data();
  p.words_per_row = 1;
  p.bias = bias.data();
  p.output_multiplier = multiplier.data();
  p.output_shift = shift.data();
  p.output_offset = -3;
  const std::vector<int8_t> x = {static_cast<int8_t>(10 - 128), static_cast<int8_t>(20 - 128)};
  std::vector<int8_t> out(1);
  BinaryDenseReference(p, x.data(), out.data());
  EXPECT_EQ(out[0], (10 + 20 + 4) / 2 - 3);
}

// Modes: 0 BIPOLAR in and out (XNOR-popcount); 1 UNSIGNED 2-bit in, 3 thresholds; 2 UNSIGNED
// 8-bit in, requantized; 3 the pixels of a first layer (8 bits, input offset 128), requantized;
// 4 the same with BIPOLAR thresholds (LFC's fc1); 5 UNSIGNED 3-bit in, 7 thresholds (the last
// bit-plane kernel); 6 UNSIGNED 4-bit in (the first vpdpbusd one), 15 thresholds.
class BinaryDenseTest : public ::testing::TestWithParam<bool> {};

TEST_P(BinaryDenseTest, FastEqualsReferenceOnRandomLayers) {
  const bool portable = GetParam();
  std::mt19937 rng(7);
  for (int in_features : {1, 63, 64, 65, 200, 784, 1024}) {
    for (int mode = 0; mode < 7; ++mode) {
      const int out_features = in_features == 784 ? 70 : 37;
      const int images = 1 + static_cast<int>(rng() % 19);
      SCOPED_TRACE(::testing::Message()
                   << in_features << " features, mode " << mode << ", " << images << " images");
      const int bits[] = {1, 2, 8, 8, 8, 3, 4};
      BinaryDenseParams p;
      p.in_features = in_features;
      p.out_features = out_features;
      p.input_bipolar = mode == 0;
      p.input_bits = bits[mode];
      p.input_offset = mode == 3 || mode == 4 ? 128 : (mode == 5 ? -3 : 0);
      std::vector<std::vector<int>> rows(out_features, std::vector<int>(in_features));
      for (auto& r : rows) {
        for (auto& v : r) v = (rng() & 1) ? 1 : -1;
      }
      const std::vector<uint8_t> w = PackRows(rows, in_features);
      p.weights = w.data();
      p.words_per_row = (in_features + 63) / 64;
      // Images `stride` bytes apart, the gaps filled with values a kernel must not read.
      const size_t stride = static_cast<size_t>(in_features) + 5;
      std::vector<int8_t> x(stride * images, 99);
      for (int j = 0; j < images; ++j) {
        for (int i = 0; i < in_features; ++i) {
          // v = q + input_offset, q an int8: mode 2's 8-bit values stay below 128.
          const unsigned range = mode == 2 ? 128u : (1u << p.input_bits);
          const int v = p.input_bipolar ? ((rng() & 1) ? 1 : -1) : static_cast<int>(rng() % range);
          x[j * stride + static_cast<size_t>(i)] = static_cast<int8_t>(v - p.input_offset);
        }
      }
      std::vector<int32_t> thresholds, bias, multiplier, shift;
      const int spread = mode >= 2 ? 4000 : 20;
      const int levels[] = {1, 3, 0, 0, 1, 7, 15};
      if (levels[mode] > 0) {
        for (int o = 0; o < out_features; ++o) {
          int t = static_cast<int>(rng() % (2 * spread + 1)) - spread;
          for (int k = 0; k < levels[mode]; ++k) {
            thresholds.push_back(t);
            t += static_cast<int>(rng() % 5);  // non-decreasing, sometimes equal
          }
        }
        p.thresholds = thresholds.data();
        p.threshold_count = levels[mode];
        p.output_bipolar = levels[mode] == 1;
      } else {
        for (int o = 0; o < out_features; ++o) {
          bias.push_back(static_cast<int32_t>(rng() % 2001) - 1000);
          multiplier.push_back((1 << 30) + static_cast<int32_t>(rng() % (1 << 30)));
          shift.push_back(-static_cast<int32_t>(rng() % 12));
        }
        p.bias = bias.data();
        p.output_multiplier = multiplier.data();
        p.output_shift = shift.data();
        p.output_offset = 5;
      }
      std::vector<int8_t> want(static_cast<size_t>(images) * out_features);
      for (int j = 0; j < images; ++j) {
        BinaryDenseReference(p, x.data() + j * stride, want.data() + j * out_features);
      }
      EXPECT_EQ(RunBinaryPlan(p, portable, images, x.data(), stride), want);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Kernels, BinaryDenseTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& param_info) {
                           return param_info.param ? "Portable" : "Avx512";
                         });

class ConvTest : public ::testing::TestWithParam<bool> {};

TEST_P(ConvTest, FastEqualsReferenceOnRandomLayers) {
  const bool portable = GetParam();
  if (!portable && !fast::HasConvVnni()) GTEST_SKIP() << "this CPU has no AVX-512 VNNI";
  std::mt19937 rng(11);
  struct Case {
    int in_c, h, w, out_c, k, stride, pad;
  };
  const Case cases[] = {
      {3, 32, 32, 28, 3, 1, 1},  {28, 16, 16, 56, 3, 2, 1}, {28, 16, 16, 56, 1, 2, 0},
      {1, 28, 28, 16, 5, 1, 2},  {5, 7, 9, 3, 3, 1, 0},     {2, 6, 5, 5, 3, 2, 2},
      {4, 3, 3, 7, 3, 3, 1},     {1, 1, 1, 1, 1, 1, 0},     {16, 14, 14, 32, 5, 1, 2},
      {56, 8, 8, 56, 3, 1, 1},   {3, 9, 11, 6, 1, 1, 0},    {7, 5, 5, 9, 2, 1, 1},
      {28, 32, 32, 28, 3, 1, 1}, {5, 11, 40, 6, 3, 1, 1},   {9, 13, 35, 10, 3, 2, 1},
      {2, 7, 33, 3, 5, 3, 2},    {6, 20, 20, 5, 4, 2, 3},   {1, 2, 50, 2, 1, 1, 0}};
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::Message() << c.in_c << "x" << c.h << "x" << c.w << " -> " << c.out_c
                                      << " k" << c.k << " s" << c.stride << " p" << c.pad);
    const TensorShape in{c.in_c, c.h, c.w};
    const FilterShape f{c.out_c, c.in_c, c.k, c.k};
    const TensorShape out{c.out_c, (c.h + 2 * c.pad - c.k) / c.stride + 1,
                          (c.w + 2 * c.pad - c.k) / c.stride + 1};
    const auto input = RandomInt8(rng, static_cast<size_t>(c.in_c) * c.h * c.w);
    const auto filter = RandomInt8(rng, static_cast<size_t>(c.out_c) * c.in_c * c.k * c.k, -127);
    std::vector<int32_t> bias, multiplier, shift;
    for (int o = 0; o < c.out_c; ++o) {
      bias.push_back(static_cast<int32_t>(rng() % 20001) - 10000);
      multiplier.push_back((1 << 30) + static_cast<int32_t>(rng() % (1 << 30)));
      // Mostly right shifts; now and then none or a (saturating) left shift.
      const int r = static_cast<int>(rng() % 20);
      shift.push_back(r < 16 ? -r - 4 : r - 18);
    }
    ConvParams params;
    params.input_offset = static_cast<int32_t>(rng() % 256) - 128;
    params.output_offset = static_cast<int32_t>(rng() % 256) - 128;
    params.stride_height = params.stride_width = c.stride;
    params.padding_top = params.padding_left = c.pad;
    params.quantized_activation_min = (c.k % 2) ? params.output_offset : -128;
    const size_t n = static_cast<size_t>(out.channels) * out.height * out.width;
    std::vector<int8_t> want(n), got(n);
    ConvPerChannel(params, multiplier.data(), shift.data(), in, input.data(), f, filter.data(),
                   bias.data(), out, want.data());
    const fast::ConvPlan plan(params, multiplier.data(), shift.data(), in, f, filter.data(),
                              bias.data(), out, portable);
    Scratch scratch(plan.ScratchBytes());
    plan.Run(input.data(), got.data(), scratch.get());
    EXPECT_EQ(got, want);
    // In two steps, the tiles computed one range at a time, last first, as threads might.
    std::vector<int8_t> split(n);
    plan.Prepare(input.data(), scratch.get());
    for (int end = plan.tiles(); end > 0; end -= 2) {
      plan.Compute(scratch.get(), std::max(0, end - 2), end, split.data());
    }
    EXPECT_EQ(split, want);
  }
}

INSTANTIATE_TEST_SUITE_P(Kernels, ConvTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& param_info) {
                           return param_info.param ? "Portable" : "Vnni";
                         });

TEST(DenseTest, FastEqualsReferenceOnRandomLayers) {
  std::mt19937 rng(13);
  for (int in : {1, 7, 56, 144, 1568}) {
    for (int outs : {1, 10, 18}) {
      const auto input = RandomInt8(rng, static_cast<size_t>(in));
      const auto weights = RandomInt8(rng, static_cast<size_t>(in) * outs, -127);
      std::vector<int32_t> bias, multiplier, shift;
      for (int o = 0; o < outs; ++o) {
        bias.push_back(static_cast<int32_t>(rng() % 2001) - 1000);
        multiplier.push_back((1 << 30) + static_cast<int32_t>(rng() % (1 << 30)));
        shift.push_back(-static_cast<int32_t>(rng() % 14) - 2);
      }
      FullyConnectedParams params;
      params.input_offset = static_cast<int32_t>(rng() % 256) - 128;
      params.output_offset = -7;
      std::vector<int8_t> want(static_cast<size_t>(outs)), got(static_cast<size_t>(outs));
      FullyConnectedPerChannel(params, multiplier.data(), shift.data(), in, input.data(), outs,
                               weights.data(), bias.data(), want.data());
      Scratch scratch(fast::FullyConnectedScratchBytes(in));
      fast::FullyConnectedPerChannel(params, multiplier.data(), shift.data(), in, input.data(),
                                     outs, weights.data(), bias.data(), got.data(), scratch.get());
      EXPECT_EQ(got, want) << in << " -> " << outs;
    }
  }
}

TEST(AddTest, RescalesBothInputsToTheOutputByHand) {
  // a: scale 0.5, zp 0; b: scale 0.25, zp 10; out: scale 0.5, zp -2 (TFLite's parameters,
  // left shift 20: a' multiplier 0.5, b' 0.25, output 2^-19 * 1.0 / 0.5 ...).
  AddParams p;
  p.a_offset = 0;
  p.b_offset = -10;
  p.left_shift = 20;
  p.a_multiplier = 1 << 30;  // 0.5
  p.a_shift = 0;
  p.b_multiplier = 1 << 30;  // 0.25 = 0.5 * 2^-1
  p.b_shift = -1;
  p.output_multiplier = 1 << 30;  // 2 * 0.5 / (2^20 * 0.5) = 2^-20 * 2 = 0.5 * 2^-18
  p.output_shift = -18;
  p.output_offset = -2;
  p.quantized_activation_min = -2;  // ReLU
  const std::vector<int8_t> a = {4, -6, 0};
  const std::vector<int8_t> b = {14, 10, 2};
  // real: a = 2, -3, 0; b = 1, 0, -2; sum = 3, -3, -2 -> q = 6 - 2, ReLU -> -2, -2.
  std::vector<int8_t> out(3);
  AddElementwise(p, 3, a.data(), b.data(), out.data());
  EXPECT_THAT(out, ElementsAre(4, -2, -2));
}

TEST(AddTest, FastEqualsReferenceOnRandomTensors) {
  std::mt19937 rng(17);
  for (int trial = 0; trial < 20; ++trial) {
    AddParams p;
    p.a_offset = static_cast<int32_t>(rng() % 256) - 128;
    p.b_offset = static_cast<int32_t>(rng() % 256) - 128;
    p.left_shift = 20;
    p.a_multiplier = (1 << 30) + static_cast<int32_t>(rng() % (1 << 30));
    p.a_shift = -static_cast<int>(rng() % 3);
    p.b_multiplier = (1 << 30) + static_cast<int32_t>(rng() % (1 << 30));
    p.b_shift = -static_cast<int>(rng() % 3);
    p.output_multiplier = (1 << 30) + static_cast<int32_t>(rng() % (1 << 30));
    p.output_shift = static_cast<int>(rng() % 22) - 19;  // now and then a (saturating) left shift
    p.output_offset = static_cast<int32_t>(rng() % 256) - 128;
    p.quantized_activation_min = trial % 2 ? p.output_offset : -128;
    const size_t n = 1 + rng() % 3000;
    const auto a = RandomInt8(rng, n);
    const auto b = RandomInt8(rng, n);
    std::vector<int8_t> want(n);
    AddElementwise(p, n, a.data(), b.data(), want.data());
    for (bool portable : {false, true}) {
      std::vector<int8_t> got(n);
      fast::AddPlan(p, portable).Run(n, a.data(), b.data(), got.data());
      EXPECT_EQ(got, want) << "trial " << trial << (portable ? ", portable" : ", AVX-512");
    }
  }
}

TEST(MaxPoolTest, FastEqualsReferenceOnRandomTensors) {
  std::mt19937 rng(5);
  struct Case {
    int c, h, w, k, stride;
  };
  // 2x2 stride 2 (the vectorized path), odd sizes among them (the last row and column dropped),
  // and other windows (the reference loops).
  for (const Case& t : {Case{16, 28, 28, 2, 2}, Case{3, 7, 9, 2, 2}, Case{2, 33, 65, 2, 2},
                        Case{4, 9, 9, 3, 2}, Case{1, 6, 6, 2, 1}}) {
    SCOPED_TRACE(::testing::Message()
                 << t.c << "x" << t.h << "x" << t.w << " k" << t.k << " s" << t.stride);
    PoolParams p;
    p.filter_height = p.filter_width = t.k;
    p.stride_height = p.stride_width = t.stride;
    const TensorShape in{t.c, t.h, t.w};
    const TensorShape out{t.c, (t.h - t.k) / t.stride + 1, (t.w - t.k) / t.stride + 1};
    const auto x = RandomInt8(rng, static_cast<size_t>(t.c) * t.h * t.w);
    const size_t n = static_cast<size_t>(out.channels) * out.height * out.width;
    std::vector<int8_t> want(n), got(n);
    MaxPool(p, in, x.data(), out, want.data());
    fast::MaxPool(p, in, x.data(), out, got.data());
    EXPECT_EQ(got, want);
  }
}

TEST(GlobalAveragePoolTest, MeansEachChannelByHand) {
  GlobalAveragePoolParams p;
  p.input_offset = 1;      // input zero point -1
  p.multiplier = 1 << 30;  // 0.5 * 2^-1 = 1 / 4: the mean of a 2x2 map at equal scales
  p.shift = -1;
  p.output_offset = 3;
  const std::vector<int8_t> x = {-1, 1, 3, 5, /* channel 1 */ 9, 9, 9, 10};
  // channel 0: (0 + 2 + 4 + 6) / 4 = 3 -> 6. channel 1: the sum is 41, and TFLite's fixed point
  // rounds twice: 41 * 2^30 / 2^31 = 20.5 -> 21 (the doubling high multiply), then 21 / 2 = 10.5
  // -> 11 (the rounding shift), so 11 + 3 = 14, not round(10.25) + 3 = 13.
  std::vector<int8_t> out(2);
  GlobalAveragePoolInt8(p, TensorShape{2, 2, 2}, x.data(), out.data());
  EXPECT_THAT(out, ElementsAre(6, 14));
}

TEST(ResampleTest, CropsThenAveragesBlocksRoundingHalfUp) {
  // A 1x4x4 image; crop the 2x4 rows 1..2, downscale 2 -> 1x1x2.
  const std::vector<uint8_t> image = {0, 0, 0, 0, 1, 2, 10, 10, 3, 4, 10, 11, 0, 0, 0, 0};
  ResampleParams p;
  p.crop_top = 1;
  p.crop_left = 0;
  p.downscale = 2;
  std::vector<int8_t> out(2);
  ResampleUint8ToInt8(p, TensorShape{1, 4, 4}, image.data(), TensorShape{1, 1, 2}, out.data());
  // (1+2+3+4 + 2) / 4 = 3 (2.5 rounds up); (10+10+10+11 + 2) / 4 = 10.
  EXPECT_THAT(out, ElementsAre(3 - 128, 10 - 128));
}

}  // namespace
}  // namespace pynq::accel::cpu
