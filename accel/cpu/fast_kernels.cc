#include "accel/cpu/fast_kernels.h"

#include <algorithm>
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
#else
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

// acc[o][p] = sum_k w[o][k] * x[p][k] for o < rows, p < cols: w int8 [rows][depth], x int16
// [cols][depth]; acc int32 [rows][cols]. Two rows x four columns per pass, so each weight and
// each input value loaded serves four and two products; the k loop vectorizes.
PYNQ_MULTIVERSION
void MatMulInt8Int16(const int8_t* w, const int16_t* x, int rows, int cols, int depth,
                     int32_t* acc) {
  const auto d = static_cast<size_t>(depth);
  const auto n = static_cast<size_t>(cols);
  int p = 0;
  for (; p + 4 <= cols; p += 4) {
    const int16_t* x0 = x + static_cast<size_t>(p) * d;
    const int16_t* x1 = x0 + d;
    const int16_t* x2 = x1 + d;
    const int16_t* x3 = x2 + d;
    int o = 0;
    for (; o + 2 <= rows; o += 2) {
      const int8_t* w0 = w + static_cast<size_t>(o) * d;
      const int8_t* w1 = w0 + d;
      int32_t s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
      for (size_t k = 0; k < d; ++k) {
        const int32_t a = w0[k];
        const int32_t b = w1[k];
        s00 += a * x0[k];
        s01 += a * x1[k];
        s02 += a * x2[k];
        s03 += a * x3[k];
        s10 += b * x0[k];
        s11 += b * x1[k];
        s12 += b * x2[k];
        s13 += b * x3[k];
      }
      int32_t* r0 = acc + static_cast<size_t>(o) * n + static_cast<size_t>(p);
      int32_t* r1 = r0 + n;
      r0[0] = s00, r0[1] = s01, r0[2] = s02, r0[3] = s03;
      r1[0] = s10, r1[1] = s11, r1[2] = s12, r1[3] = s13;
    }
    for (; o < rows; ++o) {
      const int8_t* w0 = w + static_cast<size_t>(o) * d;
      int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (size_t k = 0; k < d; ++k) {
        const int32_t a = w0[k];
        s0 += a * x0[k];
        s1 += a * x1[k];
        s2 += a * x2[k];
        s3 += a * x3[k];
      }
      int32_t* r0 = acc + static_cast<size_t>(o) * n + static_cast<size_t>(p);
      r0[0] = s0, r0[1] = s1, r0[2] = s2, r0[3] = s3;
    }
  }
  for (; p < cols; ++p) {
    const int16_t* x0 = x + static_cast<size_t>(p) * d;
    for (int o = 0; o < rows; ++o) {
      const int8_t* w0 = w + static_cast<size_t>(o) * d;
      int32_t s = 0;
      for (size_t k = 0; k < d; ++k) s += static_cast<int32_t>(w0[k]) * x0[k];
      acc[static_cast<size_t>(o) * n + static_cast<size_t>(p)] = s;
    }
  }
}

// The input patch of every output pixel, one row each: x[p][(c * kh + ky) * kw + kx] =
// input[c][iy][ix] + offset, or 0 where the window hangs over the padding.
void Im2Col(const ConvParams& params, const TensorShape& in, const FilterShape& f,
            const TensorShape& out, const int8_t* input, int16_t* x) {
  const size_t depth = static_cast<size_t>(f.in_channels) * f.height * f.width;
  const auto offset = static_cast<int16_t>(params.input_offset);
  for (int oy = 0; oy < out.height; ++oy) {
    const int iy0 = oy * params.stride_height - params.padding_top;
    for (int ox = 0; ox < out.width; ++ox) {
      const int ix0 = ox * params.stride_width - params.padding_left;
      int16_t* row = x + (static_cast<size_t>(oy) * out.width + ox) * depth;
      const bool inside =
          iy0 >= 0 && ix0 >= 0 && iy0 + f.height <= in.height && ix0 + f.width <= in.width;
      for (int c = 0; c < f.in_channels; ++c) {
        const int8_t* plane = input + static_cast<size_t>(c) * in.height * in.width;
        for (int ky = 0; ky < f.height; ++ky) {
          const int iy = iy0 + ky;
          int16_t* dst = row + (static_cast<size_t>(c) * f.height + ky) * f.width;
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
            dst[kx] =
                (ix < 0 || ix >= in.width) ? int16_t{0} : static_cast<int16_t>(src[ix] + offset);
          }
        }
      }
    }
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

size_t ConvScratchBytes(const FilterShape& filter_shape, const TensorShape& output_shape) {
  const size_t pixels = static_cast<size_t>(output_shape.height) * output_shape.width;
  const size_t depth =
      static_cast<size_t>(filter_shape.in_channels) * filter_shape.height * filter_shape.width;
  return AlignUp(pixels * depth * sizeof(int16_t)) +
         AlignUp(pixels * static_cast<size_t>(filter_shape.out_channels) * sizeof(int32_t));
}

void ConvPerChannel(const ConvParams& params, const int32_t* output_multiplier,
                    const int32_t* output_shift, const TensorShape& input_shape,
                    const int8_t* input_data, const FilterShape& filter_shape,
                    const int8_t* filter_data, const int32_t* bias_data,
                    const TensorShape& output_shape, int8_t* output_data, void* scratch) {
  const size_t pixels = static_cast<size_t>(output_shape.height) * output_shape.width;
  const int depth = filter_shape.in_channels * filter_shape.height * filter_shape.width;
  auto* x = static_cast<int16_t*>(scratch);
  auto* acc = reinterpret_cast<int32_t*>(static_cast<uint8_t*>(scratch) +
                                         AlignUp(pixels * static_cast<size_t>(depth) * 2));
  Im2Col(params, input_shape, filter_shape, output_shape, input_data, x);
  MatMulInt8Int16(filter_data, x, filter_shape.out_channels, static_cast<int>(pixels), depth, acc);
  for (int o = 0; o < filter_shape.out_channels; ++o) {
    const int32_t* a = acc + static_cast<size_t>(o) * pixels;
    int8_t* out = output_data + static_cast<size_t>(o) * pixels;
    const int32_t bias = bias_data[o];
    const int32_t m = output_multiplier[o];
    const int s = output_shift[o];
    for (size_t p = 0; p < pixels; ++p) {
      out[p] = Requantize(a[p] + bias, m, s, params.output_offset, params.quantized_activation_min,
                          params.quantized_activation_max);
    }
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
