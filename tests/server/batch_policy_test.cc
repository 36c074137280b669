#include "server/batch_policy.h"

#include <chrono>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pynq::server {
namespace {

using std::chrono::microseconds;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

// A fixed origin: every case is a golden case over exact times, no clock involved.
const Clock::time_point kT0 = Clock::time_point() + std::chrono::hours(1);

BatchingOptions Options(int max_batch, int delay_us, std::vector<int> preferred = {}) {
  BatchingOptions o;
  o.max_batch_size = max_batch;
  o.max_queue_delay = microseconds(delay_us);
  o.preferred_batch_sizes = std::move(preferred);
  return o;
}

QueuedRequest At(int us, int images = 1, Clock::time_point deadline = Clock::time_point::max()) {
  return QueuedRequest{images, kT0 + microseconds(us), deadline};
}

TEST(BatchPolicyTest, EmptyQueueWaitsForARequest) {
  const BatchDecision d = DecideBatch({}, kT0, Options(8, 100), false);
  EXPECT_EQ(d.take, 0);
  EXPECT_FALSE(d.wake_at.has_value());
  EXPECT_THAT(d.expired, IsEmpty());
}

TEST(BatchPolicyTest, FullBatchClosesAtOnce) {
  const std::vector<QueuedRequest> q = {At(0), At(1), At(2), At(3), At(4)};
  const BatchDecision d = DecideBatch(q, kT0 + microseconds(5), Options(4, 1000), false);
  EXPECT_EQ(d.take, 4);  // exactly max_batch_size; the fifth waits for the next batch
}

TEST(BatchPolicyTest, NotFullWaitsUntilTheOldestRequestsDelayEnds) {
  const std::vector<QueuedRequest> q = {At(10), At(30)};
  const BatchDecision d = DecideBatch(q, kT0 + microseconds(50), Options(8, 100), false);
  EXPECT_EQ(d.take, 0);
  ASSERT_TRUE(d.wake_at.has_value());
  EXPECT_EQ(*d.wake_at, kT0 + microseconds(110));
}

TEST(BatchPolicyTest, TimeoutClosesAPartialBatch) {
  const std::vector<QueuedRequest> q = {At(10), At(30), At(60)};
  // One microsecond before the delay runs out: wait. At the deadline of the oldest: close.
  EXPECT_EQ(DecideBatch(q, kT0 + microseconds(109), Options(8, 100), false).take, 0);
  EXPECT_EQ(DecideBatch(q, kT0 + microseconds(110), Options(8, 100), false).take, 3);
}

TEST(BatchPolicyTest, ZeroDelayTakesWhateverIsQueued) {
  const std::vector<QueuedRequest> q = {At(0), At(1)};
  EXPECT_EQ(DecideBatch(q, kT0 + microseconds(1), Options(8, 0), false).take, 2);
}

TEST(BatchPolicyTest, MultiImageRequestsCountImagesNotRequests) {
  // 3 + 3 = 6 fits in 7; the next 3 would not: the batch is full at two requests.
  const std::vector<QueuedRequest> q = {At(0, 3), At(1, 3), At(2, 3)};
  EXPECT_EQ(DecideBatch(q, kT0 + microseconds(2), Options(7, 1000), false).take, 2);
}

TEST(BatchPolicyTest, PreferredSizeClosesEarly) {
  const std::vector<QueuedRequest> q = {At(0), At(1)};
  EXPECT_EQ(DecideBatch(q, kT0 + microseconds(2), Options(8, 1000, {2, 4}), false).take, 2);
  const std::vector<QueuedRequest> three = {At(0), At(1), At(2)};
  EXPECT_EQ(DecideBatch(three, kT0 + microseconds(3), Options(8, 1000, {2, 4}), false).take, 0);
}

TEST(BatchPolicyTest, ExpiredRequestsAreReportedAndSkipped) {
  const Clock::time_point now = kT0 + microseconds(50);
  const std::vector<QueuedRequest> q = {At(0, 1, kT0 + microseconds(40)),  // expired
                                        At(5), At(6, 1, now),              // expires exactly now
                                        At(7)};
  const BatchDecision d = DecideBatch(q, now, Options(2, 1000), false);
  EXPECT_THAT(d.expired, ElementsAre(0u, 2u));
  EXPECT_EQ(d.take, 2);  // the two live ones fill the batch
}

TEST(BatchPolicyTest, WakesAtAnEarlierDeadlineToExpireIt) {
  const std::vector<QueuedRequest> q = {At(0, 1, kT0 + microseconds(30))};
  const BatchDecision d = DecideBatch(q, kT0 + microseconds(10), Options(8, 1000), false);
  ASSERT_TRUE(d.wake_at.has_value());
  EXPECT_EQ(*d.wake_at, kT0 + microseconds(30));
}

TEST(BatchPolicyTest, DrainingClosesWithoutWaiting) {
  const std::vector<QueuedRequest> q = {At(0)};
  EXPECT_EQ(DecideBatch(q, kT0 + microseconds(1), Options(8, 100000), true).take, 1);
}

TEST(BatchPolicyTest, OversizedRequestIsTakenAlone) {
  const std::vector<QueuedRequest> q = {At(0, 10), At(1)};
  EXPECT_EQ(DecideBatch(q, kT0 + microseconds(1), Options(4, 1000), false).take, 1);
}

}  // namespace
}  // namespace pynq::server
