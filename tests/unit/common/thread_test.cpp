#include "common/thread.h"

#include <gtest/gtest.h>
#include <pthread.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <stdexcept>

namespace edge {
namespace {

std::uint64_t failures_of(const std::string& name) {
  auto counts = thread_failure_counts();
  auto it = counts.find(name);
  return it == counts.end() ? 0 : it->second;
}

// A gate the test opens; a body blocked on it cannot end before the test says so.
class Gate {
 public:
  void open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  void wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

TEST(OwnedThread, RunsTheBodyAndJoinsWhenItReturns) {
  std::atomic<int> ran{0};
  OwnedThread t("unit-runs", [&] { ++ran; });
  EXPECT_TRUE(t.join_for(std::chrono::seconds(10)));
  EXPECT_EQ(ran.load(), 1);
  EXPECT_FALSE(t.running());
  EXPECT_FALSE(t.failed());
  EXPECT_EQ(failures_of("unit-runs"), 0u);
}

TEST(OwnedThread, AnExceptionIsCaughtAtTheTopAndCountedUnderTheThreadName) {
  OwnedThread t("unit-throws", [] { throw std::runtime_error("boom"); });
  ASSERT_TRUE(t.join_for(std::chrono::seconds(10)));
  EXPECT_TRUE(t.failed());
  EXPECT_EQ(failures_of("unit-throws"), 1u);
  OwnedThread again("unit-throws", [] { throw 42; });  // not a std::exception
  ASSERT_TRUE(again.join_for(std::chrono::seconds(10)));
  EXPECT_TRUE(again.failed());
  EXPECT_EQ(failures_of("unit-throws"), 2u);
}

TEST(OwnedThread, JoinForReportsABodyStillRunningAndKeepsOwningIt) {
  Gate gate;
  std::atomic<bool> finished{false};
  OwnedThread t("unit-blocked", [&] {
    gate.wait();
    finished = true;
  });
  EXPECT_FALSE(t.join_for(std::chrono::milliseconds(0)));  // cannot end before the gate opens
  EXPECT_TRUE(t.running());
  gate.open();
  EXPECT_TRUE(t.join_for(std::chrono::seconds(10)));
  EXPECT_TRUE(finished.load());
  EXPECT_FALSE(t.running());
}

TEST(OwnedThread, TheDestructorJoinsSoTheBodyNeverOutlivesItsOwner) {
  Gate gate;
  std::atomic<bool> finished{false};
  {
    OwnedThread t("unit-dtor", [&] {
      gate.wait();
      finished = true;
    });
    gate.open();
  }
  EXPECT_TRUE(finished.load());
}

TEST(OwnedThread, TheOsThreadCarriesTheFirstFifteenBytesOfTheName) {
  std::string seen;
  OwnedThread t("heartbeat-with-a-long-name", [&] {
    char buf[32] = {0};
    pthread_getname_np(pthread_self(), buf, sizeof buf);
    seen = buf;
  });
  ASSERT_TRUE(t.join_for(std::chrono::seconds(10)));
  EXPECT_EQ(seen, "heartbeat-with-");
  EXPECT_EQ(t.name(), "heartbeat-with-a-long-name");
}

TEST(OwnedThread, AMovedThreadIsOwnedAndJoinedByItsNewOwner) {
  Gate gate;
  OwnedThread a("unit-moved", [&] { gate.wait(); });
  OwnedThread b = std::move(a);
  EXPECT_TRUE(a.join_for(std::chrono::milliseconds(0)));  // NOLINT: a owns nothing now
  EXPECT_FALSE(a.running());                              // NOLINT
  EXPECT_TRUE(b.running());
  gate.open();
  EXPECT_TRUE(b.join_for(std::chrono::seconds(10)));
}

TEST(OwnedThread, ADefaultConstructedOwnerHasNothingToJoin) {
  OwnedThread t;
  EXPECT_TRUE(t.join_for(std::chrono::milliseconds(0)));
  EXPECT_FALSE(t.running());
  EXPECT_FALSE(t.failed());
}

}  // namespace
}  // namespace edge
