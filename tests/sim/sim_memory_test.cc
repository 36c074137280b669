// The virtual overlay's DMA memory (accel/sim/sim_memory.h): a non-coherent cache in front of
// DRAM, with capacity and address checks.
#include "accel/sim/sim_memory.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pynq::accel::sim {
namespace {

using ::testing::HasSubstr;

TEST(SimMemoryTest, CpuWritesReachTheDeviceOnlyAfterSyncForDevice) {
  SimMemory memory({});
  auto buffer = memory.Allocate(64);
  ASSERT_TRUE(buffer.ok());
  fpga::DmaBuffer& b = **buffer;
  b.data()[10] = 42;
  uint8_t seen = 0xFF;
  ASSERT_TRUE(memory.DeviceRead(b.device_address() + 10, 1, &seen));
  EXPECT_EQ(seen, 0);  // still in the CPU's cache
  ASSERT_TRUE(b.SyncForDevice(8, 4).ok());
  ASSERT_TRUE(memory.DeviceRead(b.device_address() + 10, 1, &seen));
  EXPECT_EQ(seen, 42);
}

TEST(SimMemoryTest, DeviceWritesReachTheCpuOnlyAfterSyncForCpu) {
  SimMemory memory({});
  auto buffer = memory.Allocate(64);
  ASSERT_TRUE(buffer.ok());
  fpga::DmaBuffer& b = **buffer;
  const uint8_t value = 7;
  ASSERT_TRUE(memory.DeviceWrite(b.device_address() + 63, &value, 1));
  EXPECT_EQ(b.data()[63], 0);
  ASSERT_TRUE(b.SyncForCpu(32, 32).ok());
  EXPECT_EQ(b.data()[63], 7);
}

TEST(SimMemoryTest, SyncOutsideTheBufferIsInvalidArgument) {
  SimMemory memory({});
  auto buffer = memory.Allocate(64);
  ASSERT_TRUE(buffer.ok());
  const absl::Status s = (*buffer)->SyncForDevice(60, 8);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("8 bytes at offset 60 is outside a DMA buffer of 64 bytes"));
}

TEST(SimMemoryTest, DeviceAccessOutsideEveryLiveBufferFails) {
  SimMemory memory({});
  auto buffer = memory.Allocate(64);
  ASSERT_TRUE(buffer.ok());
  uint8_t byte = 0;
  const uint64_t address = (*buffer)->device_address();
  EXPECT_FALSE(memory.DeviceRead(address + 60, 8, std::vector<uint8_t>(8).data()));
  EXPECT_FALSE(memory.DeviceRead(address - 1, 1, &byte));
  buffer->reset();  // freed: its address answers no more
  EXPECT_FALSE(memory.DeviceRead(address, 1, &byte));
}

TEST(SimMemoryTest, CapacityIsEnforcedAndFreedBytesReturn) {
  SimMemory memory({0x1000'0000, 1000});
  auto a = memory.Allocate(600);
  ASSERT_TRUE(a.ok());
  auto b = memory.Allocate(600);
  ASSERT_EQ(b.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(b.status().message(), HasSubstr("600 bytes wanted, 400 of 1000 free"));
  a->reset();
  EXPECT_EQ(memory.used_bytes(), 0u);
  EXPECT_TRUE(memory.Allocate(600).ok());
}

}  // namespace
}  // namespace pynq::accel::sim
