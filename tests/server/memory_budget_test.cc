#include "server/memory_budget.h"

#include <atomic>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace pynq::server {
namespace {

TEST(MemoryBudgetTest, RefusesWhatWouldPassTheLimitAndCountsIt) {
  MemoryBudget budget(100);
  EXPECT_TRUE(budget.TryCharge(60));
  EXPECT_FALSE(budget.TryCharge(41));
  EXPECT_TRUE(budget.TryCharge(40));
  EXPECT_EQ(budget.used(), 100u);
  EXPECT_EQ(budget.available(), 0u);
  EXPECT_FALSE(budget.TryCharge(1));
  EXPECT_EQ(budget.refusals(), 2u);
  budget.Release(100);
  EXPECT_FALSE(budget.TryCharge(101));  // larger than the whole budget
  EXPECT_EQ(budget.used(), 0u);
}

TEST(BudgetChargeTest, GivesItsBytesBackWhenDestroyedOrMoved) {
  MemoryBudget budget(100);
  {
    BudgetCharge a = BudgetCharge::Try(&budget, 70);
    ASSERT_TRUE(a.ok());
    EXPECT_FALSE(BudgetCharge::Try(&budget, 40).ok());
    BudgetCharge b = std::move(a);
    EXPECT_FALSE(a.ok());
    EXPECT_EQ(budget.used(), 70u);
    b.Resize(120);  // an answer may be forced past the limit
    EXPECT_EQ(budget.used(), 120u);
    b.Resize(10);
    EXPECT_EQ(budget.used(), 10u);
  }
  EXPECT_EQ(budget.used(), 0u);
}

TEST(MemoryBudgetTest, ConcurrentChargesNeverPassTheLimit) {
  MemoryBudget budget(1000);
  std::atomic<size_t> peak{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) {
        BudgetCharge c = BudgetCharge::Try(&budget, 7);
        size_t used = budget.used();
        size_t seen = peak.load();
        while (used > seen && !peak.compare_exchange_weak(seen, used)) {
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_LE(peak.load(), 1000u);
  EXPECT_EQ(budget.used(), 0u);
}

}  // namespace
}  // namespace pynq::server
