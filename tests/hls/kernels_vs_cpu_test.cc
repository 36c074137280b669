// Every HLS kernel, C-simulated, against the CPU backend over the MNIST test set: every logit of
// every image bit for bit, in batches of varied sizes (1, odd, 64, ...), each batch's output
// framing checked. Also prints the C simulation's time per image.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "accel/cpu/cpu_backend.h"
#include "accel/hls/axis.h"
#include "accel/hls/kernel_info.h"
#include "gtest/gtest.h"
#include "tests/hls/hls_test_util.h"
#include "tests/models/zoo_test_util.h"

namespace pynq::hls_test {
namespace {

using hls_kernels::AxisBeat;
using hls_kernels::KernelInfo;

class KernelVsCpuTest : public testing::TestWithParam<const char*> {};

TEST_P(KernelVsCpuTest, MnistTestSetLogitsEqualCpuBackendBitForBit) {
  const std::string model_name = GetParam();
  const KernelInfo* kernel = hls_kernels::FindKernelForModel(model_name.c_str());
  ASSERT_NE(kernel, nullptr) << model_name;
  auto model = test_util::LoadZooModel(model_name);
  ASSERT_TRUE(model.ok()) << model.status();
  ASSERT_EQ(std::string(kernel->model_digest), (*model)->digest())
      << "the kernel's weights are not this model's";
  auto dataset = test_util::LoadMnistTestSet();
  ASSERT_TRUE(dataset.ok()) << dataset.status();
  const size_t images = ImagesToRun(dataset->size());
  const size_t in_bytes = kernel->input_bytes_per_image;
  const size_t out_bytes = kernel->output_bytes_per_image;
  ASSERT_EQ(in_bytes, dataset->image_bytes);

  // The golden logits, all images in one CPU run.
  auto cpu = accel::cpu::CpuBackend::Create({});
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  std::vector<int8_t> want(images * out_bytes);
  ASSERT_TRUE((*cpu)
                  ->Run(**model, static_cast<int>(images),
                        absl::MakeConstSpan(dataset->pixels.data(), images * in_bytes),
                        absl::MakeSpan(want))
                  .ok());

  // Batch sizes cycle through singles, odd sizes and the server's usual 64.
  const size_t kBatchSizes[] = {64, 1, 7, 33, 2, 64, 13, 128, 5, 64};
  size_t batch_index = 0;
  double kernel_seconds = 0;
  for (size_t first = 0; first < images; ++batch_index) {
    const size_t batch =
        std::min(kBatchSizes[batch_index % std::size(kBatchSizes)], images - first);
    hls::stream<AxisBeat> in;
    hls::stream<AxisBeat> out;
    WriteBeats(dataset->pixels.data() + first * in_bytes, batch * in_bytes, true, in);
    const auto start = std::chrono::steady_clock::now();
    kernel->top(in, out);
    kernel_seconds +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ASSERT_TRUE(in.empty()) << "batch at image " << first << ": input left unread";
    ASSERT_EQ(in.underflows(), 0u) << "batch at image " << first << ": read past TLAST";
    const std::vector<AxisBeat> beats = Drain(out);
    ASSERT_TRUE(FramesBytes(beats, batch * out_bytes)) << "batch of " << batch << " at " << first;
    const std::vector<int8_t> want_batch(want.begin() + first * out_bytes,
                                         want.begin() + (first + batch) * out_bytes);
    ASSERT_TRUE(SameLogits(Unpack(beats), want_batch, out_bytes, first))
        << kernel->kernel_name << ", batch of " << batch;
    first += batch;
  }
  const double us_per_image = 1e6 * kernel_seconds / static_cast<double>(images);
  std::printf("%s: %zu images bit-exact, C simulation %.1f us per image\n", kernel->kernel_name,
              images, us_per_image);
  RecordProperty("images", static_cast<int>(images));
  RecordProperty("csim_us_per_image", std::to_string(us_per_image));
}

INSTANTIATE_TEST_SUITE_P(AllKernels, KernelVsCpuTest,
                         testing::Values("mnist-lfc-w1a1", "mnist-lfc-w1a2", "mnist-cnn-q8"),
                         [](const testing::TestParamInfo<const char*>& param) {
                           std::string name = param.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

}  // namespace
}  // namespace pynq::hls_test
