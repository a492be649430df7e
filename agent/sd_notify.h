#pragma once
// systemd readiness and watchdog notifications (Type=notify, WatchdogSec=),
// spoken directly: one datagram per message to the AF_UNIX socket named by
// $NOTIFY_SOCKET ('@' prefix = abstract namespace). No libsystemd needed.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>

#include "common/clock.h"
#include "common/thread.h"

namespace edge {

// Sends `state` (e.g. "READY=1", "STATUS=applying", "STOPPING=1",
// "WATCHDOG=1"; several may be joined with '\n') to $NOTIFY_SOCKET.
// Returns true when the datagram was sent. Returns false, doing nothing,
// when $NOTIFY_SOCKET is unset or empty (not started by systemd), and false
// when the address is unusable or the send fails (logged at warn level).
// Thread-safe; opens a fresh socket per call (calls are rare).
bool sd_notify(const std::string& state);

// The systemd watchdog: while running, sends "WATCHDOG=1" every
// WATCHDOG_USEC/2, but only when `healthy()` returns true, so a wedged
// daemon stops pinging and systemd restarts it. An unhealthy check (false,
// or an exception, which is logged) skips that ping; pings resume when the
// check passes again.
//
// Enabled only when $WATCHDOG_USEC is a positive integer and $WATCHDOG_PID
// is unset or equal to getpid() (the variables are meant for the main
// process only); otherwise start() does nothing.
//
// `healthy` runs on the watchdog thread ("watchdog", an OwnedThread) and must
// return promptly. The cadence comes from the injected TimeSource.
// start()/stop() are for the owning thread; stop() is idempotent and also
// run by the destructor.
class Watchdog {
 public:
  explicit Watchdog(std::function<bool()> healthy, TimeSource& time = real_time());
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  void start();
  void stop();

  // Whether the environment asks for a watchdog (read at construction).
  bool enabled() const { return interval_.count() > 0; }
  // Time between pings: WATCHDOG_USEC/2, or zero when not enabled.
  std::chrono::microseconds interval() const { return interval_; }

 private:
  void run();

  const std::function<bool()> healthy_;
  const std::chrono::microseconds interval_;
  TimeSource& time_;

  std::mutex mu_;  // guards stopping_
  std::condition_variable wake_;
  bool stopping_ = false;
  OwnedThread thread_;  // started and joined by the owner only
};

}  // namespace edge
