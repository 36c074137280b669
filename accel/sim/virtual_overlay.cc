#include "accel/sim/virtual_overlay.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "accel/fpga/axi_dma.h"

namespace pynq::accel::sim {
namespace {

constexpr uint64_t kFirstDmaBase = 0x4040'0000;

// A register window onto one simulated DMA.
class SimMmio final : public fpga::Mmio {
 public:
  explicit SimMmio(SimAxiDma* dma) : dma_(dma) {}
  uint32_t Read32(uint32_t offset) override { return dma_->Read32(offset); }
  void Write32(uint32_t offset, uint32_t value) override { dma_->Write32(offset, value); }
  size_t size() const override { return fpga::axi_dma::kRegisterWindowBytes; }

 private:
  SimAxiDma* const dma_;
};

}  // namespace

VirtualOverlay::VirtualOverlay(const Options& options)
    : options_(options), memory_(SimMemory::Options{0x1000'0000, options.memory_bytes}) {
  description_.source = "virtual overlay";
  for (size_t i = 0; i < options_.kernels.size(); ++i) {
    const hls_kernels::KernelInfo& kernel = *options_.kernels[i];
    fpga::AcceleratorDescription accel;
    accel.instance = absl::StrCat(kernel.kernel_name, "_0");
    accel.vlnv = absl::StrCat("pynq-infer:hls:", kernel.kernel_name, ":1.0");
    accel.dma.registers = fpga::IpWindow{absl::StrCat("axi_dma_", i),
                                         kFirstDmaBase + i * fpga::axi_dma::kRegisterWindowBytes,
                                         fpga::axi_dma::kRegisterWindowBytes};
    accel.dma.vlnv = "xilinx.com:ip:axi_dma:7.1";
    accel.dma.length_width = options_.length_width;
    accel.model_name = kernel.model_name;
    accel.model_digest = kernel.model_digest;
    description_.accelerators.push_back(std::move(accel));

    SimAxiDma::Options dma;
    dma.kernel = &kernel;
    dma.memory = &memory_;
    dma.faults = &faults_;
    dma.length_width = options_.length_width;
    dma.cycle = options_.cycle;
    dma.realtime = options_.realtime;
    dmas_.push_back(std::make_unique<SimAxiDma>(dma));
  }
}

absl::StatusOr<std::unique_ptr<VirtualOverlay>> VirtualOverlay::Create(const Options& options) {
  if (options.kernels.empty()) {
    return absl::InvalidArgumentError("virtual overlay: no HLS kernel to simulate");
  }
  for (const hls_kernels::KernelInfo* k : options.kernels) {
    if (k == nullptr || k->top == nullptr || k->input_bytes_per_image == 0) {
      return absl::InvalidArgumentError("virtual overlay: a kernel has no top function or size");
    }
  }
  if (options.length_width < 8 || options.length_width > 26) {
    return absl::InvalidArgumentError(absl::StrCat("virtual overlay: c_sg_length_width ",
                                                   options.length_width, " is outside 8..26"));
  }
  return std::unique_ptr<VirtualOverlay>(new VirtualOverlay(options));
}

absl::StatusOr<std::unique_ptr<fpga::Mmio>> VirtualOverlay::MapRegisters(
    const fpga::IpWindow& window) {
  for (size_t i = 0; i < dmas_.size(); ++i) {
    const fpga::IpWindow& w = description_.accelerators[i].dma.registers;
    if (w.base == window.base && window.size <= w.size) {
      return std::unique_ptr<fpga::Mmio>(new SimMmio(dmas_[i].get()));
    }
  }
  return absl::NotFoundError(
      absl::StrFormat("virtual overlay: no IP at 0x%08x (%s)", window.base, window.instance));
}

uint64_t VirtualOverlay::transfers_started() const {
  uint64_t n = 0;
  for (const auto& dma : dmas_) n += dma->transfers_started();
  return n;
}

}  // namespace pynq::accel::sim
