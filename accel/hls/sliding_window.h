// The sliding-window generator of a "same" convolution (stride 1, kPad = (kKernel - 1) / 2 on
// every side): turns a stream of pixels (row-major, each a Vec of kChannels int8) into, for each
// output pixel in row-major order, its kKernel x kKernel x kChannels window flattened in
// (ky, kx, c) order, as kKernel^2 kChannels / kSimd words of kSimd values. Taps outside the
// image read `pad_value`, the input zero point (real 0), which the MVAU's folded bias cancels.
//
// A line buffer of kKernel rows holds the input rows one output row needs; input row r lives in
// line r % kKernel, so reading the row below overwrites exactly the row that no output row still
// needs. Rows are read ahead of the output row that first needs them (kPad rows for the first).
#ifndef PYNQ_ACCEL_HLS_SLIDING_WINDOW_H_
#define PYNQ_ACCEL_HLS_SLIDING_WINDOW_H_

#include <cstdint>

#include "accel/hls/axis.h"
#include "accel/hls/hls_types.h"

namespace pynq::hls_kernels {

template <int kChannels, int kHeight, int kWidth, int kKernel, int kSimd>
void SlidingWindow(hls::stream<Vec<std::int8_t, kChannels>>& in, hls::stream<ImageToken>& ctrl_in,
                   hls::stream<Vec<std::int8_t, kSimd>>& out, hls::stream<ImageToken>& ctrl_out,
                   const std::int8_t pad_value) {
  static_assert(kKernel % 2 == 1, "a same convolution has an odd kernel");
  static_assert(kKernel <= kHeight && kKernel <= kWidth, "the kernel fits the image");
  static_assert((kKernel * kKernel * kChannels) % kSimd == 0,
                "SIMD must divide the window (kernel^2 * channels)");
  constexpr int kPad = (kKernel - 1) / 2;
  constexpr int kWindow = kKernel * kKernel * kChannels;
  Vec<std::int8_t, kChannels> lines[kKernel][kWidth];
#pragma HLS ARRAY_PARTITION variable = lines complete dim = 1
  // One output pixel reads kKernel rows at once: one memory per line.
  std::int8_t window[kWindow];
#pragma HLS ARRAY_PARTITION variable = window cyclic factor = kSimd
  // Each output word reads kSimd consecutive window values in one cycle.
  for (;;) {
    const ImageToken token = ctrl_in.read();
    ctrl_out.write(token);
    if (token.has_image) {
      int rows_read = 0;
      for (int oy = 0; oy < kHeight; ++oy) {
        // Input rows up to oy + kPad (the window's bottom row), those that exist.
        const int rows_needed = oy + kPad + 1 < kHeight ? oy + kPad + 1 : kHeight;
        for (; rows_read < rows_needed; ++rows_read) {
          for (int x = 0; x < kWidth; ++x) {
#pragma HLS PIPELINE II = 1
            lines[rows_read % kKernel][x] = in.read();
          }
        }
        for (int ox = 0; ox < kWidth; ++ox) {
          for (int ky = 0; ky < kKernel; ++ky) {
            for (int kx = 0; kx < kKernel; ++kx) {
#pragma HLS PIPELINE II = 1
              const int iy = oy - kPad + ky;
              const int ix = ox - kPad + kx;
              const bool inside = iy >= 0 && iy < kHeight && ix >= 0 && ix < kWidth;
              for (int c = 0; c < kChannels; ++c) {
                window[(ky * kKernel + kx) * kChannels + c] =
                    inside ? lines[iy % kKernel][ix].v[c] : pad_value;
              }
            }
          }
          for (int g = 0; g < kWindow / kSimd; ++g) {
#pragma HLS PIPELINE II = 1
            Vec<std::int8_t, kSimd> word;
            for (int s = 0; s < kSimd; ++s) word.v[s] = window[g * kSimd + s];
            out.write(word);
          }
        }
      }
    }
    if (token.last) break;
  }
}

}  // namespace pynq::hls_kernels

#endif  // PYNQ_ACCEL_HLS_SLIDING_WINDOW_H_
