#pragma once
// The --max-memory budget (DESIGN §7): bytes of work in flight, charged
// before the memory is taken. The HTTP server charges a request body (a
// multiple of its size, for its parse) when it admits it; an apply charges
// its plan before it makes it. What a charge cannot get is refused (413 if
// it could never fit, 503 with Retry-After if it could later), so no
// sequence of requests takes the agent past the ceiling. Thread-safe.

#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <utility>

#include "common/clock.h"

namespace edge {

class MemoryBudget {
 public:
  explicit MemoryBudget(std::size_t limit) : limit_(limit) {}
  MemoryBudget(const MemoryBudget&) = delete;
  MemoryBudget& operator=(const MemoryBudget&) = delete;

  std::size_t limit() const { return limit_; }
  std::size_t in_use() const {
    std::lock_guard lock(mu_);
    return used_;
  }

  // Takes `bytes` if they fit under the limit with what is held; false
  // (nothing taken) otherwise.
  bool try_charge(std::size_t bytes) {
    std::lock_guard lock(mu_);
    return take_locked(bytes);
  }
  // The same, waiting on `clock` for releases until `deadline`.
  bool charge_until(std::size_t bytes, TimeSource& clock, TimeSource::SteadyTime deadline) {
    std::unique_lock lock(mu_);
    return clock.wait_until(released_, lock, deadline, [&] { return take_locked(bytes); });
  }
  // Gives back what a charge took.
  void release(std::size_t bytes) {
    {
      std::lock_guard lock(mu_);
      used_ -= bytes < used_ ? bytes : used_;
    }
    released_.notify_all();
  }

 private:
  bool take_locked(std::size_t bytes) {
    if (bytes > limit_ || used_ > limit_ - bytes) return false;
    used_ += bytes;
    return true;
  }

  const std::size_t limit_;
  mutable std::mutex mu_;  // guards used_
  std::condition_variable released_;
  std::size_t used_ = 0;
};

// A charge held for a scope: given back when it ends. Move-only.
class MemoryCharge {
 public:
  MemoryCharge() = default;
  MemoryCharge(MemoryBudget* budget, std::size_t bytes) : budget_(budget), bytes_(bytes) {}
  MemoryCharge(MemoryCharge&& o) noexcept
      : budget_(std::exchange(o.budget_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}
  MemoryCharge& operator=(MemoryCharge&& o) noexcept {
    if (this != &o) {
      reset();
      budget_ = std::exchange(o.budget_, nullptr);
      bytes_ = std::exchange(o.bytes_, 0);
    }
    return *this;
  }
  ~MemoryCharge() { reset(); }

  std::size_t bytes() const { return bytes_; }
  void reset() {
    if (budget_ != nullptr && bytes_ > 0) budget_->release(bytes_);
    budget_ = nullptr;
    bytes_ = 0;
  }

 private:
  MemoryBudget* budget_ = nullptr;
  std::size_t bytes_ = 0;
};

}  // namespace edge
