// The fast kernels of the CPU backend. Each computes exactly the integers of its reference in
// kernels.h (integer sums are exact in any order, and the requantization is the same inline
// function), only faster:
//   * convolution as an im2col packed into int16 pairs (q - zero point, 0 for padding) and an
//     integer matrix product over it: AVX-512 VNNI intrinsics (vpdpwssd) where the CPU has them,
//     else portable loops the compiler vectorizes (SSE2/AVX2/AVX-512 clones on x86, chosen at
//     run time; NEON on the board);
//   * dense layers as int16 dot products;
//   * binarized dense layers bit-packed into 64-bit words: XNOR-popcount for -1/+1 inputs,
//     AND-popcount per bit plane for unsigned inputs.
// Each takes caller-owned scratch (the sizes below), 64-byte aligned, so nothing allocates.
#ifndef PYNQ_ACCEL_CPU_FAST_KERNELS_H_
#define PYNQ_ACCEL_CPU_FAST_KERNELS_H_

#include <cstddef>
#include <cstdint>

#include "accel/cpu/kernels.h"

namespace pynq::accel::cpu::fast {

// Whether convolutions run the AVX-512 VNNI kernel (chosen at run time on x86 CPUs that have it;
// otherwise the portable kernel, vectorized for the build target).
bool UsesVnni();

// Tests: run the portable kernel even where VNNI is available, so both are checked on one machine.
void SetPortableOnlyForTesting(bool portable_only);

// Scratch bytes of ConvPerChannel for a layer of this filter and output shape.
size_t ConvScratchBytes(const FilterShape& filter_shape, const TensorShape& output_shape);

// As cpu::ConvPerChannel (bias_data must not be null).
void ConvPerChannel(const ConvParams& params, const int32_t* output_multiplier,
                    const int32_t* output_shift, const TensorShape& input_shape,
                    const int8_t* input_data, const FilterShape& filter_shape,
                    const int8_t* filter_data, const int32_t* bias_data,
                    const TensorShape& output_shape, int8_t* output_data, void* scratch);

// Scratch bytes of FullyConnectedPerChannel for `input_size` inputs.
size_t FullyConnectedScratchBytes(int input_size);

// As cpu::FullyConnectedPerChannel (bias_data must not be null).
void FullyConnectedPerChannel(const FullyConnectedParams& params, const int32_t* output_multiplier,
                              const int32_t* output_shift, int input_size, const int8_t* input_data,
                              int output_size, const int8_t* weights, const int32_t* bias_data,
                              int8_t* output_data, void* scratch);

// As cpu::AddElementwise.
void AddElementwise(const AddParams& params, size_t size, const int8_t* a_data,
                    const int8_t* b_data, int8_t* output_data);

// Scratch bytes of BinaryDense: the bit planes of one input vector.
size_t BinaryDenseScratchBytes(const BinaryDenseParams& params);

// As cpu::BinaryDenseReference, for inputs the loader admits: -1/+1 (BIPOLAR) or
// 0 .. 2^input_bits - 1 (UNSIGNED).
void BinaryDense(const BinaryDenseParams& params, const int8_t* input_data, void* scratch,
                 int8_t* output_data);

}  // namespace pynq::accel::cpu::fast

#endif  // PYNQ_ACCEL_CPU_FAST_KERNELS_H_
