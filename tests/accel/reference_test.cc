// Every shipped model on the CPU backend against its exporter: the int8 logits of the first test
// images must equal the Python integer forward pass (models/train/quant.py) bit for bit, with the
// fast kernels and with the reference kernels, whatever the batching; and the integer model's
// accuracy over the whole test set must equal the one the exporter measured, and reach its bar.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/types/span.h"
#include "accel/cpu/cpu_backend.h"
#include "gtest/gtest.h"
#include "tests/models/zoo_test_util.h"

namespace pynq::accel::cpu {
namespace {

struct ZooCase {
  const char* model;
  double bar;  // the accuracy the issue asks of it, on the exporter's accuracy images
};

void PrintTo(const ZooCase& c, std::ostream* os) { *os << c.model; }

class ReferenceTest : public ::testing::TestWithParam<ZooCase> {
 protected:
  void SetUp() override {
    const std::string name = GetParam().model;
    auto model = test_util::LoadZooModel(name);
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = std::move(*model);
    auto reference = test_util::LoadReference(name);
    ASSERT_TRUE(reference.ok()) << reference.status();
    reference_ = std::move(*reference);
    auto dataset = test_util::LoadReferenceDataset(reference_);
    ASSERT_TRUE(dataset.ok()) << dataset.status();
    dataset_ = std::move(*dataset);
    for (auto kernels : {CpuBackend::Kernels::kFast, CpuBackend::Kernels::kPortable,
                         CpuBackend::Kernels::kReference}) {
      CpuBackend::Options options;
      options.kernels = kernels;
      auto backend = CpuBackend::Create(options);
      ASSERT_TRUE(backend.ok()) << backend.status();
      backends_.push_back(std::move(*backend));
    }
  }

  // Runs images [first, first + count) in batches of `batch`; returns their logits.
  std::vector<int8_t> RunInBatches(CpuBackend& backend, size_t first, size_t count, int batch) {
    const size_t classes = static_cast<size_t>(model_->num_classes());
    std::vector<int8_t> logits(count * classes);
    for (size_t start = 0; start < count; start += static_cast<size_t>(batch)) {
      const size_t n = std::min(count - start, static_cast<size_t>(batch));
      const auto input =
          absl::MakeConstSpan(dataset_.pixels.data() + (first + start) * model_->input_bytes(),
                              n * model_->input_bytes());
      const auto output = absl::MakeSpan(logits.data() + start * classes, n * classes);
      const absl::Status status = backend.Run(*model_, static_cast<int>(n), input, output);
      EXPECT_TRUE(status.ok()) << status;
    }
    return logits;
  }

  std::unique_ptr<const models::Model> model_;
  pynq::model::ReferenceOutputs reference_;
  client::Dataset dataset_;
  std::vector<std::unique_ptr<CpuBackend>> backends_;  // fast, portable, reference
};

TEST_P(ReferenceTest, ReferenceDescribesThisModel) {
  EXPECT_EQ(reference_.model_name(), model_->name());
  EXPECT_EQ(reference_.num_classes(), static_cast<uint32_t>(model_->num_classes()));
  EXPECT_EQ(reference_.count(), 100u);
  EXPECT_EQ(reference_.logits().size(), size_t{reference_.count()} * reference_.num_classes());
  EXPECT_EQ(dataset_.image_bytes, model_->input_bytes());
  EXPECT_EQ(static_cast<size_t>(model_->labels().size()), dataset_.class_names.size());
}

TEST_P(ReferenceTest, LogitsEqualExporterBitForBit) {
  const size_t count = reference_.count();
  const size_t classes = reference_.num_classes();
  ASSERT_GE(dataset_.size(), reference_.first_index() + count);
  ASSERT_EQ(reference_.logits().size(), count * classes);
  for (size_t b = 0; b < backends_.size(); ++b) {
    // The batchings (whole blocks, single images, blocks cut short) are checked on the fast
    // kernels, both the ones this CPU runs and the portable ones the board runs; the slow
    // reference kernels (the oracle) run the images once, which keeps this test short under the
    // sanitizers.
    const char* const names[] = {"fast", "portable", "reference"};
    const std::vector<int> batches =
        b < 2 ? std::vector<int>{100, 1, 7, 37} : std::vector<int>{100};
    for (int batch : batches) {
      SCOPED_TRACE(::testing::Message() << names[b] << " kernels, batches of " << batch);
      const std::vector<int8_t> logits =
          RunInBatches(*backends_[b], reference_.first_index(), count, batch);
      int mismatches = 0;
      for (size_t i = 0; i < logits.size(); ++i) {
        const auto want = static_cast<int8_t>(reference_.logits()[i]);
        if (logits[i] != want && ++mismatches <= 5) {
          ADD_FAILURE() << "image " << reference_.first_index() + i / classes << " class "
                        << i % classes << ": cpu " << int{logits[i]} << ", exporter " << int{want};
        }
      }
      EXPECT_EQ(mismatches, 0) << "of " << logits.size() << " logits";
    }
  }
}

TEST_P(ReferenceTest, WholeTestSetAccuracyEqualsExporter) {
  const size_t count = dataset_.size();
  ASSERT_EQ(count, reference_.accuracy_images());
  const size_t classes = static_cast<size_t>(model_->num_classes());
  const std::vector<int8_t> logits = RunInBatches(*backends_[0], 0, count, 64);
  size_t correct = 0;
  for (size_t i = 0; i < count; ++i) {
    // argmax, first index on ties, as NumPy's argmax.
    size_t best = 0;
    for (size_t c = 1; c < classes; ++c) {
      if (logits[i * classes + c] > logits[i * classes + best]) best = c;
    }
    correct += best == dataset_.labels[i] ? 1 : 0;
  }
  const double accuracy = static_cast<double>(correct) / static_cast<double>(count);
  std::printf("%s on the cpu backend: %zu / %zu = %.2f%%\n", GetParam().model, correct, count,
              accuracy * 100.0);
  EXPECT_EQ(correct, static_cast<size_t>(std::llround(reference_.int8_accuracy() * count)));
  EXPECT_GE(accuracy, GetParam().bar);
}

INSTANTIATE_TEST_SUITE_P(
    Zoo, ReferenceTest,
    ::testing::Values(ZooCase{"mnist-cnn-q8", 0.99}, ZooCase{"cifar10-resnet-q8", 0.84},
                      ZooCase{"fashion-cnn-q8", 0.90}, ZooCase{"mnist-dense12-q8", 0.90},
                      ZooCase{"mnist-lfc-w1a1", 0.984}, ZooCase{"mnist-lfc-w1a2", 0.985}),
    [](const ::testing::TestParamInfo<ZooCase>& param_info) {
      std::string name = param_info.param.model;
      std::replace(name.begin(), name.end(), '-', '_');
      return name;
    });

}  // namespace
}  // namespace pynq::accel::cpu
