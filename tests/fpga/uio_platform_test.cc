// UioPlatform against a folder of ordinary files standing in for sysfs and /dev: mmap of a
// regular file behaves like the device nodes for what the platform does with them.
#include "accel/fpga/uio_platform.h"

#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pynq::accel::fpga {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// Debian's abseil has its own string_view, which gmock's string matchers do not take.
std::string Message(const absl::Status& status) { return std::string(status.message()); }

constexpr uint64_t kPhysicalAddress = 0x3f000000;
constexpr size_t kRegionBytes = 64 * 1024;
constexpr uint64_t kDmaBase = 0x40400000;

void WriteText(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

std::string ReadText(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A file of `bytes` bytes, every byte `fill`.
void WriteFilled(const fs::path& path, size_t bytes, char fill) {
  WriteText(path, std::string(bytes, fill));
}

uint32_t ReadLe32(const fs::path& path, uint64_t offset) {
  std::ifstream in(path, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(offset));
  uint8_t b[4] = {};
  in.read(reinterpret_cast<char*>(b), 4);
  return b[0] | b[1] << 8 | b[2] << 16 | static_cast<uint32_t>(b[3]) << 24;
}

class UioPlatformTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    root_ = fs::path(::testing::TempDir()) /
            (std::string("pynq_uio_") + info->name() + "_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    udmabuf_dir_ = root_ / "sys/class/u-dma-buf/udmabuf0";
    WriteText(udmabuf_dir_ / "phys_addr", "0x000000003f000000\n");
    WriteText(udmabuf_dir_ / "size", std::to_string(kRegionBytes) + "\n");
    for (const char* name :
         {"sync_offset", "sync_size", "sync_direction", "sync_for_cpu", "sync_for_device"}) {
      WriteText(udmabuf_dir_ / name, "");
    }
    // 0xAA everywhere, so the zero fill of a new buffer is visible.
    WriteFilled(root_ / "dev/udmabuf0", kRegionBytes, '\xAA');

    // uio0 answers for axi_dma_0 at 0x40400000 (64 KiB).
    WriteText(root_ / "sys/class/uio/uio0/name", "dma\n");
    WriteText(root_ / "sys/class/uio/uio0/maps/map0/addr", "0x40400000\n");
    WriteText(root_ / "sys/class/uio/uio0/maps/map0/size", "0x00010000\n");
    WriteFilled(root_ / "dev/uio0", 0x10000, '\0');

    options_.uio_class_dir = (root_ / "sys/class/uio").string();
    options_.dev_dir = (root_ / "dev").string();
    options_.mem_device = (root_ / "dev/mem").string();
    options_.udmabuf_device = (root_ / "dev/udmabuf0").string();
    options_.udmabuf_class_dir = udmabuf_dir_.string();
  }
  void TearDown() override { fs::remove_all(root_); }

  std::unique_ptr<UioPlatform> MakePlatform() {
    auto platform = UioPlatform::Create(options_);
    EXPECT_TRUE(platform.ok()) << platform.status();
    return platform.ok() ? std::move(*platform) : nullptr;
  }

  std::unique_ptr<DmaBuffer> Allocate(UioPlatform& platform, size_t bytes) {
    auto buffer = platform.AllocateDma(bytes);
    EXPECT_TRUE(buffer.ok()) << buffer.status();
    return buffer.ok() ? std::move(*buffer) : nullptr;
  }

  fs::path root_;
  fs::path udmabuf_dir_;
  UioPlatform::Options options_;
};

TEST_F(UioPlatformTest, CreateReadsPhysicalAddressAndSizeOfTheUdmaBuf) {
  auto platform = MakePlatform();
  ASSERT_NE(platform, nullptr);
  EXPECT_EQ(platform->name(), "uio");
  EXPECT_EQ(platform->dma_physical_address(), kPhysicalAddress);
  EXPECT_EQ(platform->dma_capacity(), kRegionBytes);
  EXPECT_EQ(platform->dma_bytes_free(), kRegionBytes);
}

TEST_F(UioPlatformTest, MapRegistersFindsUioByBaseAddressAndWritesLandInItsNode) {
  auto platform = MakePlatform();
  ASSERT_NE(platform, nullptr);
  auto mmio = platform->MapRegisters({"axi_dma_0", kDmaBase, 0x10000});
  ASSERT_TRUE(mmio.ok()) << mmio.status();
  EXPECT_EQ((*mmio)->size(), 0x10000u);
  (*mmio)->Write32(0x30, 0xdeadbeef);
  (*mmio)->Write32(0x58, 0x00001000);
  EXPECT_EQ((*mmio)->Read32(0x30), 0xdeadbeefu);
  mmio->reset();  // unmap: the file now holds what was written
  EXPECT_EQ(ReadLe32(root_ / "dev/uio0", 0x30), 0xdeadbeefu);
  EXPECT_EQ(ReadLe32(root_ / "dev/uio0", 0x58), 0x00001000u);
  EXPECT_EQ(ReadLe32(root_ / "dev/uio0", 0x00), 0u);
}

TEST_F(UioPlatformTest, MapRegistersFindsUioByInstanceNameWhenNoAddressMatches) {
  WriteText(root_ / "sys/class/uio/uio1/name", "lfc_w1a1_0\n");
  WriteText(root_ / "sys/class/uio/uio1/maps/map0/addr", "0x43c00000\n");
  WriteText(root_ / "sys/class/uio/uio1/maps/map0/size", "0x00010000\n");
  WriteFilled(root_ / "dev/uio1", 0x10000, '\0');
  auto platform = MakePlatform();
  ASSERT_NE(platform, nullptr);
  auto mmio = platform->MapRegisters({"lfc_w1a1_0", 0x50000000, 0x10000});
  ASSERT_TRUE(mmio.ok()) << mmio.status();
  (*mmio)->Write32(0x10, 7);
  mmio->reset();
  EXPECT_EQ(ReadLe32(root_ / "dev/uio1", 0x10), 7u);
}

TEST_F(UioPlatformTest, MapRegistersCoversOnlyTheUioMapWhenItIsSmallerThanTheWindow) {
  WriteText(root_ / "sys/class/uio/uio0/maps/map0/size", "0x00001000\n");
  auto platform = MakePlatform();
  ASSERT_NE(platform, nullptr);
  auto mmio = platform->MapRegisters({"axi_dma_0", kDmaBase, 0x10000});
  ASSERT_TRUE(mmio.ok()) << mmio.status();
  EXPECT_EQ((*mmio)->size(), 0x1000u);
}

TEST_F(UioPlatformTest, MapRegistersFallsBackToDevMemAtThePageAlignedBase) {
  constexpr uint64_t kBase = 0x20000;
  WriteFilled(root_ / "dev/mem", kBase + 0x10000, '\0');
  auto platform = MakePlatform();
  ASSERT_NE(platform, nullptr);
  auto mmio = platform->MapRegisters({"axi_intc_0", kBase, 0x10000});
  ASSERT_TRUE(mmio.ok()) << mmio.status();
  (*mmio)->Write32(0x1c, 0x12345678);
  mmio->reset();
  EXPECT_EQ(ReadLe32(root_ / "dev/mem", kBase + 0x1c), 0x12345678u);
}

TEST_F(UioPlatformTest, MapRegistersWithoutUioAndWithoutDevMemIsNotFound) {
  options_.mem_device = "";
  auto platform = MakePlatform();
  ASSERT_NE(platform, nullptr);
  auto mmio = platform->MapRegisters({"axi_dma_9", 0x40490000, 0x10000});
  EXPECT_EQ(mmio.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(mmio.status()), HasSubstr("0x40490000"));
}

TEST_F(UioPlatformTest, MapRegistersOfUioWithoutDeviceNodeIsNotFound) {
  fs::remove(root_ / "dev/uio0");
  auto platform = MakePlatform();
  ASSERT_NE(platform, nullptr);
  auto mmio = platform->MapRegisters({"axi_dma_0", kDmaBase, 0x10000});
  EXPECT_EQ(mmio.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(mmio.status()), HasSubstr("uio0"));
}

TEST_F(UioPlatformTest, AllocateDmaAlignsZeroFillsAndAddsOffsetToPhysicalAddress) {
  auto platform = MakePlatform();
  ASSERT_NE(platform, nullptr);
  auto a = Allocate(*platform, 100);
  auto b = Allocate(*platform, 1);
  auto c = Allocate(*platform, 0);
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(a->size(), 128u);
  EXPECT_EQ(b->size(), 64u);
  EXPECT_EQ(c->size(), 64u);
  EXPECT_EQ(a->device_address(), kPhysicalAddress);
  EXPECT_EQ(b->device_address(), kPhysicalAddress + 128);
  EXPECT_EQ(c->device_address(), kPhysicalAddress + 192);
  EXPECT_EQ(b->data() - a->data(), 128);
  EXPECT_FALSE(a->uncached());
  for (const auto* buffer : {a.get(), b.get(), c.get()}) {
    EXPECT_EQ(buffer->device_address() % UioPlatform::kDmaAlignment, 0u);
  }
  EXPECT_EQ(std::vector<uint8_t>(a->data(), a->data() + a->size()),
            std::vector<uint8_t>(a->size(), 0));
  // The byte after c was not handed out, so it still holds the file's fill.
  EXPECT_EQ(c->data()[c->size()], 0xAA);
  EXPECT_EQ(platform->dma_bytes_free(), kRegionBytes - 256);
}

TEST_F(UioPlatformTest, FreedRangeIsReusedByTheNextAllocationThatFits) {
  auto platform = MakePlatform();
  ASSERT_NE(platform, nullptr);
  auto a = Allocate(*platform, 256);
  auto b = Allocate(*platform, 256);
  auto c = Allocate(*platform, 256);
  ASSERT_TRUE(a && b && c);
  const uint64_t b_address = b->device_address();
  b.reset();
  EXPECT_EQ(platform->dma_bytes_free(), kRegionBytes - 512);
  auto d = Allocate(*platform, 64);  // first fit: the hole b left
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->device_address(), b_address);
  auto e = Allocate(*platform, 256);  // the hole's rest is too small: after c
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->device_address(), c->device_address() + 256);
}

