// The folded HLS units against plain loops (accel/cpu's reference kernels) with non-trivial
// foldings: several neuron and synapse folds, SIMD below 64, odd shapes; and the requantization
// arithmetic against the CPU's MultiplyByQuantizedMultiplier.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "accel/cpu/kernels.h"
#include "accel/hls/binary_mvtu.h"
#include "accel/hls/gen/fold.h"
#include "accel/hls/hls_types.h"
#include "accel/hls/int8_mvau.h"
#include "accel/hls/matrix_fold.h"
#include "accel/hls/max_pool.h"
#include "accel/hls/requant.h"
#include "accel/hls/sliding_window.h"
#include "accel/hls/stream_tools.h"
#include "gtest/gtest.h"
#include "tests/hls/hls_test_util.h"

namespace pynq::hls_test {
namespace {

namespace hk = ::pynq::hls_kernels;
using hk::BitPlanes;
using hk::ImageToken;
using hk::Vec;

TEST(RequantTest, ScaleByQ31EqualsCpuMultiplyByQuantizedMultiplier) {
  const int32_t kEdges[] = {0,
                            1,
                            -1,
                            2,
                            -2,
                            12345,
                            -12345,
                            1 << 20,
                            -(1 << 20),
                            std::numeric_limits<int32_t>::max(),
                            std::numeric_limits<int32_t>::min()};
  const int32_t kMultipliers[] = {0,
                                  1 << 30,
                                  (1 << 30) + 1,
                                  1518500250,
                                  std::numeric_limits<int32_t>::max(),
                                  std::numeric_limits<int32_t>::min()};
  for (int32_t x : kEdges) {
    for (int32_t m : kMultipliers) {
      for (int shift = -31; shift <= 30; ++shift) {
        ASSERT_EQ(hk::ScaleByQ31(x, m, shift),
                  accel::cpu::MultiplyByQuantizedMultiplier(x, m, shift))
            << "x " << x << " multiplier " << m << " shift " << shift;
      }
    }
  }
  std::mt19937 rng(7);
  for (int i = 0; i < 1000000; ++i) {
    const auto x = static_cast<int32_t>(rng()) >> (rng() % 32);
    const auto m = static_cast<int32_t>((1u << 30) + rng() % (1u << 30));
    const int shift = static_cast<int>(rng() % 62) - 31;
    ASSERT_EQ(hk::ScaleByQ31(x, m, shift), accel::cpu::MultiplyByQuantizedMultiplier(x, m, shift))
        << "x " << x << " multiplier " << m << " shift " << shift;
  }
}

// The zero point of `bits`-bit unsigned int8 activations: 0, or -128 for 8 bits.
int ZeroPointOf(int bits) { return bits == 8 ? -128 : 0; }

// Random int8 activations of `bits`-bit unsigned values (or -1/+1 when bipolar) as the CPU holds
// them, and the same as bit planes of `simd` lanes per word.
struct BinaryInput {
  std::vector<int8_t> values;
  std::vector<uint64_t> planes;  // word sf, plane b at [sf * bits + b]
};

BinaryInput MakeBinaryInput(int cols, int simd, bool bipolar, int bits, std::mt19937& rng) {
  BinaryInput input;
  input.planes.assign(static_cast<size_t>(cols / simd) * bits, 0);
  for (int i = 0; i < cols; ++i) {
    const int v = bipolar ? static_cast<int>(rng() % 2) : static_cast<int>(rng() % (1u << bits));
    // 8-bit values do not fit int8: held as q = v - 128, zero point -128, as the LFC's pixels.
    input.values.push_back(static_cast<int8_t>(bipolar ? 2 * v - 1 : v - ZeroPointOf(bits)));
    for (int b = 0; b < bits; ++b) {
      input.planes[static_cast<size_t>(i / simd) * bits + b] |= static_cast<uint64_t>((v >> b) & 1)
                                                                << (i % simd);
    }
  }
  return input;
}

// A binarized layer's reference: BinaryDenseReference over row-major packed weights.
struct BinaryReference {
  std::vector<uint8_t> packed;  // rows x words_per_row * 8 bytes
  int words_per_row = 0;
  bool Plus(int row, int col) const {
    return hls_gen::PackedBit(packed.data() + static_cast<size_t>(row) * words_per_row * 8, col);
  }
};

BinaryReference RandomBinaryWeights(int rows, int cols, std::mt19937& rng) {
  BinaryReference ref;
  ref.words_per_row = (cols + 63) / 64;
  ref.packed.assign(static_cast<size_t>(rows) * ref.words_per_row * 8, 0);
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) {
      if (rng() % 2)
        ref.packed[(static_cast<size_t>(r) * ref.words_per_row * 8) + c / 8] |= 1 << (c % 8);
    }
  }
  return ref;
}

