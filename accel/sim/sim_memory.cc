#include "accel/sim/sim_memory.h"

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace pynq::accel::sim {

// One buffer: the CPU's copy lives here, DRAM's in the SimMemory's region.
class SimMemory::Buffer final : public fpga::DmaBuffer {
 public:
  Buffer(SimMemory* memory, uint64_t address, size_t bytes)
      : memory_(memory), address_(address), cpu_(bytes, 0) {}
  ~Buffer() override { memory_->Free(address_); }

  uint8_t* data() override { return cpu_.data(); }
  uint64_t device_address() const override { return address_; }
  size_t size() const override { return cpu_.size(); }

  absl::Status SyncForDevice(size_t offset, size_t bytes) override {
    if (absl::Status s = CheckRange(offset, bytes); !s.ok()) return s;
    std::lock_guard<std::mutex> lock(memory_->mu_);
    size_t at = 0;
    Region* region = memory_->Find(address_, cpu_.size(), &at);
    std::memcpy(region->dram.data() + offset, cpu_.data() + offset, bytes);
    return absl::OkStatus();
  }

  absl::Status SyncForCpu(size_t offset, size_t bytes) override {
    if (absl::Status s = CheckRange(offset, bytes); !s.ok()) return s;
    std::lock_guard<std::mutex> lock(memory_->mu_);
    size_t at = 0;
    Region* region = memory_->Find(address_, cpu_.size(), &at);
    std::memcpy(cpu_.data() + offset, region->dram.data() + offset, bytes);
    return absl::OkStatus();
  }

 private:
  absl::Status CheckRange(size_t offset, size_t bytes) const {
    return fpga::CheckSyncRange(offset, bytes, cpu_.size());
  }

  SimMemory* const memory_;
  const uint64_t address_;
  std::vector<uint8_t> cpu_;
};

SimMemory::SimMemory(const Options& options)
    : options_(options), next_address_(options.base_address) {}

absl::StatusOr<std::unique_ptr<fpga::DmaBuffer>> SimMemory::Allocate(size_t bytes) {
  constexpr uint64_t kAlign = 4096;
  uint64_t address = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (bytes > options_.capacity_bytes - used_bytes_) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "virtual overlay DMA memory: ", bytes, " bytes wanted, ",
          options_.capacity_bytes - used_bytes_, " of ", options_.capacity_bytes, " free"));
    }
    address = next_address_;
    // Addresses are never reused, so a late device write to a freed buffer finds nothing.
    next_address_ += (bytes + kAlign - 1) / kAlign * kAlign + kAlign;
    auto region = std::make_unique<Region>();
    region->dram.assign(bytes, 0);
    regions_.emplace(address, std::move(region));
    used_bytes_ += bytes;
  }
  return std::unique_ptr<fpga::DmaBuffer>(new Buffer(this, address, bytes));
}

void SimMemory::Free(uint64_t address) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = regions_.find(address);
  if (it == regions_.end()) return;
  used_bytes_ -= it->second->dram.size();
  regions_.erase(it);
}

SimMemory::Region* SimMemory::Find(uint64_t address, size_t bytes, size_t* offset) {
  auto it = regions_.upper_bound(address);
  if (it == regions_.begin()) return nullptr;
  --it;
  const uint64_t start = it->first;
  const size_t size = it->second->dram.size();
  if (address - start > size || bytes > size - (address - start)) return nullptr;
  *offset = static_cast<size_t>(address - start);
  return it->second.get();
}

bool SimMemory::DeviceRead(uint64_t address, size_t bytes, uint8_t* out) {
  std::lock_guard<std::mutex> lock(mu_);
  size_t offset = 0;
  Region* region = Find(address, bytes, &offset);
  if (region == nullptr) return false;
  std::memcpy(out, region->dram.data() + offset, bytes);
  return true;
}

bool SimMemory::DeviceWrite(uint64_t address, const uint8_t* data, size_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  size_t offset = 0;
  Region* region = Find(address, bytes, &offset);
  if (region == nullptr) return false;
  std::memcpy(region->dram.data() + offset, data, bytes);
  return true;
}

size_t SimMemory::used_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return used_bytes_;
}

}  // namespace pynq::accel::sim
