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

TEST(ModelTest, TruncatedFileNamesTheLayerItEndsIn) {
  const std::string bytes = ReadBytes(ZooModelPath());
  // The layers are written in order and the dense layer's 15,680 weight bytes are the second
  // half of the file: cutting it in the middle ends the file inside layer 4.
  const std::string path = WriteTemp("truncated_model.pb", bytes.substr(0, bytes.size() / 2));
  auto model = Model::LoadFromFile(path);
  EXPECT_THAT(model.status().message(), HasSubstr("layer 4 (fc) is truncated: its record has"));
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

// ---- The other layer kinds: a small binarized network and a small residual network, built
// here so each mutation below breaks exactly one thing. ----

// 1x2x5 uint8 image -> fc1: binary_dense, 8-bit UNSIGNED pixels -> 16 BIPOLAR outputs
// -> fc2: binary_dense, BIPOLAR -> 4 REQUANTIZED int8 logits.
ModelFile TinyBinarized() {
  ModelFile f;
  f.set_format_version(1);
  f.set_name("tiny-bnn");
  f.mutable_input()->add_dims(1);
  f.mutable_input()->add_dims(2);
  f.mutable_input()->add_dims(5);
  f.mutable_input()->set_encoding(pynq::model::InputSpec::UINT8_MINUS_128);
  f.mutable_input()->mutable_quant()->set_scale(1.0f / 255.0f);
  f.mutable_input()->mutable_quant()->set_zero_point(-128);
  pynq::model::Layer* fc1 = f.add_layers();
  fc1->set_name("fc1");
  fc1->mutable_output()->set_scale(1.0f);
  pynq::model::BinaryDense* d1 = fc1->mutable_binary_dense();
  d1->set_in_features(10);
  d1->set_out_features(16);
  d1->set_input_values(pynq::model::BinaryDense::UNSIGNED);
  d1->set_input_bits(8);
  std::string row(8, '\0');
  row[0] = '\x05';  // features 0 and 2 are +1, the other 8 of the 10 are -1; bits 10..63 are 0
  for (int o = 0; o < 16; ++o) d1->mutable_weights()->append(row);
  d1->set_output(pynq::model::BinaryDense::THRESHOLDS);
  d1->set_output_values(pynq::model::BinaryDense::BIPOLAR);
  d1->set_output_bits(1);
  for (int o = 0; o < 16; ++o) d1->add_thresholds(o * 10 - 80);
  pynq::model::Layer* fc2 = f.add_layers();
  fc2->set_name("fc2");
  fc2->mutable_output()->set_scale(0.5f);
  fc2->mutable_output()->set_zero_point(3);
  pynq::model::BinaryDense* d2 = fc2->mutable_binary_dense();
  d2->set_in_features(16);
  d2->set_out_features(4);
  d2->set_input_values(pynq::model::BinaryDense::BIPOLAR);
  d2->set_input_bits(1);
  d2->set_weights(std::string(4 * 8, '\x00'));
  d2->set_output(pynq::model::BinaryDense::REQUANTIZED);
  for (int o = 0; o < 4; ++o) {
    d2->add_bias(o);
    d2->mutable_requant()->add_multiplier(1 << 30);
    d2->mutable_requant()->add_shift(1);
  }
  return f;
}

TEST(BinarizedModelTest, TinyNetworkLoads) {
  auto model = Model::FromProto(TinyBinarized(), "tiny-bnn/model.pb");
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->num_classes(), 4);
  EXPECT_EQ((*model)->layer_info()[0].output_shape.channels, 16);
  EXPECT_EQ((*model)->input_bytes(), 10u);
}

TEST(BinarizedModelTest, TruncatedFileIsRefusedNamingTheLayer) {
  const std::string bytes = TinyBinarized().SerializeAsString();
  // fc2 is the last record: cutting 1 or 20 bytes ends the file inside it.
  for (size_t keep : {bytes.size() - 1, bytes.size() - 20}) {
    const std::string path = WriteTemp("truncated_bnn.pb", bytes.substr(0, keep));
    auto model = Model::LoadFromFile(path);
    EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument) << keep;
    EXPECT_THAT(model.status().message(), HasSubstr(path));
    EXPECT_THAT(model.status().message(), HasSubstr("layer 1 (fc2) is truncated"));
  }
}

class MalformedBinarizedTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(MalformedBinarizedTest, IsRefusedNamingTheLayerAndProblem) {
  ModelFile file = TinyBinarized();
  GetParam().mutate(file);
  auto model = Model::FromProto(file, "tiny-bnn/model.pb");
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument) << model.status();
  EXPECT_THAT(model.status().message(), HasSubstr(GetParam().expected));
}

pynq::model::BinaryDense* Fc(ModelFile& f, int i) {
  return f.mutable_layers(i)->mutable_binary_dense();
}

const BadCase kBadBinarized[] = {
    {"WeightsTruncated", [](ModelFile& f) { Fc(f, 0)->mutable_weights()->resize(100); },
     "layer 0 (fc1): weights hold 100 bytes, 16 rows of 1 64-bit words need 128"},
    {"PaddingBitsSet", [](ModelFile& f) { (*Fc(f, 0)->mutable_weights())[8 * 3 + 1] = '\x04'; },
     "layer 0 (fc1): weight row 3 sets bits past in_features (10)"},
    {"InFeatures", [](ModelFile& f) { Fc(f, 1)->set_in_features(15); },
     "layer 1 (fc2): binary_dense expects 15 input features, its input 16x1x1 has 16"},
    {"ThresholdCount", [](ModelFile& f) { Fc(f, 0)->mutable_thresholds()->RemoveLast(); },
     "layer 0 (fc1): 15 thresholds, expected 1 per channel x 16 channels"},
    {"ThresholdsNotAscending",
     [](ModelFile& f) {
       pynq::model::BinaryDense* d = Fc(f, 0);
       d->set_output_values(pynq::model::BinaryDense::UNSIGNED);
       d->set_output_bits(2);
       d->clear_thresholds();
       for (int o = 0; o < 16; ++o) {
         d->add_thresholds(0);
         d->add_thresholds(o == 5 ? -1 : 1);
         d->add_thresholds(2);
       }
       Fc(f, 1)->set_input_values(pynq::model::BinaryDense::UNSIGNED);
       Fc(f, 1)->set_input_bits(2);
     },
     "layer 0 (fc1): thresholds of channel 5 are not ascending"},
    {"BipolarInputFromPixels",
     [](ModelFile& f) {
       Fc(f, 0)->set_input_values(pynq::model::BinaryDense::BIPOLAR);
       Fc(f, 0)->set_input_bits(1);
     },
     "layer 0 (fc1): reads BIPOLAR values, but its input is not the BIPOLAR output"},
    {"PixelsNeedEightBits", [](ModelFile& f) { Fc(f, 0)->set_input_bits(4); },
     "layer 0 (fc1): reads the model input as 4-bit UNSIGNED values"},
    {"UnsignedFromBipolar",
     [](ModelFile& f) {
       Fc(f, 1)->set_input_values(pynq::model::BinaryDense::UNSIGNED);
       Fc(f, 1)->set_input_bits(2);
     },
     "layer 1 (fc2): reads 2-bit UNSIGNED values, but its input is not the UNSIGNED output"},
    {"NoInputValues",
     [](ModelFile& f) { Fc(f, 1)->set_input_values(pynq::model::BinaryDense::VALUES_UNSPECIFIED); },
     "layer 1 (fc2): input_values 0 is not BIPOLAR or UNSIGNED"},
    {"NoOutputKind",
     [](ModelFile& f) { Fc(f, 1)->set_output(pynq::model::BinaryDense::OUTPUT_UNSPECIFIED); },
     "layer 1 (fc2): output 0 is not THRESHOLDS or REQUANTIZED"},
    {"BiasCount", [](ModelFile& f) { Fc(f, 1)->mutable_bias()->RemoveLast(); },
     "layer 1 (fc2): 3 biases for 4 output channels"},
    {"RequantCount",
     [](ModelFile& f) { Fc(f, 1)->mutable_requant()->mutable_shift()->RemoveLast(); },
     "layer 1 (fc2): requantization has 4 multipliers and 3 shifts"},
    {"ThresholdZeroPoint",
     [](ModelFile& f) { f.mutable_layers(0)->mutable_output()->set_zero_point(1); },
     "layer 0 (fc1): THRESHOLDS outputs are integers: output zero point must be 0"},
    {"BiasOverflow", [](ModelFile& f) { Fc(f, 1)->set_bias(2, 2147483640); },
     "layer 1 (fc2): an int32 accumulator could overflow"},
};