template <int kR, int kC, int kS, int kP, bool kBipIn, int kInB, bool kBipOut, int kOutB, int kOS>
struct TestBinaryLayer : hk::MatrixFold<kR, kC, kS, kP> {
  static constexpr bool kBipolarIn = kBipIn;
  static constexpr int kInBits = kInB;
  static constexpr bool kBipolarOut = kBipOut;
  static constexpr int kOutBits = kOutB;
  static constexpr int kOutSimd = kOS;
};

// Runs BinaryMvtuThresholds<L> over `images` random vectors and compares with the CPU.
template <typename L>
void CheckThresholdLayer(int images, uint32_t seed) {
  constexpr int kCount = L::kBipolarOut ? 1 : (1 << L::kOutBits) - 1;
  std::mt19937 rng(seed);
  const BinaryReference ref = RandomBinaryWeights(L::kRows, L::kCols, rng);
  const std::vector<uint64_t> weights = hls_gen::FoldBinaryWeights(
      {L::kRows, L::kCols, L::kSimd, L::kPe}, [&](int r, int c) { return ref.Plus(r, c); });
  // Thresholds within about one standard deviation of acc (a sum of kCols terms +-v, v up to
  // m, E[v^2] ~ m^2 / 3), so that every output value occurs.
  const int m = L::kBipolarIn ? 1 : (1 << L::kInBits) - 1;
  const auto spread = static_cast<int32_t>(std::sqrt(L::kCols * m * m / 3.0)) + 1;
  std::vector<int32_t> thresholds;
  for (int r = 0; r < L::kRows; ++r) {
    auto t = static_cast<int32_t>(rng() % (2 * spread + 1)) - spread;
    for (int k = 0; k < kCount; ++k) {
      thresholds.push_back(t);
      t += static_cast<int32_t>(rng() % (spread / 2 + 1));
    }
  }
  accel::cpu::BinaryDenseParams params;
  params.in_features = L::kCols;
  params.out_features = L::kRows;
  params.input_bipolar = L::kBipolarIn;
  params.input_bits = L::kInBits;
  params.input_offset = L::kBipolarIn ? 0 : -ZeroPointOf(L::kInBits);
  params.weights = ref.packed.data();
  params.words_per_row = ref.words_per_row;
  params.thresholds = thresholds.data();
  params.threshold_count = kCount;
  params.output_bipolar = L::kBipolarOut;

  hls::stream<BitPlanes<L::kInBits>> in;
  hls::stream<ImageToken> ctrl_in;
  hls::stream<BitPlanes<L::kOutBits>> out;
  hls::stream<ImageToken> ctrl_out;
  std::vector<std::vector<int8_t>> want;
  for (int i = 0; i < images; ++i) {
    const BinaryInput x = MakeBinaryInput(L::kCols, L::kSimd, L::kBipolarIn, L::kInBits, rng);
    ctrl_in.write(ImageToken{true, i + 1 == images});
    for (int sf = 0; sf < L::kSf; ++sf) {
      BitPlanes<L::kInBits> word{};
      for (int b = 0; b < L::kInBits; ++b) word.plane[b] = x.planes[sf * L::kInBits + b];
      in.write(word);
    }
    want.emplace_back(L::kRows);
    accel::cpu::BinaryDenseReference(params, x.values.data(), want.back().data());
  }
  hk::BinaryMvtuThresholds<L>(
      in, ctrl_in, out, ctrl_out, reinterpret_cast<const uint64_t(*)[L::kPe]>(weights.data()),
      reinterpret_cast<const int32_t(*)[L::kPe][kCount]>(thresholds.data()));
  ASSERT_EQ(out.size(), static_cast<size_t>(images * L::kRows / L::kOutSimd));
  ASSERT_EQ(ctrl_out.size(), static_cast<size_t>(images));
  bool seen[10] = {};
  for (int i = 0; i < images; ++i) {
    std::vector<int8_t> got;
    for (int w = 0; w < L::kRows / L::kOutSimd; ++w) {
      const BitPlanes<L::kOutBits> word = out.read();
      for (int s = 0; s < L::kOutSimd; ++s) {
        int n = 0;
        for (int b = 0; b < L::kOutBits; ++b) n |= static_cast<int>((word.plane[b] >> s) & 1) << b;
        got.push_back(static_cast<int8_t>(L::kBipolarOut ? 2 * n - 1 : n));
      }
    }
    ASSERT_TRUE(SameLogits(got, want[i], L::kRows, i));
    for (int8_t v : got) seen[v + 1] = true;
  }
  // Every output value occurred: the thresholds were not all above or all below acc.
  for (int n = 0; n <= kCount; ++n) {
    EXPECT_TRUE(seen[(L::kBipolarOut ? 2 * n - 1 : n) + 1]) << "output " << n << " never seen";
  }
}

