#include "accel/cpu/model_plan.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "accel/cpu/fast_kernels.h"
#include "accel/cpu/kernels.h"
#include "accel/cpu/simd.h"

namespace pynq::accel::cpu {
namespace {

using ::pynq::model::Layer;
using LayerInfo = ::pynq::models::Model::LayerInfo;

TensorShape ToTensorShape(const models::Model::Shape& s) {
  return TensorShape{s.channels, s.height, s.width};
}

ConvParams ConvParamsOf(const Layer& layer, const LayerInfo& info) {
  const pynq::model::Conv2D& c = layer.conv2d();
  ConvParams params;
  params.input_offset = -info.input_zero_point;
  params.output_offset = layer.output().zero_point();
  params.stride_height = c.stride_h();
  params.stride_width = c.stride_w();
  params.padding_top = c.pad_top();
  params.padding_left = c.pad_left();
  params.quantized_activation_min = info.output_min;
  params.quantized_activation_max = info.output_max;
  return params;
}

FilterShape FilterShapeOf(const pynq::model::Conv2D& c) {
  return FilterShape{c.out_channels(), c.in_channels(), c.kernel_h(), c.kernel_w()};
}

BinaryDenseParams BinaryDenseParamsOf(const Layer& layer, const LayerInfo& info) {
  const pynq::model::BinaryDense& d = layer.binary_dense();
  BinaryDenseParams p;
  p.in_features = d.in_features();
  p.out_features = d.out_features();
  p.input_bipolar = d.input_values() == pynq::model::BinaryDense::BIPOLAR;
  p.input_bits = d.input_bits();
  p.input_offset = -info.input_zero_point;
  p.weights = reinterpret_cast<const uint8_t*>(d.weights().data());
  p.words_per_row = (d.in_features() + 63) / 64;
  if (d.output() == pynq::model::BinaryDense::THRESHOLDS) {
    p.thresholds = d.thresholds().data();
    p.threshold_count = d.thresholds_size() / d.out_features();
    p.output_bipolar = d.output_values() == pynq::model::BinaryDense::BIPOLAR;
  } else {
    p.bias = d.bias().data();
    p.output_multiplier = d.requant().multiplier().data();
    p.output_shift = d.requant().shift().data();
    p.output_offset = layer.output().zero_point();
  }
  return p;
}

void RunConvReference(const Layer& layer, const LayerInfo& info, const int8_t* input,
                      int8_t* output) {
  const pynq::model::Conv2D& c = layer.conv2d();
  ConvPerChannel(ConvParamsOf(layer, info), c.requant().multiplier().data(),
                 c.requant().shift().data(), ToTensorShape(info.input_shape), input,
                 FilterShapeOf(c), reinterpret_cast<const int8_t*>(c.weights().data()),
                 c.bias().data(), ToTensorShape(info.output_shape), output);
}

void RunDense(const Layer& layer, const LayerInfo& info, const int8_t* input, int8_t* output,
              void* scratch) {
  const pynq::model::Dense& d = layer.dense();
  FullyConnectedParams params;
  params.input_offset = -info.input_zero_point;
  params.output_offset = layer.output().zero_point();
  params.quantized_activation_min = info.output_min;
  params.quantized_activation_max = info.output_max;
  const auto* weights = reinterpret_cast<const int8_t*>(d.weights().data());
  if (scratch != nullptr) {
    fast::FullyConnectedPerChannel(params, d.requant().multiplier().data(),
                                   d.requant().shift().data(), d.in_features(), input,
                                   d.out_features(), weights, d.bias().data(), output, scratch);
    return;
  }
  FullyConnectedPerChannel(params, d.requant().multiplier().data(), d.requant().shift().data(),
                           d.in_features(), input, d.out_features(), weights, d.bias().data(),
                           output);
}

void RunMaxPool(const Layer& layer, const LayerInfo& info, const int8_t* input, int8_t* output,
                bool fast_kernels) {
  const pynq::model::MaxPool2D& p = layer.max_pool2d();
  PoolParams params;
  params.filter_height = p.kernel_h();
  params.filter_width = p.kernel_w();
  params.stride_height = p.stride_h();
  params.stride_width = p.stride_w();
  if (fast_kernels) {
    fast::MaxPool(params, ToTensorShape(info.input_shape), input, ToTensorShape(info.output_shape),
                  output);
    return;
  }
  MaxPool(params, ToTensorShape(info.input_shape), input, ToTensorShape(info.output_shape), output);
}

AddParams AddParamsOf(const Layer& layer, const LayerInfo& info) {
  const pynq::model::Add& add = layer.add();
  AddParams params;
  params.a_offset = -info.input_zero_point;
  params.b_offset = -info.second_zero_point;
  params.left_shift = add.left_shift();
  params.a_multiplier = add.a_multiplier();
  params.a_shift = add.a_shift();
  params.b_multiplier = add.b_multiplier();
  params.b_shift = add.b_shift();
  params.output_multiplier = add.output_multiplier();
  params.output_shift = add.output_shift();
  params.output_offset = layer.output().zero_point();
  params.quantized_activation_min = info.output_min;
  params.quantized_activation_max = info.output_max;
  return params;
}

void RunGlobalAveragePool(const Layer& layer, const LayerInfo& info, const int8_t* input,
                          int8_t* output) {
  GlobalAveragePoolParams params;
  params.input_offset = -info.input_zero_point;
  params.multiplier = layer.global_average_pool().multiplier();
  params.shift = layer.global_average_pool().shift();
  params.output_offset = layer.output().zero_point();
  GlobalAveragePoolInt8(params, ToTensorShape(info.input_shape), input, output);
}

void EncodeInput(const models::Model& model, const uint8_t* pixels, int8_t* input) {
  const pynq::model::InputSpec& spec = model.file().input();
  if (!spec.has_resample()) {
    Uint8ToInt8(pixels, model.input_bytes(), input);
    return;
  }
  ResampleParams params;
  params.crop_top = spec.resample().crop_top();
  params.crop_left = spec.resample().crop_left();
  params.downscale = std::max(1, spec.resample().downscale());
  ResampleUint8ToInt8(params, ToTensorShape(model.image_shape()), pixels,
                      ToTensorShape(model.input_shape()), input);
}

constexpr size_t kBlockActivationBytes = 256 * 1024;
constexpr int kMaxBlockImages = 16;

}  // namespace

void RunReference(const models::Model& model, const uint8_t* pixels, int8_t* arena,
                  int8_t* logits) {
  const pynq::model::ModelFile& file = model.file();
  const std::vector<LayerInfo>& infos = model.layer_info();
  EncodeInput(model, pixels, arena);
  const auto tensor = [&](int index) {
    return arena + (index < 0 ? 0 : infos[static_cast<size_t>(index)].output_offset);
  };
  for (size_t i = 0; i < infos.size(); ++i) {
    const Layer& layer = file.layers(static_cast<int>(i));
    const LayerInfo& info = infos[i];
    const int8_t* input = tensor(info.input);
    int8_t* output = arena + info.output_offset;
    switch (layer.kind_case()) {
      case Layer::kConv2D:
        RunConvReference(layer, info, input, output);
        break;
      case Layer::kDense:
        RunDense(layer, info, input, output, nullptr);
        break;
      case Layer::kMaxPool2D:
        RunMaxPool(layer, info, input, output, false);
        break;
      case Layer::kAdd:
        AddElementwise(AddParamsOf(layer, info), info.output_shape.elements(), input,
                       tensor(info.second_input), output);
        break;
      case Layer::kGlobalAveragePool:
        RunGlobalAveragePool(layer, info, input, output);
        break;
      case Layer::kBinaryDense:
        BinaryDenseReference(BinaryDenseParamsOf(layer, info), input, output);
        break;
      case Layer::KIND_NOT_SET:  // the loader refuses such models
        break;
    }
  }
  std::memcpy(logits, arena + infos.back().output_offset, static_cast<size_t>(model.num_classes()));
}

ModelPlan::ModelPlan(const models::Model& model, bool portable) : model_(model) {
  const std::vector<LayerInfo>& infos = model.layer_info();
  conv_.resize(infos.size());
  binary_.resize(infos.size());
  add_.resize(infos.size());
  activation_stride_ = AlignUp(model.activation_bytes());
  for (size_t i = 0; i < infos.size(); ++i) {
    const Layer& layer = model.file().layers(static_cast<int>(i));
    if (layer.kind_case() == Layer::kBinaryDense) {
      block_images_ = std::clamp(static_cast<int>(kBlockActivationBytes / activation_stride_), 1,
                                 kMaxBlockImages);
    }
  }
  size_t kernel_bytes = 0;
  for (size_t i = 0; i < infos.size(); ++i) {
    const Layer& layer = model.file().layers(static_cast<int>(i));
    const LayerInfo& info = infos[i];
    switch (layer.kind_case()) {
      case Layer::kConv2D: {
        const pynq::model::Conv2D& c = layer.conv2d();
        conv_[i] = std::make_unique<fast::ConvPlan>(
            ConvParamsOf(layer, info), c.requant().multiplier().data(), c.requant().shift().data(),
            ToTensorShape(info.input_shape), FilterShapeOf(c),
            reinterpret_cast<const int8_t*>(c.weights().data()), c.bias().data(),
            ToTensorShape(info.output_shape), portable);
        kernel_bytes = std::max(kernel_bytes, conv_[i]->ScratchBytes());
        break;
      }
      case Layer::kDense:
        kernel_bytes =
            std::max(kernel_bytes, fast::FullyConnectedScratchBytes(layer.dense().in_features()));
        break;
      case Layer::kAdd:
        add_[i] = std::make_unique<fast::AddPlan>(AddParamsOf(layer, info), portable);
        break;
      case Layer::kBinaryDense:
        binary_[i] =
            std::make_unique<fast::BinaryDensePlan>(BinaryDenseParamsOf(layer, info), portable);
        kernel_bytes = std::max(kernel_bytes, binary_[i]->ScratchBytes(block_images_));
        break;
      default:
        break;
    }
  }
  scratch_bytes_ = activation_stride_ * static_cast<size_t>(block_images_) + AlignUp(kernel_bytes);
}

void ModelPlan::RunBlock(int count, const uint8_t* input, int8_t* output, void* scratch) const {
  const pynq::model::ModelFile& file = model_.file();
  const std::vector<LayerInfo>& infos = model_.layer_info();
  auto* arenas = static_cast<int8_t*>(scratch);  // image j's activations at j * stride
  void* kernel_scratch = arenas + activation_stride_ * static_cast<size_t>(block_images_);
  const size_t stride = activation_stride_;
  const size_t image_bytes = model_.input_bytes();
  for (int j = 0; j < count; ++j) {
    EncodeInput(model_, input + static_cast<size_t>(j) * image_bytes, arenas + j * stride);
  }
  const auto offset = [&](int index) {
    return index < 0 ? size_t{0} : infos[static_cast<size_t>(index)].output_offset;
  };
  for (size_t i = 0; i < infos.size(); ++i) {
    const Layer& layer = file.layers(static_cast<int>(i));
    const LayerInfo& info = infos[i];
    int8_t* in0 = arenas + offset(info.input);
    int8_t* out0 = arenas + info.output_offset;
    if (layer.kind_case() == Layer::kBinaryDense) {
      binary_[i]->Run(count, in0, stride, out0, stride, kernel_scratch);
      continue;
    }
    for (int j = 0; j < count; ++j) {
      const size_t at = static_cast<size_t>(j) * stride;
      const int8_t* in = in0 + at;
      int8_t* out = out0 + at;
      switch (layer.kind_case()) {
        case Layer::kConv2D:
          conv_[i]->Run(in, out, kernel_scratch);
          break;
        case Layer::kDense:
          RunDense(layer, info, in, out, kernel_scratch);
          break;
        case Layer::kMaxPool2D:
          RunMaxPool(layer, info, in, out, true);
          break;
        case Layer::kAdd:
          add_[i]->Run(info.output_shape.elements(), in, arenas + offset(info.second_input) + at,
                       out);
          break;
        case Layer::kGlobalAveragePool:
          RunGlobalAveragePool(layer, info, in, out);
          break;
        case Layer::kBinaryDense:  // above
        case Layer::KIND_NOT_SET:  // the loader refuses such models
          break;
      }
    }
  }
  const auto classes = static_cast<size_t>(model_.num_classes());
  for (int j = 0; j < count; ++j) {
    std::memcpy(output + static_cast<size_t>(j) * classes,
                arenas + static_cast<size_t>(j) * stride + infos.back().output_offset, classes);
  }
}

}  // namespace pynq::accel::cpu
