// What the virtual overlay (accel/sim) and the test benches need to know of each HLS kernel:
// its C-simulation entry point, its stream geometry, the model its weights came from, and its
// folding, from which the simulator's cycle model derives a transfer's duration. C simulation
// only: nothing here is synthesized.
#ifndef PYNQ_ACCEL_HLS_KERNEL_INFO_H_
#define PYNQ_ACCEL_HLS_KERNEL_INFO_H_

#ifndef __SYNTHESIS__

#include <cstdint>

#include "accel/hls/axis.h"

namespace pynq::hls_kernels {

// One folded layer of a kernel. A matrix-vector unit computes `rows` outputs of `cols` inputs
// each, SIMD inputs by PE outputs per cycle, `repeats` times per image (1 for a dense layer, the
// number of output pixels for a convolution written as a sliding window feeding an MVAU), so its
// initiation interval per image is repeats * rows * cols / (simd * pe) cycles.
struct LayerFolding {
  const char* name;    // "fc1", "conv2"
  std::uint32_t rows;  // output channels
  std::uint32_t cols;  // inputs per output (in_features, or kernel_h * kernel_w * in_channels)
  std::uint32_t simd;
  std::uint32_t pe;
  std::uint32_t repeats;
};

// One kernel's top function: reads a batch of whole images from `in` (TLAST on the batch's last
// beat), writes each image's int8 logits to `out`, byte after byte packed into beats (TLAST and
// a partial TKEEP on the batch's last beat). A TLAST inside an image drops that partial image and
// ends the output there, so the receiving DMA sees fewer bytes than it expected.
using KernelTop = void (*)(hls::stream<AxisBeat>& in, hls::stream<AxisBeat>& out);

struct KernelInfo {
  const char* kernel_name;  // "lfc_w1a1": the IP's name in the overlay
  const char* model_name;   // "mnist-lfc-w1a1"
  // models::Model::digest() of the model file the weights were generated from.
  const char* model_digest;
  std::uint32_t input_bytes_per_image;   // 784 for MNIST
  std::uint32_t output_bytes_per_image;  // the logits: 10
  const LayerFolding* layers;
  std::uint32_t num_layers;
  // Cycles from the first input beat to the first output beat of one image (the sum of the
  // layers' latencies, for the cycle model's fill time).
  std::uint32_t pipeline_depth_cycles;
  KernelTop top;
};

// Every kernel compiled into this build (C simulation), in a fixed order.
const KernelInfo* const* AllKernels(std::uint32_t* count);
// The kernel built for `model_name`, or null.
const KernelInfo* FindKernelForModel(const char* model_name);

}  // namespace pynq::hls_kernels

#endif  // __SYNTHESIS__

#endif  // PYNQ_ACCEL_HLS_KERNEL_INFO_H_
