#include "server/batcher.h"

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace pynq::server {
namespace {

using std::chrono::microseconds;

// Records every answer by request id; thread-safe.
class Answers {
 public:
  InferRequest::Done For(int id) {
    return [this, id](const absl::Status& status, absl::Span<const int8_t>) {
      std::lock_guard<std::mutex> lock(mu_);
      codes_[id].push_back(status.code());
    };
  }
  std::vector<absl::StatusCode> Of(int id) {
    std::lock_guard<std::mutex> lock(mu_);
    return codes_[id];
  }
  size_t Count() {
    std::lock_guard<std::mutex> lock(mu_);
    size_t n = 0;
    for (const auto& [id, c] : codes_) n += c.size();
    return n;
  }

 private:
  std::mutex mu_;
  std::map<int, std::vector<absl::StatusCode>> codes_;
};

const std::string kPixels(4, '\1');

std::unique_ptr<InferRequest> Make(Answers& answers, int id, int images = 1,
                                   Clock::time_point deadline = Clock::time_point::max()) {
  return std::make_unique<InferRequest>(kPixels, images, deadline, nullptr, answers.For(id));
}

Batcher::Options Opts(int max_batch, std::chrono::microseconds delay, int max_queue = 1024) {
  Batcher::Options o;
  o.batching.max_batch_size = max_batch;
  o.batching.max_queue_delay = delay;
  o.max_queue_images = max_queue;
  return o;
}

TEST(BatcherTest, FullBatchIsHandedOutWithoutWaitingForTheDelay) {
  Answers answers;
  Batcher batcher(Opts(4, std::chrono::hours(1)));
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(batcher.Enqueue(Make(answers, i)).ok());
  // An hour-long delay: only a full batch can come back now.
  std::vector<std::unique_ptr<InferRequest>> batch = batcher.NextBatch();
  ASSERT_EQ(batch.size(), 4u);
  EXPECT_EQ(batcher.depth(), 2u);
  for (auto& r : batch) r->Answer(absl::OkStatus(), {});
  for (int i = 0; i < 4; ++i) EXPECT_EQ(answers.Of(i), std::vector{absl::StatusCode::kOk});
  batcher.Close();
  EXPECT_EQ(batcher.NextBatch().size(), 2u);  // draining closes the partial batch at once
  EXPECT_TRUE(batcher.NextBatch().empty());   // closed and empty: stop
}

TEST(BatcherTest, TimeoutClosesAPartialBatch) {
  Answers answers;
  Batcher batcher(Opts(64, microseconds(200)));
  ASSERT_TRUE(batcher.Enqueue(Make(answers, 0)).ok());
  ASSERT_TRUE(batcher.Enqueue(Make(answers, 1)).ok());
  // Far from full: NextBatch returns only because the oldest request's delay ran out.
  const Clock::time_point start = Clock::now();
  std::vector<std::unique_ptr<InferRequest>> batch = batcher.NextBatch();
  EXPECT_EQ(batch.size(), 2u);
  EXPECT_GE(Clock::now() - batch.front()->arrived(), microseconds(200));
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(30));
}

TEST(BatcherTest, ExpiredRequestIsAnsweredDeadlineExceededAndNeverBatched) {
  Answers answers;
  Batcher batcher(Opts(8, microseconds(0)));
  ASSERT_TRUE(batcher.Enqueue(Make(answers, 0, 1, Clock::now() - microseconds(1))).ok());
  ASSERT_TRUE(batcher.Enqueue(Make(answers, 1)).ok());
  std::vector<std::unique_ptr<InferRequest>> batch = batcher.NextBatch();
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(answers.Of(0), std::vector{absl::StatusCode::kDeadlineExceeded});
  EXPECT_TRUE(answers.Of(1).empty());  // the live one is in the batch, not yet answered
  batch.front()->Answer(absl::OkStatus(), {});
  EXPECT_EQ(answers.Of(1), std::vector{absl::StatusCode::kOk});
}

TEST(BatcherTest, FullQueueRefusesWithResourceExhausted) {
  Answers answers;
  Batcher batcher(Opts(4, std::chrono::hours(1), /*max_queue=*/3));
  ASSERT_TRUE(batcher.Enqueue(Make(answers, 0, 2)).ok());
  ASSERT_TRUE(batcher.Enqueue(Make(answers, 1, 1)).ok());
  const absl::Status refused = batcher.Enqueue(Make(answers, 2, 1));
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  // The refused request was answered once, with the refusal.
  EXPECT_EQ(answers.Of(2), std::vector{absl::StatusCode::kResourceExhausted});
  EXPECT_EQ(batcher.depth(), 2u);
}

TEST(BatcherTest, ShutdownWithRequestsInFlightAnswersEveryOne) {
  Answers answers;
  constexpr int kRequests = 200;
  std::atomic<int> computed{0};
  {
    Batcher batcher(Opts(8, microseconds(50)));
    std::vector<std::thread> workers;
    for (int w = 0; w < 2; ++w) {
      workers.emplace_back([&] {
        while (true) {
          auto batch = batcher.NextBatch();
          if (batch.empty()) return;
          for (auto& r : batch) {
            ++computed;
            r->Answer(absl::OkStatus(), {});
          }
        }
      });
    }
    std::thread producer([&] {
      for (int i = 0; i < kRequests; ++i) batcher.Enqueue(Make(answers, i)).IgnoreError();
    });
    std::this_thread::yield();
    batcher.Close();  // races with the producer: later requests are refused, none is lost
    producer.join();
    for (auto& t : workers) t.join();
  }
  int ok = 0;
  int refused = 0;
  for (int i = 0; i < kRequests; ++i) {
    const std::vector<absl::StatusCode> codes = answers.Of(i);
    ASSERT_EQ(codes.size(), 1u) << "request " << i << " answered " << codes.size() << " times";
    if (codes[0] == absl::StatusCode::kOk) ++ok;
    if (codes[0] == absl::StatusCode::kUnavailable) ++refused;
  }
  EXPECT_EQ(ok + refused, kRequests);
  EXPECT_EQ(ok, computed.load());
}

TEST(BatcherTest, DestroyingTheBatcherAnswersWhatStillWaits) {
  Answers answers;
  {
    Batcher batcher(Opts(8, std::chrono::hours(1)));
    ASSERT_TRUE(batcher.Enqueue(Make(answers, 0)).ok());
  }
  EXPECT_EQ(answers.Of(0), std::vector{absl::StatusCode::kUnavailable});
}

TEST(BatcherTest, AnUnansweredRequestAnswersInternalWhenDropped) {
  Answers answers;
  { auto r = Make(answers, 7); }
  EXPECT_EQ(answers.Of(7), std::vector{absl::StatusCode::kInternal});
  auto r = Make(answers, 8);
  EXPECT_TRUE(r->Answer(absl::OkStatus(), {}));
  EXPECT_FALSE(r->Answer(absl::InternalError("again"), {}));  // at most once
  r.reset();
  EXPECT_EQ(answers.Of(8), std::vector{absl::StatusCode::kOk});
}

}  // namespace
}  // namespace pynq::server
