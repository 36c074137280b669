#include "accel/cpu/fast_kernels.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "accel/cpu/simd.h"

namespace pynq::accel::cpu::fast {
namespace {

int8_t Requantize(int32_t acc, int32_t multiplier, int shift, int32_t offset, int32_t lo,
                  int32_t hi) {
  int32_t q = MultiplyByQuantizedMultiplier(acc, multiplier, shift) + offset;
  q = std::max(q, lo);
  q = std::min(q, hi);
  return static_cast<int8_t>(q);
}

PYNQ_MULTIVERSION
int32_t DotInt8Int16(const int8_t* w, const int16_t* x, int depth) {
  int32_t s = 0;
  for (int k = 0; k < depth; ++k) s += static_cast<int32_t>(w[k]) * x[k];
  return s;
}

}  // namespace

// Vectorizes (the int64 products included) in the AVX2 and AVX-512 clones.
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

// The 2x2, stride 2 window (every pooling of the zoo): rows, then column pairs, in loops the
// compiler vectorizes (even/odd lanes).
PYNQ_MULTIVERSION
void MaxPool2x2(const TensorShape& in, const int8_t* input, const TensorShape& out,
                int8_t* output) {
  for (int c = 0; c < out.channels; ++c) {
    const int8_t* plane = input + static_cast<size_t>(c) * in.height * in.width;
    for (int oy = 0; oy < out.height; ++oy) {
      const int8_t* __restrict r0 = plane + static_cast<size_t>(2 * oy) * in.width;
      const int8_t* __restrict r1 = r0 + in.width;
      int8_t* __restrict dst =
          output + (static_cast<size_t>(c) * out.height + oy) * static_cast<size_t>(out.width);
      for (int ox = 0; ox < out.width; ++ox) {
        const int8_t a = std::max(r0[2 * ox], r0[2 * ox + 1]);
        const int8_t b = std::max(r1[2 * ox], r1[2 * ox + 1]);
        dst[ox] = std::max(a, b);
      }
    }
  }
}

void MaxPool(const PoolParams& params, const TensorShape& input_shape, const int8_t* input_data,
             const TensorShape& output_shape, int8_t* output_data) {
  if (params.filter_height == 2 && params.filter_width == 2 && params.stride_height == 2 &&
      params.stride_width == 2) {
    MaxPool2x2(input_shape, input_data, output_shape, output_data);
    return;
  }
  cpu::MaxPool(params, input_shape, input_data, output_shape, output_data);
}

AddPlan::AddPlan(const AddParams& params, bool portable)
    : params_(params), avx512_(!portable && CpuHasAvx512Base()) {
  for (int q = -128; q <= 127; ++q) {
    table_a_[q + 128] = MultiplyByQuantizedMultiplier(
        (q + params.a_offset) * (1 << params.left_shift), params.a_multiplier, params.a_shift);
    table_b_[q + 128] = MultiplyByQuantizedMultiplier(
        (q + params.b_offset) * (1 << params.left_shift), params.b_multiplier, params.b_shift);
  }
}

void AddPlan::Run(size_t size, const int8_t* a_data, const int8_t* b_data,
                  int8_t* output_data) const {
  if (avx512_) {
    RunAvx512(size, a_data, b_data, output_data);
    return;
  }
  constexpr size_t kChunk = 512;
  int32_t sums[kChunk];
  for (size_t start = 0; start < size; start += kChunk) {
    const size_t n = std::min(kChunk, size - start);
    for (size_t i = 0; i < n; ++i) {
      sums[i] = table_a_[a_data[start + i] + 128] + table_b_[b_data[start + i] + 128];
    }
    RequantizeRow(sums, n, 0, params_.output_multiplier, params_.output_shift,
                  params_.output_offset, params_.quantized_activation_min,
                  params_.quantized_activation_max, output_data + start);
  }
}

PYNQ_AVX512_TARGET
void AddPlan::RunAvx512(size_t size, const int8_t* a_data, const int8_t* b_data,
                        int8_t* output_data) const {
#if PYNQ_X86_AVX512
  // Each input's rescaling, computed (the same integers as the tables): (q + offset) * 2^left
  // stays below 2^30 in magnitude and the input shifts are <= 0 (the loader's rules), so no lane
  // saturates.
  const __m512i a_offset = _mm512_set1_epi32(params_.a_offset);
  const __m512i b_offset = _mm512_set1_epi32(params_.b_offset);
  const __m128i left = _mm_cvtsi32_si128(params_.left_shift);
  for (size_t i = 0; i < size; i += 16) {
    const size_t n = std::min<size_t>(16, size - i);
    const auto m = static_cast<__mmask16>((1u << n) - 1);
    const __m512i a = _mm512_sll_epi32(
        _mm512_add_epi32(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, a_data + i)), a_offset),
        left);
    const __m512i b = _mm512_sll_epi32(
        _mm512_add_epi32(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, b_data + i)), b_offset),
        left);
    const __m512i sum = _mm512_add_epi32(
        MultiplyByQuantizedMultiplierVector(a, params_.a_multiplier, params_.a_shift),
        MultiplyByQuantizedMultiplierVector(b, params_.b_multiplier, params_.b_shift));
    _mm_mask_storeu_epi8(output_data + i, m,
                         RequantizeVector(sum, params_.output_multiplier, params_.output_shift,
                                          params_.output_offset, params_.quantized_activation_min,
                                          params_.quantized_activation_max));
  }
#else
  (void)size, (void)a_data, (void)b_data, (void)output_data;
#endif
}

bool CpuHasAvx512Base() {
#if PYNQ_X86_AVX512
  static const bool has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  return has;
#else
  return false;
#endif
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

}  // namespace pynq::accel::cpu::fast
