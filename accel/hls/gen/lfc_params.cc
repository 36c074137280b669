// The parameter header of the LFC kernels (lfc_w1a1, lfc_w1a2): see accel/hls/lfc_config.h.
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "accel/hls/gen/fold.h"
#include "accel/hls/gen/header_writer.h"
#include "accel/hls/gen/params_gen.h"
#include "accel/hls/lfc_config.h"
#include "models/model.h"

namespace pynq::hls_gen {
namespace {

using ::pynq::model::BinaryDense;

template <typename L>
FoldShape ShapeOf() {
  return FoldShape{L::kRows, L::kCols, L::kSimd, L::kPe};
}

std::string ValuesName(bool bipolar, int bits) {
  return bipolar ? "BIPOLAR 1-bit" : absl::StrCat("UNSIGNED ", bits, "-bit");
}

// What the kernel computes for layer `index` of a network with act_bits-bit hidden activations.
struct LayerSpec {
  int in_features;
  int out_features;
  bool bipolar_in;
  int in_bits;
  bool thresholds;  // else REQUANTIZED
};

LayerSpec SpecOf(int index, int act_bits) {
  const bool bipolar = act_bits == 1;
  switch (index) {
    case 0:
      return {hls_kernels::lfc::kPixels, hls_kernels::lfc::kHidden, false, 8, true};
    case 3:
      return {hls_kernels::lfc::kHidden, hls_kernels::lfc::kClasses, bipolar, act_bits, false};
    default:
      return {hls_kernels::lfc::kHidden, hls_kernels::lfc::kHidden, bipolar, act_bits, true};
  }
}

absl::Status CheckLayer(const std::string& kernel, const models::Model& model, int index,
                        int act_bits) {
  const LayerSpec spec = SpecOf(index, act_bits);
  const bool bipolar_act = act_bits == 1;
  const std::string need = absl::StrCat(
      "a binary_dense layer ", spec.in_features, " -> ", spec.out_features, " with ",
      ValuesName(spec.bipolar_in, spec.in_bits), " inputs", index > 0 ? " (zero point 0)" : "",
      " and ",
      spec.thresholds ? absl::StrCat("THRESHOLDS to ", ValuesName(bipolar_act, act_bits))
                      : std::string("REQUANTIZED"),
      " outputs");
  const pynq::model::Layer& layer = model.file().layers(index);
  if (!layer.has_binary_dense()) return LayerMismatch(kernel, model, index, need);
  const BinaryDense& d = layer.binary_dense();
  bool ok = d.in_features() == spec.in_features && d.out_features() == spec.out_features &&
            (d.input_values() == BinaryDense::BIPOLAR) == spec.bipolar_in &&
            d.input_bits() == spec.in_bits &&
            (d.output() == BinaryDense::THRESHOLDS) == spec.thresholds;
  if (index > 0) ok = ok && model.layer_info()[index].input_zero_point == 0;
  if (spec.thresholds) {
    ok = ok && (d.output_values() == BinaryDense::BIPOLAR) == bipolar_act &&
         d.output_bits() == act_bits;
  }
  return ok ? absl::OkStatus() : LayerMismatch(kernel, model, index, need);
}

// fc<index + 1>'s weights, folded for layer L.
template <typename L>
std::vector<uint64_t> FoldedWeights(const BinaryDense& d) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(d.weights().data());
  const size_t row_bytes = static_cast<size_t>((d.in_features() + 63) / 64) * 8;
  return FoldBinaryWeights(ShapeOf<L>(), [&](int row, int col) {
    return PackedBit(bytes + static_cast<size_t>(row) * row_bytes, col);
  });
}

template <int kActBits>
std::string WriteHeader(const std::string& kernel, const models::Model& model,
                        const std::string& source) {
  namespace lfc = hls_kernels::lfc;
  using Fc1 = lfc::Fc1<kActBits>;
  using Hidden = lfc::Hidden<kActBits>;
  using Fc4 = lfc::Fc4<kActBits>;
  constexpr int kThresholds = kActBits == 1 ? 1 : (1 << kActBits) - 1;
  HeaderWriter out(kActBits == 1 ? "LfcW1A1Params" : "LfcW1A2Params", source);
  out.String("kKernelName", kernel);
  out.String("kModelName", model.name());
  out.String("kModelDigest", model.digest());
  const auto& layers = model.file().layers();
  const auto thresholds = [](const BinaryDense& d) {
    return std::vector<int32_t>(d.thresholds().begin(), d.thresholds().end());
  };
  out.Uint64Array("kFc1Weights", {Fc1::kTiles, Fc1::kPe},
                  FoldedWeights<Fc1>(layers[0].binary_dense()));
  out.Int32Array("kFc1Thresholds", {Fc1::kNf, Fc1::kPe, kThresholds},
                 thresholds(layers[0].binary_dense()));
  for (int i = 1; i <= 2; ++i) {
    const std::string fc = absl::StrCat("kFc", i + 1);
    out.Uint64Array(fc + "Weights", {Hidden::kTiles, Hidden::kPe},
                    FoldedWeights<Hidden>(layers[i].binary_dense()));
    out.Int32Array(fc + "Thresholds", {Hidden::kNf, Hidden::kPe, kThresholds},
                   thresholds(layers[i].binary_dense()));
  }
  const BinaryDense& fc4 = layers[3].binary_dense();
  out.Uint64Array("kFc4Weights", {Fc4::kTiles, Fc4::kPe}, FoldedWeights<Fc4>(fc4));
  const auto per_row = [](const auto& field) {
    return std::vector<int32_t>(field.begin(), field.end());
  };
  out.Int32Array("kFc4Bias", {Fc4::kNf, Fc4::kPe}, per_row(fc4.bias()));
  out.Int32Array("kFc4Multiplier", {Fc4::kNf, Fc4::kPe}, per_row(fc4.requant().multiplier()));
  out.Int32Array("kFc4Shift", {Fc4::kNf, Fc4::kPe}, per_row(fc4.requant().shift()));
  out.Int32("kFc4ZeroPoint", layers[3].output().zero_point());
  return out.Finish();
}

}  // namespace

absl::StatusOr<std::string> GenerateLfcParams(const std::string& kernel, int act_bits,
                                              const models::Model& model,
                                              const std::string& source) {
  constexpr int kLayers = 4;
  absl::Status status = CheckMnistInputAndChain(kernel, model, kLayers);
  for (int i = 0; status.ok() && i < kLayers; ++i) status = CheckLayer(kernel, model, i, act_bits);
  if (!status.ok()) return status;
  return act_bits == 1 ? WriteHeader<1>(kernel, model, source)
                       : WriteHeader<2>(kernel, model, source);
}

}  // namespace pynq::hls_gen
