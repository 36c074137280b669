// The AXI DMA driver (accel/fpga/axi_dma.h), the code the board runs, against the virtual
// overlay's register model (accel/sim): start and completion, every error bit on each channel,
// a hung transfer, a short S2MM, a transfer over the length limit, and what the non-coherent
// cache does to a driver that skips its flush or its invalidate.
#include "accel/fpga/axi_dma.h"

#include <chrono>
#include <memory>
#include <numeric>
#include <vector>

#include "accel/sim/virtual_overlay.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fpga/test_kernel.h"

namespace pynq::accel::fpga {
namespace {

using ::pynq::accel::sim::SimFault;
using ::pynq::accel::sim::VirtualOverlay;
using ::pynq::testing::kImageBytes;
using ::pynq::testing::kOutBytes;
using ::pynq::testing::kTestKernel;
using ::pynq::testing::TestKernelExpected;
using ::testing::HasSubstr;
using Clock = AxiDma::Clock;

Clock::time_point In(int ms) { return Clock::now() + std::chrono::milliseconds(ms); }

class AxiDmaTest : public ::testing::Test {
 protected:
  void Build(int length_width = 23, bool realtime = false) {
    VirtualOverlay::Options options;
    options.kernels = {&kTestKernel};
    options.length_width = length_width;
    options.realtime = realtime;
    auto overlay = VirtualOverlay::Create(options);
    ASSERT_TRUE(overlay.ok()) << overlay.status();
    overlay_ = std::move(*overlay);
    const DmaDescription& d = overlay_->description().accelerators[0].dma;
    auto regs = overlay_->MapRegisters(d.registers);
    ASSERT_TRUE(regs.ok()) << regs.status();
    auto dma = AxiDma::Create(std::move(*regs), {d.length_width, d.registers.instance}, In(1000));
    ASSERT_TRUE(dma.ok()) << dma.status();
    dma_ = std::move(*dma);
  }

  void SetUp() override { Build(); }

  // `images` images of varied bytes (seeded by `seed`) in a fresh input buffer.
  std::unique_ptr<DmaBuffer> Input(int images, int seed) {
    auto buffer = overlay_->AllocateDma(images * kImageBytes);
    EXPECT_TRUE(buffer.ok());
    for (size_t i = 0; i < (*buffer)->size(); ++i) {
      (*buffer)->data()[i] = static_cast<uint8_t>(i * 7 + seed * 13 + (i >> 5));
    }
    return std::move(*buffer);
  }
  std::unique_ptr<DmaBuffer> Output(size_t bytes) {
    auto buffer = overlay_->AllocateDma(bytes);
    EXPECT_TRUE(buffer.ok());
    return std::move(*buffer);
  }
  static std::vector<uint8_t> Bytes(DmaBuffer& b, size_t n) {
    return std::vector<uint8_t>(b.data(), b.data() + n);
  }

  // One transfer of `images` images; checks the answer when it succeeds.
  absl::StatusOr<size_t> RunBatch(int images, int seed = 1, int deadline_ms = 1000) {
    auto in = Input(images, seed);
    auto out = Output(images * kOutBytes);
    absl::StatusOr<size_t> got =
        dma_->Transfer(*in, in->size(), *out, out->size(), images * kOutBytes, In(deadline_ms));
    if (got.ok()) {
      EXPECT_EQ(Bytes(*out, *got), TestKernelExpected(Bytes(*in, in->size())));
    }
    return got;
  }

