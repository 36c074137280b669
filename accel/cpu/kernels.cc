#include "accel/cpu/kernels.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace pynq::accel::cpu {

void ConvPerChannel(const ConvParams& params, const int32_t* output_multiplier,
                    const int32_t* output_shift, const TensorShape& input_shape,
                    const int8_t* input_data, const FilterShape& filter_shape,
                    const int8_t* filter_data, const int32_t* bias_data,
                    const TensorShape& output_shape, int8_t* output_data) {
  const int32_t input_offset = params.input_offset;
  const int32_t output_offset = params.output_offset;
  const int stride_height = params.stride_height;
  const int stride_width = params.stride_width;
  const int pad_height = params.padding_top;
  const int pad_width = params.padding_left;
  const int32_t output_activation_min = params.quantized_activation_min;
  const int32_t output_activation_max = params.quantized_activation_max;

  const int input_depth = input_shape.channels;
  const int input_height = input_shape.height;
  const int input_width = input_shape.width;
  const int filter_height = filter_shape.height;
  const int filter_width = filter_shape.width;
  const int output_depth = output_shape.channels;
  const int output_height = output_shape.height;
  const int output_width = output_shape.width;

  for (int out_channel = 0; out_channel < output_depth; ++out_channel) {
    const int8_t* filter =
        filter_data + static_cast<size_t>(out_channel) * input_depth * filter_height * filter_width;
    for (int out_y = 0; out_y < output_height; ++out_y) {
      const int in_y_origin = out_y * stride_height - pad_height;
      // Filter rows that land inside the input; the padding outside stands for real 0 and
      // adds nothing.
      const int filter_y_start = std::max(0, -in_y_origin);
      const int filter_y_end = std::min(filter_height, input_height - in_y_origin);
      for (int out_x = 0; out_x < output_width; ++out_x) {
        const int in_x_origin = out_x * stride_width - pad_width;
        const int filter_x_start = std::max(0, -in_x_origin);
        const int filter_x_end = std::min(filter_width, input_width - in_x_origin);
        // Overflow bound: |input + input_offset| <= 255 and |filter| <= 128, so each product is
        // at most 32640 in magnitude; the loader admits only layers whose accumulation depth
        // (in_channels * filter_height * filter_width) times 32640, plus |bias|, fits int32.
        int32_t acc = 0;
        for (int in_channel = 0; in_channel < input_depth; ++in_channel) {
          const int8_t* input_plane =
              input_data + static_cast<size_t>(in_channel) * input_height * input_width;
          const int8_t* filter_plane =
              filter + static_cast<size_t>(in_channel) * filter_height * filter_width;
          for (int filter_y = filter_y_start; filter_y < filter_y_end; ++filter_y) {
            const int8_t* input_row = input_plane + (in_y_origin + filter_y) * input_width;
            const int8_t* filter_row = filter_plane + filter_y * filter_width;
            for (int filter_x = filter_x_start; filter_x < filter_x_end; ++filter_x) {
              const int32_t input_val = input_row[in_x_origin + filter_x];
              const int32_t filter_val = filter_row[filter_x];
              acc += filter_val * (input_val + input_offset);
            }
          }
        }
        if (bias_data != nullptr) acc += bias_data[out_channel];
        acc = MultiplyByQuantizedMultiplier(acc, output_multiplier[out_channel],
                                            output_shift[out_channel]);
        acc += output_offset;
        acc = std::max(acc, output_activation_min);
        acc = std::min(acc, output_activation_max);
        output_data[(static_cast<size_t>(out_channel) * output_height + out_y) * output_width +
                    out_x] = static_cast<int8_t>(acc);
      }
    }
  }
}

void FullyConnectedPerChannel(const FullyConnectedParams& params, const int32_t* output_multiplier,
                              const int32_t* output_shift, int input_size, const int8_t* input_data,
                              int output_size, const int8_t* weights, const int32_t* bias_data,
                              int8_t* output_data) {
  const int32_t input_offset = params.input_offset;
  const int32_t output_offset = params.output_offset;
  const int32_t output_activation_min = params.quantized_activation_min;
  const int32_t output_activation_max = params.quantized_activation_max;
  const int accum_depth = input_size;

  for (int out_c = 0; out_c < output_size; ++out_c) {
    const int8_t* weight_row = weights + static_cast<size_t>(out_c) * accum_depth;
    // Overflow bound: as in ConvPerChannel, accum_depth * 32640 + |bias| fits int32 (checked by
    // the loader).
    int32_t acc = 0;
    for (int d = 0; d < accum_depth; ++d) {
      const int32_t input_val = input_data[d];
      const int32_t filter_val = weight_row[d];
      acc += filter_val * (input_val + input_offset);
    }
    if (bias_data != nullptr) acc += bias_data[out_c];
    acc = MultiplyByQuantizedMultiplier(acc, output_multiplier[out_c], output_shift[out_c]);
    acc += output_offset;
    acc = std::max(acc, output_activation_min);
    acc = std::min(acc, output_activation_max);
    output_data[out_c] = static_cast<int8_t>(acc);
  }
}

