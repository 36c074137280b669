// The fast kernels of the CPU backend. Each computes exactly the integers of its reference in
// kernels.h (integer sums are exact in any order, and the requantization is the same inline
// function), only faster. Convolutions and binarized dense layers have their own files
// (conv_kernels.h, binary_kernels.h): they are planned once per model. Here:
//   * dense layers as int16 dot products;
//   * the residual add through per-input tables;
//   * the requantization of a row of accumulators, shared by the kernels.
// On x86 the loops are compiled for SSE2, AVX2 and AVX-512 and the best is picked at run time;
// on the board, NEON.
#ifndef PYNQ_ACCEL_CPU_FAST_KERNELS_H_
#define PYNQ_ACCEL_CPU_FAST_KERNELS_H_

#include <cstddef>
#include <cstdint>

#include "accel/cpu/kernels.h"

namespace pynq::accel::cpu::fast {

// out[p] = clamp(MultiplyByQuantizedMultiplier(acc[p] + bias, multiplier, shift) + offset,
// lo, hi) for p < n.
void RequantizeRow(const int32_t* acc, size_t n, int32_t bias, int32_t multiplier, int shift,
                   int32_t offset, int32_t lo, int32_t hi, int8_t* out);

// Scratch bytes of FullyConnectedPerChannel for `input_size` inputs (64-byte aligned scratch).
size_t FullyConnectedScratchBytes(int input_size);

// As cpu::FullyConnectedPerChannel (bias_data must not be null).
void FullyConnectedPerChannel(const FullyConnectedParams& params, const int32_t* output_multiplier,
                              const int32_t* output_shift, int input_size, const int8_t* input_data,
                              int output_size, const int8_t* weights, const int32_t* bias_data,
                              int8_t* output_data, void* scratch);

// As cpu::AddElementwise.
void AddElementwise(const AddParams& params, size_t size, const int8_t* a_data,
                    const int8_t* b_data, int8_t* output_data);

}  // namespace pynq::accel::cpu::fast

#endif  // PYNQ_ACCEL_CPU_FAST_KERNELS_H_
