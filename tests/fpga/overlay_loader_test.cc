// The overlay loader on a Vivado-style hardware handoff of our three-accelerator overlay
// (tests/fpga/data/pynq_infer.hwh and its .models.json), and on broken variants of it made by
// editing the text, each of which must be refused with a message that says what is wrong.
#include "accel/fpga/overlay_loader.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pynq::accel::fpga {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// Debian's abseil has its own string_view, which gmock's string matchers do not take.
std::string Message(const absl::Status& status) { return std::string(status.message()); }

constexpr char kHwhName[] = "overlays/pynq_infer.hwh";
constexpr char kModelsName[] = "overlays/pynq_infer.models.json";

// The repository root: $PYNQ_SOURCE_DIR, else the tree the test was built from.
std::string SourceDir() {
  const char* dir = std::getenv("PYNQ_SOURCE_DIR");
  if (dir != nullptr && *dir != '\0') return dir;
  return PYNQ_TEST_SOURCE_DIR;
}

std::string DataPath(const std::string& name) { return SourceDir() + "/tests/fpga/data/" + name; }

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// `text` with its first `from` replaced by `to`; fails the test when `from` is not there.
std::string ReplaceFirst(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << "fixture lacks: " << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

std::string ReplaceAll(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

// `text` without [first `begin`, the following `end` inclusive).
std::string Cut(std::string text, const std::string& begin, const std::string& end) {
  const size_t from = text.find(begin);
  const size_t to = text.find(end, from);
  EXPECT_TRUE(from != std::string::npos && to != std::string::npos) << begin << " .. " << end;
  if (from != std::string::npos && to != std::string::npos) {
    text.erase(from, to + end.size() - from);
  }
  return text;
}

class OverlayLoaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    hwh_ = ReadText(DataPath("pynq_infer.hwh"));
    models_ = ReadText(DataPath("pynq_infer.models.json"));
    options_.hwh_path = kHwhName;
  }

  absl::StatusOr<OverlayDescription> Parse(const std::string& hwh, const std::string& models) {
    return ParseOverlay(hwh, models, options_);
  }

  // Expects `hwh` (with the fixture's sidecar) to be refused as INVALID_ARGUMENT with a
  // message that starts with `prefix`.
  void ExpectRefused(const std::string& hwh, const std::string& prefix) {
    auto overlay = Parse(hwh, models_);
    EXPECT_EQ(overlay.status().code(), absl::StatusCode::kInvalidArgument) << overlay.status();
    EXPECT_THAT(Message(overlay.status()), StartsWith(prefix));
  }

  std::string hwh_;
  std::string models_;
  OverlayLoaderOptions options_;
};

TEST_F(OverlayLoaderTest, LoadOverlayOfFixturePairsEachAcceleratorWithItsDma) {
  auto overlay = LoadOverlay(DataPath("pynq_infer.hwh"));
  ASSERT_TRUE(overlay.ok()) << overlay.status();
  EXPECT_EQ(overlay->source, DataPath("pynq_infer.hwh"));
  ASSERT_EQ(overlay->accelerators.size(), 3u);

  const AcceleratorDescription& lfc1 = overlay->accelerators[0];
  EXPECT_EQ(lfc1.instance, "lfc_w1a1_0");
  EXPECT_EQ(lfc1.vlnv, "pynq-infer:hls:lfc_w1a1:1.0");
  EXPECT_EQ(lfc1.model_name, "mnist-lfc-w1a1");
  EXPECT_EQ(lfc1.model_digest, "b686f8b31f09d38a01d0f6d24fe9d653963e1396dbdc490459f02214c64ed582");
  EXPECT_EQ(lfc1.dma.registers.instance, "axi_dma_0");
  EXPECT_EQ(lfc1.dma.registers.base, 0x40400000u);
  EXPECT_EQ(lfc1.dma.registers.size, 0x10000u);
  EXPECT_EQ(lfc1.dma.vlnv, "xilinx.com:ip:axi_dma:7.1");
  EXPECT_EQ(lfc1.dma.length_width, 23);
  EXPECT_EQ(lfc1.dma.mm2s_data_width, 64);
  EXPECT_EQ(lfc1.dma.s2mm_data_width, 64);

  const AcceleratorDescription& lfc2 = overlay->accelerators[1];
  EXPECT_EQ(lfc2.instance, "lfc_w1a2_0");
  EXPECT_EQ(lfc2.model_name, "mnist-lfc-w1a2");
  EXPECT_EQ(lfc2.dma.registers.instance, "axi_dma_1");
  EXPECT_EQ(lfc2.dma.registers.base, 0x40410000u);

  const AcceleratorDescription& cnn = overlay->accelerators[2];
  EXPECT_EQ(cnn.instance, "mnist_cnn_q8_0");
  EXPECT_EQ(cnn.model_name, "mnist-cnn-q8");
  EXPECT_EQ(cnn.dma.registers.instance, "axi_dma_2");
  EXPECT_EQ(cnn.dma.registers.base, 0x40420000u);
  EXPECT_EQ(cnn.dma.mm2s_data_width, 64);
  EXPECT_EQ(cnn.dma.s2mm_data_width, 32);
}

