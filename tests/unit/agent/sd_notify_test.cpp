#include "agent/sd_notify.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/support/test_support.h"

namespace {

using edge::Watchdog;
using edge::testing::TempDir;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// Sets (or, with nullopt, unsets) an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(std::string name, std::optional<std::string> value) : name_(std::move(name)) {
    if (const char* old = std::getenv(name_.c_str())) old_ = old;
    if (value) {
      ::setenv(name_.c_str(), value->c_str(), 1);
    } else {
      ::unsetenv(name_.c_str());
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_.c_str(), old_->c_str(), 1);
    } else {
      ::unsetenv(name_.c_str());
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> old_;
};

// What systemd does: a bound AF_UNIX datagram socket that receives notifications.
class NotifyListener {
 public:
  // `address` is a filesystem path or, starting with '@', an abstract name.
  explicit NotifyListener(const std::string& address) : address_(address) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, address.data(), address.size());
    socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.size());
    if (address[0] == '@') {
      addr.sun_path[0] = '\0';
    } else {
      len += 1;
    }
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
      throw std::runtime_error(std::string("bind: ") + std::strerror(errno));
    }
  }
  ~NotifyListener() { ::close(fd_); }
  NotifyListener(const NotifyListener&) = delete;
  NotifyListener& operator=(const NotifyListener&) = delete;

  const std::string& address() const { return address_; }

  // The next datagram, or nullopt if none arrives within `timeout`.
  std::optional<std::string> receive(milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return std::nullopt;
    char buf[4096];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0) return std::nullopt;
    return std::string(buf, static_cast<std::size_t>(n));
  }

  // Throws away whatever is queued right now.
  void drain() {
    while (receive(milliseconds(0))) {
    }
  }

 private:
  std::string address_;
  int fd_ = -1;
};

std::string unique_abstract_name() {
  std::random_device rd;
  return "@edge-agent-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd());
}

TEST(SdNotify, DoesNothingAndReturnsFalseWhenNotifySocketIsUnset) {
  ScopedEnv env("NOTIFY_SOCKET", std::nullopt);
  EXPECT_FALSE(edge::sd_notify("READY=1"));
}

TEST(SdNotify, ReadyArrivesAtAFilesystemSocket) {
  TempDir dir;
  NotifyListener listener((dir.path() / "notify.sock").string());
  ScopedEnv env("NOTIFY_SOCKET", listener.address());
  EXPECT_TRUE(edge::sd_notify("READY=1"));
  EXPECT_EQ(listener.receive(milliseconds(2000)), std::optional<std::string>("READY=1"));
}

TEST(SdNotify, ReadyArrivesAtAnAbstractSocketNamedWithAt) {
  NotifyListener listener(unique_abstract_name());
  ScopedEnv env("NOTIFY_SOCKET", listener.address());
  EXPECT_TRUE(edge::sd_notify("READY=1"));
  EXPECT_EQ(listener.receive(milliseconds(2000)), std::optional<std::string>("READY=1"));
}

TEST(SdNotify, AMultiLineMessageArrivesAsOneDatagram) {
  TempDir dir;
  NotifyListener listener((dir.path() / "notify.sock").string());
  ScopedEnv env("NOTIFY_SOCKET", listener.address());
  EXPECT_TRUE(edge::sd_notify("STOPPING=1\nSTATUS=draining requests"));
  EXPECT_EQ(listener.receive(milliseconds(2000)),
            std::optional<std::string>("STOPPING=1\nSTATUS=draining requests"));
  EXPECT_EQ(listener.receive(milliseconds(50)), std::nullopt);
}

TEST(SdNotify, ReturnsFalseWhenNobodyListensAtThePath) {
  TempDir dir;
  ScopedEnv env("NOTIFY_SOCKET", (dir.path() / "absent.sock").string());
  EXPECT_FALSE(edge::sd_notify("READY=1"));
}

TEST(SdNotify, ReturnsFalseForARelativeOrOverlongAddress) {
  {
    ScopedEnv env("NOTIFY_SOCKET", "relative/notify.sock");
    EXPECT_FALSE(edge::sd_notify("READY=1"));
  }
  {
    ScopedEnv env("NOTIFY_SOCKET", "/" + std::string(200, 'x'));
    EXPECT_FALSE(edge::sd_notify("READY=1"));
  }
}

TEST(Watchdog, IsDisabledWithoutWatchdogUsec) {
  TempDir dir;
  NotifyListener listener((dir.path() / "notify.sock").string());
  ScopedEnv sock("NOTIFY_SOCKET", listener.address());
  ScopedEnv usec("WATCHDOG_USEC", std::nullopt);
  ScopedEnv pid("WATCHDOG_PID", std::nullopt);
  Watchdog dog([] { return true; });
  EXPECT_FALSE(dog.enabled());
  dog.start();
  EXPECT_EQ(listener.receive(milliseconds(200)), std::nullopt);
}