TEST_F(UioPlatformTest, FreedNeighboursMergeSoTheWholeRegionCanBeAllocatedAgain) {
  auto platform = MakePlatform();
  ASSERT_NE(platform, nullptr);
  std::vector<std::unique_ptr<DmaBuffer>> quarters;
  for (int i = 0; i < 4; ++i) quarters.push_back(Allocate(*platform, kRegionBytes / 4));
  // Free in an order that needs merging with both neighbours.
  for (int i : {1, 3, 2, 0}) quarters[i].reset();
  EXPECT_EQ(platform->dma_bytes_free(), kRegionBytes);
  auto whole = Allocate(*platform, kRegionBytes);
  ASSERT_NE(whole, nullptr);
  EXPECT_EQ(whole->device_address(), kPhysicalAddress);
}

TEST_F(UioPlatformTest, AllocateBeyondCapacityIsResourceExhaustedAndSaysHowMuchThereIs) {
  auto platform = MakePlatform();
  ASSERT_NE(platform, nullptr);
  auto too_big = platform->AllocateDma(kRegionBytes + 1);
  EXPECT_EQ(too_big.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(Message(too_big.status()), HasSubstr("65537"));
  EXPECT_THAT(Message(too_big.status()), HasSubstr("65536"));
}

TEST_F(UioPlatformTest, AllocateIntoAFragmentedRegionNamesTheLargestFreeBlock) {
  auto platform = MakePlatform();
  ASSERT_NE(platform, nullptr);
  auto a = Allocate(*platform, kRegionBytes / 2);
  auto b = Allocate(*platform, kRegionBytes / 4);
  auto c = Allocate(*platform, kRegionBytes / 4);
  a.reset();
  c.reset();  // free: 32 KiB then 16 KiB, not adjacent
  auto result = platform->AllocateDma(40 * 1024);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(Message(result.status()), HasSubstr("49152 free"));
  EXPECT_THAT(Message(result.status()), HasSubstr("largest free block 32768"));
}

TEST_F(UioPlatformTest, SyncForDeviceWritesTheSubRangeToDeviceThenTriggers) {
  auto platform = MakePlatform();
  ASSERT_NE(platform, nullptr);
  auto a = Allocate(*platform, 128);
  auto b = Allocate(*platform, 256);  // at offset 128 of the u-dma-buf
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(b->SyncForDevice(16, 32).ok());
  EXPECT_EQ(ReadText(udmabuf_dir_ / "sync_offset"), "144");
  EXPECT_EQ(ReadText(udmabuf_dir_ / "sync_size"), "32");
  EXPECT_EQ(ReadText(udmabuf_dir_ / "sync_direction"), "1");
  EXPECT_EQ(ReadText(udmabuf_dir_ / "sync_for_device"), "1");
  EXPECT_EQ(ReadText(udmabuf_dir_ / "sync_for_cpu"), "");
}

TEST_F(UioPlatformTest, SyncForCpuWritesTheSubRangeFromDeviceThenTriggers) {
  auto platform = MakePlatform();
  ASSERT_NE(platform, nullptr);
  auto a = Allocate(*platform, 1000);  // 1024 bytes
  auto b = Allocate(*platform, 4096);
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(b->SyncForCpu(0, 4096).ok());
  EXPECT_EQ(ReadText(udmabuf_dir_ / "sync_offset"), "1024");
  EXPECT_EQ(ReadText(udmabuf_dir_ / "sync_size"), "4096");
  EXPECT_EQ(ReadText(udmabuf_dir_ / "sync_direction"), "2");
  EXPECT_EQ(ReadText(udmabuf_dir_ / "sync_for_cpu"), "1");
  EXPECT_EQ(ReadText(udmabuf_dir_ / "sync_for_device"), "");
}

TEST_F(UioPlatformTest, SyncOutsideTheBufferIsInvalidArgumentAndWritesNothing) {
  auto platform = MakePlatform();
  ASSERT_NE(platform, nullptr);
  auto buffer = Allocate(*platform, 256);
  ASSERT_NE(buffer, nullptr);
  EXPECT_EQ(buffer->SyncForDevice(0, 257).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(buffer->SyncForDevice(256, 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(buffer->SyncForCpu(257, 0).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(buffer->SyncForCpu(8, SIZE_MAX).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadText(udmabuf_dir_ / "sync_size"), "");
  EXPECT_TRUE(buffer->SyncForCpu(256, 0).ok());
}

TEST_F(UioPlatformTest, SyncThatCannotWriteSysfsIsInternalAndNamesTheFile) {
  auto platform = MakePlatform();
  ASSERT_NE(platform, nullptr);
  auto buffer = Allocate(*platform, 256);
  ASSERT_NE(buffer, nullptr);
  fs::remove(udmabuf_dir_ / "sync_size");
  const absl::Status status = buffer->SyncForDevice(0, 64);
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(Message(status), HasSubstr("sync_size"));
  EXPECT_THAT(Message(status), HasSubstr("No such file"));
}

TEST_F(UioPlatformTest, OpenSyncGivesUncachedBuffersWhoseSyncsWriteNothing) {
  options_.open_sync = true;
  auto platform = MakePlatform();
  ASSERT_NE(platform, nullptr);
  auto buffer = Allocate(*platform, 256);
  ASSERT_NE(buffer, nullptr);
  EXPECT_TRUE(buffer->uncached());
  EXPECT_TRUE(buffer->SyncForDevice(0, 256).ok());
  EXPECT_EQ(ReadText(udmabuf_dir_ / "sync_for_device"), "");
}

TEST_F(UioPlatformTest, CreateWithoutPhysAddrIsNotFoundAndPointsAtTheModule) {
  fs::remove(udmabuf_dir_ / "phys_addr");
  auto platform = UioPlatform::Create(options_);
  EXPECT_EQ(platform.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(platform.status()), HasSubstr("phys_addr"));
  EXPECT_THAT(Message(platform.status()), HasSubstr("u-dma-buf module"));
}

TEST_F(UioPlatformTest, CreateWithGarbledPhysAddrIsFailedPreconditionAndQuotesIt) {
  WriteText(udmabuf_dir_ / "phys_addr", "3f00zz\n");
  auto platform = UioPlatform::Create(options_);
  EXPECT_EQ(platform.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Message(platform.status()), HasSubstr("phys_addr"));
  EXPECT_THAT(Message(platform.status()), HasSubstr("'3f00zz'"));
}

TEST_F(UioPlatformTest, CreateWithGarbledSizeIsFailedPrecondition) {
  WriteText(udmabuf_dir_ / "size", "-5\n");
  auto platform = UioPlatform::Create(options_);
  EXPECT_EQ(platform.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Message(platform.status()), HasSubstr("size"));
}

TEST_F(UioPlatformTest, CreateWithoutUdmaBufDeviceIsNotFound) {
  fs::remove(root_ / "dev/udmabuf0");
  auto platform = UioPlatform::Create(options_);
  EXPECT_EQ(platform.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(platform.status()), HasSubstr("udmabuf0"));
}

TEST_F(UioPlatformTest, BufferMayOutliveThePlatform) {
  auto platform = MakePlatform();
  ASSERT_NE(platform, nullptr);
  auto buffer = Allocate(*platform, 256);
  ASSERT_NE(buffer, nullptr);
  platform.reset();
  buffer->data()[0] = 1;
  EXPECT_TRUE(buffer->SyncForDevice(0, 1).ok());
  buffer.reset();
}

TEST_F(UioPlatformTest, ConcurrentAllocateAndFreeKeepTheFreeListWhole) {
  auto platform = MakePlatform();
  ASSERT_NE(platform, nullptr);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&platform, t] {
      for (int i = 0; i < 500; ++i) {
        auto buffer = platform->AllocateDma(64 * (1 + (i + t) % 7));
        if (buffer.ok()) (*buffer)->data()[0] = static_cast<uint8_t>(t);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(platform->dma_bytes_free(), kRegionBytes);
  EXPECT_TRUE(platform->AllocateDma(kRegionBytes).ok());
}

}  // namespace
}  // namespace pynq::accel::fpga
