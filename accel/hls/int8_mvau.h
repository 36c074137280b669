// The int8 matrix-vector-activation unit: int8 weights times int8 inputs into an int32
// accumulator, then per-row requantization (requant.h). A layer is a MatrixFold (matrix_fold.h);
// a convolution is the same unit fed by a sliding window (sliding_window.h), kRepeats = output
// pixels.
//
// The input zero point is folded into the bias by the generator:
//   sum_i w_i (q_i - z) + bias = sum_i w_i q_i + (bias - z sum_i w_i)
// so the datapath multiplies int8 by int8 (no 9-bit operand), and a padding tap, which carries
// q = z, adds w z - w z = 0 exactly as the CPU's "padding adds nothing". Bound: |w q| <= 2^14 and
// kCols <= 2^16, so the sum and the folded bias stay far inside int32.
//
// Weights: weights[tile][pe][s] is weight (row nf * kPe + pe, column sf * kSimd + s) of tile
// nf * kSf + sf. Per-row constants bias/multiplier/shift[nf][pe].
#ifndef PYNQ_ACCEL_HLS_INT8_MVAU_H_
#define PYNQ_ACCEL_HLS_INT8_MVAU_H_

#include <cstdint>

#include "accel/hls/axis.h"
#include "accel/hls/hls_types.h"
#include "accel/hls/requant.h"

namespace pynq::hls_kernels {

// The per-row constants of a requantized int8 layer with kNf x kPe rows.
template <int kNf, int kPe>
struct RequantTable {
  const std::int32_t (*bias)[kPe];  // with the input zero point folded in (see above)
  const std::int32_t (*multiplier)[kPe];
  const std::int32_t (*shift)[kPe];
  OutputRange range;
};

// Per image: kRepeats times, reads one input vector (kSf words of kSimd int8) and writes the
// kRows int8 outputs as one Vec.
template <typename L>
void Int8Mvau(hls::stream<Vec<std::int8_t, L::kSimd>>& in, hls::stream<ImageToken>& ctrl_in,
              hls::stream<Vec<std::int8_t, L::kRows>>& out, hls::stream<ImageToken>& ctrl_out,
              const std::int8_t weights[][L::kPe][L::kSimd],
              const RequantTable<L::kNf, L::kPe> rq) {
#pragma HLS ARRAY_PARTITION variable = weights complete dim = 2
#pragma HLS ARRAY_PARTITION variable = weights complete dim = 3
  // kPe x kSimd multipliers read their weights in the same cycle.
  Vec<std::int8_t, L::kSimd> x[L::kSf];
  for (;;) {
    const ImageToken token = ctrl_in.read();
    ctrl_out.write(token);
    if (token.has_image) {
      for (int r = 0; r < L::kRepeats; ++r) {
        for (int sf = 0; sf < L::kSf; ++sf) {
#pragma HLS PIPELINE II = 1
          x[sf] = in.read();
        }
        Vec<std::int8_t, L::kRows> result;
        for (int nf = 0; nf < L::kNf; ++nf) {
          std::int32_t acc[L::kPe];
#pragma HLS ARRAY_PARTITION variable = acc complete
          for (int pe = 0; pe < L::kPe; ++pe) acc[pe] = 0;
          for (int sf = 0; sf < L::kSf; ++sf) {
#pragma HLS PIPELINE II = 1
            // One tile per cycle: kPe dot products of kSimd lanes each (an adder tree per PE).
            const std::int8_t(*w)[L::kSimd] = weights[nf * L::kSf + sf];
            for (int pe = 0; pe < L::kPe; ++pe) {
#pragma HLS UNROLL
              std::int32_t dot = 0;
              for (int s = 0; s < L::kSimd; ++s) {
#pragma HLS UNROLL
                dot += static_cast<std::int32_t>(w[pe][s]) * x[sf].v[s];
              }
              acc[pe] += dot;
            }
          }
          for (int pe = 0; pe < L::kPe; ++pe) {
            result.v[nf * L::kPe + pe] =
                RequantizeToInt8(acc[pe], rq.bias[nf][pe], rq.multiplier[nf][pe], rq.shift[nf][pe],
                                 rq.range.zero_point, rq.range.min, rq.range.max);
          }
        }
        out.write(result);
      }
    }
    if (token.last) break;
  }
}

}  // namespace pynq::hls_kernels

#endif  // PYNQ_ACCEL_HLS_INT8_MVAU_H_
