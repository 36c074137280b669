#include "accel/fpga/uio_platform.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/file_util.h"
#include "common/status_macros.h"
#include "common/strings.h"

namespace pynq::accel::fpga {
namespace {

// A sysfs attribute is at most one page.
constexpr size_t kMaxSysfsBytes = 4096;

// u-dma-buf's sync_direction values (the kernel's enum dma_data_direction).
constexpr int kDmaToDevice = 1;
constexpr int kDmaFromDevice = 2;

// Unmaps a mapping when it goes out of scope.
class Mapping {
 public:
  Mapping(void* address, size_t length) : address_(address), length_(length) {}
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() { ::munmap(address_, length_); }
  uint8_t* bytes() const { return static_cast<uint8_t*>(address_); }

 private:
  void* const address_;
  const size_t length_;
};

size_t PageSize() { return static_cast<size_t>(::sysconf(_SC_PAGESIZE)); }

size_t RoundUp(size_t value, size_t multiple) {
  return (value + multiple - 1) / multiple * multiple;
}

// The status for a failed open/mmap of `path`, by errno, as platform.h promises.
absl::Status ErrnoStatus(int err, absl::string_view what, const std::string& path) {
  std::string message = absl::StrCat(what, " ", path, ": ", std::strerror(err));
  if (err == ENOENT || err == ENODEV || err == ENXIO) return absl::NotFoundError(message);
  if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(message);
  return absl::InternalError(message);
}

absl::StatusOr<Fd> OpenFile(const std::string& path, int flags) {
  Fd fd(::open(path.c_str(), flags | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoStatus(errno, "cannot open", path);
  return fd;
}

absl::StatusOr<std::unique_ptr<Mapping>> MapFile(int fd, const std::string& path, size_t length,
                                                 uint64_t offset) {
  void* address = ::mmap64(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
                           static_cast<off64_t>(offset));
  if (address == MAP_FAILED) {
    return absl::InternalError(absl::StrCat("cannot mmap ", length, " bytes at offset 0x",
                                            absl::Hex(offset), " of ", path, ": ",
                                            std::strerror(errno)));
  }
  return std::make_unique<Mapping>(address, length);
}

// One sysfs attribute's text without its trailing newline.
absl::StatusOr<std::string> ReadSysfs(const std::string& path) {
  PYNQ_ASSIGN_OR_RETURN(std::string text, ReadRegularFile(path, path, kMaxSysfsBytes));
  return std::string(absl::StripAsciiWhitespace(text));
}

// "0x3f000000" (u-dma-buf's phys_addr, UIO's maps/mapN/addr and size).
absl::StatusOr<uint64_t> ReadSysfsHex(const std::string& path) {
  PYNQ_ASSIGN_OR_RETURN(std::string text, ReadSysfs(path));
  uint64_t value = 0;
  if (text.size() < 3 || text[0] != '0' || (text[1] != 'x' && text[1] != 'X') ||
      !absl::SimpleHexAtoi(absl::string_view(text).substr(2), &value)) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": expected a hexadecimal number like 0x3f000000, found '",
                     BoundedForMessage(text), "'"));
  }
  return value;
}

// "4194304" (u-dma-buf's size).
absl::StatusOr<uint64_t> ReadSysfsDecimal(const std::string& path) {
  PYNQ_ASSIGN_OR_RETURN(std::string text, ReadSysfs(path));
  uint64_t value = 0;
  if (text.empty() || !absl::SimpleAtoi(text, &value) || !absl::ascii_isdigit(text[0])) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": expected a decimal number, found '", BoundedForMessage(text), "'"));
  }
  return value;
}

// One sysfs write: its own open, write, close, as the kernel acts on each write.
absl::Status WriteSysfs(const std::string& path, uint64_t value) {
  const std::string text = absl::StrCat(value);
  Fd fd(::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
  if (fd.get() < 0) {
    return absl::InternalError(
        absl::StrCat("cannot open ", path, " to write ", text, ": ", std::strerror(errno)));
  }
  ssize_t n;
  do {
    n = ::write(fd.get(), text.data(), text.size());
  } while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(text.size())) {
    const std::string why = n < 0 ? std::strerror(errno) : "short write";
    return absl::InternalError(absl::StrCat("writing ", text, " to ", path, ": ", why));
  }
  return absl::OkStatus();
}

