#pragma once
// A scripted HTTP/1.1 server on a Unix socket, standing in for dockerd where
// a test needs the engine to misbehave on cue (hang, speak an odd API
// version, stream events). reply() closes the connection after its answer;
// reply_keep_alive() keeps it open for the client's next request, as dockerd
// does, so a test can see whether the client reuses connections (accepts()).
//
// Thread-safety: handlers run on per-connection threads; requests() and
// count() may be called from the test thread at any time.

#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace edge::testing {

struct FakeRequest {
  std::string method;
  std::string target;  // e.g. "/v1.41/containers/json?all=1"
  std::string body;
};

class FakeEngine {
 public:
  // Writes a full response on `fd`, or holds the connection (see stopping()).
  using Handler = std::function<void(int fd, const FakeRequest&)>;

  explicit FakeEngine(std::string socket_path) : path_(std::move(socket_path)) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path_.size() >= sizeof addr.sun_path) throw std::runtime_error("socket path too long");
    std::strcpy(addr.sun_path, path_.c_str());
    ::unlink(path_.c_str());
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd_, 64) != 0) {
      throw std::runtime_error("cannot listen on " + path_ + ": " + std::strerror(errno));
    }
    acceptor_ = std::thread([this] { accept_loop(); });
  }

  ~FakeEngine() {
    stopping_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    acceptor_.join();
    ::close(fd_);
    {
      // A kept-alive connection waits for a next request: wake its reader.
      std::lock_guard<std::mutex> lock(mu_);
      for (int c : open_) ::shutdown(c, SHUT_RDWR);
    }
    std::vector<std::thread> conns;
    {
      std::lock_guard<std::mutex> lock(mu_);
      conns.swap(conns_);
    }
    for (auto& t : conns) t.join();
    ::unlink(path_.c_str());
  }

  // Routes by "METHOD /path" with the /vX.Y prefix and the query removed,
  // e.g. "GET /_ping", "GET /containers/json".
  void on(const std::string& route, Handler h) {
    std::lock_guard<std::mutex> lock(mu_);
    handlers_[route] = std::move(h);
  }

  std::vector<FakeRequest> requests() const {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }
  int count(const std::string& route) const {
    std::lock_guard<std::mutex> lock(mu_);
    int n = 0;
    for (const auto& r : requests_) n += route_of(r) == route;
    return n;
  }
  bool stopping() const { return stopping_.load(); }
  // Connections accepted so far.
  int accepts() const { return accepts_.load(); }

  static std::string route_of(const FakeRequest& r) {
    std::string p = r.target.substr(0, r.target.find('?'));
    if (p.rfind("/v", 0) == 0) {
      auto slash = p.find('/', 1);
      if (slash != std::string::npos && p.find('.') < slash) p = p.substr(slash);
    }
    return r.method + " " + p;
  }

  // A whole response with Content-Length.
  static void reply(int fd, int status, const std::string& body,
                    const std::string& extra_headers = "") {
    std::string head =
        "HTTP/1.1 " + std::to_string(status) + " X\r\n" + extra_headers +
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
        "\r\nConnection: close\r\n\r\n";
    send_all(fd, head + body);
  }

  static void send_all(int fd, const std::string& data) {
    std::size_t off = 0;
    while (off < data.size()) {
      ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;
      off += static_cast<std::size_t>(n);
    }
  }

  // A whole response that leaves the connection open for the next request.
  static void reply_keep_alive(int fd, int status, const std::string& body,
                               const std::string& extra_headers = "") {
    keep_open() = true;
    send_all(fd, "HTTP/1.1 " + std::to_string(status) + " X\r\n" + extra_headers +
                     "Content-Type: application/json\r\nContent-Length: " +
                     std::to_string(body.size()) + "\r\n\r\n" + body);
  }

  // Starts a chunked 200 response; send_chunk() then sends pieces of it.
  static void start_chunked(int fd) {
    send_all(fd,
             "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
             "Transfer-Encoding: chunked\r\n\r\n");
  }
  static void send_chunk(int fd, const std::string& data) {
    char size[32];
    std::snprintf(size, sizeof size, "%zx\r\n", data.size());
    send_all(fd, size + data + "\r\n");
  }
  static void end_chunked(int fd) { send_all(fd, "0\r\n\r\n"); }

  // Keeps a connection open until the server stops or `for_how_long` passes.
  void hold(std::chrono::milliseconds for_how_long) const {
    auto until = std::chrono::steady_clock::now() + for_how_long;
    while (!stopping_ && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

 private:
  void accept_loop() {
    while (!stopping_) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) {
        if (stopping_) return;
        continue;
      }
      ++accepts_;
      std::lock_guard<std::mutex> lock(mu_);
      open_.insert(c);
      conns_.emplace_back([this, c] {
        serve(c);
        std::lock_guard<std::mutex> l(mu_);
        open_.erase(c);
        ::close(c);
      });
    }
  }

  // Answers requests on one connection until the peer closes it.
  void serve(int c) {
    std::string data;
    char buf[4096];
    while (!stopping_) {
      std::size_t head_end = std::string::npos;
      while ((head_end = data.find("\r\n\r\n")) == std::string::npos) {
        ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) return;
        data.append(buf, static_cast<std::size_t>(n));
      }
      FakeRequest req;
      std::string line = data.substr(0, data.find("\r\n"));
      auto sp1 = line.find(' ');
      auto sp2 = line.find(' ', sp1 + 1);
      req.method = line.substr(0, sp1);
      req.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
      std::size_t length = 0;
      std::string head = data.substr(0, head_end);
      for (std::size_t pos = 0; (pos = head.find("\r\n", pos)) != std::string::npos;) {
        pos += 2;
        std::string h = head.substr(pos, head.find("\r\n", pos) - pos);
        if (strncasecmp(h.c_str(), "content-length:", 15) == 0) length = std::stoul(h.substr(15));
      }
      data.erase(0, head_end + 4);
      while (data.size() < length) {
        ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) return;
        data.append(buf, static_cast<std::size_t>(n));
      }
      req.body = data.substr(0, length);
      data.erase(0, length);
      Handler h;
      {
        std::lock_guard<std::mutex> lock(mu_);
        requests_.push_back(req);
        auto it = handlers_.find(route_of(req));
        if (it != handlers_.end()) h = it->second;
      }
      keep_open() = false;
      if (h) {
        h(c, req);
      } else {
        reply(c, 404, R"({"message":"page not found"})");
      }
      if (!keep_open()) return;  // closes: the answer may end at EOF
    }
  }

  // Whether the handler that just ran on this connection's thread answered
  // with reply_keep_alive().
  static bool& keep_open() {
    thread_local bool open = false;
    return open;
  }

  std::string path_;
  int fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::atomic<int> accepts_{0};
  std::thread acceptor_;
  mutable std::mutex mu_;  // guards handlers_, requests_, conns_, open_
  std::map<std::string, Handler> handlers_;
  std::vector<FakeRequest> requests_;
  std::vector<std::thread> conns_;
  std::set<int> open_;  // connection fds not yet closed
};

}  // namespace edge::testing
