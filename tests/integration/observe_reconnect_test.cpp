// The events stream breaking under the observer: a proxy in front of the real
// engine's socket is cut (every connection dropped, nothing accepted), the
// engine changes meanwhile, and the proxy comes back. The observer must report
// the outage, reconnect by itself, and re-list.

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <list>
#include <mutex>
#include <thread>

#include "docker_obs/observer.h"
#include "tests/support/docker_fixture.h"

namespace edge::docker {
namespace {

using edge::testing::kTestImage;
using nlohmann::json;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

using edge::testing::wait_until;

int unix_socket(const std::string& path, bool listen_on_it) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  int rc = listen_on_it ? ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr)
                        : ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  if (rc != 0 || (listen_on_it && ::listen(fd, 64) != 0)) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Forwards a Unix socket to another. cut() drops every connection and removes
// the listening socket; restore() listens again.
class SocketProxy {
 public:
  SocketProxy(std::string path, std::string upstream)
      : path_(std::move(path)), upstream_(std::move(upstream)) {
    restore();
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~SocketProxy() {
    stop_ = true;
    acceptor_.join();
    for (auto& t : pumps_) t.join();
    std::lock_guard<std::mutex> lock(mu_);
    if (listen_fd_ >= 0) ::close(listen_fd_);
    ::unlink(path_.c_str());
  }
  void cut() {
    std::lock_guard<std::mutex> lock(mu_);
    ++epoch_;
    if (listen_fd_ >= 0) ::close(listen_fd_);
    listen_fd_ = -1;
    ::unlink(path_.c_str());
  }
  void restore() {
    std::lock_guard<std::mutex> lock(mu_);
    ::unlink(path_.c_str());
    listen_fd_ = unix_socket(path_, true);
    ASSERT_GE(listen_fd_, 0) << "cannot listen on " << path_;
  }

 private:
  void accept_loop() {
    while (!stop_) {
      int lfd;
      {
        std::lock_guard<std::mutex> lock(mu_);
        lfd = listen_fd_;
      }
      pollfd p{lfd, POLLIN, 0};
      if (lfd < 0 || ::poll(&p, 1, 20) <= 0) {
        std::this_thread::sleep_for(milliseconds(5));
        continue;
      }
      std::lock_guard<std::mutex> lock(mu_);
      if (listen_fd_ != lfd) continue;  // cut meanwhile
      int client = ::accept(lfd, nullptr, nullptr);
      if (client < 0) continue;
      int up = unix_socket(upstream_, false);
      if (up < 0) {
        ::close(client);
        continue;
      }
      int epoch = epoch_;
      pumps_.emplace_back([this, client, up, epoch] { pump(client, up, epoch); });
    }
  }
  void pump(int a, int b, int epoch) {
    char buf[16384];
    while (!stop_) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (epoch_ != epoch) break;
      }
      pollfd p[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
      if (::poll(p, 2, 20) <= 0) continue;
      bool closed = false;
      for (int i = 0; i < 2 && !closed; ++i) {
        if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        ssize_t n = ::recv(p[i].fd, buf, sizeof buf, 0);
        if (n <= 0 || ::send(p[1 - i].fd, buf, static_cast<std::size_t>(n), MSG_NOSIGNAL) != n) {
          closed = true;
        }
      }
      if (closed) break;
    }
    ::close(a);
    ::close(b);
  }

  const std::string path_;
  const std::string upstream_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;  // guards listen_fd_, epoch_, pumps_
  int listen_fd_ = -1;
  int epoch_ = 0;
  std::list<std::thread> pumps_;
  std::thread acceptor_;
};

class ObserveReconnect : public edge::testing::DockerFixture {};

TEST_F(ObserveReconnect, AfterAnOutageTheStreamReconnectsAndRelistsByItself) {
  docker("run -d --network none --name " + prefix_ + "web " + labels(topology_id_, "s-web") + " " +
         kTestImage + " sleep infinity");
  Plan plan;
  plan.topology_id = topology_id_;
  ContainerSpec web;
  web.name = prefix_ + "web";
  web.labels = {{kLabelSpec, "s-web"}};
  plan.bases = {web};

  edge::testing::TempDir dir;
  const std::string sock = (dir.path() / "proxy.sock").string();
  SocketProxy proxy(sock, "/var/run/docker.sock");
  ObserverOptions options;
  options.max_backoff = milliseconds(1000);
  Observer observer(std::make_shared<DockerEngine>(
                        EngineOptions{sock, milliseconds(1000), milliseconds(5000), nullptr}),
                    options);
  observer.watch(plan);
  observer.start();
  ASSERT_TRUE(wait_until(
      [&] {
        return observer.observe().drift.value("in_sync", false) &&
               observer.engine_info().events_connected;
      },
      milliseconds(5000)))
      << observer.observe().drift.dump();

  proxy.cut();
  ASSERT_TRUE(wait_until([&] { return !observer.observe().reachable; }, milliseconds(2000)));
  EXPECT_NE(observer.observe().error.find("does not exist"), std::string::npos)
      << observer.observe().error;
  EXPECT_EQ(observer.observe().drift["in_sync"], false);
  docker("rm -f " + prefix_ + "web");  // behind the observer's back

  proxy.restore();
  EXPECT_TRUE(wait_until(
      [&] {
        Observation o = observer.observe();
        return o.reachable && o.drift["missing"] == json{prefix_ + "web"};
      },
      milliseconds(3000)))
      << observer.observe().error << " " << observer.observe().drift.dump();
  EXPECT_TRUE(
      wait_until([&] { return observer.engine_info().events_connected; }, milliseconds(1000)));

  // And the new stream is live: a fresh change arrives through it.
  docker("run -d --network none --name " + prefix_ + "web " + labels(topology_id_, "s-web") + " " +
         kTestImage + " sleep infinity");
  EXPECT_TRUE(wait_until([&] { return observer.observe().drift.value("in_sync", false); },
                         milliseconds(2000)))
      << observer.observe().drift.dump();
  observer.stop();
}

}  // namespace
}  // namespace edge::docker
