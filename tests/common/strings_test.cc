#include "common/strings.h"

#include <string>

#include "gtest/gtest.h"

namespace pynq {
namespace {

TEST(BoundedForMessageTest, ShortPrintableTextIsKept) {
  EXPECT_EQ(BoundedForMessage("mnist-cnn-q8"), "mnist-cnn-q8");
}

TEST(BoundedForMessageTest, LongTextIsCutAndSaysItsLength) {
  const std::string out = BoundedForMessage(std::string(2 << 20, 'n'));
  EXPECT_EQ(out, std::string(kMaxEchoBytes, 'n') + "... (2097152 bytes)");
}

TEST(BoundedForMessageTest, ControlBytesAreEscapedAndTheResultStaysBounded) {
  EXPECT_EQ(BoundedForMessage(std::string("a\nb\x01", 4)), "a\\nb\\x01");
  const std::string worst = BoundedForMessage(std::string(10000, '\x01'), 16);
  EXPECT_LE(worst.size(), 4u * 16 + 32);
  EXPECT_NE(worst.find("... (10000 bytes)"), std::string::npos);
}

TEST(TruncatedTest, KeepsBytesExactlyWhenTheyFit) {
  const std::string id("id\x00\xff", 4);
  EXPECT_EQ(Truncated(id), id);
  EXPECT_EQ(Truncated(std::string(300, 'x'), 10), "xxxxxxxxxx... (300 bytes)");
}

}  // namespace
}  // namespace pynq