TEST(BinaryMvtuTest, UnsignedThreeBitInTwoBitOutFoldedSimd16Pe4MatchesReference) {
  CheckThresholdLayer<TestBinaryLayer<24, 96, 16, 4, false, 3, false, 2, 8>>(5, 11);
}

TEST(BinaryMvtuTest, BipolarInAndOutFoldedSimd32Pe8OutWords16MatchesReference) {
  CheckThresholdLayer<TestBinaryLayer<32, 128, 32, 8, true, 1, true, 1, 16>>(5, 12);
}

TEST(BinaryMvtuTest, UnsignedEightBitInSimd56LikeLfcFc1MatchesReference) {
  CheckThresholdLayer<TestBinaryLayer<64, 112, 56, 16, false, 8, true, 1, 64>>(3, 13);
}

TEST(BinaryMvtuTest, RequantizedOutputSimd12Pe3MatchesReference) {
  using L = TestBinaryLayer<6, 48, 12, 3, false, 2, false, 1, 3>;
  std::mt19937 rng(14);
  const BinaryReference ref = RandomBinaryWeights(L::kRows, L::kCols, rng);
  const std::vector<uint64_t> weights = hls_gen::FoldBinaryWeights(
      {L::kRows, L::kCols, L::kSimd, L::kPe}, [&](int r, int c) { return ref.Plus(r, c); });
  std::vector<int32_t> bias, multiplier, shift;
  for (int r = 0; r < L::kRows; ++r) {
    bias.push_back(static_cast<int32_t>(rng() % 41) - 20);
    multiplier.push_back(static_cast<int32_t>((1u << 30) + rng() % (1u << 30)));
    shift.push_back(-static_cast<int32_t>(rng() % 4));
  }
  accel::cpu::BinaryDenseParams params;
  params.in_features = L::kCols;
  params.out_features = L::kRows;
  params.input_bits = L::kInBits;
  params.weights = ref.packed.data();
  params.words_per_row = ref.words_per_row;
  params.bias = bias.data();
  params.output_multiplier = multiplier.data();
  params.output_shift = shift.data();
  params.output_offset = -7;
  const BinaryInput x = MakeBinaryInput(L::kCols, L::kSimd, false, L::kInBits, rng);
  std::vector<int8_t> want(L::kRows);
  accel::cpu::BinaryDenseReference(params, x.values.data(), want.data());

  hls::stream<BitPlanes<L::kInBits>> in;
  hls::stream<ImageToken> ctrl_in, ctrl_out;
  hls::stream<Vec<int8_t, L::kRows>> out;
  ctrl_in.write(ImageToken{true, true});
  for (int sf = 0; sf < L::kSf; ++sf) {
    in.write(BitPlanes<L::kInBits>{{x.planes[sf * 2], x.planes[sf * 2 + 1]}});
  }
  using Table = const int32_t(*)[L::kPe];
  hk::BinaryMvtuRequant<L>(
      in, ctrl_in, out, ctrl_out, reinterpret_cast<const uint64_t(*)[L::kPe]>(weights.data()),
      reinterpret_cast<Table>(bias.data()), reinterpret_cast<Table>(multiplier.data()),
      reinterpret_cast<Table>(shift.data()), hk::OutputRange{-7, -128, 127});
  ASSERT_EQ(out.size(), 1u);
  const Vec<int8_t, L::kRows> got = out.read();
  EXPECT_TRUE(SameLogits(std::vector<int8_t>(got.v, got.v + L::kRows), want, L::kRows, 0));
}

}  // namespace
}  // namespace pynq::hls_test
