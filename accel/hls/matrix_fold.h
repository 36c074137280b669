// The folding of one matrix-vector unit (FINN's MVAU vocabulary): a layer of kRows outputs, each
// the dot product of kCols inputs, computed kSimd inputs by kPe outputs per clock cycle. The
// kRows x kCols matrix is cut into kNf = kRows / kPe neuron folds and kSf = kCols / kSimd synapse
// folds; PE p owns rows nf * kPe + p, and tile nf * kSf + sf holds each PE's kSimd weights of
// columns sf * kSimd .. sf * kSimd + kSimd - 1. One input vector takes kNf * kSf cycles; a
// convolution repeats that once per output pixel (kRepeats).
#ifndef PYNQ_ACCEL_HLS_MATRIX_FOLD_H_
#define PYNQ_ACCEL_HLS_MATRIX_FOLD_H_

namespace pynq::hls_kernels {

template <int kRowsT, int kColsT, int kSimdT, int kPeT, int kRepeatsT = 1>
struct MatrixFold {
  static_assert(kRowsT > 0 && kColsT > 0 && kSimdT > 0 && kPeT > 0 && kRepeatsT > 0,
                "every dimension of a fold is positive");
  static_assert(kColsT % kSimdT == 0, "SIMD must divide the columns (inputs per output)");
  static_assert(kRowsT % kPeT == 0, "PE must divide the rows (outputs)");

  static constexpr int kRows = kRowsT;
  static constexpr int kCols = kColsT;
  static constexpr int kSimd = kSimdT;
  static constexpr int kPe = kPeT;
  static constexpr int kRepeats = kRepeatsT;
  static constexpr int kSf = kCols / kSimd;  // synapse folds: input words per vector
  static constexpr int kNf = kRows / kPe;    // neuron folds
  static constexpr int kTiles = kNf * kSf;   // weight words per PE
  // Cycles of one image at II = 1: every tile once per repeat.
  static constexpr long kCyclesPerImage = static_cast<long>(kRepeats) * kTiles;
};

}  // namespace pynq::hls_kernels

#endif  // PYNQ_ACCEL_HLS_MATRIX_FOLD_H_
