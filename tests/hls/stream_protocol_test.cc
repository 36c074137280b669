// The AXI-Stream protocol of every kernel's top (kernel_info.h, stream_tools.h), on synthetic
// images: output byte count N * 10, TKEEP all ones but a partial last beat, TLAST on the last beat
// only, no read past TLAST, a TLAST inside an image, empty and one-image batches; and the
// registry's description of each kernel.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "accel/cpu/cpu_backend.h"
#include "accel/hls/axis.h"
#include "accel/hls/kernel_info.h"
#include "gtest/gtest.h"
#include "tests/hls/hls_test_util.h"
#include "tests/models/zoo_test_util.h"

namespace pynq::hls_test {
namespace {

using hls_kernels::AxisBeat;
using hls_kernels::KernelInfo;

std::vector<const KernelInfo*> Kernels() {
  uint32_t count = 0;
  const KernelInfo* const* all = hls_kernels::AllKernels(&count);
  return std::vector<const KernelInfo*>(all, all + count);
}

// MNIST-like images: a dark background with random bright strokes, so every kernel's layers see
// both zero and non-zero inputs.
std::vector<uint8_t> SyntheticImages(size_t count, size_t bytes, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> pixels(count * bytes);
  for (uint8_t& p : pixels) p = rng() % 4 == 0 ? static_cast<uint8_t>(rng()) : 0;
  return pixels;
}

class StreamProtocolTest : public testing::TestWithParam<const KernelInfo*> {
 protected:
  size_t in_bytes() const { return GetParam()->input_bytes_per_image; }
  size_t out_bytes() const { return GetParam()->output_bytes_per_image; }

