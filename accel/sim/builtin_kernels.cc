#include <cstdint>
#include <vector>

#include "accel/hls/kernel_info.h"
#include "accel/sim/virtual_overlay.h"

namespace pynq::accel::sim {

std::vector<const hls_kernels::KernelInfo*> BuiltInKernels() {
  uint32_t count = 0;
  const hls_kernels::KernelInfo* const* all = hls_kernels::AllKernels(&count);
  return std::vector<const hls_kernels::KernelInfo*>(all, all + count);
}

}  // namespace pynq::accel::sim
