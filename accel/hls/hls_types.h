// The small value types that flow between the stages of the HLS kernels, and the bit helpers the
// binarized units use. Plain C++ that Vitis HLS synthesizes and g++ compiles as C simulation: no
// heap, no exceptions, no threads, fixed-size arrays only.
#ifndef PYNQ_ACCEL_HLS_HLS_TYPES_H_
#define PYNQ_ACCEL_HLS_HLS_TYPES_H_

#include <cstdint>

#include "accel/hls/axis.h"

namespace pynq::hls_kernels {

// Bytes per 64-bit AXI-Stream beat.
constexpr int kBeatBytes = 8;

// N values of type T moved as one stream element: one SIMD group of a matrix-vector unit's
// input, or one pixel's channels. Under HLS an aggregate, so a stream of it is one wide FIFO.
template <typename T, int N>
struct Vec {
  static_assert(N > 0, "a Vec holds at least one value");
  T v[N];
};

// Up to 64 lanes of n-bit unsigned values as n bit planes: bit s of plane[b] is bit b of lane s.
// Bipolar (-1/+1) lanes are one plane, bit 1 = +1. Lanes past the unit's SIMD are 0 in every
// plane, which the popcounts rely on (see BinaryMvtu).
template <int kBits>
struct BitPlanes {
  static_assert(kBits >= 1 && kBits <= 8, "1..8 bit planes");
  std::uint64_t plane[kBits];
};

// What the stages of one kernel pass along with each image, so that every stage of the dataflow
// region knows when the batch ends. The reader emits one per image, plus one with
// has_image = false when a TLAST cut an image short (the partial image is dropped).
struct ImageToken {
  bool has_image;  // an image's data follows on the data stream
  bool last;       // the batch ends after this token
};

// The number of 1 bits of x. Under synthesis an unrolled adder tree over the 64 bits; in C
// simulation the compiler's builtin, a single POPCNT where the target has it (see
// accel/hls/CMakeLists.txt).
inline int Popcount64(std::uint64_t x) {
#ifdef __SYNTHESIS__
  int count = 0;
  for (int i = 0; i < 64; ++i) {
#pragma HLS UNROLL
    count += static_cast<int>((x >> i) & 1);
  }
  return count;
#else
  return __builtin_popcountll(x);
#endif
}

// A mask of the low `lanes` bits, lanes in 1..64.
constexpr std::uint64_t LowBits(int lanes) {
  return lanes >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << lanes) - 1;
}

}  // namespace pynq::hls_kernels

#endif  // PYNQ_ACCEL_HLS_HLS_TYPES_H_
