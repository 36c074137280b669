// The binarized matrix-vector-threshold unit (FINN's MVTU), 1-bit weights (1 = +1, 0 = -1):
//   bipolar inputs (one bit plane, 1 = +1):  acc += kSimd - 2 popcount(w ^ x)      (XNOR-popcount)
//   unsigned n-bit inputs (n bit planes):    acc += sum_b 2^b (2 popcount(w & x_b) - popcount(x_b))
// so acc = sum_i w_i * v_i exactly, as accel/cpu's BinaryDenseReference. Then either thresholds
// (the hidden layers: n = the number of a channel's thresholds <= acc, written as the next
// layer's bit planes) or requantization to int8 (the logits).
//
// A layer is a type L deriving from MatrixFold (matrix_fold.h) that adds:
//   kBipolarIn, kInBits     the input values: bipolar (kInBits 1) or unsigned of kInBits bits;
// and, for BinaryMvtuThresholds,
//   kBipolarOut, kOutBits   the output values: bipolar (1 threshold) or unsigned (2^bits - 1);
//   kOutSimd                lanes per output word: the next layer's kSimd (a multiple of kPe),
//                           so consecutive neuron folds fill one word and no width converter is
//                           needed between layers.
// Weights: weights[tile][pe] holds PE pe's kSimd bits of tile tile (matrix_fold.h), lane s at
// bit s, bits kSimd..63 zero. Input words hold kSimd lanes, the rest zero: XOR and AND of two
// zeros count nothing, which is what lets one 64-bit word serve any kSimd <= 64.
#ifndef PYNQ_ACCEL_HLS_BINARY_MVTU_H_
#define PYNQ_ACCEL_HLS_BINARY_MVTU_H_

#include <cstdint>

#include "accel/hls/axis.h"
#include "accel/hls/hls_types.h"
#include "accel/hls/requant.h"

