// The CPU backend against the exporter: the int8 logits of the first MNIST test images must equal
// the Python integer forward pass (models/train/quant.py) bit for bit, whatever the batching, and
// the integer model's accuracy over the whole test set must equal the one the exporter measured.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <utility>
#include <vector>

#include "absl/types/span.h"
#include "accel/cpu/cpu_backend.h"
#include "gtest/gtest.h"
#include "tests/models/zoo_test_util.h"

namespace pynq::accel::cpu {
namespace {

class ReferenceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto model = test_util::LoadMnistZooModel();
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = std::move(*model);
    auto reference = test_util::LoadMnistReference();
    ASSERT_TRUE(reference.ok()) << reference.status();
    reference_ = std::move(*reference);
    auto dataset = test_util::LoadMnistTestSet();
    ASSERT_TRUE(dataset.ok()) << dataset.status();
    dataset_ = std::move(*dataset);
    auto backend = CpuBackend::Create({});
    ASSERT_TRUE(backend.ok()) << backend.status();
    backend_ = std::move(*backend);
  }

  // Runs images [first, first + count) in batches of `batch`; returns their logits.
  std::vector<int8_t> RunInBatches(size_t first, size_t count, int batch) {
    const size_t classes = static_cast<size_t>(model_->num_classes());
    std::vector<int8_t> logits(count * classes);
    for (size_t start = 0; start < count; start += static_cast<size_t>(batch)) {
      const size_t n = std::min(count - start, static_cast<size_t>(batch));
      const auto input =
          absl::MakeConstSpan(dataset_.pixels.data() + (first + start) * model_->input_bytes(),
                              n * model_->input_bytes());
      const auto output = absl::MakeSpan(logits.data() + start * classes, n * classes);
      const absl::Status status = backend_->Run(*model_, static_cast<int>(n), input, output);
      EXPECT_TRUE(status.ok()) << status;
    }
    return logits;
  }

  std::unique_ptr<const models::Model> model_;
  pynq::model::ReferenceOutputs reference_;
  client::Dataset dataset_;
  std::unique_ptr<CpuBackend> backend_;
};

TEST_F(ReferenceTest, ReferenceDescribesThisModel) {
  EXPECT_EQ(reference_.model_name(), model_->name());
  EXPECT_EQ(reference_.dataset_file(), "mnist/t10k-images-idx3-ubyte.gz");
  EXPECT_EQ(reference_.num_classes(), static_cast<uint32_t>(model_->num_classes()));
  EXPECT_EQ(reference_.count(), 100u);
  EXPECT_EQ(reference_.logits().size(), size_t{reference_.count()} * reference_.num_classes());
  EXPECT_EQ(dataset_.image_bytes, model_->input_bytes());
}

TEST_F(ReferenceTest, LogitsEqualExporterBitForBit) {
  const size_t count = reference_.count();
  const size_t classes = reference_.num_classes();
  ASSERT_GE(dataset_.size(), reference_.first_index() + count);
  ASSERT_EQ(reference_.logits().size(), count * classes);
  for (int batch : {100, 1, 7}) {
    SCOPED_TRACE(::testing::Message() << "batches of " << batch);
    const std::vector<int8_t> logits = RunInBatches(reference_.first_index(), count, batch);
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

TEST_F(ReferenceTest, WholeTestSetAccuracyEqualsExporter) {
#if defined(__SANITIZE_THREAD__)
  // ~12 minutes under ThreadSanitizer and no threading beyond LogitsEqualExporterBitForBit.
  GTEST_SKIP() << "the whole test set is checked in the release and ASan builds";
#endif
  const size_t count = dataset_.size();
  ASSERT_EQ(count, reference_.accuracy_images());
  const size_t classes = static_cast<size_t>(model_->num_classes());
  const std::vector<int8_t> logits = RunInBatches(0, count, 64);
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
  std::printf("mnist-cnn-q8 on the cpu backend: %zu / %zu = %.2f%%\n", correct, count,
              accuracy * 100.0);
  EXPECT_EQ(correct, static_cast<size_t>(std::llround(reference_.int8_accuracy() * count)));
  EXPECT_GE(accuracy, 0.99);
}

}  // namespace
}  // namespace pynq::accel::cpu
