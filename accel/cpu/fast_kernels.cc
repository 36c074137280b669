#include "accel/cpu/fast_kernels.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "accel/cpu/simd.h"

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

}  // namespace pynq::accel::cpu::fast
