// CpuBackend: argument checks, buffers, and thread safety (concurrent Run calls from several
// threads give exactly the serial results).
#include "accel/cpu/cpu_backend.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/models/zoo_test_util.h"

namespace pynq::accel::cpu {
namespace {

using ::testing::HasSubstr;

std::unique_ptr<CpuBackend> MakeBackend(int threads) {
  CpuBackend::Options options;
  options.threads = threads;
  auto backend = CpuBackend::Create(options);
  EXPECT_TRUE(backend.ok()) << backend.status();
  return backend.ok() ? std::move(*backend) : nullptr;
}

// Deterministic pseudo-random images: the backend must not care what the pixels mean.
std::vector<uint8_t> RandomPixels(size_t bytes) {
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int> pixel(0, 255);
  std::vector<uint8_t> pixels(bytes);
  for (uint8_t& p : pixels) p = static_cast<uint8_t>(pixel(rng));
  return pixels;
}

class CpuBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto model = test_util::LoadMnistZooModel();
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = std::move(*model);
  }
  std::unique_ptr<const models::Model> model_;
};

TEST(CpuBackendCreateTest, OptionsAndName) {
  CpuBackend::Options negative;
  negative.threads = -1;
  EXPECT_EQ(CpuBackend::Create(negative).status().code(), absl::StatusCode::kInvalidArgument);
  auto two = MakeBackend(2);
  ASSERT_NE(two, nullptr);
  EXPECT_EQ(two->name(), "cpu");
  EXPECT_EQ(two->threads(), 2);
  auto all = MakeBackend(0);
  ASSERT_NE(all, nullptr);
  EXPECT_GE(all->threads(), 1);
}

TEST(CpuBackendCreateTest, AllocateGivesZeroedBuffers) {
  auto backend = MakeBackend(1);
  ASSERT_NE(backend, nullptr);
  auto buffer = backend->Allocate(100000);
  ASSERT_TRUE(buffer.ok()) << buffer.status();
  ASSERT_EQ((*buffer)->size(), 100000u);
  const uint8_t* data = (*buffer)->data();
  EXPECT_EQ(std::count(data, data + 100000, 0), 100000);
  auto empty = backend->Allocate(0);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ((*empty)->size(), 0u);
}