INSTANTIATE_TEST_SUITE_P(TinyBinarized, MalformedBinarizedTest, ::testing::ValuesIn(kBadBinarized),
                         [](const ::testing::TestParamInfo<BadCase>& param) {
                           return param.param.name;
                         });

// 2x4x4 image -> conv a (2->2, 3x3 pad 1, ReLU) -> conv b (2->2, 1x1) -> add(a, b) -> pool ->
// dense 2->3.
ModelFile TinyResidual() {
  ModelFile f;
  f.set_format_version(1);
  f.set_name("tiny-res");
  for (int d : {2, 4, 4}) f.mutable_input()->add_dims(d);
  f.mutable_input()->set_encoding(pynq::model::InputSpec::UINT8_MINUS_128);
  f.mutable_input()->mutable_quant()->set_scale(1.0f / 64.0f);
  const auto conv = [&](const char* name, int k) {
    pynq::model::Layer* l = f.add_layers();
    l->set_name(name);
    l->mutable_output()->set_scale(0.1f);
    l->mutable_output()->set_zero_point(-100);
    pynq::model::Conv2D* c = l->mutable_conv2d();
    c->set_in_channels(2);
    c->set_out_channels(2);
    c->set_kernel_h(k);
    c->set_kernel_w(k);
    c->set_stride_h(1);
    c->set_stride_w(1);
    c->set_pad_top(k / 2);
    c->set_pad_bottom(k / 2);
    c->set_pad_left(k / 2);
    c->set_pad_right(k / 2);
    c->set_weights(std::string(static_cast<size_t>(2 * 2 * k * k), '\x03'));
    for (int o = 0; o < 2; ++o) {
      c->add_weight_scales(0.01f);
      c->add_bias(10);
      c->mutable_requant()->add_multiplier(1 << 30);
      c->mutable_requant()->add_shift(-4);
    }
    c->set_activation(pynq::model::ACTIVATION_RELU);
  };
  conv("a", 3);
  conv("b", 1);
  pynq::model::Layer* add = f.add_layers();
  add->set_name("add");
  add->add_inputs(0);
  add->add_inputs(1);
  add->mutable_output()->set_scale(0.2f);
  add->mutable_output()->set_zero_point(-128);
  pynq::model::Add* a = add->mutable_add();
  a->set_left_shift(20);
  a->set_a_multiplier(1 << 30);
  a->set_a_shift(0);
  a->set_b_multiplier(1 << 30);
  a->set_b_shift(0);
  a->set_output_multiplier(1 << 30);
  a->set_output_shift(-18);
  a->set_activation(pynq::model::ACTIVATION_RELU);
  pynq::model::Layer* pool = f.add_layers();
  pool->set_name("pool");
  pool->mutable_output()->set_scale(0.2f);
  pool->mutable_output()->set_zero_point(-128);
  pool->mutable_global_average_pool()->set_multiplier(1 << 30);
  pool->mutable_global_average_pool()->set_shift(-3);
  pynq::model::Layer* fc = f.add_layers();
  fc->set_name("fc");
  fc->mutable_output()->set_scale(0.3f);
  pynq::model::Dense* d = fc->mutable_dense();
  d->set_in_features(2);
  d->set_out_features(3);
  d->set_weights(std::string(6, '\x01'));
  for (int o = 0; o < 3; ++o) {
    d->add_weight_scales(0.01f);
    d->add_bias(0);
    d->mutable_requant()->add_multiplier(1 << 30);
    d->mutable_requant()->add_shift(0);
  }
  return f;
}

TEST(ResidualModelTest, TinyNetworkLoadsWithBothAddOperands) {
  auto model = Model::FromProto(TinyResidual(), "tiny-res/model.pb");
  ASSERT_TRUE(model.ok()) << model.status();
  const Model::LayerInfo& add = (*model)->layer_info()[2];
  EXPECT_EQ(add.input, 0);
  EXPECT_EQ(add.second_input, 1);
  EXPECT_EQ(add.second_zero_point, -100);
  EXPECT_EQ(add.output_min, -128);  // ReLU at the output zero point
  EXPECT_EQ((*model)->layer_info()[3].output_shape.elements(), 2u);
  EXPECT_EQ((*model)->num_classes(), 3);
}

class MalformedResidualTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(MalformedResidualTest, IsRefusedNamingTheLayerAndProblem) {
  ModelFile file = TinyResidual();
  GetParam().mutate(file);
  auto model = Model::FromProto(file, "tiny-res/model.pb");
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument) << model.status();
  EXPECT_THAT(model.status().message(), HasSubstr(GetParam().expected));
}

const BadCase kBadResidual[] = {
    {"AddOneInput", [](ModelFile& f) { f.mutable_layers(2)->mutable_inputs()->RemoveLast(); },
     "layer 2 (add): reads 1 tensors; this kind reads exactly 2"},
    {"AddNoInputs", [](ModelFile& f) { f.mutable_layers(2)->clear_inputs(); },
     "layer 2 (add): names no inputs; this kind reads exactly 2"},
    {"AddShapes",
     [](ModelFile& f) {
       f.mutable_layers(1)->mutable_conv2d()->set_stride_h(2);
       f.mutable_layers(1)->mutable_conv2d()->set_stride_w(2);
     },
     "layer 2 (add): add of tensors of different shapes: 2x4x4 and 2x2x2"},
    {"AddForward", [](ModelFile& f) { f.mutable_layers(2)->set_inputs(1, 3); },
     "layer 2 (add): reads tensor 3"},
    {"AddLeftShift", [](ModelFile& f) { f.mutable_layers(2)->mutable_add()->set_left_shift(23); },
     "layer 2 (add): add left_shift is 23, must be in 0..22"},
    {"AddInputGain", [](ModelFile& f) { f.mutable_layers(2)->mutable_add()->set_a_shift(1); },
     "layer 2 (add): add a shift is 1, must be in -31..0"},
    {"AddMultiplier",
     [](ModelFile& f) { f.mutable_layers(2)->mutable_add()->set_output_multiplier(77); },
     "layer 2 (add): add output multiplier 77 is neither 0 nor"},
    {"PoolMultiplier",
     [](ModelFile& f) { f.mutable_layers(3)->mutable_global_average_pool()->set_shift(31); },
     "layer 3 (pool): global_average_pool shift is 31, must be in -31..30"},
    {"DenseAfterPool",
     [](ModelFile& f) { f.mutable_layers(4)->mutable_dense()->set_in_features(32); },
     "layer 4 (fc): dense expects 32 input features, its input 2x1x1 has 2"},
};

INSTANTIATE_TEST_SUITE_P(TinyResidual, MalformedResidualTest, ::testing::ValuesIn(kBadResidual),
                         [](const ::testing::TestParamInfo<BadCase>& param) {
                           return param.param.name;
                         });

TEST(ResampleInputTest, FirstLayerSeesTheResampledImage) {
  ModelFile f = TinyResidual();
  f.mutable_input()->set_dims(1, 10);
  f.mutable_input()->set_dims(2, 9);
  auto* r = f.mutable_input()->mutable_resample();
  r->set_crop_top(1);
  r->set_crop_left(0);
  r->set_crop_height(8);
  r->set_crop_width(8);
  r->set_downscale(2);
  auto model = Model::FromProto(f, "resampled");
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->input_bytes(), 2u * 10 * 9);  // the request: the whole image
  EXPECT_EQ((*model)->input_shape().height, 4);     // the first layer: 8 / 2
  EXPECT_EQ((*model)->input_shape().width, 4);

  r->set_downscale(3);
  auto bad = Model::FromProto(f, "resampled");
  EXPECT_THAT(bad.status().message(),
              HasSubstr("resample: the cropped image 8x8 is not a multiple of downscale 3"));
  r->set_downscale(2);
  r->set_crop_height(10);
  bad = Model::FromProto(f, "resampled");
  EXPECT_THAT(bad.status().message(), HasSubstr("resample crop_height is 10, must be in 1..9"));
}

}  // namespace
}  // namespace pynq::models
