#include "common/thread.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <exception>
#include <mutex>
#include <utility>

namespace edge {
namespace {

std::mutex& failures_mutex() {
  static std::mutex mu;
  return mu;
}
std::map<std::string, std::uint64_t>& failures() {  // guarded by failures_mutex()
  static std::map<std::string, std::uint64_t> counts;
  return counts;
}

}  // namespace

void count_thread_failure(const std::string& name) {
  std::lock_guard lock(failures_mutex());
  ++failures()[name];
}

std::map<std::string, std::uint64_t> thread_failure_counts() {
  std::lock_guard lock(failures_mutex());
  return failures();
}

struct OwnedThread::State {
  std::mutex mu;  // guards done, failed
  std::condition_variable ended;
  bool done = false;
  bool failed = false;
};

OwnedThread::OwnedThread(std::string name, std::function<void()> body)
    : name_(std::move(name)), state_(std::make_shared<State>()) {
  thread_ = std::thread([state = state_, name = name_, body = std::move(body)] {
    pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
    bool failed = true;
    try {
      body();
      failed = false;
    } catch (const std::exception& e) {
      spdlog::critical("thread '{}' stopped after an unexpected error: {}", name, e.what());
    } catch (...) {
      spdlog::critical("thread '{}' stopped after an unexpected non-standard exception", name);
    }
    if (failed) count_thread_failure(name);
    std::lock_guard lock(state->mu);
    state->done = true;
    state->failed = failed;
    state->ended.notify_all();
  });
}

OwnedThread::~OwnedThread() {
  if (thread_.joinable()) thread_.join();
}

OwnedThread::OwnedThread(OwnedThread&& other) noexcept
    : name_(std::move(other.name_)),
      state_(std::move(other.state_)),
      thread_(std::move(other.thread_)) {}

OwnedThread& OwnedThread::operator=(OwnedThread&& other) noexcept {
  if (this != &other) {
    if (thread_.joinable()) thread_.join();
    name_ = std::move(other.name_);
    state_ = std::move(other.state_);
    thread_ = std::move(other.thread_);
  }
  return *this;
}

bool OwnedThread::join_for(std::chrono::milliseconds deadline) {
  if (!thread_.joinable()) return true;
  {
    std::unique_lock lock(state_->mu);
    if (!state_->ended.wait_for(lock, deadline, [&] { return state_->done; })) return false;
  }
  thread_.join();  // the body has returned: this is prompt
  return true;
}

bool OwnedThread::running() const {
  if (!state_) return false;
  std::lock_guard lock(state_->mu);
  return !state_->done;
}

bool OwnedThread::failed() const {
  if (!state_) return false;
  std::lock_guard lock(state_->mu);
  return state_->failed;
}

}  // namespace edge