// Registers through a shared mapping. Volatile accesses: the compiler neither caches nor
// merges them; the mapping itself is uncached (UIO and /dev/mem with O_SYNC map device memory).
class MappedMmio : public Mmio {
 public:
  MappedMmio(std::unique_ptr<Mapping> mapping, size_t offset_in_mapping, size_t size)
      : mapping_(std::move(mapping)),
        registers_(static_cast<volatile uint32_t*>(
            static_cast<void*>(mapping_->bytes() + offset_in_mapping))),
        size_(size) {}

  uint32_t Read32(uint32_t offset) override { return registers_[offset / 4]; }
  void Write32(uint32_t offset, uint32_t value) override { registers_[offset / 4] = value; }
  size_t size() const override { return size_; }

 private:
  const std::unique_ptr<Mapping> mapping_;
  volatile uint32_t* const registers_;
  const size_t size_;
};

// A UIO device that answers for an IP: its node and how many bytes its map0 holds (0: unknown).
struct UioMatch {
  std::string node;
  uint64_t map_size = 0;
};

// The UIO device whose map0 starts at window.base, else the first whose name is the instance.
std::optional<UioMatch> FindUio(const UioPlatform::Options& options, const IpWindow& window) {
  std::error_code ec;
  std::vector<std::string> devices;
  for (const auto& entry : std::filesystem::directory_iterator(options.uio_class_dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("uio", 0) == 0) devices.push_back(name);
  }
  std::sort(devices.begin(), devices.end());
  std::optional<UioMatch> by_name;
  for (const std::string& device : devices) {
    const std::string dir = absl::StrCat(options.uio_class_dir, "/", device);
    UioMatch match{absl::StrCat(options.dev_dir, "/", device), 0};
    if (auto size = ReadSysfsHex(dir + "/maps/map0/size"); size.ok()) match.map_size = *size;
    if (auto addr = ReadSysfsHex(dir + "/maps/map0/addr"); addr.ok() && *addr == window.base) {
      return match;
    }
    auto name = ReadSysfs(dir + "/name");
    if (!by_name && name.ok() && !window.instance.empty() && *name == window.instance) {
      by_name = match;
    }
  }
  return by_name;
}

}  // namespace

// The one u-dma-buf region: its mapping, its free list and its sysfs sync files.
// Thread-safe.
class UdmaBufRegion {
 public:
  UdmaBufRegion(std::string name, std::string class_dir, Fd fd, std::unique_ptr<Mapping> mapping,
                uint64_t physical_address, size_t size, bool uncached)
      : name_(std::move(name)),
        class_dir_(std::move(class_dir)),
        fd_(std::move(fd)),
        mapping_(std::move(mapping)),
        physical_address_(physical_address),
        size_(size),
        uncached_(uncached) {
    free_[0] = size;
    bytes_free_ = size;
  }

  uint8_t* data(size_t offset) const { return mapping_->bytes() + offset; }
  uint64_t physical_address() const { return physical_address_; }
  size_t size() const { return size_; }
  bool uncached() const { return uncached_; }

  size_t bytes_free() const {
    std::lock_guard<std::mutex> lock(mu_);
    return bytes_free_;
  }

  // First fit. `length` is a multiple of kDmaAlignment, so every block boundary stays aligned.
  absl::StatusOr<size_t> Allocate(size_t length) {
    std::lock_guard<std::mutex> lock(mu_);
    size_t largest = 0;
    for (auto it = free_.begin(); it != free_.end(); ++it) {
      const auto [offset, block] = *it;
      if (block >= length) {
        free_.erase(it);
        if (block > length) free_[offset + length] = block - length;
        bytes_free_ -= length;
        return offset;
      }
      largest = std::max(largest, block);
    }
    return absl::ResourceExhaustedError(absl::StrCat(
        "u-dma-buf ", name_, " cannot hold a DMA buffer of ", length, " bytes: it has ", size_,
        " bytes in all, ", bytes_free_, " free, the largest free block ", largest,
        " bytes (raise its size: docs/overlay.md)"));
  }

  // Returns [offset, offset + length) to the free list, merged with its free neighbours.
  void Release(size_t offset, size_t length) {
    std::lock_guard<std::mutex> lock(mu_);
    bytes_free_ += length;
    auto next = free_.lower_bound(offset);
    if (next != free_.end() && offset + length == next->first) {
      length += next->second;
      next = free_.erase(next);
    }
    if (next != free_.begin()) {
      auto previous = std::prev(next);
      if (previous->first + previous->second == offset) {
        previous->second += length;
        return;
      }
    }
    free_[offset] = length;
  }

