// The int8 HLS units against accel/cpu's reference kernels with non-trivial foldings: the
// sliding window feeding an MVAU against ConvPerChannel (zero-point padding, several channels,
// a non-square image), the MVAU alone against FullyConnectedPerChannel, the max-pool unit
// against MaxPool, and the input reader's bit planes against plain pixels.
#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include "accel/cpu/kernels.h"
#include "accel/hls/gen/fold.h"
#include "accel/hls/hls_types.h"
#include "accel/hls/int8_mvau.h"
#include "accel/hls/matrix_fold.h"
#include "accel/hls/max_pool.h"
#include "accel/hls/sliding_window.h"
#include "accel/hls/stream_tools.h"
#include "gtest/gtest.h"
#include "tests/hls/hls_test_util.h"

namespace pynq::hls_test {
namespace {

namespace hk = ::pynq::hls_kernels;
using hk::ImageToken;
using hk::Vec;

std::vector<int8_t> RandomInt8(size_t n, std::mt19937& rng) {
  std::vector<int8_t> v(n);
  for (int8_t& x : v) x = static_cast<int8_t>(rng());
  return v;
}

// Per-row requantization constants for `rows` rows, and the table the MVAU reads (the bias with
// the input zero point folded in, as the generator writes it).
struct Requant {
  std::vector<int32_t> bias, folded_bias, multiplier, shift;
};

Requant RandomRequant(int rows, int cols, const std::vector<int8_t>& weights, int32_t input_zero,
                      std::mt19937& rng) {
  Requant r;
  for (int o = 0; o < rows; ++o) {
    r.bias.push_back(static_cast<int32_t>(rng() % 4001) - 2000);
    r.multiplier.push_back(static_cast<int32_t>((1u << 30) + rng() % (1u << 30)));
    r.shift.push_back(-5 - static_cast<int32_t>(rng() % 6));
    int32_t sum = 0;
    for (int c = 0; c < cols; ++c) sum += weights[static_cast<size_t>(o) * cols + c];
    r.folded_bias.push_back(r.bias.back() - input_zero * sum);
  }
  return r;
}

template <typename L>
hk::RequantTable<L::kNf, L::kPe> TableOf(const Requant& r, hk::OutputRange range) {
  using Row = const int32_t(*)[L::kPe];
  return {reinterpret_cast<Row>(r.folded_bias.data()), reinterpret_cast<Row>(r.multiplier.data()),
          reinterpret_cast<Row>(r.shift.data()), range};
}

TEST(Int8MvauTest, SlidingWindowAndMvauSimd9Pe2EqualConvPerChannelWithZeroPointPadding) {
  constexpr int kChannels = 3, kHeight = 6, kWidth = 7, kKernel = 3, kOut = 4;
  struct Conv : hk::MatrixFold<kOut, kKernel * kKernel * kChannels, 9, 2, kHeight * kWidth> {};
  const int32_t input_zero = -11, output_zero = -100;
  std::mt19937 rng(21);
  const std::vector<int8_t> input = RandomInt8(kChannels * kHeight * kWidth, rng);  // CHW
  const std::vector<int8_t> filter = RandomInt8(kOut * Conv::kCols, rng);           // OIHW
  const Requant rq = RandomRequant(kOut, Conv::kCols, filter, input_zero, rng);

  accel::cpu::ConvParams params;
  params.input_offset = -input_zero;
  params.output_offset = output_zero;
  params.padding_top = params.padding_left = (kKernel - 1) / 2;
  params.quantized_activation_min = output_zero;  // ReLU
  std::vector<int8_t> want(kOut * kHeight * kWidth);
  accel::cpu::ConvPerChannel(params, rq.multiplier.data(), rq.shift.data(),
                             {kChannels, kHeight, kWidth}, input.data(),
                             {kOut, kChannels, kKernel, kKernel}, filter.data(), rq.bias.data(),
                             {kOut, kHeight, kWidth}, want.data());

  // Columns in window order (ky, kx, c), as the generator permutes them.
  const std::vector<int8_t> folded = hls_gen::FoldInt8Weights(
      {Conv::kRows, Conv::kCols, Conv::kSimd, Conv::kPe}, [&](int row, int col) {
        const int tap = col / kChannels, c = col % kChannels;
        return filter[((static_cast<size_t>(row) * kChannels + c) * kKernel + tap / kKernel) *
                          kKernel +
                      tap % kKernel];
      });
  hls::stream<Vec<int8_t, kChannels>> pixels;
  hls::stream<Vec<int8_t, Conv::kSimd>> windows;
  hls::stream<Vec<int8_t, kOut>> out;
  hls::stream<ImageToken> ctrl[3];
  for (int image = 0; image < 2; ++image) {  // two images: the line buffer restarts cleanly
    ctrl[0].write(ImageToken{true, image == 1});
    for (int y = 0; y < kHeight; ++y) {
      for (int x = 0; x < kWidth; ++x) {
        Vec<int8_t, kChannels> p;
        for (int c = 0; c < kChannels; ++c) p.v[c] = input[(c * kHeight + y) * kWidth + x];
        pixels.write(p);
      }
    }
  }
  hk::SlidingWindow<kChannels, kHeight, kWidth, kKernel, Conv::kSimd>(
      pixels, ctrl[0], windows, ctrl[1], static_cast<int8_t>(input_zero));
  hk::Int8Mvau<Conv>(windows, ctrl[1], out, ctrl[2],
                     reinterpret_cast<const int8_t(*)[Conv::kPe][Conv::kSimd]>(folded.data()),
                     TableOf<Conv>(rq, {output_zero, output_zero, 127}));
  EXPECT_TRUE(pixels.empty());
  ASSERT_EQ(out.size(), 2u * kHeight * kWidth);
  for (int image = 0; image < 2; ++image) {
    std::vector<int8_t> got(want.size());
    for (int pixel = 0; pixel < kHeight * kWidth; ++pixel) {
      const Vec<int8_t, kOut> v = out.read();
      for (int o = 0; o < kOut; ++o) got[o * kHeight * kWidth + pixel] = v.v[o];
    }
    EXPECT_TRUE(SameLogits(got, want, want.size(), image));
  }
}

TEST(Int8MvauTest, DenseSimd6Pe4ThreeNeuronFoldsEqualsFullyConnectedPerChannel) {
  struct Dense : hk::MatrixFold<12, 60, 6, 4> {};
  const int32_t input_zero = 5, output_zero = 3;
  std::mt19937 rng(22);
  const std::vector<int8_t> input = RandomInt8(Dense::kCols, rng);
  const std::vector<int8_t> weights = RandomInt8(Dense::kRows * Dense::kCols, rng);
  const Requant rq = RandomRequant(Dense::kRows, Dense::kCols, weights, input_zero, rng);
  accel::cpu::FullyConnectedParams params;
  params.input_offset = -input_zero;
  params.output_offset = output_zero;
  std::vector<int8_t> want(Dense::kRows);
  accel::cpu::FullyConnectedPerChannel(params, rq.multiplier.data(), rq.shift.data(), Dense::kCols,
                                       input.data(), Dense::kRows, weights.data(), rq.bias.data(),
                                       want.data());
  const std::vector<int8_t> folded = hls_gen::FoldInt8Weights(
      {Dense::kRows, Dense::kCols, Dense::kSimd, Dense::kPe},
      [&](int row, int col) { return weights[static_cast<size_t>(row) * Dense::kCols + col]; });
  hls::stream<Vec<int8_t, Dense::kSimd>> in;
  hls::stream<Vec<int8_t, Dense::kRows>> out;
  hls::stream<ImageToken> ctrl_in, ctrl_out;
  ctrl_in.write(ImageToken{true, true});
  for (int sf = 0; sf < Dense::kSf; ++sf) {
    Vec<int8_t, Dense::kSimd> word;
    for (int s = 0; s < Dense::kSimd; ++s) word.v[s] = input[sf * Dense::kSimd + s];
    in.write(word);
  }
  hk::Int8Mvau<Dense>(in, ctrl_in, out, ctrl_out,
                      reinterpret_cast<const int8_t(*)[Dense::kPe][Dense::kSimd]>(folded.data()),
                      TableOf<Dense>(rq, {output_zero, -128, 127}));
  ASSERT_EQ(out.size(), 1u);
  const Vec<int8_t, Dense::kRows> got = out.read();
  EXPECT_TRUE(SameLogits(std::vector<int8_t>(got.v, got.v + Dense::kRows), want, Dense::kRows, 0));
}

TEST(MaxPoolTest, ThreeByThreeStride3OverSixByNineEqualsCpuMaxPool) {
  constexpr int kChannels = 5, kHeight = 6, kWidth = 9, kPool = 3;
  std::mt19937 rng(23);
  const std::vector<int8_t> input = RandomInt8(kChannels * kHeight * kWidth, rng);
  accel::cpu::PoolParams params;
  params.filter_height = params.filter_width = params.stride_height = params.stride_width = kPool;
  std::vector<int8_t> want(kChannels * (kHeight / kPool) * (kWidth / kPool));
  accel::cpu::MaxPool(params, {kChannels, kHeight, kWidth}, input.data(),
                      {kChannels, kHeight / kPool, kWidth / kPool}, want.data());
  hls::stream<Vec<int8_t, kChannels>> in, out;
  hls::stream<ImageToken> ctrl_in, ctrl_out;
  ctrl_in.write(ImageToken{true, true});
  for (int i = 0; i < kHeight * kWidth; ++i) {
    Vec<int8_t, kChannels> p;
    for (int c = 0; c < kChannels; ++c) p.v[c] = input[c * kHeight * kWidth + i];
    in.write(p);
  }
  hk::MaxPoolStream<kChannels, kHeight, kWidth, kPool>(in, ctrl_in, out, ctrl_out);
  const int pooled = (kHeight / kPool) * (kWidth / kPool);
  ASSERT_EQ(out.size(), static_cast<size_t>(pooled));
  std::vector<int8_t> got(want.size());
  for (int i = 0; i < pooled; ++i) {
    const Vec<int8_t, kChannels> p = out.read();
    for (int c = 0; c < kChannels; ++c) got[c * pooled + i] = p.v[c];
  }
  EXPECT_TRUE(SameLogits(got, want, want.size(), 0));
}

TEST(StreamReaderTest, BitPlanesOfSimd16GroupsHoldEachPixelsBits) {
  constexpr int kPixels = 64, kSimd = 16;
  std::mt19937 rng(24);
  std::vector<uint8_t> pixels(kPixels);
  for (uint8_t& p : pixels) p = static_cast<uint8_t>(rng());
  hls::stream<hk::AxisBeat> in;
  WriteBeats(pixels.data(), pixels.size(), true, in);
  hls::stream<hk::BitPlanes<8>> out;
  hls::stream<ImageToken> ctrl;
  hk::ReadImagesAsBitPlanes<kPixels, kSimd>(in, out, ctrl);
  ASSERT_EQ(out.size(), static_cast<size_t>(kPixels / kSimd));
  for (int g = 0; g < kPixels / kSimd; ++g) {
    const hk::BitPlanes<8> word = out.read();
    for (int s = 0; s < 64; ++s) {
      for (int b = 0; b < 8; ++b) {
        const int want = s < kSimd ? (pixels[g * kSimd + s] >> b) & 1 : 0;
        ASSERT_EQ(static_cast<int>((word.plane[b] >> s) & 1), want)
            << "group " << g << " lane " << s << " bit " << b;
      }
    }
  }
  const ImageToken token = ctrl.read();
  EXPECT_TRUE(token.has_image);
  EXPECT_TRUE(token.last);
}

}  // namespace
}  // namespace pynq::hls_test
