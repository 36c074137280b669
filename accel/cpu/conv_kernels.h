// The fast int8 convolution: a ConvPlan is built once per layer and model (it packs the weights
// for the kernel this CPU runs) and then runs images. It computes exactly the integers of
// cpu::ConvPerChannel (integer sums are exact in any order; the requantization rounds as
// MultiplyByQuantizedMultiplier does), for every layer the model loader admits.
//
// Kernels, chosen when the plan is built:
//   * AVX-512 VNNI (x86): a direct convolution, no im2col. The input is copied once into a
//     zero-point-padded buffer of unsigned bytes u = q + 128, four channels interleaved per
//     32-bit lane ([channel/4][row][column phase][column][4]; column phases split a stride so
//     that the columns one output row reads are consecutive). One vpdpbusd then multiplies 16
//     output pixels' four input bytes by one broadcast 32-bit word of four int8 weights; a tile
//     of 6 x 16 pixels by 4 output channels keeps 24 accumulators in registers across every tap.
//     The input zero point is folded into the bias once: sum (u - (z + 128)) w =
//     sum u w - (z + 128) sum w. Requantization is vectorized in 64-bit lanes.
//   * portable (ARM's NEON, other CPUs): an im2col of int16 (q - zero point, 0 for padding) in
//     pairs of inputs, times the weights packed as int16 pairs, on GCC's generic vectors, which
//     each target lowers to its own registers (x86: SSE2/AVX2/AVX-512 clones chosen at run time).
#ifndef PYNQ_ACCEL_CPU_CONV_KERNELS_H_
#define PYNQ_ACCEL_CPU_CONV_KERNELS_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "accel/cpu/kernels.h"

namespace pynq::accel::cpu::fast {

// Whether this CPU runs the AVX-512 VNNI kernel (x86 with AVX-512 F/BW/VL/VNNI).
bool HasConvVnni();

// Immutable after construction, so one plan may run on many threads at once (each with its own
// scratch). Keeps the multiplier and shift pointers (into the model file): the model must outlive
// it.
class ConvPlan {
 public:
  // `portable` forces the portable kernel (tests compare both on one machine).
  ConvPlan(const ConvParams& params, const int32_t* output_multiplier, const int32_t* output_shift,
           const TensorShape& input_shape, const FilterShape& filter_shape,
           const int8_t* filter_data, const int32_t* bias_data, const TensorShape& output_shape,
           bool portable);

  // Scratch bytes of Run (and of Prepare + Compute).
  size_t ScratchBytes() const { return scratch_bytes_; }

  // One image: input_shape int8 values in, output_shape int8 values out (channels first).
  // `scratch` holds ScratchBytes() bytes, 64-byte aligned. Allocates nothing. The same as
  // Prepare, then Compute over every tile.
  void Run(const int8_t* input, int8_t* output, void* scratch) const;

  // Run in two steps: Prepare lays the input out in `scratch`; then Compute(scratch, begin, end,
  // output) writes the output channels of tiles [begin, end) (tiles() tiles of up to 4
  // channels), each tile independent of the others: calls on disjoint ranges may run at once, on
  // one prepared scratch.
  void Prepare(const int8_t* input, void* scratch) const;
  void Compute(void* scratch, int tile_begin, int tile_end, int8_t* output) const;
  int tiles() const { return (filter_.out_channels + 3) / 4; }

 private:
  void InitVnni(const int8_t* filter_data, const int32_t* bias_data);
  void InitPortable(const int8_t* filter_data, const int32_t* bias_data);
  void PrepareVnni(const int8_t* input, void* scratch) const;
  void ComputeVnni(const void* scratch, int tile_begin, int tile_end, int8_t* output) const;
  void PreparePortable(const int8_t* input, void* scratch) const;
  void ComputePortable(void* scratch, int tile_begin, int tile_end, int8_t* output) const;

  ConvParams params_;
  const int32_t* multiplier_;
  const int32_t* shift_;
  TensorShape in_;
  FilterShape filter_;
  TensorShape out_;
  bool vnni_ = false;
  size_t scratch_bytes_ = 0;
  std::vector<int32_t> weights_;  // the kernel's packed weights (see conv_kernels.cc)
  std::vector<int32_t> bias_;     // per output channel; VNNI: the input zero point folded in

  // VNNI geometry (see conv_kernels.cc).
  int quads_ = 0;                    // input channel groups of 4
  int padded_rows_ = 0;              // rows of the padded input
  int phase_cols_ = 0;               // columns per column phase
  int row_vectors_ = 0;              // 16-pixel vectors per output row
  std::vector<int32_t> tap_offset_;  // per (quad, ky, kx): offset in 32-bit words

  // Portable geometry.
  size_t pixels_ = 0;
  size_t padded_pixels_ = 0;
  size_t pairs_ = 0;
};

}  // namespace pynq::accel::cpu::fast

#endif  // PYNQ_ACCEL_CPU_CONV_KERNELS_H_
