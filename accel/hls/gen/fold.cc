#include "accel/hls/gen/fold.h"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace pynq::hls_gen {

std::vector<uint64_t> FoldBinaryWeights(const FoldShape& shape,
                                        const std::function<bool(int row, int col)>& plus) {
  const int sf_count = shape.cols / shape.simd;
  const int nf_count = shape.rows / shape.pe;
  std::vector<uint64_t> words(static_cast<size_t>(nf_count) * sf_count * shape.pe, 0);
  for (int nf = 0; nf < nf_count; ++nf) {
    for (int sf = 0; sf < sf_count; ++sf) {
      for (int p = 0; p < shape.pe; ++p) {
        uint64_t word = 0;
        for (int s = 0; s < shape.simd; ++s) {
          if (plus(nf * shape.pe + p, sf * shape.simd + s)) word |= uint64_t{1} << s;
        }
        words[(static_cast<size_t>(nf) * sf_count + sf) * shape.pe + p] = word;
      }
    }
  }
  return words;
}

std::vector<int8_t> FoldInt8Weights(const FoldShape& shape,
                                    const std::function<int8_t(int row, int col)>& weight) {
  const int sf_count = shape.cols / shape.simd;
  const int nf_count = shape.rows / shape.pe;
  std::vector<int8_t> values(static_cast<size_t>(shape.rows) * shape.cols);
  size_t next = 0;
  for (int nf = 0; nf < nf_count; ++nf) {
    for (int sf = 0; sf < sf_count; ++sf) {
      for (int p = 0; p < shape.pe; ++p) {
        for (int s = 0; s < shape.simd; ++s) {
          values[next++] = weight(nf * shape.pe + p, sf * shape.simd + s);
        }
      }
    }
  }
  return values;
}

}  // namespace pynq::hls_gen
