// The virtual overlay's memory: DMA buffers behind a non-coherent cache. Each buffer has two
// copies of its bytes: what the CPU sees (its cache, data()) and what the device sees (DRAM).
// SyncForDevice copies a range from the CPU's copy to DRAM (a cache flush), SyncForCpu the other
// way (an invalidate); nothing else moves bytes between them. So a driver that forgets a flush
// sends the device stale bytes, and one that forgets an invalidate reads stale results: the
// tests see both as wrong answers, as a board would show them (there, sometimes).
#ifndef PYNQ_ACCEL_SIM_SIM_MEMORY_H_
#define PYNQ_ACCEL_SIM_SIM_MEMORY_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "accel/fpga/platform.h"

namespace pynq::accel::sim {

// Thread-safe: buffers are allocated, freed and read by the device from any thread.
class SimMemory {
 public:
  struct Options {
    // Where device addresses start (like a u-dma-buf's physical address), and how many bytes the
    // live buffers may hold together.
    uint64_t base_address = 0x1000'0000;
    size_t capacity_bytes = size_t{64} << 20;
  };

  explicit SimMemory(const Options& options);
  SimMemory(const SimMemory&) = delete;
  SimMemory& operator=(const SimMemory&) = delete;

  // A zero-filled buffer at a fresh 4 KiB-aligned device address. RESOURCE_EXHAUSTED when the
  // live buffers would exceed the capacity (the message gives both figures). The buffer may
  // outlive nothing: destroy buffers before the SimMemory.
  [[nodiscard]] absl::StatusOr<std::unique_ptr<fpga::DmaBuffer>> Allocate(size_t bytes);

  // The device side: copies [address, address + bytes) of DRAM out of, or into, the one live
  // buffer that holds all of it. False when no live buffer does (the DMA reports a decode error).
  bool DeviceRead(uint64_t address, size_t bytes, uint8_t* out);
  bool DeviceWrite(uint64_t address, const uint8_t* data, size_t bytes);

  // Bytes held by live buffers.
  size_t used_bytes() const;

 private:
  class Buffer;
  friend class Buffer;
  struct Region {
    std::vector<uint8_t> dram;
  };

  // Finds the region holding [address, address + bytes). Requires mu_.
  Region* Find(uint64_t address, size_t bytes, size_t* offset) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Free(uint64_t address);

  const Options options_;
  mutable std::mutex mu_;
  uint64_t next_address_ ABSL_GUARDED_BY(mu_);
  size_t used_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  // By device address.
  std::map<uint64_t, std::unique_ptr<Region>> regions_ ABSL_GUARDED_BY(mu_);
};

}  // namespace pynq::accel::sim

#endif  // PYNQ_ACCEL_SIM_SIM_MEMORY_H_
