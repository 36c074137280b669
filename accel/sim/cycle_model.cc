#include "accel/sim/cycle_model.h"

#include <algorithm>

namespace pynq::accel::sim {
namespace {

uint64_t CeilDiv(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

}  // namespace

uint64_t InitiationInterval(const hls_kernels::KernelInfo& kernel) {
  uint64_t slowest = 1;
  for (uint32_t i = 0; i < kernel.num_layers; ++i) {
    const hls_kernels::LayerFolding& l = kernel.layers[i];
    const uint64_t lanes = std::max<uint64_t>(1, uint64_t{l.simd} * l.pe);
    const uint64_t cycles = CeilDiv(uint64_t{l.repeats} * l.rows * l.cols, lanes);
    slowest = std::max(slowest, cycles);
  }
  return slowest;
}

uint64_t TransferCycles(const hls_kernels::KernelInfo& kernel, const CycleModelOptions& options,
                        uint64_t images) {
  const uint64_t per_cycle = std::max<uint32_t>(1, options.dma_bytes_per_cycle);
  const uint64_t compute = images * InitiationInterval(kernel);
  const uint64_t mm2s = CeilDiv(images * kernel.input_bytes_per_image, per_cycle);
  const uint64_t s2mm = CeilDiv(images * kernel.output_bytes_per_image, per_cycle);
  const uint64_t fill = images > 0 ? kernel.pipeline_depth_cycles : 0;
  return options.setup_cycles + fill + std::max({compute, mm2s, s2mm});
}

double TransferSeconds(const hls_kernels::KernelInfo& kernel, const CycleModelOptions& options,
                       uint64_t images) {
  return static_cast<double>(TransferCycles(kernel, options, images)) / options.clock_hz;
}

}  // namespace pynq::accel::sim
