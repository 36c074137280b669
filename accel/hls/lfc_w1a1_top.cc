// The mnist-lfc-w1a1 kernel: LfcDataflow with bipolar (1-bit) activations and the weights
// pynq_hls_gen wrote from models/zoo/mnist-lfc-w1a1.
#include "accel/hls/axis.h"
#include "accel/hls/kernel_registry.h"
#include "accel/hls/lfc_dataflow.h"
#include "accel/hls/tops.h"
#include "lfc_w1a1_params.h"

namespace pynq::hls_kernels {

void LfcW1A1Top(hls::stream<AxisBeat>& in, hls::stream<AxisBeat>& out) {
#pragma HLS INTERFACE axis port = in
#pragma HLS INTERFACE axis port = out
#pragma HLS INTERFACE ap_ctrl_none port = return
  // Free-running: no start/done handshake; the DMA's streams alone pace the kernel.
  LfcDataflow<1, LfcW1A1Params>(in, out);
}

#ifndef __SYNTHESIS__
const KernelInfo kLfcW1A1Kernel = LfcKernelInfo<1, LfcW1A1Params>(&LfcW1A1Top);
#endif  // __SYNTHESIS__

}  // namespace pynq::hls_kernels
