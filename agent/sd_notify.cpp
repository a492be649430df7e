#include "agent/sd_notify.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string_view>
#include <utility>

namespace edge {
namespace {

// Parses a whole decimal environment value; false when unset or malformed.
bool env_u64(const char* name, std::uint64_t* out) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return false;
  const std::string_view s(v);
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}

std::chrono::microseconds watchdog_interval_from_env() {
  std::uint64_t usec = 0;
  if (!env_u64("WATCHDOG_USEC", &usec) || usec == 0) return std::chrono::microseconds(0);
  if (std::getenv("WATCHDOG_PID") != nullptr) {
    std::uint64_t pid = 0;
    // Set for another process (e.g. inherited by a child we exec'd): not ours.
    if (!env_u64("WATCHDOG_PID", &pid) || pid != static_cast<std::uint64_t>(::getpid())) {
      return std::chrono::microseconds(0);
    }
  }
  return std::chrono::microseconds(usec / 2);
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

bool sd_notify(const std::string& state) {
  const char* env = std::getenv("NOTIFY_SOCKET");
  if (env == nullptr || *env == '\0') return false;
  const std::string_view path(env);

  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if ((path[0] != '/' && path[0] != '@') || path.size() > sizeof(addr.sun_path) - 1) {
    spdlog::warn(
        "sd_notify: NOTIFY_SOCKET '{}' is not an absolute path or @abstract name of at "
        "most {} bytes; not notifying systemd",
        path, sizeof(addr.sun_path) - 1);
    return false;
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());
  if (path[0] == '@') {
    addr.sun_path[0] = '\0';  // abstract: the name is exactly the bytes given, no terminator
  } else {
    len += 1;  // include the terminating NUL of a filesystem path
  }

  Fd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) {
    spdlog::warn("sd_notify: cannot create a unix datagram socket: {}", std::strerror(errno));
    return false;
  }
  const ssize_t n = ::sendto(fd.get(), state.data(), state.size(), MSG_NOSIGNAL,
                             reinterpret_cast<const sockaddr*>(&addr), len);
  if (n < 0 || static_cast<std::size_t>(n) != state.size()) {
    spdlog::warn("sd_notify: sending '{}' to NOTIFY_SOCKET '{}' failed: {}", state, path,
                 n < 0 ? std::strerror(errno) : "short write");
    return false;
  }
  return true;
}

Watchdog::Watchdog(std::function<bool()> healthy, TimeSource& time)
    : healthy_(std::move(healthy)), interval_(watchdog_interval_from_env()), time_(time) {}

Watchdog::~Watchdog() { stop(); }

void Watchdog::start() {
  if (!enabled() || thread_.running()) return;
  {
    std::lock_guard lock(mu_);
    stopping_ = false;
  }
  spdlog::info("watchdog: pinging systemd every {} ms while healthy", interval_.count() / 1000);
  thread_ = OwnedThread("watchdog", [this] { run(); });
}

void Watchdog::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  while (!thread_.join_for(std::chrono::seconds(5))) {
    spdlog::warn("watchdog thread still running 5 s after stop (a slow health check?)");
  }
}

void Watchdog::run() {
  bool was_healthy = true;
  auto next = time_.steady_now();
  std::unique_lock lock(mu_);
  while (!stopping_) {
    lock.unlock();
    bool ok = false;
    std::string reason = "it returned false";
    try {
      ok = healthy_();
    } catch (const std::exception& e) {
      reason = std::string("it threw: ") + e.what();
    }
    if (ok) {
      if (!was_healthy) spdlog::warn("watchdog: health check passes again; pinging resumed");
      sd_notify("WATCHDOG=1");
    } else if (was_healthy) {
      // Logged once per episode, not at every interval.
      spdlog::error(
          "watchdog: health check failed ({}); withholding WATCHDOG=1 so systemd "
          "restarts the agent if it stays wedged",
          reason);
    }
    was_healthy = ok;
    // Fixed cadence from the first ping, so a slow check does not stretch it.
    next += interval_;
    const auto now = time_.steady_now();
    if (next < now) next = now;
    lock.lock();
    time_.wait_until(wake_, lock, next, [this] { return stopping_; });
  }
}

}  // namespace edge
