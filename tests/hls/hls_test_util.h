// Helpers of the HLS test benches: batches of images as AXI-Stream beats, the output beats
// checked for framing (byte count, TKEEP, TLAST) and unpacked, and the image count for this
// build (the whole MNIST test set when optimized, a subset under a sanitizer or -O0).
#ifndef PYNQ_TESTS_HLS_HLS_TEST_UTIL_H_
#define PYNQ_TESTS_HLS_HLS_TEST_UTIL_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "accel/hls/axis.h"
#include "gtest/gtest.h"

namespace pynq::hls_test {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

#ifdef __OPTIMIZE__
constexpr bool kOptimized = true;
#else
constexpr bool kOptimized = false;
#endif

// Images of the MNIST test set to run through each kernel: all 10,000 in an optimized build,
// 500 under a sanitizer or without optimization (where C simulation is 10-50x slower).
inline size_t ImagesToRun(size_t available) {
  const size_t cap = kSanitized || !kOptimized ? 500 : available;
  return available < cap ? available : cap;
}

// Writes `bytes` bytes from `data` to `in` as 64-bit beats (little-endian, TKEEP all ones; the
// last beat's TKEEP covers its bytes). TLAST on the last beat when `tlast`.
inline void WriteBeats(const uint8_t* data, size_t bytes, bool tlast,
                       hls::stream<hls_kernels::AxisBeat>& in) {
  for (size_t offset = 0; offset < bytes; offset += 8) {
    const size_t n = bytes - offset < 8 ? bytes - offset : 8;
    hls_kernels::AxisBeat beat;
    std::memcpy(&beat.data, data + offset, n);
    beat.keep = static_cast<uint8_t>((1u << n) - 1);
    beat.last = tlast && offset + n == bytes;
    in.write(beat);
  }
}

inline std::vector<hls_kernels::AxisBeat> Drain(hls::stream<hls_kernels::AxisBeat>& out) {
  std::vector<hls_kernels::AxisBeat> beats;
  while (!out.empty()) beats.push_back(out.read());
  return beats;
}

// Success when `beats` frame exactly `bytes` bytes: ceil(bytes / 8) beats, TKEEP all ones but a
// partial last beat's, TLAST on the last beat only. No beats at all for 0 bytes.
inline testing::AssertionResult FramesBytes(const std::vector<hls_kernels::AxisBeat>& beats,
                                            size_t bytes) {
  const size_t want = (bytes + 7) / 8;
  if (beats.size() != want) {
    return testing::AssertionFailure()
           << beats.size() << " beats for " << bytes << " bytes, want " << want;
  }
  for (size_t i = 0; i < beats.size(); ++i) {
    const bool final_beat = i + 1 == beats.size();
    const size_t n = final_beat ? bytes - 8 * i : 8;
    const unsigned keep = (1u << n) - 1;
    if (beats[i].keep != keep || beats[i].last != final_beat) {
      return testing::AssertionFailure()
             << "beat " << i << " of " << beats.size() << ": keep 0x" << std::hex
             << unsigned{beats[i].keep} << " last " << beats[i].last << ", want keep 0x" << keep
             << " last " << final_beat;
    }
  }
  return testing::AssertionSuccess();
}

// The bytes the beats carry, in order (TKEEP respected).
inline std::vector<int8_t> Unpack(const std::vector<hls_kernels::AxisBeat>& beats) {
  std::vector<int8_t> bytes;
  for (const hls_kernels::AxisBeat& beat : beats) {
    for (int b = 0; b < 8; ++b) {
      if ((beat.keep >> b) & 1) {
        bytes.push_back(static_cast<int8_t>(static_cast<uint8_t>(beat.data >> (8 * b))));
      }
    }
  }
  return bytes;
}

// Compares `got` with `want` element by element; fails listing the first few mismatches as
// image (index / per_image + first_image), class and both values.
inline testing::AssertionResult SameLogits(const std::vector<int8_t>& got,
                                           const std::vector<int8_t>& want, size_t per_image,
                                           size_t first_image) {
  if (got.size() != want.size()) {
    return testing::AssertionFailure() << got.size() << " logits, want " << want.size();
  }
  size_t mismatches = 0;
  std::string first;
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i] == want[i]) continue;
    if (++mismatches <= 5) {
      first += "\n  image " + std::to_string(first_image + i / per_image) + " class " +
               std::to_string(i % per_image) + ": kernel " + std::to_string(got[i]) + ", cpu " +
               std::to_string(want[i]);
    }
  }
  if (mismatches == 0) return testing::AssertionSuccess();
  return testing::AssertionFailure()
         << mismatches << " of " << got.size() << " logits differ; the first:" << first;
}

}  // namespace pynq::hls_test

#endif  // PYNQ_TESTS_HLS_HLS_TEST_UTIL_H_