TEST_F(OverlayLoaderTest, ModelsSidecarPathReplacesTheHwhExtension) {
  EXPECT_EQ(ModelsSidecarPath("overlays/pynq_infer.hwh"), "overlays/pynq_infer.models.json");
  EXPECT_EQ(ModelsSidecarPath("/a.b/overlay"), "/a.b/overlay.models.json");
}

TEST_F(OverlayLoaderTest, ParseAcceptsInitiatorTargetVocabularyOfNewerVivado) {
  std::string hwh = ReplaceAll(hwh_, "TYPE=\"MASTER\"", "TYPE=\"INITIATOR\"");
  hwh = ReplaceAll(hwh, "TYPE=\"SLAVE\"", "TYPE=\"TARGET\"");
  auto overlay = Parse(hwh, models_);
  ASSERT_TRUE(overlay.ok()) << overlay.status();
  EXPECT_EQ(overlay->accelerators.size(), 3u);
  EXPECT_EQ(overlay->source, kHwhName);
}

TEST_F(OverlayLoaderTest, ParseMatchesParameterNamesCaseInsensitively) {
  const std::string hwh = ReplaceFirst(hwh_, "NAME=\"C_SG_LENGTH_WIDTH\" VALUE=\"23\"",
                                       "NAME=\"c_Sg_Length_Width\" VALUE=\"20\"");
  auto overlay = Parse(hwh, models_);
  ASSERT_TRUE(overlay.ok()) << overlay.status();
  EXPECT_EQ(overlay->accelerators[0].dma.length_width, 20);
}

TEST_F(OverlayLoaderTest, ParseAcceptsZynqUltraScalePlusProcessingSystem) {
  const std::string hwh =
      ReplaceFirst(hwh_, "MODTYPE=\"processing_system7\"", "MODTYPE=\"zynq_ultra_ps_e\"");
  EXPECT_TRUE(Parse(hwh, models_).ok());
}

TEST_F(OverlayLoaderTest, DmaInScatterGatherModeIsRefused) {
  ExpectRefused(
      ReplaceFirst(hwh_, "NAME=\"C_INCLUDE_SG\" VALUE=\"0\"", "NAME=\"C_INCLUDE_SG\" VALUE=\"1\""),
      "overlays/pynq_infer.hwh: axi_dma_0 is in scatter-gather mode (C_INCLUDE_SG=1); "
      "only simple mode is supported");
}

TEST_F(OverlayLoaderTest, DmaLengthWidthOutsideEightToTwentySixIsRefused) {
  ExpectRefused(ReplaceFirst(hwh_, "NAME=\"C_SG_LENGTH_WIDTH\" VALUE=\"23\"",
                             "NAME=\"C_SG_LENGTH_WIDTH\" VALUE=\"27\""),
                "overlays/pynq_infer.hwh: axi_dma_0 has C_SG_LENGTH_WIDTH=27; supported: 8..26");
}

TEST_F(OverlayLoaderTest, DmaWithoutStreamWidthParameterIsRefused) {
  std::string hwh = ReplaceAll(hwh_, "NAME=\"C_S_AXIS_S2MM_TDATA_WIDTH\"", "NAME=\"X\"");
  hwh = ReplaceAll(hwh, "NAME=\"c_s_axis_s2mm_tdata_width\"", "NAME=\"Y\"");
  ExpectRefused(hwh,
                "overlays/pynq_infer.hwh: axi_dma_0 has no parameter C_S_AXIS_S2MM_TDATA_WIDTH");
}

