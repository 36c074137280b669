// The virtual overlay: a Platform (accel/fpga/platform.h) made of software, so the board's
// driver code runs unchanged on a desktop or in CI. One simulated AXI DMA (sim_axi_dma.h) per
// HLS kernel, each at its own register window, and DMA memory behind a non-coherent cache
// (sim_memory.h). It describes itself as a loaded overlay would (overlay.h), so the server
// treats it exactly like a board's .hwh.
#ifndef PYNQ_ACCEL_SIM_VIRTUAL_OVERLAY_H_
#define PYNQ_ACCEL_SIM_VIRTUAL_OVERLAY_H_

#include <cstddef>
#include <memory>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "accel/fpga/overlay.h"
#include "accel/fpga/platform.h"
#include "accel/hls/kernel_info.h"
#include "accel/sim/cycle_model.h"
#include "accel/sim/sim_axi_dma.h"
#include "accel/sim/sim_memory.h"

namespace pynq::accel::sim {

// Thread-safe.
class VirtualOverlay final : public fpga::Platform {
 public:
  struct Options {
    // The accelerators, one DMA each, in this order: "<kernel_name>_0" fed by "axi_dma_<i>" at
    // 0x40400000 + i * 0x10000 (Vivado's first AXI DMA address). At least one; not owned.
    std::vector<const hls_kernels::KernelInfo*> kernels;
    int length_width = 23;  // c_sg_length_width, as PYNQ-Z1/Z2's base overlay
    CycleModelOptions cycle;
    bool realtime = true;  // see SimAxiDma::Options
    size_t memory_bytes = size_t{64} << 20;
  };

  // INVALID_ARGUMENT when there is no kernel or the length width is outside 8..26.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<VirtualOverlay>> Create(
      const Options& options);

  std::string_view name() const override { return "sim"; }
  // NOT_FOUND unless the window is one of the described DMAs' (base and size).
  [[nodiscard]] absl::StatusOr<std::unique_ptr<fpga::Mmio>> MapRegisters(
      const fpga::IpWindow& window) override;
  [[nodiscard]] absl::StatusOr<std::unique_ptr<fpga::DmaBuffer>> AllocateDma(
      size_t bytes) override {
    return memory_.Allocate(bytes);
  }

  // The overlay as the loader would describe it.
  const fpga::OverlayDescription& description() const { return description_; }

  // Faults for the transfers to come, on every DMA of this overlay (see SimFaultPlan).
  SimFaultPlan& faults() { return faults_; }

  // MM2S transfers started on every DMA together.
  uint64_t transfers_started() const;
  const SimMemory& memory() const { return memory_; }

 private:
  explicit VirtualOverlay(const Options& options);

  const Options options_;
  SimFaultPlan faults_;
  SimMemory memory_;
  fpga::OverlayDescription description_;
  std::vector<std::unique_ptr<SimAxiDma>> dmas_;  // index for index with description_
};

// The overlay's kernels as the server's --overlay sim gets them: every HLS kernel compiled into
// this build (accel/hls).
std::vector<const hls_kernels::KernelInfo*> BuiltInKernels();

}  // namespace pynq::accel::sim

#endif  // PYNQ_ACCEL_SIM_VIRTUAL_OVERLAY_H_