  // Cache maintenance of [offset, offset + length) of the whole region. The four writes are
  // one operation on the driver's shared sync state, so they run under sync_mu_; a sysfs
  // write is a short cache operation in the kernel, never a wait on the device.
  absl::Status Sync(size_t offset, size_t length, int direction) {
    if (uncached_ || length == 0) return absl::OkStatus();
    const char* trigger = direction == kDmaToDevice ? "/sync_for_device" : "/sync_for_cpu";
    std::lock_guard<std::mutex> lock(sync_mu_);
    PYNQ_RETURN_IF_ERROR(WriteSysfs(class_dir_ + "/sync_offset", offset));
    PYNQ_RETURN_IF_ERROR(WriteSysfs(class_dir_ + "/sync_size", length));
    PYNQ_RETURN_IF_ERROR(WriteSysfs(class_dir_ + "/sync_direction", direction));
    return WriteSysfs(class_dir_ + trigger, 1);
  }

 private:
  // Constant after construction.
  const std::string name_;
  const std::string class_dir_;
  const Fd fd_;
  const std::unique_ptr<Mapping> mapping_;
  const uint64_t physical_address_;
  const size_t size_;
  const bool uncached_;

  // std::mutex, not absl::Mutex: TSan sees std::mutex (Debian's abseil is not instrumented).
  mutable std::mutex mu_;
  // Free blocks: offset -> length, disjoint, never adjacent (Release merges them).
  std::map<size_t, size_t> free_ ABSL_GUARDED_BY(mu_);
  size_t bytes_free_ ABSL_GUARDED_BY(mu_) = 0;

  // Held across the sysfs writes of one sync.
  std::mutex sync_mu_;
};

namespace {

// A sub-range of the region; returns it on destruction.
class UdmaSubBuffer : public DmaBuffer {
 public:
  UdmaSubBuffer(std::shared_ptr<UdmaBufRegion> region, size_t offset, size_t size)
      : region_(std::move(region)), offset_(offset), size_(size) {}
  ~UdmaSubBuffer() override { region_->Release(offset_, size_); }
  UdmaSubBuffer(const UdmaSubBuffer&) = delete;
  UdmaSubBuffer& operator=(const UdmaSubBuffer&) = delete;

  uint8_t* data() override { return region_->data(offset_); }
  uint64_t device_address() const override { return region_->physical_address() + offset_; }
  size_t size() const override { return size_; }
  bool uncached() const override { return region_->uncached(); }

  absl::Status SyncForDevice(size_t offset, size_t bytes) override {
    return Sync(offset, bytes, kDmaToDevice);
  }
  absl::Status SyncForCpu(size_t offset, size_t bytes) override {
    return Sync(offset, bytes, kDmaFromDevice);
  }

 private:
  absl::Status Sync(size_t offset, size_t bytes, int direction) {
    PYNQ_RETURN_IF_ERROR(CheckSyncRange(offset, bytes, size_));
    return region_->Sync(offset_ + offset, bytes, direction);
  }

  const std::shared_ptr<UdmaBufRegion> region_;
  const size_t offset_;  // bytes from the region's start
  const size_t size_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<UioPlatform>> UioPlatform::Create(const Options& options) {
  Options resolved = options;
  if (resolved.udmabuf_device.empty()) {
    resolved.udmabuf_device = absl::StrCat(resolved.dev_dir, "/", resolved.udmabuf_name);
  }
  if (resolved.udmabuf_class_dir.empty()) {
    resolved.udmabuf_class_dir = absl::StrCat("/sys/class/u-dma-buf/", resolved.udmabuf_name);
  }
  const std::string& dir = resolved.udmabuf_class_dir;
  const std::string hint = absl::StrCat(" (is the u-dma-buf module loaded with ",
                                        resolved.udmabuf_name, "=<bytes>? see docs/overlay.md)");

  absl::StatusOr<uint64_t> physical_address = ReadSysfsHex(dir + "/phys_addr");
  if (absl::IsNotFound(physical_address.status())) {
    return absl::NotFoundError(absl::StrCat(physical_address.status().message(), hint));
  }
  PYNQ_RETURN_IF_ERROR(physical_address.status());
  PYNQ_ASSIGN_OR_RETURN(uint64_t size, ReadSysfsDecimal(dir + "/size"));
  if (size == 0 || size > SIZE_MAX / 2) {
    return absl::FailedPreconditionError(
        absl::StrCat(dir, "/size: u-dma-buf reports ", size, " bytes; expected 1..", SIZE_MAX / 2));
  }
  if (*physical_address % PageSize() != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(dir, "/phys_addr: 0x", absl::Hex(*physical_address), " is not page aligned"));
  }

