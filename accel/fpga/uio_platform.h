// The platform a PYNQ-Z1/Z2 runs without XRT: register windows through Linux UIO (or /dev/mem),
// DMA memory from one u-dma-buf region (https://github.com/ikwzm/udmabuf), cache maintenance
// through u-dma-buf's sysfs files. docs/overlay.md says how to set the board up for it.
#ifndef PYNQ_ACCEL_FPGA_UIO_PLATFORM_H_
#define PYNQ_ACCEL_FPGA_UIO_PLATFORM_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "accel/fpga/platform.h"

namespace pynq::accel::fpga {

class UdmaBufRegion;  // uio_platform.cc: the mapped u-dma-buf and its free list.

// Linux UIO + u-dma-buf. Thread-safe: MapRegisters and AllocateDma may be called from any
// thread; buffers may be freed from any thread and may outlive the platform.
class UioPlatform : public Platform {
 public:
  // Every path is an option so that tests can point them at a folder of ordinary files.
  struct Options {
    // Where the kernel lists UIO devices: <uio_class_dir>/uioN/{name,maps/map0/{addr,size}}.
    std::string uio_class_dir = "/sys/class/uio";
    // Where the device nodes are: <dev_dir>/uioN.
    std::string dev_dir = "/dev";
    // Mapped at an IP's base address when no UIO device answers for it (needs root or
    // CAP_SYS_RAWIO). Empty: no fallback, such an IP is NOT_FOUND.
    std::string mem_device = "/dev/mem";
    // The u-dma-buf device's name, for messages and the two paths below when they are empty.
    std::string udmabuf_name = "udmabuf0";
    // Its device node; empty means <dev_dir>/<udmabuf_name>.
    std::string udmabuf_device = "/dev/udmabuf0";
    // Its sysfs folder (phys_addr, size, sync_*); empty means
    // /sys/class/u-dma-buf/<udmabuf_name>. Older udmabuf releases use /sys/class/udmabuf/.
    std::string udmabuf_class_dir = "/sys/class/u-dma-buf/udmabuf0";
    // Open the u-dma-buf with O_SYNC: u-dma-buf then maps it uncached, DmaBuffer::uncached() is
    // true and the syncs write nothing. Slower for the CPU, no cache maintenance needed.
    bool open_sync = false;
  };

  // Every sub-buffer starts on this boundary (bytes from the region's start, which is page
  // aligned): a cache line on the Cortex-A9 is 32 bytes, and 64 keeps AXI bursts aligned too.
  static constexpr size_t kDmaAlignment = 64;

  // Opens and maps the u-dma-buf and reads its physical address and size. NOT_FOUND when the
  // u-dma-buf device or its sysfs files are missing (the module is not loaded),
  // PERMISSION_DENIED when the device cannot be opened, FAILED_PRECONDITION when its sysfs
  // files do not hold what u-dma-buf writes there, INTERNAL when mmap fails.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<UioPlatform>> Create(const Options& options);

  ~UioPlatform() override;
  UioPlatform(const UioPlatform&) = delete;
  UioPlatform& operator=(const UioPlatform&) = delete;

  std::string_view name() const override { return "uio"; }

  // The UIO device whose map0 starts at window.base (or whose name is window.instance), mapped
  // from offset 0; else mem_device mapped at window.base. When the UIO map is smaller than
  // window.size, the Mmio covers the UIO map only (the kernel refuses more).
  [[nodiscard]] absl::StatusOr<std::unique_ptr<Mmio>> MapRegisters(const IpWindow& window) override;

  // A sub-range of the u-dma-buf, kDmaAlignment aligned, its size rounded up to kDmaAlignment
  // (0 bytes gives kDmaAlignment). First fit; freeing the buffer returns the range.
  [[nodiscard]] absl::StatusOr<std::unique_ptr<DmaBuffer>> AllocateDma(size_t bytes) override;

  // The whole u-dma-buf: its bus address, its size and how much of it is not allocated (bytes).
  uint64_t dma_physical_address() const;
  size_t dma_capacity() const;
  size_t dma_bytes_free() const;

 private:
  UioPlatform(Options options, std::shared_ptr<UdmaBufRegion> region);

  const Options options_;
  // Shared with every buffer allocated from it, so a buffer may outlive the platform.
  const std::shared_ptr<UdmaBufRegion> region_;
};

}  // namespace pynq::accel::fpga

#endif  // PYNQ_ACCEL_FPGA_UIO_PLATFORM_H_
