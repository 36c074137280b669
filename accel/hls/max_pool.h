// The max-pool unit: kPool x kPool windows, stride kPool, per channel, no padding, over a
// row-major stream of pixels; the output keeps the input's scale and zero point, as the CPU's
// MaxPool.
#ifndef PYNQ_ACCEL_HLS_MAX_POOL_H_
#define PYNQ_ACCEL_HLS_MAX_POOL_H_

#include <cstdint>

#include "accel/hls/axis.h"
#include "accel/hls/hls_types.h"

namespace pynq::hls_kernels {

// Max pooling kPool x kPool, stride kPool, per channel, over a row-major stream of pixels (each
// a Vec of kChannels int8); writes the pooled pixels row-major. One row of running maxima.
template <int kChannels, int kHeight, int kWidth, int kPool>
void MaxPoolStream(hls::stream<Vec<std::int8_t, kChannels>>& in, hls::stream<ImageToken>& ctrl_in,
                   hls::stream<Vec<std::int8_t, kChannels>>& out,
                   hls::stream<ImageToken>& ctrl_out) {
  static_assert(kHeight % kPool == 0 && kWidth % kPool == 0,
                "the pool windows must tile the image (no leftover rows or columns)");
  Vec<std::int8_t, kChannels> best[kWidth / kPool];
  for (;;) {
    const ImageToken token = ctrl_in.read();
    ctrl_out.write(token);
    if (token.has_image) {
      for (int y = 0; y < kHeight; ++y) {
        for (int x = 0; x < kWidth; ++x) {
#pragma HLS PIPELINE II = 1
          // One pixel per cycle; `best` is read and written once per cycle.
          const Vec<std::int8_t, kChannels> pixel = in.read();
          Vec<std::int8_t, kChannels>& m = best[x / kPool];
          const bool first = y % kPool == 0 && x % kPool == 0;
          for (int c = 0; c < kChannels; ++c) {
            m.v[c] = first || pixel.v[c] > m.v[c] ? pixel.v[c] : m.v[c];
          }
          if (y % kPool == kPool - 1 && x % kPool == kPool - 1) out.write(m);
        }
      }
    }
    if (token.last) break;
  }
}

}  // namespace pynq::hls_kernels

#endif  // PYNQ_ACCEL_HLS_MAX_POOL_H_
