// The fast binarized dense layer (BNN-PYNQ's LFC and the like), several images at a time.
//
// A BinaryDensePlan is built once per layer and model (it re-lays the weights for the kernel this
// CPU runs) and then runs batches of images. It computes exactly the integers of
// cpu::BinaryDenseReference (integer sums are exact in any order), for the inputs the loader
// admits: -1/+1 (BIPOLAR) or 0 .. 2^input_bits - 1 (UNSIGNED).
//
// Kernels, chosen when the plan is built:
//   * AVX-512 (x86 with VPOPCNTDQ, BW, VL, VNNI): the weights transposed so that one vector holds
//     8 output channels' words; each input word is broadcast against them and counted with
//     vpopcntq (XNOR-popcount for BIPOLAR inputs, AND-popcount per bit plane for UNSIGNED inputs
//     of up to 3 bits), 4 x 8 channels by up to 4 images per pass, so a weight vector loaded once
//     serves every image of the pass and no horizontal sum is needed. UNSIGNED inputs of 4..8 bits
//     (the pixels of a first layer) go through vpdpbusd instead: weight bits expanded to 0/1 bytes
//     with a masked move, times 4 broadcast input bytes, 16 channels per vector, 8 images per pass.
//     Thresholds are compared 8 or 16 channels at a time.
//   * portable (ARM's NEON, other CPUs): the file's row-major words, one image at a time,
//     __builtin_popcountll (vcnt on ARM).
#ifndef PYNQ_ACCEL_CPU_BINARY_KERNELS_H_
#define PYNQ_ACCEL_CPU_BINARY_KERNELS_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "accel/cpu/kernels.h"

namespace pynq::accel::cpu::fast {

// Immutable after construction, so one plan may run on many threads at once (each with its own
// scratch). Keeps the pointers of `params` (into the model file): the model must outlive it.
class BinaryDensePlan {
 public:
  // `portable` forces the portable kernel (tests compare both on one machine).
  BinaryDensePlan(const BinaryDenseParams& params, bool portable);

  // Scratch bytes for Run over `images` images.
  size_t ScratchBytes(int images) const;

  // Runs `images` images: image j reads in_features int8 values at input + j * input_stride and
  // writes out_features int8 values at output + j * output_stride. `scratch` holds
  // ScratchBytes(images) bytes, 64-byte aligned. Allocates nothing.
  void Run(int images, const int8_t* input, size_t input_stride, int8_t* output,
           size_t output_stride, void* scratch) const;

 private:
  enum class Kernel { kPortable, kPopcount, kVnni };

  void RunPortable(const int8_t* input, int8_t* output, void* scratch) const;
  void RunPopcount(int images, const int8_t* input, size_t input_stride, int8_t* output,
                   size_t output_stride, void* scratch) const;
  void RunVnni(int images, const int8_t* input, size_t input_stride, int8_t* output,
               size_t output_stride, void* scratch) const;

  BinaryDenseParams params_;
  Kernel kernel_ = Kernel::kPortable;
  int planes_ = 1;               // bit planes of the packed input (BIPOLAR: 1)
  int padded_rows_ = 0;          // out_features rounded up to the kernel's channel group
  std::vector<uint64_t> words_;  // the weights in the kernel's layout (see binary_kernels.cc)
  // THRESHOLDS: threshold k of channel o at [k * padded_rows_ + o] (transposed, so that a vector
  // load takes one threshold of consecutive channels); padded channels get INT32_MAX.
  std::vector<int32_t> thresholds_;
  // kVnni: the per-channel constant of the accumulator (see RunVnni).
  std::vector<int32_t> row_constant_;
};

}  // namespace pynq::accel::cpu::fast

#endif  // PYNQ_ACCEL_CPU_BINARY_KERNELS_H_
