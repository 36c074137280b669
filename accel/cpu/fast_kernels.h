// The fast kernels of the CPU backend. Each computes exactly the integers of its reference in
// kernels.h (integer sums are exact in any order, and the requantization is the same inline
// function), only faster. Convolutions and binarized dense layers have their own files
// (conv_kernels.h, binary_kernels.h): they are planned once per model. Here:
//   * dense layers as int16 dot products;
//   * the residual add through per-input tables (AddPlan);
//   * 2x2 max pooling;
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

// As cpu::MaxPool: vectorized for 2x2 windows of stride 2, the reference loops otherwise.
void MaxPool(const PoolParams& params, const TensorShape& input_shape, const int8_t* input_data,
             const TensorShape& output_shape, int8_t* output_data);

// The residual add of one layer, planned once. AVX-512 where the CPU has it: both rescalings and
// the output requantization computed 16 lanes at a time. Else portable loops: each input's
// rescaled value depends only on its int8 value, so both rescalings are 256-entry tables, then
// the output requantization, vectorized by the compiler. Immutable: thread-safe.
class AddPlan {
 public:
  // `portable` forces the portable loops (tests compare both on one machine).
  AddPlan(const AddParams& params, bool portable);

  // As cpu::AddElementwise.
  void Run(size_t size, const int8_t* a_data, const int8_t* b_data, int8_t* output_data) const;

 private:
  void RunAvx512(size_t size, const int8_t* a_data, const int8_t* b_data,
                 int8_t* output_data) const;

  AddParams params_;
  bool avx512_ = false;
  int32_t table_a_[256];  // by q + 128
  int32_t table_b_[256];
};

}  // namespace pynq::accel::cpu::fast

#endif  // PYNQ_ACCEL_CPU_FAST_KERNELS_H_
