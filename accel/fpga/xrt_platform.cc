#include "accel/fpga/xrt_platform.h"

#include <experimental/xrt_ip.h>
#include <sys/stat.h>
#include <xrt/xrt_bo.h>
#include <xrt/xrt_device.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace pynq::accel::fpga {

// The device and what was loaded onto it; constant after Create.
struct XrtState {
  XrtPlatform::Options options;
  xrt::device device;
  xrt::uuid xclbin_uuid;
  bool has_xclbin = false;
};

namespace {

// Registers through xrt::ip. XRT reads and writes the IP's window through the driver.
class XrtMmio : public Mmio {
 public:
  XrtMmio(xrt::ip ip, size_t size) : ip_(std::move(ip)), size_(size) {}

  // The Mmio interface cannot carry errors: the driver only uses constant offsets inside the
  // window, where XRT does not throw; should it throw anyway, reads give all ones, which
  // the driver sees as a DMA error bit set, and writes are dropped.
  uint32_t Read32(uint32_t offset) override {
    try {
      return ip_.read_register(offset);
    } catch (const std::exception&) {
      return 0xffffffffu;
    }
  }
  void Write32(uint32_t offset, uint32_t value) override {
    try {
      ip_.write_register(offset, value);
    } catch (const std::exception&) {
    }
  }
  size_t size() const override { return size_; }

 private:
  xrt::ip ip_;
  const size_t size_;
};

// One xrt::bo, mapped into this process.
class XrtBuffer : public DmaBuffer {
 public:
  XrtBuffer(xrt::bo bo, uint8_t* data, uint64_t address, size_t size)
      : bo_(std::move(bo)), data_(data), address_(address), size_(size) {}

  uint8_t* data() override { return data_; }
  uint64_t device_address() const override { return address_; }
  size_t size() const override { return size_; }

  absl::Status SyncForDevice(size_t offset, size_t bytes) override {
    return Sync(XCL_BO_SYNC_BO_TO_DEVICE, offset, bytes);
  }
  absl::Status SyncForCpu(size_t offset, size_t bytes) override {
    return Sync(XCL_BO_SYNC_BO_FROM_DEVICE, offset, bytes);
  }

 private:
  absl::Status Sync(xclBOSyncDirection direction, size_t offset, size_t bytes) {
    PYNQ_RETURN_IF_ERROR(CheckSyncRange(offset, bytes, size_));
    if (bytes == 0) return absl::OkStatus();
    try {
      bo_.sync(direction, bytes, offset);
    } catch (const std::exception& e) {
      return absl::InternalError(absl::StrCat("XRT buffer sync failed: ", e.what()));
    }
    return absl::OkStatus();
  }

  xrt::bo bo_;
  uint8_t* const data_;
  const uint64_t address_;
  const size_t size_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<XrtPlatform>> XrtPlatform::Create(const Options& options) {
  auto state = std::make_unique<XrtState>();
  state->options = options;
  if (!options.xclbin_path.empty()) {
    struct stat st {};
    if (::stat(options.xclbin_path.c_str(), &st) != 0) {
      const int err = errno;
      const std::string message =
          absl::StrCat("xclbin ", options.xclbin_path, ": ", std::strerror(err));
      if (err == ENOENT) return absl::NotFoundError(message);
      return absl::FailedPreconditionError(message);
    }
  }
  try {
    state->device = xrt::device(options.device_index);
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("XRT cannot open device ", options.device_index, ": ", e.what()));
  }
  if (!options.xclbin_path.empty()) {
    try {
      state->xclbin_uuid = state->device.load_xclbin(options.xclbin_path);
      state->has_xclbin = true;
    } catch (const std::exception& e) {
      return absl::InvalidArgumentError(
          absl::StrCat("XRT cannot load xclbin ", options.xclbin_path, ": ", e.what()));
    }
  }
  return std::unique_ptr<XrtPlatform>(new XrtPlatform(std::move(state)));
}

XrtPlatform::XrtPlatform(std::unique_ptr<XrtState> state) : state_(std::move(state)) {}

XrtPlatform::~XrtPlatform() = default;

absl::StatusOr<std::unique_ptr<Mmio>> XrtPlatform::MapRegisters(const IpWindow& window) {
  if (!state_->has_xclbin) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot open the registers of ", window.instance, ": the XRT platform has no xclbin"));
  }
  try {
    xrt::ip ip(state_->device, state_->xclbin_uuid, window.instance);
    return std::make_unique<XrtMmio>(std::move(ip), static_cast<size_t>(window.size));
  } catch (const std::exception& e) {
    return absl::NotFoundError(absl::StrCat("XRT has no IP '", window.instance, "' in ",
                                            state_->options.xclbin_path, ": ", e.what()));
  }
}

absl::StatusOr<std::unique_ptr<DmaBuffer>> XrtPlatform::AllocateDma(size_t bytes) {
  const size_t size = bytes == 0 ? 1 : bytes;
  try {
    xrt::bo bo(state_->device, size, xrt::bo::flags::cacheable,
               static_cast<xrt::memory_group>(state_->options.memory_group));
    auto* data = bo.map<uint8_t*>();
    std::memset(data, 0, size);
    const uint64_t address = bo.address();
    return std::make_unique<XrtBuffer>(std::move(bo), data, address, size);
  } catch (const std::exception& e) {
    return absl::ResourceExhaustedError(absl::StrCat("XRT cannot allocate a DMA buffer of ", size,
                                                     " bytes in memory group ",
                                                     state_->options.memory_group, ": ", e.what()));
  }
}

}  // namespace pynq::accel::fpga