void MaxPool(const PoolParams& params, const TensorShape& input_shape, const int8_t* input_data,
             const TensorShape& output_shape, int8_t* output_data) {
  const int stride_height = params.stride_height;
  const int stride_width = params.stride_width;
  const int filter_height = params.filter_height;
  const int filter_width = params.filter_width;
  const int depth = input_shape.channels;
  const int input_height = input_shape.height;
  const int input_width = input_shape.width;
  const int output_height = output_shape.height;
  const int output_width = output_shape.width;

  for (int channel = 0; channel < depth; ++channel) {
    const int8_t* plane = input_data + static_cast<size_t>(channel) * input_height * input_width;
    for (int out_y = 0; out_y < output_height; ++out_y) {
      for (int out_x = 0; out_x < output_width; ++out_x) {
        const int in_y_origin = out_y * stride_height;
        const int in_x_origin = out_x * stride_width;
        int8_t max = plane[in_y_origin * input_width + in_x_origin];
        for (int filter_y = 0; filter_y < filter_height; ++filter_y) {
          const int8_t* row = plane + (in_y_origin + filter_y) * input_width + in_x_origin;
          for (int filter_x = 0; filter_x < filter_width; ++filter_x) {
            max = std::max(max, row[filter_x]);
          }
        }
        output_data[(static_cast<size_t>(channel) * output_height + out_y) * output_width + out_x] =
            max;
      }
    }
  }
}

void Uint8ToInt8(const uint8_t* input_data, size_t size, int8_t* output_data) {
  for (size_t i = 0; i < size; ++i) {
    output_data[i] = static_cast<int8_t>(static_cast<int32_t>(input_data[i]) - 128);
  }
}

void ResampleUint8ToInt8(const ResampleParams& params, const TensorShape& image_shape,
                         const uint8_t* input_data, const TensorShape& output_shape,
                         int8_t* output_data) {
  const int d = params.downscale;
  const int32_t area = d * d;
  for (int c = 0; c < output_shape.channels; ++c) {
    const uint8_t* plane =
        input_data + static_cast<size_t>(c) * image_shape.height * image_shape.width;
    for (int y = 0; y < output_shape.height; ++y) {
      for (int x = 0; x < output_shape.width; ++x) {
        int32_t sum = 0;
        for (int dy = 0; dy < d; ++dy) {
          const uint8_t* row =
              plane + static_cast<size_t>(params.crop_top + y * d + dy) * image_shape.width +
              params.crop_left + x * d;
          for (int dx = 0; dx < d; ++dx) sum += row[dx];
        }
        const int32_t pixel = (sum + area / 2) / area;
        output_data[(static_cast<size_t>(c) * output_shape.height + y) * output_shape.width + x] =
            static_cast<int8_t>(pixel - 128);
      }
    }
  }
}

void AddElementwise(const AddParams& params, size_t size, const int8_t* a_data,
                    const int8_t* b_data, int8_t* output_data) {
  for (size_t i = 0; i < size; ++i) {
    // |q + offset| <= 255 and left_shift <= 22 (checked by the loader): no overflow.
    const int32_t a = (a_data[i] + params.a_offset) * (1 << params.left_shift);
    const int32_t b = (b_data[i] + params.b_offset) * (1 << params.left_shift);
    const int32_t scaled_a = MultiplyByQuantizedMultiplier(a, params.a_multiplier, params.a_shift);
    const int32_t scaled_b = MultiplyByQuantizedMultiplier(b, params.b_multiplier, params.b_shift);
    int32_t out = MultiplyByQuantizedMultiplier(scaled_a + scaled_b, params.output_multiplier,
                                                params.output_shift) +
                  params.output_offset;
    out = std::max(out, params.quantized_activation_min);
    out = std::min(out, params.quantized_activation_max);
    output_data[i] = static_cast<int8_t>(out);
  }
}

void GlobalAveragePoolInt8(const GlobalAveragePoolParams& params, const TensorShape& input_shape,
                           const int8_t* input_data, int8_t* output_data) {
  const size_t area = static_cast<size_t>(input_shape.height) * input_shape.width;
  for (int c = 0; c < input_shape.channels; ++c) {
    const int8_t* plane = input_data + static_cast<size_t>(c) * area;
    int32_t sum = 0;  // area * 255 fits int32 (checked by the loader)
    for (size_t i = 0; i < area; ++i) sum += plane[i] + params.input_offset;
    int32_t out =
        MultiplyByQuantizedMultiplier(sum, params.multiplier, params.shift) + params.output_offset;
    out = std::min<int32_t>(127, std::max<int32_t>(-128, out));
    output_data[c] = static_cast<int8_t>(out);
  }
}

void BinaryDenseReference(const BinaryDenseParams& params, const int8_t* input_data,
                          int8_t* output_data) {
  const size_t row_bytes = static_cast<size_t>(params.words_per_row) * 8;
  for (int o = 0; o < params.out_features; ++o) {
    const uint8_t* row = params.weights + static_cast<size_t>(o) * row_bytes;
    int32_t acc = 0;
    for (int i = 0; i < params.in_features; ++i) {
      // Bit i of the row: word i / 64, little-endian, so byte i / 8, bit i % 8.
      const bool plus = ((row[i / 8] >> (i % 8)) & 1) != 0;
      const int32_t v = input_data[i] + params.input_offset;
      acc += plus ? v : -v;
    }
    output_data[o] = BinaryDenseOutput(params, o, acc);
  }
}

}  // namespace pynq::accel::cpu