TEST(Watchdog, IsDisabledWhenWatchdogPidNamesAnotherProcess) {
  ScopedEnv usec("WATCHDOG_USEC", "200000");
  ScopedEnv pid("WATCHDOG_PID", std::to_string(::getpid() + 1));
  EXPECT_FALSE(Watchdog([] { return true; }).enabled());
}

TEST(Watchdog, IsDisabledForAMalformedWatchdogUsec) {
  ScopedEnv pid("WATCHDOG_PID", std::nullopt);
  for (const char* bad : {"", "0", "-5", "30s", "12 "}) {
    ScopedEnv usec("WATCHDOG_USEC", bad);
    EXPECT_FALSE(Watchdog([] { return true; }).enabled()) << "WATCHDOG_USEC='" << bad << "'";
  }
}

TEST(Watchdog, PingsEveryHalfOfWatchdogUsecForItsOwnPid) {
  TempDir dir;
  NotifyListener listener((dir.path() / "notify.sock").string());
  ScopedEnv sock("NOTIFY_SOCKET", listener.address());
  ScopedEnv usec("WATCHDOG_USEC", "200000");
  ScopedEnv pid("WATCHDOG_PID", std::to_string(::getpid()));
  Watchdog dog([] { return true; });
  ASSERT_TRUE(dog.enabled());
  EXPECT_EQ(dog.interval(), std::chrono::microseconds(100000));

  dog.start();
  std::vector<Clock::time_point> arrivals;
  for (int i = 0; i < 6; ++i) {
    auto msg = listener.receive(milliseconds(2000));
    ASSERT_EQ(msg, std::optional<std::string>("WATCHDOG=1")) << "ping " << i;
    arrivals.push_back(Clock::now());
  }
  dog.stop();
  // Five gaps at a 100 ms cadence; generous bounds for a loaded CI host,
  // still far from "as fast as possible" and from the 200 ms timeout.
  const auto total = std::chrono::duration_cast<milliseconds>(arrivals.back() - arrivals.front());
  EXPECT_GE(total.count(), 450);
  EXPECT_LE(total.count(), 800);
}

TEST(Watchdog, StopsPingingWhileUnhealthyAndResumesWhenHealthyAgain) {
  TempDir dir;
  NotifyListener listener((dir.path() / "notify.sock").string());
  ScopedEnv sock("NOTIFY_SOCKET", listener.address());
  ScopedEnv usec("WATCHDOG_USEC", "100000");  // ping every 50 ms
  ScopedEnv pid("WATCHDOG_PID", std::nullopt);
  std::atomic<bool> healthy{true};
  std::atomic<int> failed_checks{0};
  Watchdog dog([&] {
    if (healthy) return true;
    ++failed_checks;
    return false;
  });
  dog.start();
  ASSERT_EQ(listener.receive(milliseconds(2000)), std::optional<std::string>("WATCHDOG=1"));

  healthy = false;
  const auto deadline = Clock::now() + milliseconds(2000);
  while (failed_checks == 0 && Clock::now() < deadline)
    std::this_thread::sleep_for(milliseconds(5));
  ASSERT_GT(failed_checks.load(), 0);
  listener.drain();  // a ping sent before the flip may still be queued
  EXPECT_EQ(listener.receive(milliseconds(300)), std::nullopt) << "pinged while unhealthy";
  EXPECT_GE(failed_checks.load(), 3);  // it kept checking meanwhile

  healthy = true;
  EXPECT_EQ(listener.receive(milliseconds(2000)), std::optional<std::string>("WATCHDOG=1"));
}

TEST(Watchdog, AHealthCheckThatThrowsCountsAsUnhealthy) {
  TempDir dir;
  NotifyListener listener((dir.path() / "notify.sock").string());
  ScopedEnv sock("NOTIFY_SOCKET", listener.address());
  ScopedEnv usec("WATCHDOG_USEC", "100000");
  ScopedEnv pid("WATCHDOG_PID", std::nullopt);
  std::atomic<int> calls{0};
  Watchdog dog([&]() -> bool {
    ++calls;
    throw std::runtime_error("apply lock wedged");
  });
  dog.start();
  EXPECT_EQ(listener.receive(milliseconds(300)), std::nullopt);
  EXPECT_GE(calls.load(), 3);
}

TEST(Watchdog, StopEndsThePingsAndIsIdempotent) {
  TempDir dir;
  NotifyListener listener((dir.path() / "notify.sock").string());
  ScopedEnv sock("NOTIFY_SOCKET", listener.address());
  ScopedEnv usec("WATCHDOG_USEC", "100000");
  ScopedEnv pid("WATCHDOG_PID", std::nullopt);
  Watchdog dog([] { return true; });
  dog.start();
  ASSERT_EQ(listener.receive(milliseconds(2000)), std::optional<std::string>("WATCHDOG=1"));
  const auto before = Clock::now();
  dog.stop();
  EXPECT_LT(Clock::now() - before, milliseconds(200)) << "stop() must not wait out an interval";
  listener.drain();
  EXPECT_EQ(listener.receive(milliseconds(300)), std::nullopt);
  dog.stop();
}

}  // namespace