TEST_F(OverlayLoaderTest, AcceleratorWithoutDmaOnItsInputIsRefused) {
  ExpectRefused(ReplaceFirst(hwh_, "BUSNAME=\"axi_dma_1_M_AXIS_MM2S\" NAME=\"in_r\"",
                             "BUSNAME=\"axis_data_fifo_0_M_AXIS\" NAME=\"in_r\""),
                "overlays/pynq_infer.hwh: accelerator 'lfc_w1a2_0' has no AXI DMA on its input "
                "stream");
}

TEST_F(OverlayLoaderTest, AcceleratorWithUnconnectedOutputIsRefused) {
  ExpectRefused(ReplaceFirst(hwh_, "BUSNAME=\"mnist_cnn_q8_0_out_r\" NAME=\"out_r\"",
                             "BUSNAME=\"__NOC__\" NAME=\"out_r\""),
                "overlays/pynq_infer.hwh: accelerator 'mnist_cnn_q8_0' has no AXI DMA on its "
                "output stream");
}

TEST_F(OverlayLoaderTest, AcceleratorWhoseStreamsUseTwoDmasIsRefused) {
  ExpectRefused(ReplaceFirst(hwh_, "BUSNAME=\"lfc_w1a1_0_out_r\" NAME=\"out_r\"",
                             "BUSNAME=\"lfc_w1a2_0_out_r\" NAME=\"out_r\""),
                "overlays/pynq_infer.hwh: accelerator 'lfc_w1a1_0' reads from axi_dma_0 but "
                "writes to axi_dma_1");
}

TEST_F(OverlayLoaderTest, DmaMissingFromTheMemoryMapIsRefused) {
  ExpectRefused(
      Cut(hwh_, "<MEMRANGE ADDRESSBLOCK=\"Reg\" BASENAME=\"C_BASEADDR\" BASEVALUE=\"0x40410000\"",
          "/>"),
      "overlays/pynq_infer.hwh: axi_dma_1 has no address range in the processing "
      "system's memory map");
}

TEST_F(OverlayLoaderTest, OverlayWithoutProcessingSystemMemoryMapIsRefused) {
  ExpectRefused(Cut(hwh_, "<MEMORYMAP>", "</MEMORYMAP>"),
                "overlays/pynq_infer.hwh: no processing_system7 (or zynq_ultra_ps_e) memory map");
}

TEST_F(OverlayLoaderTest, GarbledAddressRangeIsRefused) {
  ExpectRefused(ReplaceFirst(hwh_, "HIGHVALUE=\"0x4040FFFF\"", "HIGHVALUE=\"0x403FFFFF\""),
                "overlays/pynq_infer.hwh: the address range of axi_dma_0 [0x40400000, "
                "0x403FFFFF] is not a range");
}

TEST_F(OverlayLoaderTest, OverlayWithoutAcceleratorsIsRefused) {
  options_.accelerator_vlnv_prefixes = {"acme:hls:"};
  ExpectRefused(hwh_,
                "overlays/pynq_infer.hwh: the overlay has no accelerators (no module whose VLNV "
                "starts with acme:hls:)");
}

TEST_F(OverlayLoaderTest, MalformedXmlGivesLineColumnAndPugixmlDescription) {
  const std::string hwh = ReplaceFirst(hwh_, "<MODULES>", "<MODULES>\n    <MODULE INSTANCE=oops>");
  auto overlay = Parse(hwh, models_);
  EXPECT_EQ(overlay.status().code(), absl::StatusCode::kInvalidArgument);
  const size_t line = 1 + std::count(hwh_.begin(), hwh_.begin() + hwh_.find("<MODULES>"), '\n') + 1;
  EXPECT_THAT(Message(overlay.status()),
              StartsWith("overlays/pynq_infer.hwh: not valid XML at line " + std::to_string(line) +
                         ", column 22 "));
  EXPECT_THAT(Message(overlay.status()), HasSubstr("attribute"));
}

TEST_F(OverlayLoaderTest, TruncatedHwhIsMalformedXml) {
  ExpectRefused(hwh_.substr(0, hwh_.size() / 2), "overlays/pynq_infer.hwh: not valid XML at line ");
}

TEST_F(OverlayLoaderTest, XmlThatIsNotAHardwareHandoffIsRefused) {
  ExpectRefused("<?xml version=\"1.0\"?><project/>",
                "overlays/pynq_infer.hwh: not a Vivado hardware handoff (no EDKSYSTEM root");
}

