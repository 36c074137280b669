// The accelerator (accel/fpga/accelerator.h) on the virtual overlay with the small test kernel:
// the model check at start-up, the check batch against the reference, TryRun's outcomes, and
// the background reset that brings a faulted accelerator back.
#include "accel/fpga/accelerator.h"

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "accel/sim/virtual_overlay.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fpga/test_kernel.h"

namespace pynq::accel::fpga {
namespace {

using ::pynq::testing::kImageBytes;
using ::pynq::testing::kOutBytes;
using ::pynq::testing::TestKernelExpected;
using ::testing::HasSubstr;
using Clock = Accelerator::Clock;

// A model with the test kernel's geometry: 1x4x4 uint8 in, 4 logits out (its layer's weights do
// not matter: the reference below computes the test kernel's function).
std::shared_ptr<const models::Model> TestModel(const std::string& name) {
  pynq::model::ModelFile f;
  f.set_format_version(1);
  f.set_name(name);
  for (int d : {1, 4, 4}) f.mutable_input()->add_dims(d);
  f.mutable_input()->set_encoding(pynq::model::InputSpec::UINT8_MINUS_128);
  f.mutable_input()->mutable_quant()->set_scale(1.0f / 255.0f);
  f.mutable_input()->mutable_quant()->set_zero_point(-128);
  pynq::model::Layer* fc = f.add_layers();
  fc->set_name("fc");
  fc->mutable_output()->set_scale(0.5f);
  pynq::model::Dense* d = fc->mutable_dense();
  d->set_in_features(kImageBytes);
  d->set_out_features(kOutBytes);
  d->set_weights(std::string(kImageBytes * kOutBytes, '\x01'));
  for (uint32_t o = 0; o < kOutBytes; ++o) {
    d->add_weight_scales(1.0f);
    d->add_bias(0);
    d->mutable_requant()->add_multiplier(1 << 30);
    d->mutable_requant()->add_shift(0);
  }
  auto model = models::Model::FromProto(f, name);
  EXPECT_TRUE(model.ok()) << model.status();
  return std::shared_ptr<const models::Model>(std::move(*model));
}

// The test kernel's function as a Backend, off by one in every byte when `wrong`.
class TestReference final : public Backend {
 public:
  explicit TestReference(bool wrong = false) : wrong_(wrong) {}
  std::string_view name() const override { return "test-reference"; }
  absl::StatusOr<std::unique_ptr<BatchBuffer>> Allocate(size_t) override {
    return absl::UnimplementedError("not needed");
  }
  absl::Status Run(const models::Model&, int batch, absl::Span<const uint8_t> input,
                   absl::Span<int8_t> output) override {
    std::vector<uint8_t> in(input.begin(), input.begin() + batch * kImageBytes);
    std::vector<uint8_t> out = TestKernelExpected(in);
    for (size_t i = 0; i < out.size(); ++i) {
      output[i] = static_cast<int8_t>(out[i] + (wrong_ ? 1 : 0));
    }
    return absl::OkStatus();
  }

 private:
  bool wrong_;
};

// Counts what the accelerator reports.
class CountingObserver final : public AcceleratorObserver {
 public:
  void OnTransfer(int images, size_t, size_t, double) override {
    ++transfers;
    images_total += images;
  }
  void OnFallback(FallbackReason reason) override { ++fallbacks[static_cast<int>(reason)]; }
  void OnHealth(bool healthy) override { (healthy ? ups : downs)++; }
  void OnReset(bool ok) override { (ok ? resets_ok : resets_failed)++; }

