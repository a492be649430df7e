#pragma once
// One injected clock (Envoy's TimeSource): the heartbeat, observer, watchdog
// and topology service read time and sleep through it, so a test can move
// time instead of sleeping.
//
// Thread-safety: every method may be called from any thread.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>

namespace edge {

class TimeSource {
 public:
  using SteadyTime = std::chrono::steady_clock::time_point;
  virtual ~TimeSource() = default;

  virtual SteadyTime steady_now() const = 0;
  virtual std::chrono::system_clock::time_point system_now() const = 0;
  std::int64_t unix_now() const {
    return std::chrono::duration_cast<std::chrono::seconds>(system_now().time_since_epoch())
        .count();
  }

  // Waits on `cv` (whose mutex `lock` holds) until `done()` or until this
  // clock reaches `deadline`. Returns done(). Spurious wake-ups are handled.
  virtual bool wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                          SteadyTime deadline, const std::function<bool()>& done) = 0;
  bool wait_for(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                std::chrono::steady_clock::duration d, const std::function<bool()>& done) {
    return wait_until(cv, lock, steady_now() + d, done);
  }
};

// The machine's clocks.
class RealTimeSource final : public TimeSource {
 public:
  SteadyTime steady_now() const override { return std::chrono::steady_clock::now(); }
  std::chrono::system_clock::time_point system_now() const override {
    return std::chrono::system_clock::now();
  }
  bool wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                  SteadyTime deadline, const std::function<bool()>& done) override {
    return cv.wait_until(lock, deadline, done);
  }
};

// The process-wide real clock (a default for constructors).
TimeSource& real_time();

// A clock that only moves when told to. Waiters re-check their deadline
// whenever advance() is called (they poll in short real-time slices, so no
// wake-up is ever lost); waiters() lets a test see that a thread is parked
// before it moves time.
class ManualTimeSource final : public TimeSource {
 public:
  explicit ManualTimeSource(std::int64_t unix_start = 1'700'000'000);

  SteadyTime steady_now() const override;
  std::chrono::system_clock::time_point system_now() const override;
  bool wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                  SteadyTime deadline, const std::function<bool()>& done) override;

  void advance(std::chrono::steady_clock::duration d);
  // Threads currently inside wait_until().
  int waiters() const;
  // Blocks (real time, up to `timeout`) until at least n threads wait.
  bool await_waiters(int n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;

 private:
  mutable std::mutex mu_;  // guards offset_, waiters_
  mutable std::condition_variable changed_;
  std::chrono::steady_clock::duration offset_{};
  int waiters_ = 0;
  const SteadyTime steady_origin_;
  const std::chrono::system_clock::time_point system_origin_;
};

}  // namespace edge
