#include "accel/cpu/fast_kernels.h"

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

// On x86 the hot loops are compiled three times (baseline SSE2, AVX2, AVX-512) and the loader
// picks the best the CPU has (GCC function multiversioning). Elsewhere (the board's ARMv7 with
// NEON) one build for the target.
#if defined(__SANITIZE_THREAD__)
// ThreadSanitizer instruments the ifunc resolvers that pick a clone, and they run before its
// runtime is up (a crash at start-up): TSan builds get the single baseline version.
#define PYNQ_IFUNC_OK 0
#else
#define PYNQ_IFUNC_OK 1
#endif
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && PYNQ_IFUNC_OK
#define PYNQ_MULTIVERSION __attribute__((target_clones("default", "avx2", "arch=x86-64-v4")))
#define PYNQ_MULTIVERSION_POPCOUNT \
  __attribute__((target_clones("default", "popcnt", "arch=x86-64-v4")))
#else
#define PYNQ_MULTIVERSION
#define PYNQ_MULTIVERSION_POPCOUNT
#endif
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define PYNQ_X86_VNNI 1
#include <immintrin.h>
#else
#define PYNQ_X86_VNNI 0
#endif

namespace pynq::accel::cpu::fast {
namespace {

constexpr size_t kAlign = 64;

size_t AlignUp(size_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }

int8_t Requantize(int32_t acc, int32_t multiplier, int shift, int32_t offset, int32_t lo,
                  int32_t hi) {
  int32_t q = MultiplyByQuantizedMultiplier(acc, multiplier, shift) + offset;
  q = std::max(q, lo);
  q = std::min(q, hi);
  return static_cast<int8_t>(q);
}

// ---- Convolution as a matrix product over a packed im2col. ----
//
// The patch of every output pixel (its in_channels * kernel_h * kernel_w inputs, minus the input
// zero point, 0 where the window hangs over the padding) is packed as int16 pairs, in blocks of
// kLanes pixels: x[block][kp][lane][2] holds inputs 2kp and 2kp + 1 of pixel block * kLanes +
// lane. The weights are packed to match: w2[o][kp] = the int16 pair (w[o][2kp], w[o][2kp + 1])
// in one int32. Then acc[o][p] = sum_kp x.pair * w2.pair, which is exactly what x86's
// vpmaddwd/vpdpwssd and ARM's vmlal compute, lane by lane; depth is padded to even with zeros and
// the pixel count to whole blocks, which adds nothing and is not written out.

constexpr int kLanes = 16;      // pixels per block: one 512-bit vector of int32 accumulators
constexpr int kPixelStep = 32;  // the AVX-512 kernel takes two blocks at a time
constexpr int kRowStep = 4;     // output channels per pass

struct ConvLayout {
  size_t pixels;     // output pixels
  size_t padded;     // pixels rounded up to kPixelStep
  size_t depth;      // in_channels * kernel_h * kernel_w
  size_t pairs;      // depth rounded up to even, / 2
  size_t x_bytes;    // packed patches
  size_t w_bytes;    // packed weights
  size_t row_bytes;  // one patch, unpacked
};

ConvLayout LayoutOf(const FilterShape& f, const TensorShape& out) {
  ConvLayout l;
  l.pixels = static_cast<size_t>(out.height) * static_cast<size_t>(out.width);
  l.padded = (l.pixels + kPixelStep - 1) / kPixelStep * kPixelStep;
  l.depth = static_cast<size_t>(f.in_channels) * static_cast<size_t>(f.height) *
            static_cast<size_t>(f.width);
  l.pairs = (l.depth + 1) / 2;
  l.x_bytes = AlignUp(l.padded * l.pairs * 2 * sizeof(int16_t));
  l.w_bytes = AlignUp(static_cast<size_t>(f.out_channels) * l.pairs * sizeof(int32_t));
  l.row_bytes = AlignUp(2 * l.padded * sizeof(int16_t));  // two rows of the im2col
  return l;
}

// Row k of the (unpacked) im2col: input k = (c, ky, kx) of every output pixel, minus the input
// zero point, 0 where it falls in the padding; `padded` entries, the ones past the last pixel 0.
// Contiguous runs of input for stride 1, so the copies vectorize.
PYNQ_MULTIVERSION
void FillPatchRow(const ConvParams& params, const TensorShape& in, const FilterShape& f,
                  const TensorShape& out, size_t padded, size_t k, const int8_t* input,
                  int16_t* row) {
  const size_t taps = static_cast<size_t>(f.height) * static_cast<size_t>(f.width);
  if (k >= static_cast<size_t>(f.in_channels) * taps) {  // the zero pad to an even depth
    std::memset(row, 0, padded * sizeof(int16_t));
    return;
  }
  const int c = static_cast<int>(k / taps);
  const int ky = static_cast<int>(k % taps) / f.width;
  const int kx = static_cast<int>(k % taps) % f.width;
  const int8_t* plane = input + static_cast<size_t>(c) * in.height * in.width;
  const auto offset = static_cast<int16_t>(params.input_offset);
  const int sw = params.stride_width;
  // Output columns whose input column ox * sw + kx - pad_left lies inside 0..in.width - 1.
  const int lead = params.padding_left - kx;  // ix = ox * sw - lead
  const int ox_lo = lead <= 0 ? 0 : std::min(out.width, (lead + sw - 1) / sw);
  const int last = in.width - 1 + lead;
  const int ox_hi = last < 0 ? 0 : std::min(out.width, last / sw + 1);
  for (int oy = 0; oy < out.height; ++oy) {
    int16_t* dst = row + static_cast<size_t>(oy) * out.width;
    const int iy = oy * params.stride_height + ky - params.padding_top;
    if (iy < 0 || iy >= in.height || ox_lo >= ox_hi) {
      std::memset(dst, 0, static_cast<size_t>(out.width) * sizeof(int16_t));
      continue;
    }
    const int8_t* src = plane + static_cast<size_t>(iy) * in.width;
    for (int ox = 0; ox < ox_lo; ++ox) dst[ox] = 0;
    if (sw == 1) {
      // The copy that dominates: restrict-qualified so the compiler vectorizes it.
      const int8_t* __restrict s = src - lead + ox_lo;
      int16_t* __restrict d = dst + ox_lo;
      const int n = ox_hi - ox_lo;
      int i = 0;
      // Fixed blocks of 16, which the compiler turns into one vector widen-and-add each (rows
      // are short: a plain loop of this length stays in its scalar remainder).
      for (; i + 16 <= n; i += 16) {
        for (int j = 0; j < 16; ++j) d[i + j] = static_cast<int16_t>(s[i + j] + offset);
      }
      for (; i < n; ++i) d[i] = static_cast<int16_t>(s[i] + offset);
    } else {
      for (int ox = ox_lo; ox < ox_hi; ++ox) {
        dst[ox] = static_cast<int16_t>(src[ox * sw - lead] + offset);
      }
    }
    for (int ox = ox_hi; ox < out.width; ++ox) dst[ox] = 0;
  }
  const size_t pixels = static_cast<size_t>(out.height) * out.width;
  std::memset(row + pixels, 0, (padded - pixels) * sizeof(int16_t));
}

// Interleaves rows 2kp and 2kp + 1 into the packed layout.
PYNQ_MULTIVERSION
void InterleavePair(const int16_t* r0, const int16_t* r1, size_t padded, size_t pairs, size_t kp,
                    int16_t* x) {
  for (size_t b = 0; b < padded / kLanes; ++b) {
    int16_t* __restrict dst = x + (b * pairs + kp) * kLanes * 2;
    const int16_t* __restrict a = r0 + b * kLanes;
    const int16_t* __restrict c = r1 + b * kLanes;
    for (int lane = 0; lane < kLanes; ++lane) {
      dst[2 * lane] = a[lane];
      dst[2 * lane + 1] = c[lane];
    }
  }
}

void PackPatches(const ConvParams& params, const TensorShape& in, const FilterShape& f,
                 const TensorShape& out, const ConvLayout& l, const int8_t* input, int16_t* rows,
                 int32_t* x) {
  int16_t* r0 = rows;
  int16_t* r1 = rows + l.padded;
  for (size_t kp = 0; kp < l.pairs; ++kp) {
    FillPatchRow(params, in, f, out, l.padded, 2 * kp, input, r0);
    FillPatchRow(params, in, f, out, l.padded, 2 * kp + 1, input, r1);
    InterleavePair(r0, r1, l.padded, l.pairs, kp, reinterpret_cast<int16_t*>(x));
  }
}

void PackWeights(const int8_t* w, int rows, const ConvLayout& l, int32_t* w2) {
  for (int o = 0; o < rows; ++o) {
    const int8_t* src = w + static_cast<size_t>(o) * l.depth;
    int32_t* dst = w2 + static_cast<size_t>(o) * l.pairs;
    for (size_t kp = 0; kp < l.pairs; ++kp) {
      const int16_t lo = src[2 * kp];
      const int16_t hi = 2 * kp + 1 < l.depth ? src[2 * kp + 1] : int16_t{0};
      int16_t pair[2] = {lo, hi};
      std::memcpy(&dst[kp], pair, sizeof(int32_t));
    }
  }
}

// The portable product: plain loops over the packed layout that the compiler vectorizes (one
// lane per pixel), for every target; x86 gets AVX2 and AVX-512 clones of it.
PYNQ_MULTIVERSION
void PackedMatMulPortable(const int32_t* w2, const int32_t* x, int rows, const ConvLayout& l,
                          int32_t* acc) {
  const size_t blocks = l.padded / kLanes;
  const size_t pairs = l.pairs;
  for (size_t b = 0; b < blocks; ++b) {
    const auto* xb = reinterpret_cast<const int16_t*>(x + b * pairs * kLanes);
    int o = 0;
    for (; o + kRowStep <= rows; o += kRowStep) {
      int32_t a0[kLanes] = {}, a1[kLanes] = {}, a2[kLanes] = {}, a3[kLanes] = {};
      const int32_t* w0 = w2 + static_cast<size_t>(o) * pairs;
      for (size_t kp = 0; kp < pairs; ++kp) {
        const int16_t* xk = xb + kp * kLanes * 2;
        int16_t w[kRowStep][2];
        for (int r = 0; r < kRowStep; ++r) std::memcpy(w[r], &w0[r * pairs + kp], 4);
        for (int lane = 0; lane < kLanes; ++lane) {
          const int32_t x0 = xk[2 * lane];
          const int32_t x1 = xk[2 * lane + 1];
          a0[lane] += x0 * w[0][0] + x1 * w[0][1];
          a1[lane] += x0 * w[1][0] + x1 * w[1][1];
          a2[lane] += x0 * w[2][0] + x1 * w[2][1];
          a3[lane] += x0 * w[3][0] + x1 * w[3][1];
        }
      }
      int32_t* r0 = acc + static_cast<size_t>(o) * l.padded + b * kLanes;
      std::memcpy(r0, a0, sizeof(a0));
      std::memcpy(r0 + l.padded, a1, sizeof(a1));
      std::memcpy(r0 + 2 * l.padded, a2, sizeof(a2));
      std::memcpy(r0 + 3 * l.padded, a3, sizeof(a3));
    }
    for (; o < rows; ++o) {
      int32_t a0[kLanes] = {};
      const int32_t* w0 = w2 + static_cast<size_t>(o) * pairs;
      for (size_t kp = 0; kp < pairs; ++kp) {
        const int16_t* xk = xb + kp * kLanes * 2;
        int16_t w[2];
        std::memcpy(w, &w0[kp], 4);
        for (int lane = 0; lane < kLanes; ++lane) {
          a0[lane] += static_cast<int32_t>(xk[2 * lane]) * w[0] +
                      static_cast<int32_t>(xk[2 * lane + 1]) * w[1];
        }
      }
      std::memcpy(acc + static_cast<size_t>(o) * l.padded + b * kLanes, a0, sizeof(a0));
    }
  }
}

#if PYNQ_X86_VNNI
// The same product with AVX-512 VNNI: vpdpwssd multiplies the int16 pairs of 16 pixels by one
// broadcast weight pair and adds both products into each int32 lane. Four output channels x two
// pixel blocks = eight accumulators per pass.
__attribute__((target("avx512f,avx512bw,avx512vnni"))) void PackedMatMulVnni(
    const int32_t* w2, const int32_t* x, int rows, const ConvLayout& l, int32_t* acc) {
  const size_t pairs = l.pairs;
  const size_t block_words = pairs * kLanes;
  for (size_t b = 0; b < l.padded / kLanes; b += 2) {
    const int32_t* xa = x + b * block_words;
    const int32_t* xc = xa + block_words;
    int o = 0;
    for (; o + kRowStep <= rows; o += kRowStep) {
      const int32_t* w0 = w2 + static_cast<size_t>(o) * pairs;
      __m512i c00 = _mm512_setzero_si512(), c01 = c00, c10 = c00, c11 = c00;
      __m512i c20 = c00, c21 = c00, c30 = c00, c31 = c00;
      for (size_t kp = 0; kp < pairs; ++kp) {
        const __m512i va = _mm512_loadu_si512(xa + kp * kLanes);
        const __m512i vc = _mm512_loadu_si512(xc + kp * kLanes);
        const __m512i b0 = _mm512_set1_epi32(w0[kp]);
        const __m512i b1 = _mm512_set1_epi32(w0[pairs + kp]);
        const __m512i b2 = _mm512_set1_epi32(w0[2 * pairs + kp]);
        const __m512i b3 = _mm512_set1_epi32(w0[3 * pairs + kp]);
        c00 = _mm512_dpwssd_epi32(c00, va, b0);
        c01 = _mm512_dpwssd_epi32(c01, vc, b0);
        c10 = _mm512_dpwssd_epi32(c10, va, b1);
        c11 = _mm512_dpwssd_epi32(c11, vc, b1);
        c20 = _mm512_dpwssd_epi32(c20, va, b2);
        c21 = _mm512_dpwssd_epi32(c21, vc, b2);
        c30 = _mm512_dpwssd_epi32(c30, va, b3);
        c31 = _mm512_dpwssd_epi32(c31, vc, b3);
      }
      int32_t* r = acc + static_cast<size_t>(o) * l.padded + b * kLanes;
      _mm512_storeu_si512(r, c00);
      _mm512_storeu_si512(r + kLanes, c01);
      r += l.padded;
      _mm512_storeu_si512(r, c10);
      _mm512_storeu_si512(r + kLanes, c11);
      r += l.padded;
      _mm512_storeu_si512(r, c20);
      _mm512_storeu_si512(r + kLanes, c21);
      r += l.padded;
      _mm512_storeu_si512(r, c30);
      _mm512_storeu_si512(r + kLanes, c31);
    }
    for (; o < rows; ++o) {
      const int32_t* w0 = w2 + static_cast<size_t>(o) * pairs;
      __m512i c0 = _mm512_setzero_si512(), c1 = c0;
      for (size_t kp = 0; kp < pairs; ++kp) {
        const __m512i bw = _mm512_set1_epi32(w0[kp]);
        c0 = _mm512_dpwssd_epi32(c0, _mm512_loadu_si512(xa + kp * kLanes), bw);
        c1 = _mm512_dpwssd_epi32(c1, _mm512_loadu_si512(xc + kp * kLanes), bw);
      }
      int32_t* r = acc + static_cast<size_t>(o) * l.padded + b * kLanes;
      _mm512_storeu_si512(r, c0);
      _mm512_storeu_si512(r + kLanes, c1);
    }
  }
}

bool HasVnni() {
  static const bool has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vnni");
  return has;
}
#endif

std::atomic<bool> g_portable_only{false};

void PackedMatMul(const int32_t* w2, const int32_t* x, int rows, const ConvLayout& l,
                  int32_t* acc) {
#if PYNQ_X86_VNNI
  if (HasVnni() && !g_portable_only.load(std::memory_order_relaxed)) {
    PackedMatMulVnni(w2, x, rows, l, acc);
    return;
  }
#endif
  PackedMatMulPortable(w2, x, rows, l, acc);
}

// One output channel's accumulators to int8: vectorizes (the int64 products included) in the
// AVX2 and AVX-512 clones.
PYNQ_MULTIVERSION
void RequantizeRow(const int32_t* acc, size_t n, int32_t bias, int32_t multiplier, int shift,
                   int32_t offset, int32_t lo, int32_t hi, int8_t* out) {
  for (size_t p = 0; p < n; ++p) {
    int32_t q = MultiplyByQuantizedMultiplier(acc[p] + bias, multiplier, shift) + offset;
    q = q < lo ? lo : q;
    q = q > hi ? hi : q;
    out[p] = static_cast<int8_t>(q);
  }
}

PYNQ_MULTIVERSION
int32_t DotInt8Int16(const int8_t* w, const int16_t* x, int depth) {
  int32_t s = 0;
  for (int k = 0; k < depth; ++k) s += static_cast<int32_t>(w[k]) * x[k];
  return s;
}

// Popcounts of the packed rows against the packed input, then the layer's output.
PYNQ_MULTIVERSION_POPCOUNT
void BinaryDensePopcount(const BinaryDenseParams& params, const uint64_t* planes,
                         int8_t* output_data) {
  const auto words = static_cast<size_t>(params.words_per_row);
  const int bits = params.input_bipolar ? 1 : params.input_bits;
  int32_t plane_ones[8] = {};
  for (int b = 0; b < bits; ++b) {
    for (size_t j = 0; j < words; ++j) {
      plane_ones[b] += __builtin_popcountll(planes[static_cast<size_t>(b) * words + j]);
    }
  }
  for (int o = 0; o < params.out_features; ++o) {
    uint64_t row[1];  // read the row's words without assuming 8-byte alignment of the file bytes
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

}  // namespace

bool UsesVnni() {
#if PYNQ_X86_VNNI
  return HasVnni() && !g_portable_only.load(std::memory_order_relaxed);
#else
  return false;
#endif
}

void SetPortableOnlyForTesting(bool portable_only) { g_portable_only.store(portable_only); }

size_t ConvScratchBytes(const FilterShape& filter_shape, const TensorShape& output_shape) {
  const ConvLayout l = LayoutOf(filter_shape, output_shape);
  return l.x_bytes + l.w_bytes + l.row_bytes +
         AlignUp(l.padded * static_cast<size_t>(filter_shape.out_channels) * sizeof(int32_t));
}

void ConvPerChannel(const ConvParams& params, const int32_t* output_multiplier,
                    const int32_t* output_shift, const TensorShape& input_shape,
                    const int8_t* input_data, const FilterShape& filter_shape,
                    const int8_t* filter_data, const int32_t* bias_data,
                    const TensorShape& output_shape, int8_t* output_data, void* scratch) {
  const ConvLayout l = LayoutOf(filter_shape, output_shape);
  auto* base = static_cast<uint8_t*>(scratch);
  auto* x = reinterpret_cast<int32_t*>(base);
  auto* w2 = reinterpret_cast<int32_t*>(base + l.x_bytes);
  auto* row = reinterpret_cast<int16_t*>(base + l.x_bytes + l.w_bytes);
  auto* acc = reinterpret_cast<int32_t*>(base + l.x_bytes + l.w_bytes + l.row_bytes);
  PackPatches(params, input_shape, filter_shape, output_shape, l, input_data, row, x);
  PackWeights(filter_data, filter_shape.out_channels, l, w2);
  PackedMatMul(w2, x, filter_shape.out_channels, l, acc);
  for (int o = 0; o < filter_shape.out_channels; ++o) {
    RequantizeRow(acc + static_cast<size_t>(o) * l.padded, l.pixels, bias_data[o],
                  output_multiplier[o], output_shift[o], params.output_offset,
                  params.quantized_activation_min, params.quantized_activation_max,
                  output_data + static_cast<size_t>(o) * l.pixels);
  }
}

void AddElementwise(const AddParams& params, size_t size, const int8_t* a_data,
                    const int8_t* b_data, int8_t* output_data) {
  // Each input's rescaled value depends on its int8 value only: 256-entry tables, then the one
  // remaining requantization, vectorized, a chunk at a time.
  int32_t table_a[256];
  int32_t table_b[256];
  for (int q = -128; q <= 127; ++q) {
    table_a[q + 128] = MultiplyByQuantizedMultiplier(
        (q + params.a_offset) * (1 << params.left_shift), params.a_multiplier, params.a_shift);
    table_b[q + 128] = MultiplyByQuantizedMultiplier(
        (q + params.b_offset) * (1 << params.left_shift), params.b_multiplier, params.b_shift);
  }
  constexpr size_t kChunk = 512;
  int32_t sums[kChunk];
  for (size_t start = 0; start < size; start += kChunk) {
    const size_t n = std::min(kChunk, size - start);
    for (size_t i = 0; i < n; ++i) {
      sums[i] = table_a[a_data[start + i] + 128] + table_b[b_data[start + i] + 128];
    }
    RequantizeRow(sums, n, 0, params.output_multiplier, params.output_shift, params.output_offset,
                  params.quantized_activation_min, params.quantized_activation_max,
                  output_data + start);
  }
}

size_t FullyConnectedScratchBytes(int input_size) {
  return AlignUp(static_cast<size_t>(input_size) * sizeof(int16_t));
}

void FullyConnectedPerChannel(const FullyConnectedParams& params, const int32_t* output_multiplier,
                              const int32_t* output_shift, int input_size, const int8_t* input_data,
                              int output_size, const int8_t* weights, const int32_t* bias_data,
                              int8_t* output_data, void* scratch) {
  auto* x = static_cast<int16_t*>(scratch);
  for (int i = 0; i < input_size; ++i) {
    x[i] = static_cast<int16_t>(input_data[i] + params.input_offset);
  }
  for (int o = 0; o < output_size; ++o) {
    const int32_t acc =
        DotInt8Int16(weights + static_cast<size_t>(o) * input_size, x, input_size) + bias_data[o];
    output_data[o] = Requantize(acc, output_multiplier[o], output_shift[o], params.output_offset,
                                params.quantized_activation_min, params.quantized_activation_max);
  }
}

size_t BinaryDenseScratchBytes(const BinaryDenseParams& params) {
  const int bits = params.input_bipolar ? 1 : params.input_bits;
  return AlignUp(static_cast<size_t>(params.words_per_row) * static_cast<size_t>(bits) *
                 sizeof(uint64_t));
}

void BinaryDense(const BinaryDenseParams& params, const int8_t* input_data, void* scratch,
                 int8_t* output_data) {
  const auto words = static_cast<size_t>(params.words_per_row);
  const int bits = params.input_bipolar ? 1 : params.input_bits;
  auto* planes = static_cast<uint64_t*>(scratch);
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
  BinaryDensePopcount(params, planes, output_data);
}

}  // namespace pynq::accel::cpu::fast