  std::atomic<int> transfers{0}, images_total{0}, ups{0}, downs{0}, resets_ok{0}, resets_failed{0};
  std::atomic<int> fallbacks[kNumFallbackReasons] = {};
};

class AcceleratorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = TestModel("test-sum4");
    kernel_ = pynq::testing::kTestKernel;
    kernel_.model_digest = digest_storage_.assign(model_->digest()).c_str();
    Build(/*realtime=*/false);
  }
  void Build(bool realtime, int length_width = 23) {
    accel_.reset();
    sim::VirtualOverlay::Options o;
    o.kernels = {&kernel_};
    o.realtime = realtime;
    o.length_width = length_width;
    overlay_ = *sim::VirtualOverlay::Create(o);
  }
  Accelerator::Options Options() {
    Accelerator::Options o;
    o.description = overlay_->description().accelerators[0];
    o.platform = overlay_.get();
    o.model = model_;
    o.reference = &reference_;
    o.max_batch_images = 64;
    o.transfer_timeout = std::chrono::milliseconds(100);
    o.reset_backoff_initial = std::chrono::milliseconds(5);
    o.observer = &observer_;
    return o;
  }
  void Start() {
    auto accel = Accelerator::Create(Options());
    ASSERT_TRUE(accel.ok()) << accel.status();
    accel_ = std::move(*accel);
  }
  // Runs `images` varied images; returns the outcome and checks the logits when it ran.
  Accelerator::Outcome Run(int images, FallbackReason* reason) {
    auto in = *accel_->AllocateBuffer(images * kImageBytes);
    auto out = *accel_->AllocateBuffer(images * kOutBytes);
    for (size_t i = 0; i < in->size(); ++i) in->data()[i] = static_cast<uint8_t>(i * 5 + 3);
    absl::Status error;
    const Accelerator::Outcome outcome = accel_->TryRun(*in, images, *out, reason, &error);
    if (outcome == Accelerator::Outcome::kRan) {
      EXPECT_EQ(std::vector<uint8_t>(out->data(), out->data() + out->size()),
                TestKernelExpected(std::vector<uint8_t>(in->data(), in->data() + in->size())));
    }
    return outcome;
  }
  bool WaitHealthy() {
    for (int i = 0; i < 500 && !accel_->healthy(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return accel_->healthy();
  }

  std::string digest_storage_;
  std::shared_ptr<const models::Model> model_;
  hls_kernels::KernelInfo kernel_{};
  TestReference reference_;
  CountingObserver observer_;
  std::unique_ptr<sim::VirtualOverlay> overlay_;
  std::unique_ptr<Accelerator> accel_;
};

TEST_F(AcceleratorTest, StartsHealthyAfterItsCheckBatchAndRunsBatches) {
  Start();
  EXPECT_TRUE(accel_->healthy());
  EXPECT_EQ(observer_.ups, 1);
  EXPECT_EQ(observer_.transfers, 1);  // the check batch
  FallbackReason reason{};
  EXPECT_EQ(Run(37, &reason), Accelerator::Outcome::kRan);
  EXPECT_EQ(observer_.transfers, 2);
  EXPECT_EQ(observer_.images_total, 4 + 37);
}

TEST_F(AcceleratorTest, RefusesAnAcceleratorBuiltForAnotherModelOrVersion) {
  Accelerator::Options o = Options();
  o.model = TestModel("other-model");
  EXPECT_THAT(Accelerator::Create(o).status().message(),
              HasSubstr("test_sum4_0 implements model 'test-sum4', not 'other-model'"));
  o = Options();
  o.description.model_digest = std::string(64, 'a');
  auto refused = Accelerator::Create(o);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(
      refused.status().message(),
      HasSubstr("was built from another version of test-sum4 (overlay digest aaaaaaaaaaaa"));
}

TEST_F(AcceleratorTest, CheckBatchThatDiffersFromTheReferenceRefusesToStart) {
  TestReference wrong(/*wrong=*/true);
  Accelerator::Options o = Options();
  o.reference = &wrong;
  auto refused = Accelerator::Create(o);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(refused.status().message(),
              HasSubstr("the check batch's logits differ from the CPU's at image 0, class 0"));
}

TEST_F(AcceleratorTest, BatchesLargerThanOneTransferAreSkippedAsTooLarge) {
  Build(false, /*length_width=*/9);  // 511 bytes: 31 images of 16 bytes
  Start();
  EXPECT_EQ(accel_->max_images_per_transfer(), 31);
  FallbackReason reason{};
  EXPECT_EQ(Run(32, &reason), Accelerator::Outcome::kSkipped);
  EXPECT_EQ(reason, FallbackReason::kTooLarge);
  EXPECT_EQ(Run(31, &reason), Accelerator::Outcome::kRan);
}

TEST_F(AcceleratorTest, ABatchOfferedWhileAnotherRunsIsSkippedAsBusy) {
  Build(/*realtime=*/true);
  Accelerator::Options o = Options();
  o.max_batch_images = 1 << 20;
  o.transfer_timeout = std::chrono::milliseconds(5000);
  accel_ = *Accelerator::Create(o);
  const uint64_t before = overlay_->transfers_started();
  // 60,000 images of 16 cycles at 100 MHz: ~9.6 ms on the modelled fabric.
  std::thread big([&] {
    FallbackReason reason{};
    EXPECT_EQ(Run(60000, &reason), Accelerator::Outcome::kRan);
  });
  while (overlay_->transfers_started() == before) std::this_thread::yield();
  FallbackReason reason{};
  EXPECT_EQ(Run(2, &reason), Accelerator::Outcome::kSkipped);
  EXPECT_EQ(reason, FallbackReason::kBusy);
  big.join();
  EXPECT_EQ(observer_.fallbacks[static_cast<int>(FallbackReason::kBusy)], 1);
}

TEST_F(AcceleratorTest, FaultMarksItUnhealthyAndTheBackgroundResetBringsItBack) {
  Start();
  overlay_->faults().Inject(sim::SimFault::kS2mmSlvErr, 3);  // the batch, then two checks
  FallbackReason reason{};
  EXPECT_EQ(Run(8, &reason), Accelerator::Outcome::kFailed);
  EXPECT_EQ(reason, FallbackReason::kDmaError);
  EXPECT_EQ(Run(8, &reason), Accelerator::Outcome::kSkipped);  // not before its reset
  EXPECT_TRUE(reason == FallbackReason::kUnhealthy || reason == FallbackReason::kBusy);
  ASSERT_TRUE(WaitHealthy());
  EXPECT_EQ(observer_.downs, 1);
  EXPECT_EQ(observer_.resets_failed, 2);
  EXPECT_EQ(observer_.resets_ok, 1);
  EXPECT_EQ(Run(8, &reason), Accelerator::Outcome::kRan);
}

TEST_F(AcceleratorTest, HungTransferReturnsByItsDeadlineAndRecovers) {
  Start();
  overlay_->faults().Inject(sim::SimFault::kHang, 1);
  const Clock::time_point start = Clock::now();
  FallbackReason reason{};
  EXPECT_EQ(Run(8, &reason), Accelerator::Outcome::kFailed);
  EXPECT_EQ(reason, FallbackReason::kTimeout);
  EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(100 + 400));
  ASSERT_TRUE(WaitHealthy());
  EXPECT_EQ(Run(8, &reason), Accelerator::Outcome::kRan);
}

}  // namespace
}  // namespace pynq::accel::fpga
