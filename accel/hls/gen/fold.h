// Host side of the HLS kernels' weight layout: turns a plain row-major weight matrix into the
// folded order the matrix-vector units read (accel/hls/matrix_fold.h): tile nf * sf_count + sf,
// then PE, then SIMD lane, where row = nf * pe + PE and column = sf * simd + lane. Used by the
// generator (pynq_hls_gen) and by the test benches that drive the units directly.
#ifndef PYNQ_ACCEL_HLS_GEN_FOLD_H_
#define PYNQ_ACCEL_HLS_GEN_FOLD_H_

#include <cstdint>
#include <functional>
#include <vector>

namespace pynq::hls_gen {

struct FoldShape {
  int rows = 0;
  int cols = 0;
  int simd = 0;
  int pe = 0;
};

// Binary weights: one uint64 per (tile, PE), lane s at bit s (1 = +1), bits simd..63 zero;
// tiles * pe words. plus(row, col) is the weight's sign. simd <= 64; simd divides cols and pe
// divides rows (the caller's folding, checked by the kernels' static_asserts).
std::vector<uint64_t> FoldBinaryWeights(const FoldShape& shape,
                                        const std::function<bool(int row, int col)>& plus);

// int8 weights: tiles * pe * simd values, weight(row, col) at [tile][pe][lane].
std::vector<int8_t> FoldInt8Weights(const FoldShape& shape,
                                    const std::function<int8_t(int row, int col)>& weight);

// Bit `index` of a binary weight row packed as in proto/model.proto (little-endian uint64 words,
// input i at bit i % 64 of word i / 64).
inline bool PackedBit(const uint8_t* row, int index) {
  return ((row[index / 8] >> (index % 8)) & 1) != 0;
}

}  // namespace pynq::hls_gen

#endif  // PYNQ_ACCEL_HLS_GEN_FOLD_H_