  // The CPU backend's logits of `count` images.
  std::vector<int8_t> CpuLogits(const std::vector<uint8_t>& pixels, size_t count) {
    auto model = test_util::LoadZooModel(GetParam()->model_name);
    EXPECT_TRUE(model.ok()) << model.status();
    accel::cpu::CpuBackend::Options options;
    options.threads = 1;
    auto cpu = accel::cpu::CpuBackend::Create(options);
    EXPECT_TRUE(cpu.ok());
    std::vector<int8_t> logits(count * out_bytes());
    EXPECT_TRUE((*cpu)
                    ->Run(**model, static_cast<int>(count),
                          absl::MakeConstSpan(pixels.data(), count * in_bytes()),
                          absl::MakeSpan(logits))
                    .ok());
    return logits;
  }
};

TEST_P(StreamProtocolTest, BatchesOf1To9ImagesFrameNTimes10BytesAndReadExactlyTheirBeats) {
  const std::vector<uint8_t> pixels = SyntheticImages(9, in_bytes(), 1);
  const std::vector<int8_t> want = CpuLogits(pixels, 9);
  for (size_t n = 1; n <= 9; ++n) {
    hls::stream<AxisBeat> in;
    hls::stream<AxisBeat> out;
    WriteBeats(pixels.data(), n * in_bytes(), true, in);
    GetParam()->top(in, out);
    EXPECT_TRUE(in.empty()) << n << " images";
    EXPECT_EQ(in.underflows(), 0u) << n << " images";
    const std::vector<AxisBeat> beats = Drain(out);
    ASSERT_TRUE(FramesBytes(beats, n * out_bytes())) << n << " images";
    EXPECT_TRUE(
        SameLogits(Unpack(beats), {want.begin(), want.begin() + n * out_bytes()}, out_bytes(), 0));
  }
}

TEST_P(StreamProtocolTest, OneImageIsOneFullAndOnePartialBeat) {
  const std::vector<uint8_t> pixels = SyntheticImages(1, in_bytes(), 2);
  hls::stream<AxisBeat> in;
  hls::stream<AxisBeat> out;
  WriteBeats(pixels.data(), in_bytes(), true, in);
  GetParam()->top(in, out);
  const std::vector<AxisBeat> beats = Drain(out);
  ASSERT_EQ(beats.size(), 2u);
  EXPECT_EQ(beats[0].keep, 0xFF);
  EXPECT_FALSE(beats[0].last);
  EXPECT_EQ(beats[1].keep, 0x03);  // bytes 8 and 9 of the 10 logits
  EXPECT_TRUE(beats[1].last);
}

TEST_P(StreamProtocolTest, StopsAtTlastLeavingTheNextBatchUnread) {
  const std::vector<uint8_t> pixels = SyntheticImages(5, in_bytes(), 3);
  hls::stream<AxisBeat> in;
  hls::stream<AxisBeat> out;
  WriteBeats(pixels.data(), 2 * in_bytes(), true, in);
  WriteBeats(pixels.data() + 2 * in_bytes(), 3 * in_bytes(), true, in);
  GetParam()->top(in, out);
  EXPECT_EQ(in.size(), 3 * in_bytes() / 8) << "the second batch's beats stay in the stream";
  EXPECT_TRUE(FramesBytes(Drain(out), 2 * out_bytes()));
  GetParam()->top(in, out);
  EXPECT_TRUE(in.empty());
  EXPECT_EQ(in.underflows(), 0u);
  const std::vector<int8_t> want = CpuLogits(pixels, 5);
  const std::vector<AxisBeat> beats = Drain(out);
  ASSERT_TRUE(FramesBytes(beats, 3 * out_bytes()));
  EXPECT_TRUE(
      SameLogits(Unpack(beats), {want.begin() + 2 * out_bytes(), want.end()}, out_bytes(), 2));
}

TEST_P(StreamProtocolTest, TlastInsideAnImageDropsItAndEndsTheOutputAfterTheWholeOnes) {
  const std::vector<uint8_t> pixels = SyntheticImages(4, in_bytes(), 4);
  const std::vector<int8_t> want = CpuLogits(pixels, 3);
  // Three whole images, then 50 of the fourth image's 98 beats, the 50th with TLAST.
  for (size_t cut_beats : {size_t{1}, size_t{50}, in_bytes() / 8 - 1}) {
    hls::stream<AxisBeat> in;
    hls::stream<AxisBeat> out;
    WriteBeats(pixels.data(), 3 * in_bytes(), false, in);
    WriteBeats(pixels.data() + 3 * in_bytes(), cut_beats * 8, true, in);
    GetParam()->top(in, out);
    EXPECT_TRUE(in.empty()) << cut_beats;
    EXPECT_EQ(in.underflows(), 0u) << cut_beats;
    const std::vector<AxisBeat> beats = Drain(out);
    ASSERT_TRUE(FramesBytes(beats, 3 * out_bytes())) << "cut after " << cut_beats << " beats";
    EXPECT_TRUE(SameLogits(Unpack(beats), want, out_bytes(), 0));
  }
}

TEST_P(StreamProtocolTest, ABatchWithNoWholeImageWritesNothing) {
  const std::vector<uint8_t> pixels = SyntheticImages(1, in_bytes(), 5);
  hls::stream<AxisBeat> in;
  hls::stream<AxisBeat> out;
  WriteBeats(pixels.data(), 10 * 8, true, in);  // a TLAST on the 10th beat of the first image
  GetParam()->top(in, out);
  EXPECT_TRUE(in.empty());
  EXPECT_TRUE(out.empty());
}

TEST_P(StreamProtocolTest, AnEmptyInputStreamWritesNothingAndReadsNothing) {
  hls::stream<AxisBeat> in;
  hls::stream<AxisBeat> out;
  GetParam()->top(in, out);
  EXPECT_EQ(in.underflows(), 0u);
  EXPECT_TRUE(out.empty());
}

TEST_P(StreamProtocolTest, RegistryDescribesTheKernelOfItsZooModel) {
  const KernelInfo& kernel = *GetParam();
  EXPECT_EQ(hls_kernels::FindKernelForModel(kernel.model_name), &kernel);
  auto model = test_util::LoadZooModel(kernel.model_name);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(std::string(kernel.model_digest), (*model)->digest());
  EXPECT_EQ(kernel.input_bytes_per_image, (*model)->input_bytes());
  EXPECT_EQ(kernel.output_bytes_per_image, static_cast<uint32_t>((*model)->num_classes()));
  ASSERT_GT(kernel.num_layers, 0u);
  uint64_t cycles = 0;
  for (uint32_t i = 0; i < kernel.num_layers; ++i) {
    const hls_kernels::LayerFolding& l = kernel.layers[i];
    EXPECT_EQ(l.cols % l.simd, 0u) << l.name;
    EXPECT_EQ(l.rows % l.pe, 0u) << l.name;
    cycles += uint64_t{l.repeats} * l.rows * l.cols / (l.simd * l.pe);
  }
  EXPECT_GE(kernel.pipeline_depth_cycles, cycles);
  EXPECT_NE(kernel.top, nullptr);
}

INSTANTIATE_TEST_SUITE_P(AllKernels, StreamProtocolTest, testing::ValuesIn(Kernels()),
                         [](const testing::TestParamInfo<const KernelInfo*>& param) {
                           return std::string(param.param->kernel_name);
                         });

TEST(KernelRegistryTest, ListsTheThreeKernelsAndFindsNoneForAnUnknownModel) {
  uint32_t count = 0;
  const KernelInfo* const* all = hls_kernels::AllKernels(&count);
  ASSERT_EQ(count, 3u);
  EXPECT_STREQ(all[0]->kernel_name, "lfc_w1a1");
  EXPECT_STREQ(all[1]->kernel_name, "lfc_w1a2");
  EXPECT_STREQ(all[2]->kernel_name, "mnist_cnn_q8");
  EXPECT_EQ(hls_kernels::FindKernelForModel("fashion-cnn-q8"), nullptr);
  EXPECT_EQ(hls_kernels::FindKernelForModel(nullptr), nullptr);
}

}  // namespace
}  // namespace pynq::hls_test
