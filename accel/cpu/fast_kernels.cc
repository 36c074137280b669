#include "accel/cpu/fast_kernels.h"

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

// On x86 the hot loops are compiled three times (baseline SSE2, AVX2, AVX-512) and the loader
// picks the best the CPU has (GCC function multiversioning). Elsewhere (the board's ARMv7 with
// NEON) one build for the target.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define PYNQ_MULTIVERSION __attribute__((target_clones("default", "avx2", "arch=x86-64-v4")))
#define PYNQ_MULTIVERSION_POPCOUNT \
  __attribute__((target_clones("default", "popcnt", "arch=x86-64-v4")))
#define PYNQ_X86_VNNI 1
#include <immintrin.h>
#else
#define PYNQ_X86_VNNI 0
#define PYNQ_MULTIVERSION
#define PYNQ_MULTIVERSION_POPCOUNT
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
  l.row_bytes = AlignUp(l.pairs * 2 * sizeof(int16_t));
  return l;
}

// One output pixel's patch into `row` (depth values, then a 0 to make the count even).
void PatchRow(const ConvParams& params, const TensorShape& in, const FilterShape& f, int oy, int ox,
              const int8_t* input, int16_t* row) {
  const int iy0 = oy * params.stride_height - params.padding_top;
  const int ix0 = ox * params.stride_width - params.padding_left;
  const auto offset = static_cast<int16_t>(params.input_offset);
  const bool inside =
      iy0 >= 0 && ix0 >= 0 && iy0 + f.height <= in.height && ix0 + f.width <= in.width;
  int16_t* dst = row;
  for (int c = 0; c < f.in_channels; ++c) {
    const int8_t* plane = input + static_cast<size_t>(c) * in.height * in.width;
    for (int ky = 0; ky < f.height; ++ky, dst += f.width) {
      const int iy = iy0 + ky;
      if (inside) {
        const int8_t* src = plane + static_cast<size_t>(iy) * in.width + ix0;
        for (int kx = 0; kx < f.width; ++kx) dst[kx] = static_cast<int16_t>(src[kx] + offset);
        continue;
      }
      if (iy < 0 || iy >= in.height) {
        std::memset(dst, 0, sizeof(int16_t) * static_cast<size_t>(f.width));
        continue;
      }
      const int8_t* src = plane + static_cast<size_t>(iy) * in.width;
      for (int kx = 0; kx < f.width; ++kx) {
        const int ix = ix0 + kx;
        dst[kx] = (ix < 0 || ix >= in.width) ? int16_t{0} : static_cast<int16_t>(src[ix] + offset);
      }
    }
  }
  *dst = 0;  // the pad to an even depth (overwritten when depth is even: it is row[depth])
}

void PackPatches(const ConvParams& params, const TensorShape& in, const FilterShape& f,
                 const TensorShape& out, const ConvLayout& l, const int8_t* input, int16_t* row,
                 int32_t* x) {
  const size_t block_words = l.pairs * kLanes;  // int32 pairs per block of kLanes pixels
  for (size_t p = 0; p < l.padded; ++p) {
    int32_t* dst = x + (p / kLanes) * block_words + p % kLanes;
    if (p >= l.pixels) {
      for (size_t kp = 0; kp < l.pairs; ++kp) dst[kp * kLanes] = 0;
      continue;
    }
    PatchRow(params, in, f, static_cast<int>(p) / out.width, static_cast<int>(p) % out.width, input,
             row);
    for (size_t kp = 0; kp < l.pairs; ++kp) {
      int32_t pair;
      std::memcpy(&pair, row + 2 * kp, sizeof(pair));  // little-endian: low half = row[2kp]
      dst[kp * kLanes] = pair;
    }
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
