// Model loading and validation: the shipped mnist-cnn-q8 loads and reports its geometry; every
// malformed variant (made by mutating a copy of it) is refused naming the layer and the problem.
#include "models/model.h"

#include <cstdlib>
#include <fstream>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/model.pb.h"
#include "tests/models/zoo_test_util.h"

namespace pynq::models {
namespace {

using ::pynq::model::ModelFile;
using ::testing::HasSubstr;

std::string ZooModelPath() { return test_util::MnistZooDir() + "/model.pb"; }

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) {
    ADD_FAILURE() << path << ": cannot be read";
    return "";
  }
  std::string bytes(static_cast<size_t>(in.tellg()), '\0');
  in.seekg(0);
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return bytes;
}

std::string WriteTemp(const std::string& name, const std::string& bytes) {
  const std::string path = ::testing::TempDir() + name;
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

ModelFile ZooProto() {
  ModelFile file;
  EXPECT_TRUE(file.ParseFromString(ReadBytes(ZooModelPath()))) << ZooModelPath();
  return file;
}

TEST(ModelTest, LoadsZooModelAndReportsGeometry) {
  auto model = Model::LoadFromFile(ZooModelPath());
  ASSERT_TRUE(model.ok()) << model.status();
  const Model& m = **model;
  EXPECT_EQ(m.name(), "mnist-cnn-q8");
  EXPECT_EQ(m.input_dims(), (std::vector<int64_t>{1, 28, 28}));
  EXPECT_EQ(m.input_bytes(), 784u);
  EXPECT_EQ(m.input_zero_point(), -128);
  EXPECT_EQ(m.num_classes(), 10);
  EXPECT_EQ(m.labels(),
            (std::vector<std::string>{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}));
  EXPECT_GT(m.output_scale(), 0.0f);
  EXPECT_GE(m.output_zero_point(), -128);
  EXPECT_LE(m.output_zero_point(), 127);

  struct Expected {
    int input;
    int c, h, w;
    int32_t output_min;
  };
  const int32_t relu_min = m.file().layers(0).output().zero_point();
  const std::vector<Expected> expected = {{-1, 16, 28, 28, relu_min},
                                          {0, 16, 14, 14, -128},
                                          {1, 32, 14, 14, -128},
                                          {2, 32, 7, 7, -128},
                                          {3, 10, 1, 1, -128}};
  ASSERT_EQ(m.layer_info().size(), expected.size());
  size_t offset = 784;
  for (size_t i = 0; i < expected.size(); ++i) {
    const Model::LayerInfo& info = m.layer_info()[i];
    SCOPED_TRACE(m.file().layers(static_cast<int>(i)).name());
    EXPECT_EQ(info.input, expected[i].input);
    EXPECT_EQ(info.output_shape.channels, expected[i].c);
    EXPECT_EQ(info.output_shape.height, expected[i].h);
    EXPECT_EQ(info.output_shape.width, expected[i].w);
    EXPECT_EQ(info.output_offset, offset);
    EXPECT_EQ(info.output_max, 127);
    offset += info.output_shape.elements();
  }
  EXPECT_EQ(m.layer_info()[0].output_min, std::max(-128, relu_min));
  EXPECT_EQ(m.activation_bytes(), offset);
}

TEST(ModelTest, MissingFileIsNotFound) {
  auto model = Model::LoadFromFile("/nonexistent/mnist-cnn-q8/1/model.pb");
  EXPECT_EQ(model.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(model.status().message(), HasSubstr("/nonexistent/mnist-cnn-q8/1/model.pb"));
}

TEST(ModelTest, TruncatedFileIsRefused) {
  const std::string bytes = ReadBytes(ZooModelPath());
  for (size_t keep : {bytes.size() / 2, bytes.size() - 1, size_t{7}}) {
    const std::string path = WriteTemp("truncated_model.pb", bytes.substr(0, keep));
    auto model = Model::LoadFromFile(path);
    EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument) << keep;
    EXPECT_THAT(model.status().message(), HasSubstr(path));
  }
}

TEST(ModelTest, GarbageFileIsRefused) {
  const std::string path =
      WriteTemp("garbage_model.pb", std::string("\xff\xff\xff\xff this is no model"));
  auto model = Model::LoadFromFile(path);
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(model.status().message(), HasSubstr("protobuf parsing failed"));
}

TEST(ModelTest, EmptyFileIsRefused) {
  const std::string path = WriteTemp("empty_model.pb", "");
  auto model = Model::LoadFromFile(path);
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(model.status().message(), HasSubstr("format_version 0"));
}

TEST(ModelTest, ExplicitInputsAreAccepted) {
  ModelFile file = ZooProto();
  file.mutable_layers(0)->add_inputs(-1);  // the model input, as an empty list means
  file.mutable_layers(3)->add_inputs(2);   // the previous layer, named
  auto model = Model::FromProto(file, "zoo-copy");
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->layer_info()[3].input, 2);
}

