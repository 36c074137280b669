// A small stand-in accelerator for the driver and simulator tests: each image of kImageBytes
// bytes becomes kOutBytes bytes, out[j] = sum of in[4j .. 4j+3] + j (mod 256), computed with the
// same stream protocol as the real HLS kernels (whole images up to TLAST, outputs packed
// into beats, TLAST on the last). Cheap, so the tests can run many transfers under sanitizers.
#ifndef PYNQ_TESTS_FPGA_TEST_KERNEL_H_
#define PYNQ_TESTS_FPGA_TEST_KERNEL_H_

#include <cstdint>
#include <vector>

#include "accel/hls/axis.h"
#include "accel/hls/kernel_info.h"

namespace pynq::testing {

inline constexpr uint32_t kImageBytes = 16;
inline constexpr uint32_t kOutBytes = 4;

inline void TestKernelTop(hls::stream<hls_kernels::AxisBeat>& in,
                          hls::stream<hls_kernels::AxisBeat>& out) {
  std::vector<uint8_t> results;
  uint8_t image[kImageBytes];
  uint32_t filled = 0;
  bool last = false;
  while (!last && !in.empty()) {
    const hls_kernels::AxisBeat beat = in.read();
    last = beat.last;
    for (int i = 0; i < 8; ++i) {
      if (((beat.keep >> i) & 1) == 0) continue;
      image[filled++] = static_cast<uint8_t>(beat.data >> (8 * i));
      if (filled == kImageBytes) {
        for (uint32_t j = 0; j < kOutBytes; ++j) {
          results.push_back(static_cast<uint8_t>(image[4 * j] + image[4 * j + 1] +
                                                 image[4 * j + 2] + image[4 * j + 3] + j));
        }
        filled = 0;
      }
    }
  }
  for (size_t at = 0; at < results.size(); at += 8) {
    hls_kernels::AxisBeat beat;
    const size_t n = results.size() - at < 8 ? results.size() - at : 8;
    for (size_t i = 0; i < n; ++i) beat.data |= uint64_t{results[at + i]} << (8 * i);
    beat.keep = static_cast<uint8_t>((1u << n) - 1);
    beat.last = at + 8 >= results.size();
    out.write(beat);
  }
}

// The expected output of TestKernelTop for `input` (whole images).
inline std::vector<uint8_t> TestKernelExpected(const std::vector<uint8_t>& input) {
  std::vector<uint8_t> out;
  for (size_t image = 0; image + kImageBytes <= input.size(); image += kImageBytes) {
    for (uint32_t j = 0; j < kOutBytes; ++j) {
      const uint8_t* p = &input[image + 4 * j];
      out.push_back(static_cast<uint8_t>(p[0] + p[1] + p[2] + p[3] + j));
    }
  }
  return out;
}

// Folded as one 4 x 16 layer at SIMD 4, PE 1: 16 cycles per image.
inline constexpr hls_kernels::LayerFolding kTestLayers[] = {{"sum4", 4, 16, 4, 1, 1}};
inline const hls_kernels::KernelInfo kTestKernel = {
    "test_sum4", "test-sum4", "0000", kImageBytes, kOutBytes, kTestLayers, 1, 16, &TestKernelTop};

}  // namespace pynq::testing

#endif  // PYNQ_TESTS_FPGA_TEST_KERNEL_H_
