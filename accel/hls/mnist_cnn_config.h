// The mnist-cnn-q8 network as its HLS kernel builds it: conv5x5 1->16 (pad 2, ReLU), max-pool
// 2x2, conv5x5 16->32 (pad 2, ReLU), max-pool 2x2, dense 1568->10; int8 throughout. Layer
// dimensions and foldings, shared by the kernel, the generator and the kernel registry.
//
// Folding (a convolution is an MVAU run once per output pixel; cycles per image =
// kRepeats * kNf * kSf at II = 1):
//   conv1  16 x   25 (5x5x1)   SIMD  5  PE 4  x 784 pixels  15680 cycles
//   conv2  32 x  400 (5x5x16)  SIMD 16  PE 8  x 196 pixels  19600 cycles
//   fc     10 x 1568 (7x7x32)  SIMD 32  PE 2                  245 cycles
// 212 int8 multipliers in all, a fit for the Z-7020's 220 DSP slices plus fabric; conv2 sets the
// throughput (~5,100 images/s at 100 MHz), conv1 is folded to match it. The pools take one pixel
// per cycle (784 and 196), hidden under the convolutions.
#ifndef PYNQ_ACCEL_HLS_MNIST_CNN_CONFIG_H_
#define PYNQ_ACCEL_HLS_MNIST_CNN_CONFIG_H_

#include "accel/hls/matrix_fold.h"

namespace pynq::hls_kernels::mnist_cnn {

constexpr int kPixels = 784;  // 1 x 28 x 28
constexpr int kSize = 28;
constexpr int kKernel = 5;
constexpr int kClasses = 10;
constexpr int kConv1Channels = 16;
constexpr int kConv2Channels = 32;
constexpr int kPool = 2;

// Window columns are ordered (ky, kx, c); the fc's columns (y, x, c): the order the streams
// carry them in (the generator permutes the model's OIHW and CHW weights to match).
struct Conv1 : MatrixFold<kConv1Channels, kKernel * kKernel * 1, 5, 4, kSize * kSize> {};
struct Conv2 : MatrixFold<kConv2Channels, kKernel * kKernel * kConv1Channels, 16, 8,
                          (kSize / kPool) * (kSize / kPool)> {};
struct Fc : MatrixFold<kClasses, (kSize / 4) * (kSize / 4) * kConv2Channels, kConv2Channels, 2> {};

}  // namespace pynq::hls_kernels::mnist_cnn

#endif  // PYNQ_ACCEL_HLS_MNIST_CNN_CONFIG_H_