// One malformed variant of the zoo model and the words its error must contain.
struct BadCase {
  std::string name;
  std::function<void(ModelFile&)> mutate;
  std::string expected;
};

void PrintTo(const BadCase& bad_case, std::ostream* os) { *os << bad_case.name; }

class MalformedModelTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(MalformedModelTest, IsRefusedNamingTheProblem) {
  ModelFile file = ZooProto();
  GetParam().mutate(file);
  auto model = Model::FromProto(file, "zoo-copy/model.pb");
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument) << model.status();
  EXPECT_THAT(model.status().message(), HasSubstr("zoo-copy/model.pb: "));
  EXPECT_THAT(model.status().message(), HasSubstr(GetParam().expected));
}

// Layers of the zoo model: 0 conv1, 1 pool1, 2 conv2, 3 pool2, 4 fc.
const BadCase kBadCases[] = {
    {"WeightsSize",
     [](ModelFile& f) { f.mutable_layers(2)->mutable_conv2d()->mutable_weights()->resize(100); },
     "layer 2 (conv2): weights hold 100 bytes, 32x16x5x5 needs 12800"},
    {"DenseWeightsSize",
     [](ModelFile& f) { f.mutable_layers(4)->mutable_dense()->mutable_weights()->resize(15679); },
     "layer 4 (fc): weights hold 15679 bytes, 10x1568 needs 15680"},
    {"ConvInputChannels",
     [](ModelFile& f) { f.mutable_layers(2)->mutable_conv2d()->set_in_channels(8); },
     "layer 2 (conv2): conv2d expects 8 input channels, its input 16x14x14 has 16"},
    {"DenseInputFeatures",
     [](ModelFile& f) { f.mutable_layers(4)->mutable_dense()->set_in_features(1000); },
     "layer 4 (fc): dense expects 1000 input features, its input 32x7x7 has 1568"},
    {"ShapeChainViaKernel",
     [](ModelFile& f) { f.mutable_layers(0)->mutable_conv2d()->set_pad_top(0); },
     // conv1 now yields 16x26x28, so pool2 yields 32x6x7: the chain breaks at the dense layer.
     "layer 4 (fc): dense expects 1568 input features, its input 32x6x7 has 1344"},
    {"RequantMultipliers",
     [](ModelFile& f) {
       f.mutable_layers(0)->mutable_conv2d()->mutable_requant()->mutable_multiplier()->RemoveLast();
     },
     "layer 0 (conv1): requantization has 15 multipliers and 16 shifts, expected one per output "
     "channel (16)"},
    {"RequantShifts",
     [](ModelFile& f) { f.mutable_layers(4)->mutable_dense()->mutable_requant()->add_shift(-5); },
     "layer 4 (fc): requantization has 10 multipliers and 11 shifts"},
    {"ShiftRange",
     [](ModelFile& f) {
       f.mutable_layers(2)->mutable_conv2d()->mutable_requant()->set_shift(3, 40);
     },
     "layer 2 (conv2): requantization shift[3] is 40, must be in -31..30"},
    {"MultiplierNotNormalized",
     [](ModelFile& f) {
       f.mutable_layers(4)->mutable_dense()->mutable_requant()->set_multiplier(9, 12345);
     },
     "layer 4 (fc): requantization multiplier[9] = 12345 is neither 0 nor"},
    {"BiasCount",
     [](ModelFile& f) { f.mutable_layers(0)->mutable_conv2d()->mutable_bias()->RemoveLast(); },
     "layer 0 (conv1): 15 biases for 16 output channels"},
    {"WeightScaleCount",
     [](ModelFile& f) { f.mutable_layers(0)->mutable_conv2d()->add_weight_scales(1.0f); },
     "layer 0 (conv1): 17 weight scales for 16 output channels"},
    {"OutputZeroPoint",
     [](ModelFile& f) { f.mutable_layers(4)->mutable_output()->set_zero_point(200); },
     "layer 4 (fc): output zero point 200 is outside the int8 range"},
    {"OutputScale", [](ModelFile& f) { f.mutable_layers(2)->mutable_output()->set_scale(-1.0f); },
     "layer 2 (conv2): output scale -1 is not a positive finite number"},
    {"InputZeroPoint",
     [](ModelFile& f) { f.mutable_input()->mutable_quant()->set_zero_point(-129); },
     "input zero point -129 is outside the int8 range"},
    {"InputDimsCount", [](ModelFile& f) { f.mutable_input()->mutable_dims()->RemoveLast(); },
     "input has 2 dims, expected 3 (C, H, W)"},
    {"InputDimZero", [](ModelFile& f) { f.mutable_input()->set_dims(1, 0); },
     "input dim 1 is 0, must be in 1..65536"},
    {"InputTooLarge",
     [](ModelFile& f) {
       f.mutable_input()->set_dims(0, 65536);
       f.mutable_input()->set_dims(1, 65536);
     },
     "input 65536x65536x28 has more than 67108864 bytes"},
    {"InputEncoding",
     [](ModelFile& f) {
       f.mutable_input()->set_encoding(pynq::model::InputSpec::ENCODING_UNSPECIFIED);
     },
     "input encoding 0 is not supported"},
    {"LabelsCount", [](ModelFile& f) { f.mutable_labels()->RemoveLast(); },
     "9 labels for 10 classes (the outputs of layer 4, fc)"},
    {"FormatVersion", [](ModelFile& f) { f.set_format_version(2); },
     "format_version 2 is not supported"},
    {"NoLayers", [](ModelFile& f) { f.clear_layers(); }, "the model has no layers"},
    {"NoKind", [](ModelFile& f) { f.mutable_layers(1)->clear_kind(); },
     "layer 1 (pool1): no layer kind set"},
    {"DuplicateName", [](ModelFile& f) { f.mutable_layers(3)->set_name("conv2"); },
     "layer 3 (conv2): the name is also used by layer 2"},
    {"ForwardInput", [](ModelFile& f) { f.mutable_layers(1)->add_inputs(3); },
     "layer 1 (pool1): reads tensor 3; a layer may read the model input (-1) or an earlier layer "
     "(0..0)"},
    {"TwoInputs",
     [](ModelFile& f) {
       f.mutable_layers(2)->add_inputs(0);
       f.mutable_layers(2)->add_inputs(1);
     },
     "layer 2 (conv2): reads 2 tensors"},
    {"PoolRescales", [](ModelFile& f) { f.mutable_layers(1)->mutable_output()->set_zero_point(0); },
     "layer 1 (pool1): max_pool2d output quantization"},
    {"PoolKernel",
     [](ModelFile& f) { f.mutable_layers(3)->mutable_max_pool2d()->set_kernel_h(20); },
     "layer 3 (pool2): kernel_h is 20, must be in 1..14"},
    {"ConvStride", [](ModelFile& f) { f.mutable_layers(0)->mutable_conv2d()->set_stride_w(0); },
     "layer 0 (conv1): stride_w is 0, must be in 1..64"},
    {"ConvPadding", [](ModelFile& f) { f.mutable_layers(0)->mutable_conv2d()->set_pad_left(5); },
     "layer 0 (conv1): pad_left is 5, must be in 0..4"},
    {"Activation",
     [](ModelFile& f) {
       f.mutable_layers(0)->mutable_conv2d()->set_activation(
           static_cast<pynq::model::Activation>(7));
     },
     "layer 0 (conv1): activation 7 is not supported"},
    {"AccumulatorOverflow",
     [](ModelFile& f) { f.mutable_layers(4)->mutable_dense()->set_bias(0, 2147000000); },
     "layer 4 (fc): an int32 accumulator could overflow"},
};

INSTANTIATE_TEST_SUITE_P(ZooVariants, MalformedModelTest, ::testing::ValuesIn(kBadCases),
                         [](const ::testing::TestParamInfo<BadCase>& param) {
                           return param.param.name;
                         });

}  // namespace
}  // namespace pynq::models
