// The parameter header of the mnist_cnn_q8 kernel: see accel/hls/mnist_cnn_config.h.
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "accel/hls/gen/fold.h"
#include "accel/hls/gen/header_writer.h"
#include "accel/hls/gen/params_gen.h"
#include "accel/hls/mnist_cnn_config.h"
#include "models/model.h"

namespace pynq::hls_gen {
namespace {

namespace cnn = ::pynq::hls_kernels::mnist_cnn;
using ::pynq::model::Layer;

bool IsSameConv(const Layer& layer, int in_channels, int out_channels) {
  if (!layer.has_conv2d()) return false;
  const pynq::model::Conv2D& c = layer.conv2d();
  const int pad = (cnn::kKernel - 1) / 2;
  return c.in_channels() == in_channels && c.out_channels() == out_channels &&
         c.kernel_h() == cnn::kKernel && c.kernel_w() == cnn::kKernel && c.stride_h() == 1 &&
         c.stride_w() == 1 && c.pad_top() == pad && c.pad_bottom() == pad && c.pad_left() == pad &&
         c.pad_right() == pad;
}

bool IsPool(const Layer& layer) {
  if (!layer.has_max_pool2d()) return false;
  const pynq::model::MaxPool2D& p = layer.max_pool2d();
  return p.kernel_h() == cnn::kPool && p.kernel_w() == cnn::kPool && p.stride_h() == cnn::kPool &&
         p.stride_w() == cnn::kPool;
}

absl::Status CheckLayers(const std::string& kernel, const models::Model& model) {
  const auto& layers = model.file().layers();
  const auto conv_need = [](int in, int out) {
    return absl::StrCat("a conv2d ", in, " -> ", out, " channels, 5x5, stride 1, padding 2");
  };
  if (!IsSameConv(layers[0], 1, cnn::kConv1Channels)) {
    return LayerMismatch(kernel, model, 0, conv_need(1, cnn::kConv1Channels));
  }
  if (!IsSameConv(layers[2], cnn::kConv1Channels, cnn::kConv2Channels)) {
    return LayerMismatch(kernel, model, 2, conv_need(cnn::kConv1Channels, cnn::kConv2Channels));
  }
  for (int i : {1, 3}) {
    if (!IsPool(layers[i])) return LayerMismatch(kernel, model, i, "a max_pool2d 2x2, stride 2");
  }
  if (!layers[4].has_dense() || layers[4].dense().in_features() != cnn::Fc::kCols ||
      layers[4].dense().out_features() != cnn::kClasses) {
    return LayerMismatch(kernel, model, 4,
                         absl::StrCat("a dense layer ", cnn::Fc::kCols, " -> ", cnn::kClasses));
  }
  return absl::OkStatus();
}

// One requantized layer's per-row constants, with the input zero point folded into the bias
// (accel/hls/int8_mvau.h): bias - z * sum of the row's weights.
template <typename L>
void WriteRequant(HeaderWriter& out, const std::string& prefix, const Layer& layer,
                  const models::Model::LayerInfo& info, const std::string& weights,
                  const google::protobuf::RepeatedField<int32_t>& bias,
                  const pynq::model::Requantization& requant) {
  std::vector<int32_t> folded_bias(L::kRows);
  for (int row = 0; row < L::kRows; ++row) {
    int64_t sum = 0;
    for (int col = 0; col < L::kCols; ++col) {
      sum += static_cast<int8_t>(weights[static_cast<size_t>(row) * L::kCols + col]);
    }
    const int64_t b = bias.empty() ? 0 : bias[row];
    folded_bias[row] = static_cast<int32_t>(b - int64_t{info.input_zero_point} * sum);
  }
  out.Int32Array(prefix + "Bias", {L::kNf, L::kPe}, folded_bias);
  out.Int32Array(prefix + "Multiplier", {L::kNf, L::kPe},
                 std::vector<int32_t>(requant.multiplier().begin(), requant.multiplier().end()));
  out.Int32Array(prefix + "Shift", {L::kNf, L::kPe},
                 std::vector<int32_t>(requant.shift().begin(), requant.shift().end()));
  out.Int32(prefix + "ZeroPoint", layer.output().zero_point());
  out.Int32(prefix + "Min", info.output_min);
  out.Int32(prefix + "Max", info.output_max);
}

// A conv layer: weights from OIHW to columns (ky, kx, c), the window's order.
template <typename L>
void WriteConv(HeaderWriter& out, const std::string& prefix, const Layer& layer,
               const models::Model::LayerInfo& info) {
  const pynq::model::Conv2D& c = layer.conv2d();
  const std::string& w = c.weights();
  const int channels = c.in_channels();
  const FoldShape shape{L::kRows, L::kCols, L::kSimd, L::kPe};
  out.Int8Array(
      prefix + "Weights", {L::kTiles, L::kPe, L::kSimd},
      FoldInt8Weights(shape, [&](int row, int col) {
        const int tap = col / channels;
        const int ch = col % channels;
        const int ky = tap / cnn::kKernel;
        const int kx = tap % cnn::kKernel;
        return static_cast<int8_t>(
            w[((static_cast<size_t>(row) * channels + ch) * cnn::kKernel + ky) * cnn::kKernel +
              kx]);
      }));
  // The plain OIHW rows hold the same values per row, so the row sums need no permutation.
  WriteRequant<L>(out, prefix, layer, info, w, c.bias(), c.requant());
  out.Int32(prefix + "PadValue", info.input_zero_point);
}

}  // namespace

absl::StatusOr<std::string> GenerateMnistCnnParams(const std::string& kernel,
                                                   const models::Model& model,
                                                   const std::string& source) {
  absl::Status status = CheckMnistInputAndChain(kernel, model, 5);
  if (status.ok()) status = CheckLayers(kernel, model);
  if (!status.ok()) return status;

  const auto& layers = model.file().layers();
  const auto& info = model.layer_info();
  HeaderWriter out("MnistCnnQ8Params", source);
  out.String("kKernelName", kernel);
  out.String("kModelName", model.name());
  out.String("kModelDigest", model.digest());
  WriteConv<cnn::Conv1>(out, "kConv1", layers[0], info[0]);
  WriteConv<cnn::Conv2>(out, "kConv2", layers[2], info[2]);

  // The fc reads the pooled map as pixels (y, x) of kConv2Channels each; the model's columns are
  // CHW: c * 49 + y * 7 + x.
  using Fc = cnn::Fc;
  const pynq::model::Dense& d = layers[4].dense();
  const int plane = Fc::kCols / cnn::kConv2Channels;
  const FoldShape shape{Fc::kRows, Fc::kCols, Fc::kSimd, Fc::kPe};
  out.Int8Array("kFcWeights", {Fc::kTiles, Fc::kPe, Fc::kSimd},
                FoldInt8Weights(shape, [&](int row, int col) {
                  const int pixel = col / cnn::kConv2Channels;
                  const int ch = col % cnn::kConv2Channels;
                  return static_cast<int8_t>(
                      d.weights()[static_cast<size_t>(row) * Fc::kCols + ch * plane + pixel]);
                }));
  WriteRequant<Fc>(out, "kFc", layers[4], info[4], d.weights(), d.bias(), d.requant());
  return out.Finish();
}

}  // namespace pynq::hls_gen
