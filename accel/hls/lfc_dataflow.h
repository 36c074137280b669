// The dataflow region of the LFC kernels, shared by lfc_w1a1_top.cc and lfc_w1a2_top.cc: reader,
// four binarized layers, packer, one stage each, joined by FIFOs. P is a generated parameter
// struct (LfcW1A1Params, LfcW1A2Params: pynq_hls_gen) whose arrays have the shapes of
// lfc_config.h's foldings.
#ifndef PYNQ_ACCEL_HLS_LFC_DATAFLOW_H_
#define PYNQ_ACCEL_HLS_LFC_DATAFLOW_H_

#include <cstdint>

#include "accel/hls/axis.h"
#include "accel/hls/binary_mvtu.h"
#include "accel/hls/hls_types.h"
#include "accel/hls/kernel_registry.h"
#include "accel/hls/lfc_config.h"
#include "accel/hls/stream_tools.h"

namespace pynq::hls_kernels {

template <int kActBits, typename P>
void LfcDataflow(hls::stream<AxisBeat>& in, hls::stream<AxisBeat>& out) {
  using Fc1 = lfc::Fc1<kActBits>;
  using Hidden = lfc::Hidden<kActBits>;
  using Fc4 = lfc::Fc4<kActBits>;
  static_assert(
      sizeof(P::kFc1Weights) == sizeof(std::uint64_t) * Fc1::kTiles * Fc1::kPe &&
          sizeof(P::kFc2Weights) == sizeof(std::uint64_t) * Hidden::kTiles * Hidden::kPe &&
          sizeof(P::kFc4Weights) == sizeof(std::uint64_t) * Fc4::kTiles * Fc4::kPe,
      "the generated header was written for another folding: rebuild it");
  static_assert(Fc1::kOutSimd == Hidden::kSimd && Hidden::kOutSimd == Fc4::kSimd,
                "each layer's output words must be the next layer's SIMD groups");
#pragma HLS DATAFLOW
  // Every stage loops over the batch's images; they run concurrently, one image apart.
  hls::stream<BitPlanes<8>> pixels("pixels");
  hls::stream<BitPlanes<kActBits>> act1("act1");
  hls::stream<BitPlanes<kActBits>> act2("act2");
  hls::stream<BitPlanes<kActBits>> act3("act3");
  hls::stream<Vec<std::int8_t, lfc::kClasses>> logits("logits");
  hls::stream<ImageToken> ctrl0("ctrl0");
  hls::stream<ImageToken> ctrl1("ctrl1");
  hls::stream<ImageToken> ctrl2("ctrl2");
  hls::stream<ImageToken> ctrl3("ctrl3");
  hls::stream<ImageToken> ctrl4("ctrl4");
#pragma HLS STREAM variable = pixels depth = 16
  // 14 groups per image: the reader may run one image ahead of fc1.

  ReadImagesAsBitPlanes<lfc::kPixels, Fc1::kSimd>(in, pixels, ctrl0);
  BinaryMvtuThresholds<Fc1>(pixels, ctrl0, act1, ctrl1, P::kFc1Weights, P::kFc1Thresholds);
  BinaryMvtuThresholds<Hidden>(act1, ctrl1, act2, ctrl2, P::kFc2Weights, P::kFc2Thresholds);
  BinaryMvtuThresholds<Hidden>(act2, ctrl2, act3, ctrl3, P::kFc3Weights, P::kFc3Thresholds);
  BinaryMvtuRequant<Fc4>(act3, ctrl3, logits, ctrl4, P::kFc4Weights, P::kFc4Bias, P::kFc4Multiplier,
                         P::kFc4Shift, OutputRange{P::kFc4ZeroPoint, -128, 127});
  PackBytes<lfc::kClasses>(logits, ctrl4, out);
}

// The cycles from an image's first input beat to its first output byte when nothing else is in
// flight: the reader buffers the whole image (98 beats), then each layer takes its
// kNf * kSf cycles in turn (a layer reads its whole input vector before its first output).
template <int kActBits>
constexpr std::uint32_t LfcPipelineDepthCycles() {
  return lfc::kPixels / kBeatBytes + lfc::Fc1<kActBits>::kCyclesPerImage +
         2 * lfc::Hidden<kActBits>::kCyclesPerImage + lfc::Fc4<kActBits>::kCyclesPerImage;
}

#ifndef __SYNTHESIS__

// The folding of an LFC kernel's four layers, for the cycle model.
template <int kActBits>
constexpr LayerFolding kLfcLayers[] = {
    FoldingOf<lfc::Fc1<kActBits>>("fc1"),
    FoldingOf<lfc::Hidden<kActBits>>("fc2"),
    FoldingOf<lfc::Hidden<kActBits>>("fc3"),
    FoldingOf<lfc::Fc4<kActBits>>("fc4"),
};

// The KernelInfo of the LFC kernel whose top is `top` and whose weights are P's.
template <int kActBits, typename P>
constexpr KernelInfo LfcKernelInfo(KernelTop top) {
  return KernelInfo{P::kKernelName,
                    P::kModelName,
                    P::kModelDigest,
                    lfc::kPixels,
                    lfc::kClasses,
                    kLfcLayers<kActBits>,
                    sizeof(kLfcLayers<kActBits>) / sizeof(LayerFolding),
                    LfcPipelineDepthCycles<kActBits>(),
                    top};
}

#endif  // __SYNTHESIS__

}  // namespace pynq::hls_kernels

#endif  // PYNQ_ACCEL_HLS_LFC_DATAFLOW_H_
