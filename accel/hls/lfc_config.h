// The LFC networks of BNN-PYNQ (mnist-lfc-w1a1, mnist-lfc-w1a2) as the HLS kernels build them:
// 784 -> 1024 -> 1024 -> 1024 -> 10 binarized dense layers, the layer dimensions and the folding
// of each. The generator (accel/hls/gen) lays the weights out for these foldings, and the kernel
// registry reports them to the virtual overlay's cycle model: this file is the one place to
// change a folding.
//
// Folding (cycles per image = kNf * kSf, 100 MHz):
//   fc1  1024 x  784  SIMD 56  PE 32   448 cycles   784 = 14 * 56: no padding to 832
//   fc2  1024 x 1024  SIMD 64  PE 32   512 cycles
//   fc3  1024 x 1024  SIMD 64  PE 32   512 cycles
//   fc4    10 x 1024  SIMD 64  PE 10    16 cycles
// Each layer's kOutSimd is the next layer's kSimd, so the output words need no width converter.
#ifndef PYNQ_ACCEL_HLS_LFC_CONFIG_H_
#define PYNQ_ACCEL_HLS_LFC_CONFIG_H_

#include "accel/hls/matrix_fold.h"

namespace pynq::hls_kernels::lfc {

constexpr int kPixels = 784;  // 1 x 28 x 28, one uint8 each
constexpr int kClasses = 10;
constexpr int kHidden = 1024;

// kActBits: the hidden activations' bits: 1 = bipolar (-1/+1, W1A1), 2 = unsigned 0..3 (W1A2).
template <int kActBits>
struct Activations {
  static_assert(kActBits >= 1 && kActBits <= 7, "hidden activations have 1..7 bits");
  static constexpr bool kBipolar = kActBits == 1;
  static constexpr int kBits = kActBits;
};

// Unsigned 8-bit pixels in (v = pixel), thresholds out.
template <int kActBits>
struct Fc1 : MatrixFold<kHidden, kPixels, 56, 32> {
  static constexpr bool kBipolarIn = false;
  static constexpr int kInBits = 8;
  static constexpr bool kBipolarOut = Activations<kActBits>::kBipolar;
  static constexpr int kOutBits = kActBits;
  static constexpr int kOutSimd = 64;
};

// fc2 and fc3: activations in, thresholds out.
template <int kActBits>
struct Hidden : MatrixFold<kHidden, kHidden, 64, 32> {
  static constexpr bool kBipolarIn = Activations<kActBits>::kBipolar;
  static constexpr int kInBits = kActBits;
  static constexpr bool kBipolarOut = Activations<kActBits>::kBipolar;
  static constexpr int kOutBits = kActBits;
  static constexpr int kOutSimd = 64;
};

// Activations in, requantized int8 logits out.
template <int kActBits>
struct Fc4 : MatrixFold<kClasses, kHidden, 64, 10> {
  static constexpr bool kBipolarIn = Activations<kActBits>::kBipolar;
  static constexpr int kInBits = kActBits;
};

}  // namespace pynq::hls_kernels::lfc

#endif  // PYNQ_ACCEL_HLS_LFC_CONFIG_H_
