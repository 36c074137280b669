// The platform on boards that run XRT (Zynq UltraScale+ and Kria with zocl, or PYNQ images that
// ship XRT): an xclbin loaded through XRT, registers through xrt::ip, DMA memory as xrt::bo.
// Built only where libxrt-dev exists (amd64, arm64; Debian has no armhf XRT): users test
// PYNQ_HAVE_XRT. No XRT type appears here, so including this header needs no XRT headers.
#ifndef PYNQ_ACCEL_FPGA_XRT_PLATFORM_H_
#define PYNQ_ACCEL_FPGA_XRT_PLATFORM_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "accel/fpga/platform.h"

namespace pynq::accel::fpga {

struct XrtState;  // xrt_platform.cc: the device and the loaded xclbin.

// XRT. Thread-safe (XRT's device and buffer objects are). Every XRT call that can throw is
// caught here: errors leave as absl::Status carrying XRT's message.
class XrtPlatform : public Platform {
 public:
  struct Options {
    unsigned int device_index = 0;
    // The xclbin that holds the overlay; loaded in Create. Register windows are opened by
    // instance name against it, so MapRegisters needs it.
    std::string xclbin_path;
    // The memory bank (xrt::memory_group) buffers come from; 0 is the PS DDR on embedded
    // platforms.
    int memory_group = 0;
  };

  // Opens the device and loads the xclbin. UNAVAILABLE when XRT cannot open the device (no
  // device, no driver, XILINX_XRT unset); NOT_FOUND when the xclbin is missing;
  // INVALID_ARGUMENT when XRT refuses the xclbin. The message carries XRT's own.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<XrtPlatform>> Create(const Options& options);

  ~XrtPlatform() override;
  XrtPlatform(const XrtPlatform&) = delete;
  XrtPlatform& operator=(const XrtPlatform&) = delete;

  std::string_view name() const override { return "xrt"; }

  // xrt::ip(device, xclbin uuid, window.instance): the IP by its instance name in the xclbin.
  // NOT_FOUND when the xclbin has no such IP. window.size is what Mmio::size() reports.
  [[nodiscard]] absl::StatusOr<std::unique_ptr<Mmio>> MapRegisters(const IpWindow& window) override;

  // A cacheable xrt::bo of `bytes` bytes (0 gives 1) in options.memory_group, zero-filled.
  // RESOURCE_EXHAUSTED when XRT cannot allocate it.
  [[nodiscard]] absl::StatusOr<std::unique_ptr<DmaBuffer>> AllocateDma(size_t bytes) override;

 private:
  explicit XrtPlatform(std::unique_ptr<XrtState> state);

  const std::unique_ptr<XrtState> state_;
};

}  // namespace pynq::accel::fpga

#endif  // PYNQ_ACCEL_FPGA_XRT_PLATFORM_H_
