// XrtPlatform where no XRT device exists (this machine, CI): every failure must come back as a
// status, never as an exception or a crash. Built only where libxrt-dev is installed.
#include "accel/fpga/xrt_platform.h"

#include <cstdlib>
#include <type_traits>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#ifndef PYNQ_HAVE_XRT
#error "linking pynq_fpga_platform_xrt must define PYNQ_HAVE_XRT for its users"
#endif

namespace pynq::accel::fpga {
namespace {

using ::testing::HasSubstr;

// Debian's abseil has its own string_view, which gmock's string matchers do not take.
std::string Message(const absl::Status& status) { return std::string(status.message()); }

static_assert(std::is_base_of_v<Platform, XrtPlatform>);

TEST(XrtPlatformTest, CreateIsLinkedFromLibxrtCoreutil) {
  // Taking the address makes the linker resolve Create and, through it, XRT's symbols.
  auto create = &XrtPlatform::Create;
  EXPECT_NE(create, nullptr);
}

TEST(XrtPlatformTest, CreateWithoutADeviceIsUnavailableWithXrtsMessage) {
  XrtPlatform::Options options;
  options.device_index = 0;
  auto platform = XrtPlatform::Create(options);
  if (platform.ok()) GTEST_SKIP() << "an XRT device is present here";
  // XRT says "XILINX_XRT not set", "No such library ..." or "Could not open device ...",
  // depending on the environment; the code and our prefix do not change.
  EXPECT_EQ(platform.status().code(), absl::StatusCode::kUnavailable) << platform.status();
  EXPECT_THAT(Message(platform.status()), HasSubstr("XRT cannot open device 0: "));
  EXPECT_GT(Message(platform.status()).size(), sizeof("XRT cannot open device 0: "));
}

TEST(XrtPlatformTest, CreateWithXilinxXrtPointingNowhereIsUnavailable) {
  const char* old = std::getenv("XILINX_XRT");
  const std::string saved = old == nullptr ? "" : old;
  ::setenv("XILINX_XRT", "/nonexistent-xrt", 1);
  XrtPlatform::Options options;
  options.device_index = 3;
  auto platform = XrtPlatform::Create(options);
  if (old == nullptr) {
    ::unsetenv("XILINX_XRT");
  } else {
    ::setenv("XILINX_XRT", saved.c_str(), 1);
  }
  if (platform.ok()) GTEST_SKIP() << "an XRT device is present here";
  EXPECT_EQ(platform.status().code(), absl::StatusCode::kUnavailable) << platform.status();
  EXPECT_THAT(Message(platform.status()), HasSubstr("device 3"));
}

TEST(XrtPlatformTest, CreateWithMissingXclbinIsNotFoundBeforeTouchingTheDevice) {
  XrtPlatform::Options options;
  options.xclbin_path = "/nonexistent/overlay.xclbin";
  auto platform = XrtPlatform::Create(options);
  EXPECT_EQ(platform.status().code(), absl::StatusCode::kNotFound) << platform.status();
  EXPECT_THAT(Message(platform.status()), HasSubstr("/nonexistent/overlay.xclbin"));
}

}  // namespace
}  // namespace pynq::accel::fpga
