#include "common/memory_budget.h"

#include <gtest/gtest.h>

#include <thread>

namespace edge {
namespace {

TEST(MemoryBudgetTest, ChargesUpToTheLimitAndNotAByteMore) {
  MemoryBudget b(100);
  EXPECT_TRUE(b.try_charge(60));
  EXPECT_FALSE(b.try_charge(41));
  EXPECT_TRUE(b.try_charge(40));
  EXPECT_EQ(b.in_use(), 100u);
  b.release(60);
  EXPECT_EQ(b.in_use(), 40u);
  EXPECT_FALSE(b.try_charge(101));
  EXPECT_FALSE(b.try_charge(SIZE_MAX));  // no overflow past the limit
}

TEST(MemoryBudgetTest, AChargeIsGivenBackWhenItsHolderEnds) {
  MemoryBudget b(100);
  {
    ASSERT_TRUE(b.try_charge(70));
    MemoryCharge held(&b, 70);
    MemoryCharge moved = std::move(held);
    EXPECT_EQ(held.bytes(), 0u);
    EXPECT_EQ(b.in_use(), 70u);
  }
  EXPECT_EQ(b.in_use(), 0u);
}

TEST(MemoryBudgetTest, AWaitingChargeTakesTheRoomAReleaseFrees) {
  MemoryBudget b(100);
  ASSERT_TRUE(b.try_charge(100));
  ManualTimeSource clock;
  bool got = false;
  std::thread waiter(
      [&] { got = b.charge_until(50, clock, clock.steady_now() + std::chrono::seconds(2)); });
  ASSERT_TRUE(clock.await_waiters(1));
  b.release(60);
  waiter.join();
  EXPECT_TRUE(got);
  EXPECT_EQ(b.in_use(), 90u);
}

TEST(MemoryBudgetTest, AWaitingChargeGivesUpAtItsDeadline) {
  MemoryBudget b(100);
  ASSERT_TRUE(b.try_charge(100));
  ManualTimeSource clock;
  bool got = true;
  std::thread waiter(
      [&] { got = b.charge_until(1, clock, clock.steady_now() + std::chrono::seconds(2)); });
  ASSERT_TRUE(clock.await_waiters(1));
  clock.advance(std::chrono::seconds(3));
  waiter.join();
  EXPECT_FALSE(got);
  EXPECT_EQ(b.in_use(), 100u);
}

}  // namespace
}  // namespace edge
