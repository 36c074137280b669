// The virtual overlay's cycle model (accel/sim/cycle_model.h), calibrated against BNN-PYNQ's
// published LFC-W1A1: its folding gives 512 cycles per image at the slowest layer, 5.12 us per
// image at a PYNQ-Z1/Z2's 100 MHz, and at most the published 2.80 us at 300 MHz (the Ultra96
// clock the published figure was most likely measured at).
#include "accel/sim/cycle_model.h"

#include "gtest/gtest.h"
#include "tests/fpga/test_kernel.h"

namespace pynq::accel::sim {
namespace {

// BNN-PYNQ's LFC-W1A1 folding (784 inputs padded to 832): {rows, cols, SIMD, PE}.
constexpr hls_kernels::LayerFolding kBnnPynqLfc[] = {
    {"layer0", 1024, 832, 64, 32, 1},
    {"layer1", 1024, 1024, 32, 64, 1},
    {"layer2", 1024, 1024, 64, 32, 1},
    {"layer3", 64, 1024, 8, 16, 1},
};

hls_kernels::KernelInfo BnnPynqLfc() {
  hls_kernels::KernelInfo k = pynq::testing::kTestKernel;
  k.layers = kBnnPynqLfc;
  k.num_layers = 4;
  k.input_bytes_per_image = 784;
  k.output_bytes_per_image = 10;
  // The fill: one image through every layer (416 + 512 + 512 + 512 cycles).
  k.pipeline_depth_cycles = 1952;
  return k;
}

TEST(CycleModelTest, SlowestLayerOfBnnPynqLfcTakes512CyclesPerImage) {
  EXPECT_EQ(InitiationInterval(BnnPynqLfc()), 512u);
}

TEST(CycleModelTest, CalibratedTo5_12UsPerImageAt100MHzWithin20Percent) {
  const double per_image = TransferSeconds(BnnPynqLfc(), {}, 10000) / 10000;
  EXPECT_GE(per_image, 5.12e-6);
  EXPECT_LE(per_image, 5.12e-6 * 1.2);
}

TEST(CycleModelTest, At300MHzDoesNotExceedBnnPynqsPublished2_80Us) {
  CycleModelOptions ultra96;
  ultra96.clock_hz = 300e6;
  const double per_image = TransferSeconds(BnnPynqLfc(), ultra96, 10000) / 10000;
  EXPECT_LE(per_image, 2.80e-6);
}

TEST(CycleModelTest, DmaBandwidthBoundsAKernelFasterThanItsStream) {
  // The test kernel needs 16 cycles per image but its 16 input bytes take 2 cycles at 8 bytes
  // per cycle: compute-bound. At 1 byte per cycle the stream takes as long (16 cycles) and ties.
  CycleModelOptions narrow;
  narrow.dma_bytes_per_cycle = 1;
  narrow.setup_cycles = 0;
  const auto& k = pynq::testing::kTestKernel;
  EXPECT_EQ(TransferCycles(k, narrow, 100), 16u + 100 * 16);
  CycleModelOptions wide = narrow;
  wide.dma_bytes_per_cycle = 8;
  EXPECT_EQ(TransferCycles(k, wide, 100), 16u + 100 * 16);
  // Empty batch: set-up only.
  EXPECT_EQ(TransferCycles(k, CycleModelOptions{}, 0), CycleModelOptions{}.setup_cycles);
}

}  // namespace
}  // namespace pynq::accel::sim
