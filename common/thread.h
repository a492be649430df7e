#pragma once
// One way to run a thread (STYLE: "a thread has one owner that starts it,
// catches at its top, and joins it with a deadline").
//
// OwnedThread runs `body` on a new, named thread. An exception escaping the
// body is caught at the top, logged (spdlog, critical) and counted in a
// process-wide per-name counter that /metrics renders as
// edge_agent_thread_failures_total{thread="<name>"}. The owner joins it with
// join_for(deadline); the destructor joins without a deadline, so an
// OwnedThread is never detached and can never outlive what its body uses.
// Stopping the body (a flag, a cancel, closing a socket) is the owner's job,
// before it joins.
//
// Thread-safety: an OwnedThread object is used by its owner only (like
// std::thread); the failure counter may be read from any thread.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

namespace edge {

class OwnedThread {
 public:
  OwnedThread() = default;  // no thread
  // Starts `body` at once on a thread named `name` (the OS name is the first
  // 15 bytes; the full name labels the log line and the counter). Throws
  // std::system_error only if the OS cannot create a thread.
  OwnedThread(std::string name, std::function<void()> body);
  ~OwnedThread();  // joins, without a deadline: stop the body first

  OwnedThread(OwnedThread&&) noexcept;
  OwnedThread& operator=(OwnedThread&&) noexcept;  // joins the thread it replaces
  OwnedThread(const OwnedThread&) = delete;
  OwnedThread& operator=(const OwnedThread&) = delete;

  // Waits up to `deadline` for the body to return, then joins. True when the
  // thread has ended (or there was none); false when it is still running,
  // in which case the thread stays owned and a later call may join it.
  bool join_for(std::chrono::milliseconds deadline);
  // True while a started body has not returned yet.
  bool running() const;
  // True when the body ended with an exception.
  bool failed() const;
  const std::string& name() const { return name_; }

 private:
  struct State;
  std::string name_;
  std::shared_ptr<State> state_;  // shared with the thread: outlives a moved-from owner
  std::thread thread_;
};

// Failures counted so far, by thread name (for /metrics). Process-wide.
std::map<std::string, std::uint64_t> thread_failure_counts();
// Counts one failure of `name`; OwnedThread calls it, and so may a loop that
// catches at its own top and keeps going.
void count_thread_failure(const std::string& name);

}  // namespace edge