namespace pynq::hls_kernels {

// Reads one image's input vector (kSf words) into `x` and returns sum_i v_i over it for unsigned
// inputs (the popcount(x_b) term, the same for every row), 0 for bipolar ones.
template <typename L>
std::int32_t ReadInputVector(hls::stream<BitPlanes<L::kInBits>>& in,
                             BitPlanes<L::kInBits> x[L::kSf]) {
  std::int32_t input_sum = 0;
  for (int sf = 0; sf < L::kSf; ++sf) {
#pragma HLS PIPELINE II = 1
    x[sf] = in.read();
    if (!L::kBipolarIn) {
      for (int b = 0; b < L::kInBits; ++b) input_sum += Popcount64(x[sf].plane[b]) << b;
    }
  }
  return input_sum;
}

// acc[pe] = sum_i w[nf * kPe + pe][i] * v_i for neuron fold nf. input_sum: ReadInputVector's.
template <typename L>
void BinaryAccumulate(const BitPlanes<L::kInBits> x[L::kSf], const std::uint64_t weights[][L::kPe],
                      int nf, std::int32_t input_sum, std::int32_t acc[L::kPe]) {
  static_assert(L::kSimd <= 64, "a SIMD group must fit one 64-bit word per bit plane");
  static_assert(!L::kBipolarIn || L::kInBits == 1, "bipolar inputs are one bit plane");
  static_assert(L::kInBits >= 1 && L::kInBits <= 8, "unsigned inputs have 1..8 bits");
  std::int32_t count[L::kPe];
#pragma HLS ARRAY_PARTITION variable = count complete
  // One accumulator per PE, all updated in the same cycle.
  for (int pe = 0; pe < L::kPe; ++pe) count[pe] = 0;
  for (int sf = 0; sf < L::kSf; ++sf) {
#pragma HLS PIPELINE II = 1
    // II = 1 needs every PE's word of a tile in the same cycle: the caller partitions
    // `weights` completely along its second (PE) dimension.
    const std::uint64_t* w = weights[nf * L::kSf + sf];
    for (int pe = 0; pe < L::kPe; ++pe) {
#pragma HLS UNROLL
      if (L::kBipolarIn) {
        count[pe] += Popcount64(w[pe] ^ x[sf].plane[0]);  // lanes that differ
      } else {
        for (int b = 0; b < L::kInBits; ++b) {
          count[pe] += Popcount64(w[pe] & x[sf].plane[b]) << b;  // sum of v_i where w_i = +1
        }
      }
    }
  }
  for (int pe = 0; pe < L::kPe; ++pe) {
#pragma HLS UNROLL
    // Bipolar: agree - differ = kCols - 2 differ. Unsigned: plus - minus = 2 plus - sum.
    acc[pe] = L::kBipolarIn ? L::kCols - 2 * count[pe] : 2 * count[pe] - input_sum;
  }
}

// A hidden binarized layer: per image, reads kSf input words, writes kRows / kOutSimd output
// words (kOutBits planes of kOutSimd lanes, unsigned n or bipolar 2n - 1 as bit n), in row order.
// thresholds[nf][pe][k]: row nf * kPe + pe's thresholds, ascending (so n is a count).
template <typename L>
void BinaryMvtuThresholds(
    hls::stream<BitPlanes<L::kInBits>>& in, hls::stream<ImageToken>& ctrl_in,
    hls::stream<BitPlanes<L::kOutBits>>& out, hls::stream<ImageToken>& ctrl_out,
    const std::uint64_t weights[][L::kPe],
    const std::int32_t thresholds[][L::kPe][L::kBipolarOut ? 1 : (1 << L::kOutBits) - 1]) {
  constexpr int kThresholds = L::kBipolarOut ? 1 : (1 << L::kOutBits) - 1;
  static_assert(!L::kBipolarOut || L::kOutBits == 1, "bipolar outputs are one bit plane");
  static_assert(L::kOutSimd % L::kPe == 0 && L::kOutSimd <= 64,
                "an output word holds whole neuron folds and fits 64 lanes");
  static_assert(L::kRows % L::kOutSimd == 0, "the output words must tile the rows");
#pragma HLS ARRAY_PARTITION variable = weights complete dim = 2
#pragma HLS ARRAY_PARTITION variable = thresholds complete dim = 2
  // All PEs read their weights and thresholds in the same cycle.
  BitPlanes<L::kInBits> x[L::kSf];
  for (;;) {
    const ImageToken token = ctrl_in.read();
    ctrl_out.write(token);
    if (token.has_image) {
      const std::int32_t input_sum = ReadInputVector<L>(in, x);
      BitPlanes<L::kOutBits> word{};
      for (int nf = 0; nf < L::kNf; ++nf) {
        std::int32_t acc[L::kPe];
        BinaryAccumulate<L>(x, weights, nf, input_sum, acc);
        const int lane0 = (nf * L::kPe) % L::kOutSimd;
        for (int pe = 0; pe < L::kPe; ++pe) {
#pragma HLS UNROLL
          int n = 0;
          for (int k = 0; k < kThresholds; ++k) n += acc[pe] >= thresholds[nf][pe][k] ? 1 : 0;
          for (int b = 0; b < L::kOutBits; ++b) {
            word.plane[b] |= static_cast<std::uint64_t>((n >> b) & 1) << (lane0 + pe);
          }
        }
        if (lane0 + L::kPe == L::kOutSimd) {
          out.write(word);
          word = BitPlanes<L::kOutBits>{};
        }
      }
    }
    if (token.last) break;
  }
}

// The last binarized layer: per image, reads kSf input words and writes all kRows outputs as
// int8, requantized per row as the CPU's BinaryDenseOutput (bias, Q31 scale, zero point, clamp).
template <typename L>
void BinaryMvtuRequant(hls::stream<BitPlanes<L::kInBits>>& in, hls::stream<ImageToken>& ctrl_in,
                       hls::stream<Vec<std::int8_t, L::kRows>>& out,
                       hls::stream<ImageToken>& ctrl_out, const std::uint64_t weights[][L::kPe],
                       const std::int32_t bias[][L::kPe], const std::int32_t multiplier[][L::kPe],
                       const std::int32_t shift[][L::kPe], const OutputRange range) {
#pragma HLS ARRAY_PARTITION variable = weights complete dim = 2
  // All PEs read their weights in the same cycle.
  BitPlanes<L::kInBits> x[L::kSf];
  for (;;) {
    const ImageToken token = ctrl_in.read();
    ctrl_out.write(token);
    if (token.has_image) {
      const std::int32_t input_sum = ReadInputVector<L>(in, x);
      Vec<std::int8_t, L::kRows> result;
      for (int nf = 0; nf < L::kNf; ++nf) {
        std::int32_t acc[L::kPe];
        BinaryAccumulate<L>(x, weights, nf, input_sum, acc);
        for (int pe = 0; pe < L::kPe; ++pe) {
          result.v[nf * L::kPe + pe] =
              RequantizeToInt8(acc[pe], bias[nf][pe], multiplier[nf][pe], shift[nf][pe],
                               range.zero_point, range.min, range.max);
        }
      }
      out.write(result);
    }
    if (token.last) break;
  }
}

}  // namespace pynq::hls_kernels

#endif  // PYNQ_ACCEL_HLS_BINARY_MVTU_H_
