// The generator behind pynq_hls_gen: checks that a zoo model has exactly the architecture an HLS
// kernel computes and writes the kernel's parameter header (weights in the folded layout of
// accel/hls/lfc_config.h and mnist_cnn_config.h, thresholds, requantization constants, the
// model's name and digest), and the overlay sidecar's entry for the kernel.
#ifndef PYNQ_ACCEL_HLS_GEN_PARAMS_GEN_H_
#define PYNQ_ACCEL_HLS_GEN_PARAMS_GEN_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "models/model.h"

namespace pynq::hls_gen {

// The kernels this generator knows, in a fixed order: "lfc_w1a1", "lfc_w1a2", "mnist_cnn_q8".
const std::vector<std::string>& KernelNames();

// The parameter header of `kernel` from `model` (source: the model's path, for the banner).
// INVALID_ARGUMENT for a kernel not in KernelNames() (the message lists them), or when the model
// is not the kernel's architecture: the message names the model, the layer (index and name) or
// the input, what the kernel needs and what the model has.
[[nodiscard]] absl::StatusOr<std::string> GenerateParamsHeader(const std::string& kernel,
                                                               const models::Model& model,
                                                               const std::string& source);

// The kernel's entry of the overlay sidecar `<overlay>.models.json` (see docs/hls.md):
// {"instance":"lfc_w1a1_0","model":"mnist-lfc-w1a1","digest":"<sha256>"}.
std::string SidecarEntry(const std::string& instance, const models::Model& model);

// Per-architecture generators (lfc_params.cc, cnn_params.cc). act_bits: 1 (W1A1) or 2 (W1A2).
[[nodiscard]] absl::StatusOr<std::string> GenerateLfcParams(const std::string& kernel, int act_bits,
                                                            const models::Model& model,
                                                            const std::string& source);
[[nodiscard]] absl::StatusOr<std::string> GenerateMnistCnnParams(const std::string& kernel,
                                                                 const models::Model& model,
                                                                 const std::string& source);

// Shared checks: the input is 1x28x28 uint8, UINT8_MINUS_128 with zero point -128 and no
// resampling (so the first layer's v is the pixel), and the layers form a plain chain of
// `layers` layers.
[[nodiscard]] absl::Status CheckMnistInputAndChain(const std::string& kernel,
                                                   const models::Model& model, int layers);
// INVALID_ARGUMENT "<model>: layer <i> (<name>): <kernel> needs <need>".
absl::Status LayerMismatch(const std::string& kernel, const models::Model& model, int index,
                           const std::string& need);

}  // namespace pynq::hls_gen

#endif  // PYNQ_ACCEL_HLS_GEN_PARAMS_GEN_H_