TEST_F(CpuBackendTest, SpansTooSmallAreInvalidArgument) {
  auto backend = MakeBackend(2);
  ASSERT_NE(backend, nullptr);
  std::vector<uint8_t> input(4 * 784);
  std::vector<int8_t> output(4 * 10);
  absl::Status status = backend->Run(*model_, 5, input, absl::MakeSpan(output));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("input holds 3136 bytes, a batch of 5 x 784 needs 3920"));

  std::vector<int8_t> short_output(4 * 10 - 1);
  status = backend->Run(*model_, 4, input, absl::MakeSpan(short_output));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("output holds 39 logits, a batch of 4 x 10 needs 40"));

  EXPECT_EQ(backend->Run(*model_, -1, input, absl::MakeSpan(output)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(backend->Run(*model_, 0, {}, {}).ok());
}

TEST_F(CpuBackendTest, RunsInsideAllocatedBuffers) {
  auto backend = MakeBackend(2);
  ASSERT_NE(backend, nullptr);
  const int batch = 3;
  auto in = backend->Allocate(batch * model_->input_bytes());
  auto out = backend->Allocate(batch * static_cast<size_t>(model_->num_classes()));
  ASSERT_TRUE(in.ok() && out.ok());
  const std::vector<uint8_t> pixels = RandomPixels(batch * model_->input_bytes());
  std::copy(pixels.begin(), pixels.end(), (*in)->data());
  auto* logits = reinterpret_cast<int8_t*>((*out)->data());
  ASSERT_TRUE(backend
                  ->Run(*model_, batch, absl::MakeConstSpan((*in)->data(), (*in)->size()),
                        absl::MakeSpan(logits, (*out)->size()))
                  .ok());
  std::vector<int8_t> expected(batch * 10);
  ASSERT_TRUE(backend->Run(*model_, batch, pixels, absl::MakeSpan(expected)).ok());
  EXPECT_TRUE(std::equal(expected.begin(), expected.end(), logits));
}

// The backend keeps each model's packed weights (its plan) by Model::id() and forgets them all
// when it holds too many: models loaded again and again (a repository reload, say) must each get
// their own plan and the same answers, before and after the backend forgets.
TEST_F(CpuBackendTest, ManyModelsAndReloadsGetTheSameAnswers) {
  auto backend = MakeBackend(2);
  ASSERT_NE(backend, nullptr);
  const size_t classes = static_cast<size_t>(model_->num_classes());
  const std::vector<uint8_t> pixels = RandomPixels(3 * model_->input_bytes());
  std::vector<int8_t> expected(3 * classes);
  ASSERT_TRUE(backend->Run(*model_, 3, absl::MakeConstSpan(pixels), absl::MakeSpan(expected)).ok());
  for (int reload = 0; reload < 150; ++reload) {
    auto copy = models::Model::FromProto(model_->file(), "reloaded copy");
    ASSERT_TRUE(copy.ok()) << copy.status();
    ASSERT_NE((*copy)->id(), model_->id());
    std::vector<int8_t> got(3 * classes);
    ASSERT_TRUE(backend->Run(**copy, 3, absl::MakeConstSpan(pixels), absl::MakeSpan(got)).ok());
    ASSERT_EQ(got, expected) << "reload " << reload;
  }
  std::vector<int8_t> again(3 * classes);
  ASSERT_TRUE(backend->Run(*model_, 3, absl::MakeConstSpan(pixels), absl::MakeSpan(again)).ok());
  EXPECT_EQ(again, expected);
}

TEST_F(CpuBackendTest, ConcurrentRunsEqualSerial) {
  constexpr int kImages = 48;
  const size_t classes = static_cast<size_t>(model_->num_classes());
  const std::vector<uint8_t> pixels = RandomPixels(kImages * model_->input_bytes());

  // Serial reference: one thread, one image at a time.
  auto serial = MakeBackend(1);
  ASSERT_NE(serial, nullptr);
  std::vector<int8_t> expected(kImages * classes);
  for (int i = 0; i < kImages; ++i) {
    ASSERT_TRUE(serial
                    ->Run(*model_, 1,
                          absl::MakeConstSpan(pixels.data() + i * model_->input_bytes(),
                                              model_->input_bytes()),
                          absl::MakeSpan(expected.data() + i * classes, classes))
                    .ok());
  }

  // Several dispatcher threads share one backend, each with its own batch size.
  for (int threads : {1, 2, 4}) {
    SCOPED_TRACE(::testing::Message() << threads << " backend threads");
    auto shared = MakeBackend(threads);
    ASSERT_NE(shared, nullptr);
    constexpr int kCallers = 4;
    std::vector<std::vector<int8_t>> results(kCallers, std::vector<int8_t>(kImages * classes));
    std::vector<absl::Status> statuses(kCallers);
    std::vector<std::thread> callers;
    for (int c = 0; c < kCallers; ++c) {
      callers.emplace_back([&, c] {
        const int batch = 1 + c * 5;  // 1, 6, 11, 16
        for (int start = 0; start < kImages && statuses[c].ok(); start += batch) {
          const int n = std::min(batch, kImages - start);
          statuses[c] =
              shared->Run(*model_, n,
                          absl::MakeConstSpan(pixels.data() + start * model_->input_bytes(),
                                              n * model_->input_bytes()),
                          absl::MakeSpan(results[c].data() + start * classes, n * classes));
        }
      });
    }
    for (std::thread& t : callers) t.join();
    for (int c = 0; c < kCallers; ++c) {
      EXPECT_TRUE(statuses[c].ok()) << statuses[c];
      EXPECT_EQ(results[c], expected) << "caller " << c;
    }
  }
}

}  // namespace
}  // namespace pynq::accel::cpu
