#include "accel/cpu/binary_kernels.h"

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "accel/cpu/simd.h"

namespace pynq::accel::cpu::fast {
namespace {

// The AVX-512 kernels' channel groups: kPopcount takes 4 vectors of 8 channels (uint64 lanes),
// kVnni 2 vectors of 16 channels (int32 lanes); both 32 channels per group.
constexpr int kGroupRows = 32;
constexpr int kPopcountVectors = 4;
[[maybe_unused]] constexpr int kPopcountImages = 4;  // images per pass: 4 x 4 accumulators
constexpr int kVnniVectors = 2;
[[maybe_unused]] constexpr int kVnniImages = 8;  // 2 x 8 accumulators

int PlanesOf(const BinaryDenseParams& p) { return p.input_bipolar ? 1 : p.input_bits; }

bool WeightBit(const BinaryDenseParams& p, int row, int input) {
  const uint8_t* r = p.weights + static_cast<size_t>(row) * p.words_per_row * 8;
  return ((r[input / 8] >> (input % 8)) & 1) != 0;
}

// ---- The portable kernel: the file's layout, one image at a time. ----

void PackPortable(const BinaryDenseParams& params, const int8_t* input_data, uint64_t* planes) {
  const auto words = static_cast<size_t>(params.words_per_row);
  const int bits = PlanesOf(params);
  std::memset(planes, 0, words * static_cast<size_t>(bits) * sizeof(uint64_t));
  for (int i = 0; i < params.in_features; ++i) {
    const int32_t v = input_data[i] + params.input_offset;
    const size_t word = static_cast<size_t>(i) / 64;
    const uint64_t bit = uint64_t{1} << (i % 64);
    if (params.input_bipolar) {
      if (v > 0) planes[word] |= bit;
      continue;
    }
    for (int b = 0; b < bits; ++b) {
      if ((v >> b) & 1) planes[static_cast<size_t>(b) * words + word] |= bit;
    }
  }
}

void PopcountPortable(const BinaryDenseParams& params, const uint64_t* planes,
                      int8_t* output_data) {
  const auto words = static_cast<size_t>(params.words_per_row);
  const int bits = PlanesOf(params);
  int32_t plane_ones[8] = {};
  for (int b = 0; b < bits; ++b) {
    for (size_t j = 0; j < words; ++j) {
      plane_ones[b] += __builtin_popcountll(planes[static_cast<size_t>(b) * words + j]);
    }
  }
  for (int o = 0; o < params.out_features; ++o) {
    uint64_t row[1];  // the row's words, read without assuming 8-byte alignment of the file bytes
    const uint8_t* wrow = params.weights + static_cast<size_t>(o) * words * 8;
    int32_t acc = 0;
    if (params.input_bipolar) {
      // sum w*v over +-1 values = in_features - 2 * (positions where they differ).
      int32_t differ = 0;
      for (size_t j = 0; j < words; ++j) {
        std::memcpy(row, wrow + j * 8, 8);
        differ += __builtin_popcountll(row[0] ^ planes[j]);
      }
      acc = params.in_features - 2 * differ;
    } else {
      for (int b = 0; b < bits; ++b) {
        const uint64_t* plane = planes + static_cast<size_t>(b) * words;
        int32_t both = 0;
        for (size_t j = 0; j < words; ++j) {
          std::memcpy(row, wrow + j * 8, 8);
          both += __builtin_popcountll(row[0] & plane[j]);
        }
        // sum over set bits of w*1: (+1 where w = 1) + (-1 where w = 0) = 2 both - ones.
        acc += (2 * both - plane_ones[b]) * (1 << b);
      }
    }
    output_data[o] = BinaryDenseOutput(params, o, acc);
  }
}

#if PYNQ_X86_AVX512
bool HasAvx512Kernels() {
  static const bool has = CpuHasAvx512Base() && __builtin_cpu_supports("avx512vpopcntdq") &&
                          __builtin_cpu_supports("avx512vnni");
  return has;
}

// Mask of the valid bytes of 64-input word w (all but the last word are full).
inline uint64_t TailMask(int in_features, int w) {
  const int left = in_features - 64 * w;
  return left >= 64 ? ~uint64_t{0} : (uint64_t{1} << left) - 1;
}

// Packs one image's bit planes (plane b, word w at planes[b * words + w]) and returns
// sum_b 2^b popcount(plane b), the UNSIGNED formula's correction.
PYNQ_AVX512_TARGET
int32_t PackPlanesAvx512(const BinaryDenseParams& p, int planes, const int8_t* input,
                         uint64_t* out) {
  const int words = p.words_per_row;
  // v = q + input_offset, exact in int8 arithmetic for the values admitted (-1/+1, or 0..7 here).
  const __m512i offset = _mm512_set1_epi8(static_cast<char>(p.input_offset));
  int32_t weighted_ones = 0;
  for (int w = 0; w < words; ++w) {
    const uint64_t valid = TailMask(p.in_features, w);
    const __m512i v = _mm512_add_epi8(_mm512_maskz_loadu_epi8(valid, input + 64 * w), offset);
    if (p.input_bipolar) {
      out[w] = _mm512_cmpgt_epi8_mask(v, _mm512_setzero_si512()) & valid;
      continue;
    }
    for (int b = 0; b < planes; ++b) {
      const uint64_t bits =
          _mm512_test_epi8_mask(v, _mm512_set1_epi8(static_cast<char>(1 << b))) & valid;
      out[static_cast<size_t>(b) * words + w] = bits;
      weighted_ones += __builtin_popcountll(bits) << b;
    }
  }
  return weighted_ones;
}

// The output of 8 channels (lanes of acc) starting at `row`: thresholds compared 8 at a time, or
// the scalar requantization for logits layers.
PYNQ_AVX512_TARGET
void StoreOutputs8(const BinaryDenseParams& p, const int32_t* thresholds, int padded_rows, int row,
                   __m256i acc, int8_t* out) {
  const int valid = std::min(8, p.out_features - row);
  if (valid <= 0) return;
  if (p.thresholds == nullptr) {
    alignas(32) int32_t a[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(a), acc);
    for (int i = 0; i < valid; ++i) out[row + i] = BinaryDenseOutput(p, row + i, a[i]);
    return;
  }
  __m256i n = _mm256_setzero_si256();
  const __m256i one = _mm256_set1_epi32(1);
  for (int k = 0; k < p.threshold_count; ++k) {
    const __m256i t = _mm256_loadu_si256(
        reinterpret_cast<const __m256i*>(thresholds + static_cast<size_t>(k) * padded_rows + row));
    n = _mm256_mask_add_epi32(n, _mm256_cmpge_epi32_mask(acc, t), n, one);
  }
  if (p.output_bipolar) n = _mm256_sub_epi32(_mm256_add_epi32(n, n), one);
  _mm_mask_storeu_epi8(out + row, static_cast<__mmask16>((1u << valid) - 1),
                       _mm256_cvtepi32_epi8(n));
}

// As StoreOutputs8 for 16 channels.
PYNQ_AVX512_TARGET
void StoreOutputs16(const BinaryDenseParams& p, const int32_t* thresholds, int padded_rows, int row,
                    __m512i acc, int8_t* out) {
  const int valid = std::min(16, p.out_features - row);
  if (valid <= 0) return;
  if (p.thresholds == nullptr) {
    alignas(64) int32_t a[16];
    _mm512_store_si512(a, acc);
    for (int i = 0; i < valid; ++i) out[row + i] = BinaryDenseOutput(p, row + i, a[i]);
    return;
  }
  __m512i n = _mm512_setzero_si512();
  const __m512i one = _mm512_set1_epi32(1);
  for (int k = 0; k < p.threshold_count; ++k) {
    const __m512i t = _mm512_loadu_si512(thresholds + static_cast<size_t>(k) * padded_rows + row);
    n = _mm512_mask_add_epi32(n, _mm512_cmpge_epi32_mask(acc, t), n, one);
  }
  if (p.output_bipolar) n = _mm512_sub_epi32(_mm512_add_epi32(n, n), one);
  _mm_mask_storeu_epi8(out + row, static_cast<__mmask16>((1u << valid) - 1),
                       _mm512_cvtepi32_epi8(n));
}

// One group of 32 channels against J images' packed planes. Weight vector r of word w is
// group[(w * 4 + r) * 8 ...]: channels r * 8 .. r * 8 + 7 of the group. Planes are taken from
// the highest down, doubling the counts before each (Horner), so
// acc = sum_b 2^b popcount(w & x_b) with one shift per plane, not per word.
template <int J>
PYNQ_AVX512_TARGET inline __attribute__((always_inline)) void PopcountGroup(
    const BinaryDenseParams& p, int planes, const uint64_t* group, const uint64_t* const* x,
    __m512i (&acc)[kPopcountVectors][J]) {
  const int words = p.words_per_row;
  for (int r = 0; r < kPopcountVectors; ++r) {
    for (int j = 0; j < J; ++j) acc[r][j] = _mm512_setzero_si512();
  }
  if (p.input_bipolar) {
    for (int w = 0; w < words; ++w) {
      const uint64_t* gw = group + static_cast<size_t>(w) * kPopcountVectors * 8;
      __m512i wv[kPopcountVectors];
      for (int r = 0; r < kPopcountVectors; ++r) wv[r] = _mm512_loadu_si512(gw + r * 8);
      for (int j = 0; j < J; ++j) {
        const __m512i xb = _mm512_set1_epi64(static_cast<long long>(x[j][w]));
        for (int r = 0; r < kPopcountVectors; ++r) {
          acc[r][j] = _mm512_add_epi64(acc[r][j], _mm512_popcnt_epi64(_mm512_xor_si512(wv[r], xb)));
        }
      }
    }
    return;
  }
  for (int b = planes - 1; b >= 0; --b) {
    for (int r = 0; r < kPopcountVectors; ++r) {
      for (int j = 0; j < J; ++j) acc[r][j] = _mm512_add_epi64(acc[r][j], acc[r][j]);
    }
    const size_t plane = static_cast<size_t>(b) * words;
    for (int w = 0; w < words; ++w) {
      const uint64_t* gw = group + static_cast<size_t>(w) * kPopcountVectors * 8;
      __m512i wv[kPopcountVectors];
      for (int r = 0; r < kPopcountVectors; ++r) wv[r] = _mm512_loadu_si512(gw + r * 8);
      for (int j = 0; j < J; ++j) {
        const __m512i xb = _mm512_set1_epi64(static_cast<long long>(x[j][plane + w]));
        for (int r = 0; r < kPopcountVectors; ++r) {
          acc[r][j] = _mm512_add_epi64(acc[r][j], _mm512_popcnt_epi64(_mm512_and_si512(wv[r], xb)));
        }
      }
    }
  }
}

template <int J>
PYNQ_AVX512_TARGET void PopcountPass(const BinaryDenseParams& p, int planes, int padded_rows,
                                     const uint64_t* weights, const int32_t* thresholds,
                                     const uint64_t* const* x, const int32_t* weighted_ones,
                                     int8_t* const* out) {
  const size_t group_words = static_cast<size_t>(p.words_per_row) * kGroupRows;
  for (int g = 0; g * kGroupRows < p.out_features; ++g) {
    __m512i acc[kPopcountVectors][J];
    PopcountGroup<J>(p, planes, weights + static_cast<size_t>(g) * group_words, x, acc);
    for (int j = 0; j < J; ++j) {
      for (int r = 0; r < kPopcountVectors; ++r) {
        const __m256i count = _mm512_cvtepi64_epi32(acc[r][j]);
        __m256i a;
        if (p.input_bipolar) {  // in_features - 2 * differing positions
          a = _mm256_sub_epi32(_mm256_set1_epi32(p.in_features), _mm256_add_epi32(count, count));
        } else {  // 2 * sum_b 2^b both_b - sum_b 2^b ones_b
          a = _mm256_sub_epi32(_mm256_add_epi32(count, count), _mm256_set1_epi32(weighted_ones[j]));
        }
        StoreOutputs8(p, thresholds, padded_rows, g * kGroupRows + r * 8, a, out[j]);
      }
    }
  }
}

// One group of 32 channels against J images' bytes q' = v - 128 (4 per int32 lane): the weight
// word (group * G + g) * 2 + r holds bit 4 * lane + i = weight of channel r * 16 + lane, input
// 4g + i; a masked move makes it 0/1 bytes, and vpdpbusd adds sum_i b * q' into each lane.
template <int J>
PYNQ_AVX512_TARGET void VnniPass(const BinaryDenseParams& p, int padded_rows,
                                 const uint64_t* weights, const int32_t* thresholds,
                                 const int32_t* row_constant, const int8_t* const* q,
                                 const int32_t* q_sums, int8_t* const* out) {
  const int quads = (p.in_features + 3) / 4;
  const __m512i ones = _mm512_set1_epi8(1);
  for (int g = 0; g * kGroupRows < p.out_features; ++g) {
    const uint64_t* gw = weights + static_cast<size_t>(g) * quads * kVnniVectors;
    __m512i acc[kVnniVectors][J];
    for (int r = 0; r < kVnniVectors; ++r) {
      for (int j = 0; j < J; ++j) acc[r][j] = _mm512_setzero_si512();
    }
    for (int k = 0; k < quads; ++k) {
      __m512i b[kVnniVectors];
      for (int r = 0; r < kVnniVectors; ++r) {
        b[r] = _mm512_maskz_mov_epi8(gw[k * kVnniVectors + r], ones);
      }
      for (int j = 0; j < J; ++j) {
        int32_t four;
        std::memcpy(&four, q[j] + 4 * k, 4);
        const __m512i xb = _mm512_set1_epi32(four);
        for (int r = 0; r < kVnniVectors; ++r) acc[r][j] = _mm512_dpbusd_epi32(acc[r][j], b[r], xb);
      }
    }
    for (int j = 0; j < J; ++j) {
      for (int r = 0; r < kVnniVectors; ++r) {
        const int row = g * kGroupRows + r * 16;
        const __m512i a = _mm512_sub_epi32(_mm512_add_epi32(_mm512_add_epi32(acc[r][j], acc[r][j]),
                                                            _mm512_loadu_si512(row_constant + row)),
                                           _mm512_set1_epi32(q_sums[j]));
        StoreOutputs16(p, thresholds, padded_rows, row, a, out[j]);
      }
    }
  }
}

// One image's bytes q' = v - 128 (zero past in_features, to whole 64-byte words); returns
// sum_i q'_i.
PYNQ_AVX512_TARGET
int32_t PackBytesAvx512(const BinaryDenseParams& p, const int8_t* input, int8_t* out) {
  const __m512i offset = _mm512_set1_epi8(static_cast<char>(p.input_offset - 128));
  __m512i sum = _mm512_setzero_si512();  // of v = q' + 128, as unsigned bytes
  const __m512i bias = _mm512_set1_epi8(static_cast<char>(-128));
  for (int w = 0; w < p.words_per_row; ++w) {
    const uint64_t valid = TailMask(p.in_features, w);
    const __m512i qp =
        _mm512_maskz_add_epi8(valid, _mm512_maskz_loadu_epi8(valid, input + 64 * w), offset);
    _mm512_storeu_si512(out + 64 * w, qp);
    sum = _mm512_add_epi64(
        sum, _mm512_sad_epu8(_mm512_maskz_sub_epi8(valid, qp, bias), _mm512_setzero_si512()));
  }
  return static_cast<int32_t>(_mm512_reduce_add_epi64(sum)) - 128 * p.in_features;
}
#endif  // PYNQ_X86_AVX512

}  // namespace

BinaryDensePlan::BinaryDensePlan(const BinaryDenseParams& params, bool portable)
    : params_(params), planes_(PlanesOf(params)) {
#if PYNQ_X86_AVX512
  if (!portable && HasAvx512Kernels()) {
    kernel_ = params.input_bipolar || params.input_bits <= 3 ? Kernel::kPopcount : Kernel::kVnni;
  }
#else
  (void)portable;
#endif
  if (kernel_ == Kernel::kPortable) return;
  const int out = params.out_features;
  const int in = params.in_features;
  padded_rows_ = (out + kGroupRows - 1) / kGroupRows * kGroupRows;
  const int groups = padded_rows_ / kGroupRows;
  if (params.thresholds != nullptr) {
    thresholds_.assign(static_cast<size_t>(params.threshold_count) * padded_rows_, INT32_MAX);
    for (int o = 0; o < out; ++o) {
      for (int k = 0; k < params.threshold_count; ++k) {
        thresholds_[static_cast<size_t>(k) * padded_rows_ + o] =
            params.thresholds[static_cast<size_t>(o) * params.threshold_count + k];
      }
    }
  }
  if (kernel_ == Kernel::kPopcount) {
    const int words = params.words_per_row;
    words_.assign(static_cast<size_t>(groups) * words * kGroupRows, 0);
    for (int o = 0; o < out; ++o) {
      const int g = o / kGroupRows;
      const int r = (o % kGroupRows) / 8;
      const int lane = o % 8;
      for (int w = 0; w < words; ++w) {
        uint64_t word;
        std::memcpy(&word, params.weights + (static_cast<size_t>(o) * words + w) * 8, 8);
        // The unused bits are 0 in the file; clear them anyway, since XNOR-popcount counts them.
        const int left = in - 64 * w;
        if (left < 64) word &= (uint64_t{1} << left) - 1;
        words_[((static_cast<size_t>(g) * words + w) * kPopcountVectors + r) * 8 + lane] = word;
      }
    }
    return;
  }
  // kVnni.
  const int quads = (in + 3) / 4;
  words_.assign(static_cast<size_t>(groups) * quads * kVnniVectors, 0);
  row_constant_.assign(static_cast<size_t>(padded_rows_), 0);
  for (int o = 0; o < out; ++o) {
    const int g = o / kGroupRows;
    const int r = (o % kGroupRows) / 16;
    const int lane = o % 16;
    int32_t plus = 0;
    for (int i = 0; i < in; ++i) {
      if (!WeightBit(params, o, i)) continue;
      ++plus;
      words_[(static_cast<size_t>(g) * quads + i / 4) * kVnniVectors + r] |= uint64_t{1}
                                                                             << (4 * lane + i % 4);
    }
    // sum_i (2b_i - 1)(q'_i + 128) = 2 sum b q' + 256 sum b - sum q' - 128 in_features.
    row_constant_[static_cast<size_t>(o)] = 256 * plus - 128 * in;
  }
}

size_t BinaryDensePlan::ScratchBytes(int images) const {
  const auto n = static_cast<size_t>(std::max(images, 1));
  const auto words = static_cast<size_t>(params_.words_per_row);
  switch (kernel_) {
    case Kernel::kPortable:
      return AlignUp(words * static_cast<size_t>(planes_) * sizeof(uint64_t));
    case Kernel::kPopcount:
      return n * AlignUp(words * static_cast<size_t>(planes_) * sizeof(uint64_t));
    case Kernel::kVnni:
      return n * words * 64;
  }
  return 0;
}

void BinaryDensePlan::Run(int images, const int8_t* input, size_t input_stride, int8_t* output,
                          size_t output_stride, void* scratch) const {
  switch (kernel_) {
    case Kernel::kPortable:
      for (int j = 0; j < images; ++j) {
        RunPortable(input + static_cast<size_t>(j) * input_stride,
                    output + static_cast<size_t>(j) * output_stride, scratch);
      }
      return;
    case Kernel::kPopcount:
      RunPopcount(images, input, input_stride, output, output_stride, scratch);
      return;
    case Kernel::kVnni:
      RunVnni(images, input, input_stride, output, output_stride, scratch);
      return;
  }
}

void BinaryDensePlan::RunPortable(const int8_t* input, int8_t* output, void* scratch) const {
  auto* planes = static_cast<uint64_t*>(scratch);
  PackPortable(params_, input, planes);
  PopcountPortable(params_, planes, output);
}

void BinaryDensePlan::RunPopcount(int images, const int8_t* input, size_t input_stride,
                                  int8_t* output, size_t output_stride, void* scratch) const {
#if PYNQ_X86_AVX512
  const size_t per_image =
      AlignUp(static_cast<size_t>(params_.words_per_row) * planes_ * sizeof(uint64_t));
  auto* base = static_cast<uint8_t*>(scratch);
  for (int j0 = 0; j0 < images; j0 += kPopcountImages) {
    const int count = std::min(kPopcountImages, images - j0);
    const uint64_t* x[kPopcountImages];
    int8_t* out[kPopcountImages];
    int32_t weighted_ones[kPopcountImages];
    for (int j = 0; j < count; ++j) {
      const auto n = static_cast<size_t>(j0 + j);
      auto* planes = reinterpret_cast<uint64_t*>(base + n * per_image);
      weighted_ones[j] = PackPlanesAvx512(params_, planes_, input + n * input_stride, planes);
      x[j] = planes;
      out[j] = output + n * output_stride;
    }
    WithCount<kPopcountImages>(count, [&](auto images_in_pass) {
      PopcountPass<decltype(images_in_pass)::value>(params_, planes_, padded_rows_, words_.data(),
                                                    thresholds_.data(), x, weighted_ones, out);
    });
  }
#else
  (void)images, (void)input, (void)input_stride, (void)output, (void)output_stride, (void)scratch;
#endif
}

void BinaryDensePlan::RunVnni(int images, const int8_t* input, size_t input_stride, int8_t* output,
                              size_t output_stride, void* scratch) const {
#if PYNQ_X86_AVX512
  const size_t per_image = static_cast<size_t>(params_.words_per_row) * 64;
  auto* base = static_cast<int8_t*>(scratch);
  for (int j0 = 0; j0 < images; j0 += kVnniImages) {
    const int count = std::min(kVnniImages, images - j0);
    const int8_t* q[kVnniImages];
    int8_t* out[kVnniImages];
    int32_t sums[kVnniImages];
    for (int j = 0; j < count; ++j) {
      const auto n = static_cast<size_t>(j0 + j);
      int8_t* bytes = base + n * per_image;
      sums[j] = PackBytesAvx512(params_, input + n * input_stride, bytes);
      q[j] = bytes;
      out[j] = output + n * output_stride;
    }
    WithCount<kVnniImages>(count, [&](auto images_in_pass) {
      VnniPass<decltype(images_in_pass)::value>(params_, padded_rows_, words_.data(),
                                                thresholds_.data(), row_constant_.data(), q, sums,
                                                out);
    });
  }
#else
  (void)images, (void)input, (void)input_stride, (void)output, (void)output_stride, (void)scratch;
#endif
}

}  // namespace pynq::accel::cpu::fast