TEST_F(OverlayLoaderTest, SidecarWithoutEntryForAnAcceleratorIsRefused) {
  const std::string models = Cut(models_, ",\n    {\n      \"instance\": \"mnist_cnn_q8_0\"", "}");
  auto overlay = Parse(hwh_, models);
  EXPECT_EQ(overlay.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(overlay.status()),
            std::string(kModelsName) + ": no entry for accelerator 'mnist_cnn_q8_0'");
}

TEST_F(OverlayLoaderTest, SidecarNamingAnAcceleratorTheOverlayLacksIsRefused) {
  const std::string models = ReplaceFirst(models_, "\"lfc_w1a2_0\"", "\"lfc_w1a2_1\"");
  auto overlay =
      Parse(ReplaceFirst(hwh_, "pynq-infer:hls:lfc_w1a2:1.0", "xilinx.com:ip:x:1.0"), models);
  EXPECT_EQ(overlay.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(overlay.status()),
              StartsWith(std::string(kModelsName) + ": names accelerator 'lfc_w1a2_1'"));
}

TEST_F(OverlayLoaderTest, SidecarWithMalformedDigestIsRefused) {
  const std::string models = ReplaceFirst(models_, "b686f8b3", "B686F8B3");
  auto overlay = Parse(hwh_, models);
  EXPECT_EQ(overlay.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      Message(overlay.status()),
      StartsWith(std::string(kModelsName) + ": accelerators[0] ('lfc_w1a1_0'): \"digest\""));
}

TEST_F(OverlayLoaderTest, SidecarListingAnAcceleratorTwiceIsRefused) {
  const std::string models = ReplaceFirst(models_, "\"lfc_w1a2_0\"", "\"lfc_w1a1_0\"");
  auto overlay = Parse(hwh_, models);
  EXPECT_THAT(Message(overlay.status()), HasSubstr("'lfc_w1a1_0' is listed twice"));
}

TEST_F(OverlayLoaderTest, SidecarThatIsNotJsonSaysWhereItBroke) {
  auto overlay = Parse(hwh_, "{\"accelerators\": [");
  EXPECT_EQ(overlay.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(overlay.status()),
              StartsWith(std::string(kModelsName) + ": not valid JSON: "));
  EXPECT_THAT(Message(overlay.status()), HasSubstr("line 1"));
  overlay = Parse(hwh_, "[1, 2]");
  EXPECT_THAT(Message(overlay.status()), HasSubstr("expected an object with an \"accelerators\""));
}

class OverlayLoaderFilesTest : public OverlayLoaderTest {
 protected:
  void SetUp() override {
    OverlayLoaderTest::SetUp();
    dir_ = fs::path(::testing::TempDir()) /
           ("pynq_overlay_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "_" +
            std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    options_.hwh_path = (dir_ / "x.hwh").string();
    std::ofstream(dir_ / "x.hwh") << hwh_;
    std::ofstream(dir_ / "x.models.json") << models_;
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_;
};

TEST_F(OverlayLoaderFilesTest, LoadOverlayReadsTheSidecarBesideTheHwh) {
  auto overlay = LoadOverlay(options_);
  ASSERT_TRUE(overlay.ok()) << overlay.status();
  EXPECT_EQ(overlay->source, options_.hwh_path);
  EXPECT_EQ(overlay->accelerators.size(), 3u);
}

TEST_F(OverlayLoaderFilesTest, LoadOverlayOfMissingHwhIsNotFound) {
  options_.hwh_path = (dir_ / "absent.hwh").string();
  auto overlay = LoadOverlay(options_);
  EXPECT_EQ(overlay.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(overlay.status()), HasSubstr("absent.hwh"));
}

TEST_F(OverlayLoaderFilesTest, LoadOverlayWithoutSidecarIsNotFoundAndNamesIt) {
  fs::remove(dir_ / "x.models.json");
  auto overlay = LoadOverlay(options_);
  EXPECT_EQ(overlay.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(overlay.status()), HasSubstr("x.models.json"));
}

TEST_F(OverlayLoaderFilesTest, LoadOverlayOfOversizedHwhIsResourceExhausted) {
  options_.max_hwh_bytes = 4096;
  auto overlay = LoadOverlay(options_);
  EXPECT_EQ(overlay.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(Message(overlay.status()), HasSubstr("x.hwh"));
}

TEST_F(OverlayLoaderFilesTest, LoadOverlayOfDirectoryIsRefused) {
  fs::create_directories(dir_ / "d.hwh");
  options_.hwh_path = (dir_ / "d.hwh").string();
  auto overlay = LoadOverlay(options_);
  EXPECT_EQ(overlay.status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace pynq::accel::fpga
