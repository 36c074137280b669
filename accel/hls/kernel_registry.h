// Internal to accel/hls (C simulation only): the KernelInfo of each top, defined beside the top
// in its .cc, and listed by kernel_registry.cc.
#ifndef PYNQ_ACCEL_HLS_KERNEL_REGISTRY_H_
#define PYNQ_ACCEL_HLS_KERNEL_REGISTRY_H_

#ifndef __SYNTHESIS__

#include "accel/hls/kernel_info.h"

namespace pynq::hls_kernels {

extern const KernelInfo kLfcW1A1Kernel;
extern const KernelInfo kLfcW1A2Kernel;
extern const KernelInfo kMnistCnnQ8Kernel;

// A MatrixFold layer (matrix_fold.h) as the cycle model sees it.
template <typename L>
constexpr LayerFolding FoldingOf(const char* name) {
  return LayerFolding{name, L::kRows, L::kCols, L::kSimd, L::kPe, L::kRepeats};
}

}  // namespace pynq::hls_kernels

#endif  // __SYNTHESIS__

#endif  // PYNQ_ACCEL_HLS_KERNEL_REGISTRY_H_
