// The weight-header generator (pynq_hls_gen): it writes a kernel's header from the kernel's own
// zoo model and from another model of the same architecture, and refuses a model of another
// architecture (or an unknown kernel) with a message that names the layer and what was needed;
// the command-line tool exits non-zero with that message.
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/status/status.h"
#include "accel/hls/gen/params_gen.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/models/zoo_test_util.h"

namespace pynq::hls_gen {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

std::string Generate(const std::string& kernel, const std::string& model_name,
                     absl::Status* status) {
  auto model = test_util::LoadZooModel(model_name);
  EXPECT_TRUE(model.ok()) << model.status();
  absl::StatusOr<std::string> header = GenerateParamsHeader(kernel, **model, model_name);
  *status = header.status();
  return header.ok() ? *header : "";
}

TEST(HlsGenTest, WritesEachKernelsHeaderWithItsModelsNameAndDigest) {
  for (const auto& [kernel, model_name, struct_name] :
       {std::tuple<std::string, std::string, std::string>{"lfc_w1a1", "mnist-lfc-w1a1",
                                                          "LfcW1A1Params"},
        {"lfc_w1a2", "mnist-lfc-w1a2", "LfcW1A2Params"},
        {"mnist_cnn_q8", "mnist-cnn-q8", "MnistCnnQ8Params"}}) {
    absl::Status status;
    const std::string header = Generate(kernel, model_name, &status);
    ASSERT_TRUE(status.ok()) << status;
    auto model = test_util::LoadZooModel(model_name);
    ASSERT_TRUE(model.ok());
    EXPECT_THAT(header, AllOf(HasSubstr("struct " + struct_name + " {"),
                              HasSubstr("kModelName[] = \"" + model_name + "\""),
                              HasSubstr("kModelDigest[] = \"" + (*model)->digest() + "\"")));
  }
}

TEST(HlsGenTest, AcceptsAnotherModelOfTheSameArchitectureWithItsOwnDigest) {
  absl::Status status;
  const std::string header = Generate("mnist_cnn_q8", "fashion-cnn-q8", &status);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_THAT(header, HasSubstr("kModelName[] = \"fashion-cnn-q8\""));
}

TEST(HlsGenTest, RefusesAConvNetForTheLfcKernelNamingTheFirstLayer) {
  absl::Status status;
  Generate("lfc_w1a1", "mnist-cnn-q8", &status);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), AllOf(HasSubstr("4 layers"), HasSubstr("lfc_w1a1")));
}

TEST(HlsGenTest, RefusesW1A2WeightsForTheW1A1KernelNamingLayer0AndItsOutputs) {
  absl::Status status;
  Generate("lfc_w1a1", "mnist-lfc-w1a2", &status);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()),
              AllOf(HasSubstr("layer 0 (fc1)"), HasSubstr("THRESHOLDS to BIPOLAR 1-bit")));
}

TEST(HlsGenTest, RefusesABinaryNetForTheCnnKernelNamingLayer0) {
  absl::Status status;
  Generate("mnist_cnn_q8", "mnist-lfc-w1a1", &status);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("5 layers"));
}

TEST(HlsGenTest, RefusesAResampledInput) {
  absl::Status status;
  Generate("mnist_cnn_q8", "mnist-dense12-q8", &status);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("input: mnist_cnn_q8 needs"));
}

TEST(HlsGenTest, RefusesAnUnknownKernelListingTheKnownOnes) {
  absl::Status status;
  Generate("lfc_w2a2", "mnist-lfc-w1a1", &status);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("lfc_w1a1, lfc_w1a2, mnist_cnn_q8"));
}

TEST(HlsGenTest, SidecarEntryNamesInstanceModelAndDigest) {
  auto model = test_util::LoadZooModel("mnist-lfc-w1a1");
  ASSERT_TRUE(model.ok());
  EXPECT_EQ(SidecarEntry("lfc_w1a1_0", **model),
            "{\"instance\":\"lfc_w1a1_0\",\"model\":\"mnist-lfc-w1a1\",\"digest\":\"" +
                (*model)->digest() + "\"}");
}

TEST(HlsGenToolTest, ExitsNonZeroWithTheLayerInItsMessageForAWrongModel) {
  const std::string out = testing::TempDir() + "/hls_gen_wrong.h";
  const std::string err = testing::TempDir() + "/hls_gen_wrong.err";
  const std::string command = std::string(PYNQ_HLS_GEN_TOOL) + " --kernel lfc_w1a2 --model " +
                              test_util::ZooDir("mnist-lfc-w1a1") + "/model.pb --out " + out +
                              " 2> " + err;
  const int rc = std::system(command.c_str());
  EXPECT_NE(rc, 0);
  std::ifstream in(err);
  std::stringstream message;
  message << in.rdbuf();
  EXPECT_THAT(message.str(), AllOf(HasSubstr("layer 0 (fc1)"), HasSubstr("lfc_w1a2 needs")));
}

}  // namespace
}  // namespace pynq::hls_gen
