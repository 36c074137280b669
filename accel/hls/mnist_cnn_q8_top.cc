// The mnist-cnn-q8 kernel: reader, sliding window, int8 MVAU and max-pool per convolution, the
// dense layer as an MVAU over the pooled pixels, packer; one dataflow stage each. Foldings:
// mnist_cnn_config.h; weights: mnist_cnn_q8_params.h (pynq_hls_gen, models/zoo/mnist-cnn-q8).
#include <cstdint>

#include "accel/hls/axis.h"
#include "accel/hls/hls_types.h"
#include "accel/hls/int8_mvau.h"
#include "accel/hls/kernel_registry.h"
#include "accel/hls/max_pool.h"
#include "accel/hls/mnist_cnn_config.h"
#include "accel/hls/sliding_window.h"
#include "accel/hls/stream_tools.h"
#include "accel/hls/tops.h"
#include "mnist_cnn_q8_params.h"

namespace pynq::hls_kernels {
namespace {

namespace cnn = mnist_cnn;
using P = MnistCnnQ8Params;

static_assert(sizeof(P::kConv1Weights) == cnn::Conv1::kRows * cnn::Conv1::kCols &&
                  sizeof(P::kConv2Weights) == cnn::Conv2::kRows * cnn::Conv2::kCols &&
                  sizeof(P::kFcWeights) == cnn::Fc::kRows * cnn::Fc::kCols,
              "the generated header was written for another architecture: rebuild it");
static_assert(cnn::Fc::kSimd == cnn::kConv2Channels,
              "the fc reads one pooled pixel (all its channels) per SIMD group");

constexpr int kPooled1 = cnn::kSize / cnn::kPool;

void MnistCnnDataflow(hls::stream<AxisBeat>& in, hls::stream<AxisBeat>& out) {
#pragma HLS DATAFLOW
  // Every stage loops over the batch's images; they run concurrently.
  hls::stream<Vec<std::int8_t, 1>> pixels("pixels");
  hls::stream<Vec<std::int8_t, cnn::Conv1::kSimd>> window1("window1");
  hls::stream<Vec<std::int8_t, cnn::kConv1Channels>> conv1("conv1");
  hls::stream<Vec<std::int8_t, cnn::kConv1Channels>> pool1("pool1");
  hls::stream<Vec<std::int8_t, cnn::Conv2::kSimd>> window2("window2");
  hls::stream<Vec<std::int8_t, cnn::kConv2Channels>> conv2("conv2");
  hls::stream<Vec<std::int8_t, cnn::kConv2Channels>> pool2("pool2");
  hls::stream<Vec<std::int8_t, cnn::kClasses>> logits("logits");
  hls::stream<ImageToken> ctrl[8];
#pragma HLS STREAM variable = pixels depth = 64
  // The window generator reads a whole row before its first output row: a little slack lets
  // the reader keep going meanwhile.

  ReadImagesAsInt8<cnn::kPixels>(in, pixels, ctrl[0]);
  SlidingWindow<1, cnn::kSize, cnn::kSize, cnn::kKernel, cnn::Conv1::kSimd>(
      pixels, ctrl[0], window1, ctrl[1], static_cast<std::int8_t>(P::kConv1PadValue));
  Int8Mvau<cnn::Conv1>(window1, ctrl[1], conv1, ctrl[2], P::kConv1Weights,
                       RequantTable<cnn::Conv1::kNf, cnn::Conv1::kPe>{
                           P::kConv1Bias, P::kConv1Multiplier, P::kConv1Shift,
                           OutputRange{P::kConv1ZeroPoint, P::kConv1Min, P::kConv1Max}});
  MaxPoolStream<cnn::kConv1Channels, cnn::kSize, cnn::kSize, cnn::kPool>(conv1, ctrl[2], pool1,
                                                                         ctrl[3]);
  SlidingWindow<cnn::kConv1Channels, kPooled1, kPooled1, cnn::kKernel, cnn::Conv2::kSimd>(
      pool1, ctrl[3], window2, ctrl[4], static_cast<std::int8_t>(P::kConv2PadValue));
  Int8Mvau<cnn::Conv2>(window2, ctrl[4], conv2, ctrl[5], P::kConv2Weights,
                       RequantTable<cnn::Conv2::kNf, cnn::Conv2::kPe>{
                           P::kConv2Bias, P::kConv2Multiplier, P::kConv2Shift,
                           OutputRange{P::kConv2ZeroPoint, P::kConv2Min, P::kConv2Max}});
  MaxPoolStream<cnn::kConv2Channels, kPooled1, kPooled1, cnn::kPool>(conv2, ctrl[5], pool2,
                                                                     ctrl[6]);
  Int8Mvau<cnn::Fc>(
      pool2, ctrl[6], logits, ctrl[7], P::kFcWeights,
      RequantTable<cnn::Fc::kNf, cnn::Fc::kPe>{P::kFcBias, P::kFcMultiplier, P::kFcShift,
                                               OutputRange{P::kFcZeroPoint, P::kFcMin, P::kFcMax}});
  PackBytes<cnn::kClasses>(logits, ctrl[7], out);
}

}  // namespace

void MnistCnnQ8Top(hls::stream<AxisBeat>& in, hls::stream<AxisBeat>& out) {
#pragma HLS INTERFACE axis port = in
#pragma HLS INTERFACE axis port = out
#pragma HLS INTERFACE ap_ctrl_none port = return
  // Free-running: no start/done handshake; the DMA's streams alone pace the kernel.
  MnistCnnDataflow(in, out);
}

#ifndef __SYNTHESIS__

namespace {

constexpr LayerFolding kLayers[] = {
    FoldingOf<cnn::Conv1>("conv1"),
    FoldingOf<cnn::Conv2>("conv2"),
    FoldingOf<cnn::Fc>("fc"),
};

// The reader buffers the whole image (98 beats); each MVAU then takes its repeats * kNf * kSf
// cycles (the window generators and pools overlap with them, a few rows ahead).
constexpr std::uint32_t kPipelineDepthCycles =
    cnn::kPixels / kBeatBytes + cnn::Conv1::kCyclesPerImage + cnn::Conv2::kCyclesPerImage +
    cnn::Fc::kCyclesPerImage;

}  // namespace

const KernelInfo kMnistCnnQ8Kernel = {
    P::kKernelName,
    P::kModelName,
    P::kModelDigest,
    cnn::kPixels,
    cnn::kClasses,
    kLayers,
    sizeof(kLayers) / sizeof(kLayers[0]),
    kPipelineDepthCycles,
    &MnistCnnQ8Top,
};

#endif  // __SYNTHESIS__

}  // namespace pynq::hls_kernels
