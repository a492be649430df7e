#include "agent/daemon.h"

#include <malloc.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <mutex>

#include "agent/exit_codes.h"
#include "agent/sd_notify.h"
#include "common/thread.h"

namespace edge {
namespace {

// The one thread that takes SIGTERM, SIGINT and SIGHUP (blocked everywhere
// else): HUP queues a reload, the first TERM/INT asks the owner to stop, a
// second one exits at once.
class SignalWaiter {
 public:
  SignalWaiter(const sigset_t& set, Agent& agent)
      : thread_("signals", [this, set, &agent] { run(set, agent); }) {}
  ~SignalWaiter() {
    quit_ = true;
    while (!thread_.join_for(std::chrono::seconds(1))) {
    }
  }
  int wait_for_stop() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return stop_signal_ != 0; });
    return stop_signal_;
  }

 private:
  void run(sigset_t set, Agent& agent) {
    const timespec slice{0, 200'000'000};  // re-checks quit_ five times a second
    while (!quit_) {
      const int sig = sigtimedwait(&set, nullptr, &slice);
      if (sig == SIGHUP) {
        agent.request_reload();
      } else if (sig == SIGTERM || sig == SIGINT) {
        std::lock_guard lock(mu_);
        if (stop_signal_ != 0) {
          spdlog::warn("second signal: exiting at once");
          _exit(128 + sig);
        }
        stop_signal_ = sig;
        cv_.notify_all();
      }
    }
  }

  std::atomic<bool> quit_{false};
  std::mutex mu_;  // guards stop_signal_
  std::condition_variable cv_;
  int stop_signal_ = 0;
  OwnedThread thread_;  // last: starts once the members it uses exist
};

}  // namespace

int run_daemon(const Config& config, ConfigSource reread) {
  // glibc gives each thread that allocates its own arena (up to 8 per core),
  // each holding its own free pages and fragments: five at idle. Two: the
  // main thread's and one shared by the others (each keeps its own tcache,
  // so small allocations still take no lock). Idle RssAnon -40..-52 KiB after
  // the idle trims; 4 concurrent 14 MB applies take as long, peak as high and
  // leave as much resident, /health latency under them unchanged. Not 1:
  // the parses then share the brk heap with everything else, and the same
  // test got two 503s and left 231 MB resident instead of 95. Set before
  // any thread starts.
  ::mallopt(M_ARENA_MAX, 2);
  // Taken by the signal waiter; blocked before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&signals, s);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto agent = Agent::create(config, std::move(reread));
  if (!agent) {
    spdlog::critical("{}", agent.error().message());
    return agent.error().code();
  }
  (*agent)->start();
  SignalWaiter waiter(signals, **agent);
  const int sig = waiter.wait_for_stop();
  spdlog::info("received {}; draining", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  sd_notify("STOPPING=1\nSTATUS=draining");
  if (!(*agent)->stop()) _exit(exit_code::kFailure);  // the store is crash-safe
  spdlog::info("stopped cleanly");
  return exit_code::kOk;
}

}  // namespace edge
