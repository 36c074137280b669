// The platform interface: the one seam between the board-side driver code (accel/fpga) and what
// is below it. Three implementations: Linux UIO + u-dma-buf (PYNQ-Z1/Z2, no XRT), XRT
// (where libxrt-dev exists), and the virtual overlay (accel/sim), which the tests drive with the
// very driver code the board runs.
#ifndef PYNQ_ACCEL_FPGA_PLATFORM_H_
#define PYNQ_ACCEL_FPGA_PLATFORM_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace pynq::accel::fpga {

// One IP's AXI-Lite register window: 32-bit registers at byte offsets. Reads and writes are
// device accesses (volatile on hardware, never cached or reordered by the implementation).
// Thread-compatible: one driver owns a window and serializes its accesses.
class Mmio {
 public:
  virtual ~Mmio() = default;
  // `offset` must be 4-byte aligned and below size(); the implementations do not check it on the
  // hot path (the driver only uses the constant offsets of its IP).
  virtual uint32_t Read32(uint32_t offset) = 0;
  virtual void Write32(uint32_t offset, uint32_t value) = 0;
  // Bytes in the window.
  virtual size_t size() const = 0;
};

// A physically contiguous buffer that a DMA engine can read or write. The CPU sees it through
// data(); the device through device_address(). Caches are not coherent with the device: CPU
// writes reach the device only after SyncForDevice over their range, and device writes are seen
// by the CPU only after SyncForCpu. Thread-compatible: one batch owns a buffer at a time.
class DmaBuffer {
 public:
  virtual ~DmaBuffer() = default;
  virtual uint8_t* data() = 0;
  // The bus address the DMA engine uses (a physical address on the board).
  virtual uint64_t device_address() const = 0;
  virtual size_t size() const = 0;
  // Cache flush of [offset, offset + bytes): CPU writes become visible to the device.
  // INVALID_ARGUMENT when the range is outside the buffer; INTERNAL when the kernel refused.
  [[nodiscard]] virtual absl::Status SyncForDevice(size_t offset, size_t bytes) = 0;
  // Cache invalidate of [offset, offset + bytes): device writes become visible to the CPU.
  [[nodiscard]] virtual absl::Status SyncForCpu(size_t offset, size_t bytes) = 0;
  // True when data() is mapped uncached (u-dma-buf opened with O_SYNC): correct, but too slow
  // to compute on; a CPU kernel must copy it to cached memory first.
  virtual bool uncached() const { return false; }
};

// The check each SyncForDevice/SyncForCpu implementation starts with: OK when
// [offset, offset + bytes) lies inside a buffer of `size` bytes (no overflow for any inputs),
// else the INVALID_ARGUMENT the contract above promises.
inline absl::Status CheckSyncRange(size_t offset, size_t bytes, size_t size) {
  if (offset <= size && bytes <= size - offset) return absl::OkStatus();
  return absl::InvalidArgumentError("cache sync of " + std::to_string(bytes) + " bytes at offset " +
                                    std::to_string(offset) + " is outside a DMA buffer of " +
                                    std::to_string(size) + " bytes");
}

// Where an IP's registers are: its instance name in the block design and its address range in
// the processing system's memory map (both from the overlay's .hwh).
struct IpWindow {
  std::string instance;  // "axi_dma_0"
  uint64_t base = 0;     // BASEVALUE
  uint64_t size = 0;     // HIGHVALUE - BASEVALUE + 1
};

// A board (or its stand-in): register windows and DMA memory. Thread-safe.
class Platform {
 public:
  virtual ~Platform() = default;
  // "uio", "xrt", "sim": for logs and metrics.
  virtual std::string_view name() const = 0;
  // Maps one IP's register window. NOT_FOUND when no device node or IP answers for it,
  // PERMISSION_DENIED when the node exists but cannot be opened, INTERNAL when mmap fails.
  [[nodiscard]] virtual absl::StatusOr<std::unique_ptr<Mmio>> MapRegisters(
      const IpWindow& window) = 0;
  // A DMA buffer of at least `bytes` bytes, zero-filled. RESOURCE_EXHAUSTED when the
  // platform's DMA memory cannot hold it (the message says how much there is).
  [[nodiscard]] virtual absl::StatusOr<std::unique_ptr<DmaBuffer>> AllocateDma(size_t bytes) = 0;
};

}  // namespace pynq::accel::fpga

#endif  // PYNQ_ACCEL_FPGA_PLATFORM_H_
