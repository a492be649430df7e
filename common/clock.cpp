#include "common/clock.h"

#include <thread>

namespace edge {

TimeSource& real_time() {
  static RealTimeSource clock;
  return clock;
}

ManualTimeSource::ManualTimeSource(std::int64_t unix_start)
    : steady_origin_(std::chrono::steady_clock::time_point() + std::chrono::hours(1)),
      system_origin_(std::chrono::system_clock::time_point(std::chrono::seconds(unix_start))) {}

TimeSource::SteadyTime ManualTimeSource::steady_now() const {
  std::lock_guard lock(mu_);
  return steady_origin_ + offset_;
}

std::chrono::system_clock::time_point ManualTimeSource::system_now() const {
  std::lock_guard lock(mu_);
  return system_origin_ + std::chrono::duration_cast<std::chrono::system_clock::duration>(offset_);
}

bool ManualTimeSource::wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                                  SteadyTime deadline, const std::function<bool()>& done) {
  {
    std::lock_guard g(mu_);
    ++waiters_;
  }
  changed_.notify_all();
  bool result = false;
  while (true) {
    if (done()) {
      result = true;
      break;
    }
    if (steady_now() >= deadline) break;
    // A short real-time slice: notify() on cv ends it early; advance() is
    // seen at the next slice at the latest.
    cv.wait_for(lock, std::chrono::milliseconds(2));
  }
  {
    std::lock_guard g(mu_);
    --waiters_;
  }
  changed_.notify_all();
  return result;
}

void ManualTimeSource::advance(std::chrono::steady_clock::duration d) {
  {
    std::lock_guard lock(mu_);
    offset_ += d;
  }
  changed_.notify_all();
}

int ManualTimeSource::waiters() const {
  std::lock_guard lock(mu_);
  return waiters_;
}

bool ManualTimeSource::await_waiters(int n, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return changed_.wait_for(lock, timeout, [&] { return waiters_ >= n; });
}

}  // namespace edge