  std::unique_ptr<VirtualOverlay> overlay_;
  std::unique_ptr<AxiDma> dma_;
};

TEST_F(AxiDmaTest, CreateResetsAndStartsBothChannels) {
  const DmaDescription& d = overlay_->description().accelerators[0].dma;
  auto regs = overlay_->MapRegisters(d.registers);
  ASSERT_TRUE(regs.ok());
  EXPECT_EQ((*regs)->Read32(axi_dma::kMm2sDmasr) & axi_dma::kSrHalted, 0u);
  EXPECT_EQ((*regs)->Read32(axi_dma::kS2mmDmasr) & axi_dma::kSrHalted, 0u);
  EXPECT_NE((*regs)->Read32(axi_dma::kMm2sDmacr) & axi_dma::kCrRunStop, 0u);
  EXPECT_EQ(dma_->max_transfer_bytes(), (size_t{1} << 23) - 1);
}

TEST_F(AxiDmaTest, TransfersOneBatchAndReportsTheBytesReceived) {
  for (int images : {1, 2, 7, 64}) {
    absl::StatusOr<size_t> got = RunBatch(images, images);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, images * kOutBytes);
  }
  EXPECT_EQ(overlay_->transfers_started(), 4u);
}

TEST_F(AxiDmaTest, EveryErrorBitOnEachChannelFailsTheTransferThenResetRecovers) {
  const struct {
    SimFault fault;
    const char* channel;
    const char* bit;
  } cases[] = {
      {SimFault::kMm2sIntErr, "MM2S", "DMAIntErr"}, {SimFault::kMm2sSlvErr, "MM2S", "DMASlvErr"},
      {SimFault::kMm2sDecErr, "MM2S", "DMADecErr"}, {SimFault::kS2mmIntErr, "S2MM", "DMAIntErr"},
      {SimFault::kS2mmSlvErr, "S2MM", "DMASlvErr"}, {SimFault::kS2mmDecErr, "S2MM", "DMADecErr"}};
  for (const auto& c : cases) {
    SCOPED_TRACE(sim::SimFaultName(c.fault));
    overlay_->faults().Inject(c.fault, 1);
    absl::StatusOr<size_t> got = RunBatch(3);
    ASSERT_EQ(got.status().code(), absl::StatusCode::kUnavailable) << got.status();
    EXPECT_THAT(got.status().message(), HasSubstr(std::string(c.channel) + " " + c.bit));
    // The channel is halted: the driver refuses until it is reset.
    EXPECT_EQ(RunBatch(3).status().code(), absl::StatusCode::kFailedPrecondition);
    ASSERT_TRUE(dma_->Reset(In(1000)).ok());
    EXPECT_TRUE(RunBatch(3, 5).ok());
  }
}

TEST_F(AxiDmaTest, HungTransferMissesItsDeadlineThenResetRecovers) {
  overlay_->faults().Inject(SimFault::kHang, 1);
  const Clock::time_point start = Clock::now();
  absl::StatusOr<size_t> got = RunBatch(4, 1, /*deadline_ms=*/50);
  const auto waited = Clock::now() - start;
  ASSERT_EQ(got.status().code(), absl::StatusCode::kDeadlineExceeded) << got.status();
  EXPECT_THAT(got.status().message(), HasSubstr("busy"));
  EXPECT_GE(waited, std::chrono::milliseconds(50));
  EXPECT_LT(waited, std::chrono::milliseconds(50 + 500));  // never held much past its deadline
  ASSERT_TRUE(dma_->Reset(In(1000)).ok());
  EXPECT_TRUE(RunBatch(4, 2).ok());
}

TEST_F(AxiDmaTest, ShortS2mmLengthIsDataLoss) {
  overlay_->faults().Inject(SimFault::kShortS2mm, 1);
  absl::StatusOr<size_t> got = RunBatch(5);
  ASSERT_EQ(got.status().code(), absl::StatusCode::kDataLoss) << got.status();
  EXPECT_THAT(got.status().message(), HasSubstr("received 16 bytes, the batch needs 20"));
  EXPECT_TRUE(RunBatch(5, 3).ok());  // the engine itself is fine: no reset needed
}

TEST_F(AxiDmaTest, BatchLargerThanTheTransferLimitIsRefusedBeforeTouchingTheEngine) {
  Build(/*length_width=*/10);  // 1023 bytes: 63 images of 16 bytes
  EXPECT_EQ(dma_->max_transfer_bytes(), 1023u);
  EXPECT_TRUE(RunBatch(63).ok());
  absl::StatusOr<size_t> got = RunBatch(64);
  ASSERT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(got.status().message(), HasSubstr("MM2S of 1024 bytes does not fit one transfer"));
  EXPECT_THAT(got.status().message(), HasSubstr("2^c_sg_length_width - 1 = 1023"));
  EXPECT_EQ(overlay_->transfers_started(), 1u);
}

TEST_F(AxiDmaTest, RegisterModelCutsLengthToTheWidthAsHardwareDoes) {
  Build(/*length_width=*/10);
  const DmaDescription& d = overlay_->description().accelerators[0].dma;
  auto regs = overlay_->MapRegisters(d.registers);
  ASSERT_TRUE(regs.ok());
  (*regs)->Write32(axi_dma::kS2mmLength, 1024 + 16);  // 0x410: only 0x010 survives
  EXPECT_EQ((*regs)->Read32(axi_dma::kS2mmLength), 16u);
}

TEST_F(AxiDmaTest, OutputLongerThanTheS2mmBufferIsDmaIntErr) {
  auto in = Input(4, 1);
  auto out = Output(4 * kOutBytes);
  absl::StatusOr<size_t> got =
      dma_->Transfer(*in, in->size(), *out, 3 * kOutBytes, 4 * kOutBytes, In(1000));
  ASSERT_EQ(got.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(got.status().message(), HasSubstr("S2MM DMAIntErr"));
}

// A DMA buffer whose device address lies outside every buffer: the model answers DMADecErr.
class StrayBuffer final : public DmaBuffer {
 public:
  explicit StrayBuffer(DmaBuffer* real) : real_(real) {}
  uint8_t* data() override { return real_->data(); }
  uint64_t device_address() const override { return 0x7000'0000; }
  size_t size() const override { return real_->size(); }
  absl::Status SyncForDevice(size_t o, size_t n) override { return real_->SyncForDevice(o, n); }
  absl::Status SyncForCpu(size_t o, size_t n) override { return real_->SyncForCpu(o, n); }

 private:
  DmaBuffer* real_;
};

TEST_F(AxiDmaTest, AddressOutsideDmaMemoryIsADecodeError) {
  auto in = Input(2, 1);
  auto out = Output(2 * kOutBytes);
  StrayBuffer stray_out(out.get());
  absl::StatusOr<size_t> got =
      dma_->Transfer(*in, in->size(), stray_out, out->size(), 2 * kOutBytes, In(1000));
  ASSERT_EQ(got.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(got.status().message(), HasSubstr("S2MM DMADecErr"));
  ASSERT_TRUE(dma_->Reset(In(1000)).ok());
  StrayBuffer stray_in(in.get());
  got = dma_->Transfer(stray_in, in->size(), *out, out->size(), 2 * kOutBytes, In(1000));
  EXPECT_THAT(got.status().message(), HasSubstr("MM2S DMADecErr"));
}

// A buffer that forgets one of its cache operations, as a driver without the flush or the
// invalidate would behave.
class ForgetfulBuffer final : public DmaBuffer {
 public:
  ForgetfulBuffer(DmaBuffer* real, bool skip_flush, bool skip_invalidate)
      : real_(real), skip_flush_(skip_flush), skip_invalidate_(skip_invalidate) {}
  uint8_t* data() override { return real_->data(); }
  uint64_t device_address() const override { return real_->device_address(); }
  size_t size() const override { return real_->size(); }
  absl::Status SyncForDevice(size_t o, size_t n) override {
    return skip_flush_ ? absl::OkStatus() : real_->SyncForDevice(o, n);
  }
  absl::Status SyncForCpu(size_t o, size_t n) override {
    return skip_invalidate_ ? absl::OkStatus() : real_->SyncForCpu(o, n);
  }

 private:
  DmaBuffer* real_;
  bool skip_flush_;
  bool skip_invalidate_;
};

TEST_F(AxiDmaTest, SkippingTheFlushOrTheInvalidateGivesWrongAnswersUnderTheCacheModel) {
  const int images = 8;
  // Without the flush, the device reads what DRAM held: the zeros of a fresh buffer.
  {
    auto in = Input(images, 4);
    auto out = Output(images * kOutBytes);
    ForgetfulBuffer no_flush(in.get(), /*skip_flush=*/true, false);
    absl::StatusOr<size_t> got =
        dma_->Transfer(no_flush, in->size(), *out, out->size(), images * kOutBytes, In(1000));
    ASSERT_TRUE(got.ok()) << got.status();
    const std::vector<uint8_t> right = TestKernelExpected(Bytes(*in, in->size()));
    EXPECT_NE(Bytes(*out, *got), right);
    EXPECT_EQ(Bytes(*out, *got), TestKernelExpected(std::vector<uint8_t>(in->size(), 0)));
  }
  // Without the invalidate, the CPU reads its stale cache: the buffer's old contents.
  {
    auto in = Input(images, 5);
    auto out = Output(images * kOutBytes);
    std::fill(out->data(), out->data() + out->size(), 0xAB);
    ForgetfulBuffer no_invalidate(out.get(), false, /*skip_invalidate=*/true);
    absl::StatusOr<size_t> got =
        dma_->Transfer(*in, in->size(), no_invalidate, out->size(), images * kOutBytes, In(1000));
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(Bytes(*out, *got), std::vector<uint8_t>(images * kOutBytes, 0xAB));
    // The right answer was in memory all along: invalidating now shows it.
    ASSERT_TRUE(out->SyncForCpu(0, *got).ok());
    EXPECT_EQ(Bytes(*out, *got), TestKernelExpected(Bytes(*in, in->size())));
  }
}

// A register window that claims scatter-gather, as an IP built with c_include_sg = 1 reports.
class SgMmio final : public Mmio {
 public:
  uint32_t Read32(uint32_t offset) override {
    return offset == axi_dma::kMm2sDmasr ? axi_dma::kSrSgIncld | axi_dma::kSrHalted : 0;
  }
  void Write32(uint32_t, uint32_t) override {}
  size_t size() const override { return axi_dma::kRegisterWindowBytes; }
};

TEST(AxiDmaCreateTest, RefusesScatterGatherModeAndBadLengthWidths) {
  auto sg = AxiDma::Create(std::make_unique<SgMmio>(), {23, "axi_dma_sg"}, In(100));
  ASSERT_EQ(sg.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(sg.status().message(), HasSubstr("axi_dma_sg is built with scatter-gather"));
  auto wide = AxiDma::Create(std::make_unique<SgMmio>(), {27, "axi_dma_w"}, In(100));
  EXPECT_THAT(wide.status().message(), HasSubstr("c_sg_length_width 27 is outside 8..26"));
}

TEST_F(AxiDmaTest, RealtimeTransferLastsAtLeastItsModelledDuration) {
  Build(23, /*realtime=*/true);
  // 16 cycles per image at 100 MHz: 2,000 images take 32,000 cycles + set-up: >= 320 us.
  const double modelled = sim::TransferSeconds(kTestKernel, {}, 2000);
  const Clock::time_point start = Clock::now();
  ASSERT_TRUE(RunBatch(2000).ok());
  EXPECT_GE(std::chrono::duration<double>(Clock::now() - start).count(), modelled);
}

}  // namespace
}  // namespace pynq::accel::fpga
