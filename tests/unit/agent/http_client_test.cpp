// parse_http_url and http_call's bounds (timeouts, cancel, answer size)
// against real loopback sockets; the mTLS side is covered through the
// heartbeat poster in heartbeat_test.cpp.
#include "agent/http_client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

namespace edge {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

long ms_since(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

TEST(ParseHttpUrl, SplitsSchemeHostPortAndTarget) {
  auto u = parse_http_url("HTTPS://master.example:8443/swarm/heartbeat?x=1#frag");
  ASSERT_TRUE(u.ok()) << u.error().message();
  EXPECT_EQ(u->scheme, "https");
  EXPECT_EQ(u->host, "master.example");
  EXPECT_EQ(u->port, "8443");
  EXPECT_EQ(u->target, "/swarm/heartbeat?x=1");
}

TEST(ParseHttpUrl, DefaultsThePortAndTheTargetAndUnbracketsIpv6) {
  auto a = parse_http_url("https://10.0.0.5");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->port, "443");
  EXPECT_EQ(a->target, "/");
  auto b = parse_http_url("http://[::1]:8000?q");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->host, "::1");
  EXPECT_EQ(b->port, "8000");
  EXPECT_EQ(b->target, "/?q");
  EXPECT_EQ(parse_http_url("http://localhost")->port, "80");
}

TEST(ParseHttpUrl, NamesWhatIsWrong) {
  auto why = [](const std::string& url) { return parse_http_url(url).error().message(); };
  EXPECT_EQ(why("master.example"),
            "master URL 'master.example' is not a valid absolute URL: it has no scheme "
            "(https://...)");
  EXPECT_EQ(why("https://:8443/"),
            "master URL 'https://:8443/' is not a valid absolute URL: it has no host");
  EXPECT_EQ(why("https://m:99999"),
            "master URL 'https://m:99999' is not a valid absolute URL: the port is not a number "
            "from 1 to 65535");
  EXPECT_EQ(why("https://m:"),
            "master URL 'https://m:' is not a valid absolute URL: the port is not a number from "
            "1 to 65535");
  EXPECT_EQ(why("https://user:pw@m/"),
            "master URL 'https://user:pw@m/' is not a valid absolute URL: credentials in the URL "
            "are not supported");
  EXPECT_EQ(why("https://m/a b"),
            "master URL 'https://m/a b' is not a valid absolute URL: it contains a space or a "
            "control character");
  EXPECT_EQ(why("https://[::1/"),
            "master URL 'https://[::1/' is not a valid absolute URL: an IPv6 address is missing "
            "its ']'");
}

// A loopback listener that accepts and then does `behaviour` with each connection.
class Listener {
 public:
  explicit Listener(std::function<void(int)> behaviour) : behaviour_(std::move(behaviour)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(fd_, 8);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c >= 0) {
        behaviour_(c);
        ::close(c);
      }
    });
  }
  ~Listener() {
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/x"; }
  int port() const { return port_; }

 private:
  std::function<void(int)> behaviour_;
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

std::string read_request(int fd) {
  std::string data;
  char buf[4096];
  while (data.find("\r\n\r\n") == std::string::npos) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    data.append(buf, static_cast<std::size_t>(n));
  }
  return data;
}

TEST(HttpCall, PostsTheBodyAndReturnsTheStatusAndAtMostKeepBodyBytes) {
  std::string request;
  Listener l([&](int fd) {
    request = read_request(fd);
    const std::string body(10000, 'x');
    const std::string answer = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) +
                               "\r\nConnection: close\r\n\r\n" + body;
    ::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL);
  });
  HttpCall call;
  call.method = "POST";
  call.url = l.url();
  call.body = R"({"a":1})";
  call.keep_body = 100;
  HttpReply r = http_call(call);
  EXPECT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.body, std::string(100, 'x'));
  EXPECT_NE(request.find("POST /x HTTP/1.1\r\n"), std::string::npos) << request;
  EXPECT_NE(request.find("Content-Type: application/json"), std::string::npos) << request;
  EXPECT_NE(request.find("Content-Length: 7"), std::string::npos) << request;
}

TEST(HttpCall, APeerThatNeverAnswersEndsAtTheTimeout) {
  Listener l([](int fd) {
    read_request(fd);
    std::this_thread::sleep_for(1500ms);
  });
  HttpCall call;
  call.url = l.url();
  call.timeout = 300ms;
  const auto start = Clock::now();
  HttpReply r = http_call(call);
  EXPECT_GE(ms_since(start), 290);
  EXPECT_LT(ms_since(start), 1000);
  EXPECT_EQ(r.status, 0);
  EXPECT_FALSE(r.cancelled);
  EXPECT_EQ(r.error,
            "127.0.0.1:" + std::to_string(l.port()) + " did not answer: no answer within 300 ms");
}

TEST(HttpCall, ACancelEndsAHungCallWithin100ms) {
  Listener l([](int fd) {
    read_request(fd);
    std::this_thread::sleep_for(1500ms);
  });
  std::atomic<bool> cancel{false};
  HttpCall call;
  call.url = l.url();
  call.timeout = 10s;
  call.cancel = &cancel;
  Clock::time_point cancelled_at;
  std::thread t([&] {
    std::this_thread::sleep_for(200ms);
    cancelled_at = Clock::now();
    cancel = true;
  });
  HttpReply r = http_call(call);
  t.join();
  EXPECT_LT(ms_since(cancelled_at), 100);
  EXPECT_TRUE(r.cancelled);
  EXPECT_EQ(r.status, 0);
}

TEST(HttpCall, NothingListeningIsConnectionRefused) {
  int port = 0;
  {
    Listener gone([](int) {});
    port = gone.port();
    // Let the listener's accept see a connection so it ends.
    HttpCall poke;
    poke.url = gone.url();
    poke.timeout = 200ms;
    http_call(poke);
  }
  HttpCall call;
  call.url = "http://127.0.0.1:" + std::to_string(port) + "/";
  HttpReply r = http_call(call);
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.error,
            "cannot connect to 127.0.0.1:" + std::to_string(port) + ": Connection refused");
}

}  // namespace
}  // namespace edge
