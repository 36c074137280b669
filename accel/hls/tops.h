// The top functions of the HLS kernels, one per IP core. Each reads a batch of whole 28x28 uint8
// images (784 bytes = 98 beats each) from `in` until a beat with TLAST and writes each image's
// 10 int8 logits to `out`, packed byte after byte, TLAST on the batch's last beat (the protocol
// in detail: stream_tools.h). Under Vitis HLS each is synthesized as a free-running
// (ap_ctrl_none) IP with two AXI-Stream ports; in C simulation one call runs one batch.
#ifndef PYNQ_ACCEL_HLS_TOPS_H_
#define PYNQ_ACCEL_HLS_TOPS_H_

#include "accel/hls/axis.h"

namespace pynq::hls_kernels {

// mnist-lfc-w1a1: binarized 784-1024-1024-1024-10, bipolar activations.
void LfcW1A1Top(hls::stream<AxisBeat>& in, hls::stream<AxisBeat>& out);
// mnist-lfc-w1a2: the same with 2-bit unsigned activations.
void LfcW1A2Top(hls::stream<AxisBeat>& in, hls::stream<AxisBeat>& out);
// mnist-cnn-q8: int8 conv-pool-conv-pool-dense.
void MnistCnnQ8Top(hls::stream<AxisBeat>& in, hls::stream<AxisBeat>& out);

}  // namespace pynq::hls_kernels

#endif  // PYNQ_ACCEL_HLS_TOPS_H_