  const int flags = O_RDWR | (resolved.open_sync ? O_SYNC : 0);
  absl::StatusOr<Fd> fd = OpenFile(resolved.udmabuf_device, flags);
  if (absl::IsNotFound(fd.status())) {
    return absl::NotFoundError(absl::StrCat(fd.status().message(), hint));
  }
  PYNQ_RETURN_IF_ERROR(fd.status());
  PYNQ_ASSIGN_OR_RETURN(auto mapping,
                        MapFile(fd->get(), resolved.udmabuf_device, static_cast<size_t>(size), 0));
  auto region = std::make_shared<UdmaBufRegion>(resolved.udmabuf_name, dir, std::move(*fd),
                                                std::move(mapping), *physical_address,
                                                static_cast<size_t>(size), resolved.open_sync);
  return std::unique_ptr<UioPlatform>(new UioPlatform(std::move(resolved), std::move(region)));
}

UioPlatform::UioPlatform(Options options, std::shared_ptr<UdmaBufRegion> region)
    : options_(std::move(options)), region_(std::move(region)) {}

UioPlatform::~UioPlatform() = default;

absl::StatusOr<std::unique_ptr<Mmio>> UioPlatform::MapRegisters(const IpWindow& window) {
  if (window.size == 0 || window.size > SIZE_MAX / 2) {
    return absl::InvalidArgumentError(absl::StrCat("register window of ", window.instance,
                                                   " has a size of ", window.size, " bytes"));
  }
  const size_t page = PageSize();
  if (std::optional<UioMatch> uio = FindUio(options_, window)) {
    size_t size = static_cast<size_t>(window.size);
    if (uio->map_size != 0 && uio->map_size < size) size = static_cast<size_t>(uio->map_size);
    PYNQ_ASSIGN_OR_RETURN(Fd fd, OpenFile(uio->node, O_RDWR | O_SYNC));
    // UIO selects map N by an mmap offset of N pages: map0 is offset 0.
    PYNQ_ASSIGN_OR_RETURN(auto mapping, MapFile(fd.get(), uio->node, RoundUp(size, page), 0));
    return std::make_unique<MappedMmio>(std::move(mapping), 0, size);
  }
  if (options_.mem_device.empty()) {
    return absl::NotFoundError(absl::StrCat("no UIO device in ", options_.uio_class_dir, " maps 0x",
                                            absl::Hex(window.base), " (", window.instance,
                                            ") and /dev/mem is not allowed"));
  }
  const uint64_t aligned_base = window.base / page * page;
  const size_t lead = static_cast<size_t>(window.base - aligned_base);
  const size_t size = static_cast<size_t>(window.size);
  PYNQ_ASSIGN_OR_RETURN(Fd fd, OpenFile(options_.mem_device, O_RDWR | O_SYNC));
  PYNQ_ASSIGN_OR_RETURN(auto mapping, MapFile(fd.get(), options_.mem_device,
                                              RoundUp(lead + size, page), aligned_base));
  return std::make_unique<MappedMmio>(std::move(mapping), lead, size);
}

absl::StatusOr<std::unique_ptr<DmaBuffer>> UioPlatform::AllocateDma(size_t bytes) {
  if (bytes > region_->size()) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "a DMA buffer of ", bytes, " bytes does not fit in u-dma-buf ", options_.udmabuf_name,
        " of ", region_->size(), " bytes (raise its size: docs/overlay.md)"));
  }
  const size_t length = RoundUp(std::max<size_t>(bytes, 1), kDmaAlignment);
  PYNQ_ASSIGN_OR_RETURN(size_t offset, region_->Allocate(length));
  std::memset(region_->data(offset), 0, length);
  return std::make_unique<UdmaSubBuffer>(region_, offset, length);
}

uint64_t UioPlatform::dma_physical_address() const { return region_->physical_address(); }
size_t UioPlatform::dma_capacity() const { return region_->size(); }
size_t UioPlatform::dma_bytes_free() const { return region_->bytes_free(); }

}  // namespace pynq::accel::fpga
