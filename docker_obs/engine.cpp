#include "docker_obs/engine.h"

#include <fcntl.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <thread>
#include <utility>
#include <vector>

namespace edge::docker {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Clock = std::chrono::steady_clock;
using ErrorCode = boost::system::error_code;

// The newest Engine API this client speaks. An engine that speaks a newer one
// still serves this version; an older engine is spoken to in its own version.
constexpr int kMaxApiMajor = 1;
constexpr int kMaxApiMinor = 43;
// Docker 19.03. Older engines lack fields the create bodies rely on.
constexpr int kMinApiMajor = 1;
constexpr int kMinApiMinor = 40;
// A list of every container on a big host is a few MiB; anything far larger
// is a broken engine, not data worth holding.
constexpr std::size_t kMaxBodyBytes = 64u << 20;
// An error answer on a stream is a {"message": ...}, never megabytes.
constexpr std::size_t kMaxErrorBodyBytes = 1u << 20;
constexpr std::uint32_t kMaxHeaderBytes = 64u << 10;
// How often a blocked read or write looks at its stop flag and deadlines.
constexpr std::chrono::milliseconds kPollSlice{100};
// Idle connections kept for reuse; more than the apply parallelism plus the
// observer's calls would only hold memory and engine connections.
constexpr std::size_t kMaxPooledConnections = 16;

std::int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// A connected Unix stream socket whose reads and writes wait with poll() in
// short slices, so each can end at a total deadline, after an idle gap, or
// when a stop flag is set. It is the synchronous stream Beast's http::read
// and http::write take (SyncReadStream, SyncWriteStream).
class UnixStream {
 public:
  struct Limits {
    Clock::time_point deadline = Clock::time_point::max();
    std::chrono::milliseconds idle{0};              // 0: no idle limit
    const std::atomic<bool>* stop = nullptr;        // set: operation_aborted
    std::atomic<std::int64_t>* progress = nullptr;  // steady ns of the last received bytes
  };

  explicit UnixStream(int fd) : fd_(fd) {}
  ~UnixStream() { ::close(fd_); }
  UnixStream(const UnixStream&) = delete;
  UnixStream& operator=(const UnixStream&) = delete;

  void limit(const Limits& limits) {
    limits_ = limits;
    last_bytes_ = Clock::now();
  }

  // Whether the engine closed (or wrote unasked to) an idle connection.
  bool stale() const {
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, 0) != 0;
  }

  template <class Buffers>
  std::size_t read_some(const Buffers& buffers, ErrorCode& ec) {
    for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers);
         ++it) {
      asio::mutable_buffer b(*it);
      if (b.size() > 0) return transfer(false, b.data(), b.size(), ec);
    }
    ec = {};
    return 0;
  }
  template <class Buffers>
  std::size_t read_some(const Buffers& buffers) {
    ErrorCode ec;
    std::size_t n = read_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }
  template <class Buffers>
  std::size_t write_some(const Buffers& buffers, ErrorCode& ec) {
    for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers);
         ++it) {
      asio::const_buffer b(*it);
      if (b.size() > 0) return transfer(true, const_cast<void*>(b.data()), b.size(), ec);
    }
    ec = {};
    return 0;
  }
  template <class Buffers>
  std::size_t write_some(const Buffers& buffers) {
    ErrorCode ec;
    std::size_t n = write_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

 private:
  std::size_t transfer(bool write, void* data, std::size_t size, ErrorCode& ec) {
    for (;;) {
      ssize_t n = write ? ::send(fd_, data, size, MSG_NOSIGNAL | MSG_DONTWAIT)
                        : ::recv(fd_, data, size, MSG_DONTWAIT);
      if (n > 0) {
        if (!write) {
          last_bytes_ = Clock::now();
          if (limits_.progress != nullptr) limits_.progress->store(steady_ns());
        }
        ec = {};
        return static_cast<std::size_t>(n);
      }
      if (n == 0) {
        ec = asio::error::eof;
        return 0;
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        ec = ErrorCode(errno, boost::system::system_category());
        return 0;
      }
      if (limits_.stop != nullptr && limits_.stop->load()) {
        ec = asio::error::operation_aborted;
        return 0;
      }
      const auto now = Clock::now();
      auto until = limits_.deadline;
      if (limits_.idle.count() > 0) until = std::min(until, last_bytes_ + limits_.idle);
      if (now >= until) {
        ec = asio::error::timed_out;
        return 0;
      }
      auto wait = std::chrono::ceil<std::chrono::milliseconds>(
          std::min<Clock::duration>(until - now, kPollSlice));
      pollfd p{fd_, static_cast<short>(write ? POLLOUT : POLLIN), 0};
      ::poll(&p, 1, static_cast<int>(wait.count()));
    }
  }

  const int fd_;
  Limits limits_;
  Clock::time_point last_bytes_ = Clock::now();
};

bool parse_api_version(const std::string& v, int* major, int* minor) {
  int a = 0, b = 0;
  char tail = 0;
  if (std::sscanf(v.c_str(), "%d.%d%c", &a, &b, &tail) != 2 || a < 0 || b < 0) return false;
  *major = a;
  *minor = b;
  return true;
}

std::string trim(std::string_view s) {
  std::size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

const char* reason_phrase(long status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 204:
      return "No Content";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 406:
      return "Not Acceptable";
    case 409:
      return "Conflict";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    default:
      return "";
  }
}

// Why connect() to the engine's socket failed, for a person: the socket is
// missing, is not a socket, is not ours to open, or nobody listens on it.
std::string describe_connect_error(int err, const std::string& socket) {
  struct stat st {};
  if (err == ENOENT || ::stat(socket.c_str(), &st) != 0) {
    return "cannot reach the Docker engine: socket " + socket +
           " does not exist (is dockerd running?)";
  }
  if (!S_ISSOCK(st.st_mode)) {
    return "cannot reach the Docker engine: " + socket + " is not a Unix socket";
  }
  if (err == EACCES || err == EPERM) {
    return "cannot reach the Docker engine: permission denied on " + socket +
           " (run as root or in the docker group)";
  }
  if (err == ECONNREFUSED) {
    return "cannot reach the Docker engine: connection refused on " + socket +
           " (is dockerd running?)";
  }
  return "cannot reach the Docker engine at " + socket + ": " + std::strerror(err);
}

// A new connection to the engine, or -1 and why. A Unix socket connects at
// once or refuses; only a full listen backlog (EAGAIN) is worth waiting for.
int connect_engine(const std::string& socket, std::chrono::milliseconds timeout,
                   std::string* error) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket.size() >= sizeof addr.sun_path) {
    *error = "cannot reach the Docker engine: socket path " + socket + " is too long";
    return -1;
  }
  std::memcpy(addr.sun_path, socket.c_str(), socket.size() + 1);
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
      *error = std::string("cannot open a socket to the Docker engine: ") + std::strerror(errno);
      return -1;
    }
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) return fd;
    const int err = errno;
    ::close(fd);
    if (err == EINTR) continue;
    if (err != EAGAIN) {
      *error = describe_connect_error(err, socket);
      return -1;
    }
    if (Clock::now() >= deadline) {
      *error = "the Docker engine at " + socket + " did not accept a connection within " +
               std::to_string(timeout.count()) + " ms";
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

bool connection_lost(const ErrorCode& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof ||
         ec == boost::system::errc::connection_reset || ec == boost::system::errc::broken_pipe;
}

// Why an exchange with the engine failed, for a person.
std::string describe_exchange_error(const ErrorCode& ec, const std::string& socket,
                                    std::chrono::milliseconds timeout) {
  if (ec == asio::error::timed_out) {
    return "the Docker engine at " + socket + " did not answer within " +
           std::to_string(timeout.count()) + " ms";
  }
  if (ec == http::error::end_of_stream || ec == asio::error::eof) {
    return "the Docker engine at " + socket + " closed the connection without answering";
  }
  if (ec == http::error::partial_message) {
    return "the Docker engine at " + socket + " closed the connection in the middle of its answer";
  }
  if (ec == http::error::body_limit) {
    return "the Docker engine at " + socket + " sent an answer larger than " +
           std::to_string(kMaxBodyBytes >> 20) + " MiB";
  }
  if (ec.category() == ErrorCode(http::error::bad_version).category()) {
    return "the Docker engine at " + socket + " sent a malformed answer: " + ec.message();
  }
  return "Docker engine at " + socket + ": " + ec.message();
}

// Metric label for a call: method plus the path with object ids and names
// replaced by placeholders, so metrics do not grow one series per container.
std::string route_template(const char* method, const std::string& path) {
  std::string p = path.substr(0, path.find('?'));
  std::vector<std::string> segs;
  std::size_t i = 1;
  while (i <= p.size()) {
    std::size_t j = p.find('/', i);
    if (j == std::string::npos) j = p.size();
    segs.push_back(p.substr(i, j - i));
    i = j + 1;
  }
  if (segs.size() >= 2 && (segs[0] == "containers" || segs[0] == "networks" ||
                           segs[0] == "volumes" || segs[0] == "exec")) {
    static const char* kVerbs[] = {"json", "create", "prune"};
    bool verb = false;
    for (const char* v : kVerbs) verb = verb || segs[1] == v;
    if (!verb) segs[1] = "{id}";
  } else if (segs.size() >= 2 && segs[0] == "images") {
    static const char* kVerbs[] = {"json", "create", "prune", "search", "load", "get"};
    bool verb = false;
    for (const char* v : kVerbs) verb = verb || segs[1] == v;
    if (!verb) {
      // Image names contain '/', so everything up to a known trailing verb is the name.
      std::string last = segs.back();
      bool tail = segs.size() > 2 && (last == "json" || last == "history" || last == "push" ||
                                      last == "tag" || last == "get");
      segs = {"images", "{name}"};
      if (tail) segs.push_back(last);
    }
  }
  std::string out = std::string(method) + " ";
  for (const auto& s : segs) out += "/" + s;
  return out;
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string describe_duration(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + " s";
  return std::to_string(d.count()) + " ms";
}

http::request<http::string_body> make_request(const char* method, const std::string& target,
                                              const std::string* body) {
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, "docker");
  req.set(http::field::user_agent, "edge-agent");
  if (body != nullptr) {
    req.set(http::field::content_type, "application/json");
    req.body() = *body;
  }
  req.prepare_payload();  // Content-Length, also 0 on a POST without a body
  return req;
}

}  // namespace

struct DockerEngine::Connection {
  explicit Connection(int fd) : stream(fd) {}
  UnixStream stream;
  beast::flat_buffer buffer;  // bytes read past the last answer stay with their connection
};

std::string EngineResponse::message() const {
  if (status == 0) {
    return transport_error.empty() ? "no answer from the Docker engine" : transport_error;
  }
  std::string status_text = "HTTP " + std::to_string(status);
  if (const char* phrase = reason_phrase(status); phrase[0] != '\0') {
    status_text += std::string(" ") + phrase;
  }
  nlohmann::json j = json();
  if (j.is_object()) {
    auto it = j.find("message");
    if (it != j.end() && it->is_string() && !it->get<std::string>().empty()) {
      return it->get<std::string>() + " (" + status_text + ")";
    }
  }
  if (status == 304) return status_text + ": the object is already in that state";
  std::string text = trim(body);
  if (!text.empty() && !j.is_structured()) {
    if (text.size() > 200) text = text.substr(0, 200) + "...";
    return status_text + ": " + text;
  }
  return status_text;
}

nlohmann::json EngineResponse::json() const {
  if (body.empty()) return nullptr;
  nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return nullptr;
  return j;
}

DockerEngine::DockerEngine(EngineOptions options) : options_(std::move(options)) {}

DockerEngine::~DockerEngine() = default;

std::unique_ptr<DockerEngine::Connection> DockerEngine::take_connection(bool* reused,
                                                                        std::string* error) {
  for (;;) {
    std::unique_ptr<Connection> c;
    {
      std::lock_guard<std::mutex> lock(pool_mu_);
      if (pool_.empty()) break;
      c = std::move(pool_.back());
      pool_.pop_back();
    }
    if (!c->stream.stale()) {
      *reused = true;
      return c;
    }
  }
  *reused = false;
  int fd = connect_engine(options_.socket_path, options_.connect_timeout, error);
  if (fd < 0) return nullptr;
  return std::make_unique<Connection>(fd);
}

void DockerEngine::give_back(std::unique_ptr<Connection> connection) {
  std::lock_guard<std::mutex> lock(pool_mu_);
  if (pool_.size() < kMaxPooledConnections) pool_.push_back(std::move(connection));
}

std::size_t DockerEngine::pooled_connections() const {
  std::lock_guard<std::mutex> lock(pool_mu_);
  return pool_.size();
}

StreamProgress DockerEngine::progress() const {
  StreamProgress p;
  p.active = streams_active_.load();
  p.last_bytes = Clock::time_point(std::chrono::nanoseconds(last_stream_bytes_ns_.load()));
  return p;
}

std::string DockerEngine::api_version() const {
  std::lock_guard<std::mutex> lock(mu_);
  return api_version_;
}

std::string DockerEngine::engine_version() const {
  std::lock_guard<std::mutex> lock(mu_);
  return engine_version_;
}

EngineResponse DockerEngine::exchange(const char* method, const std::string& target,
                                      const std::string* body, std::string* api_version_header) {
  EngineResponse r;
  const auto req = make_request(method, target, body);
  // A kept-alive connection the engine closed just as this request went out
  // ends without a byte of answer: the request is sent once more, on a new
  // connection (a new connection that does so is a real failure).
  for (bool reused = true; reused;) {
    std::unique_ptr<Connection> c = take_connection(&reused, &r.transport_error);
    if (!c) return r;
    c->stream.limit({Clock::now() + options_.call_timeout});
    http::response_parser<http::string_body> parser;
    parser.header_limit(kMaxHeaderBytes);
    parser.body_limit(kMaxBodyBytes);
    ErrorCode ec;
    http::write(c->stream, req, ec);
    if (!ec) http::read(c->stream, c->buffer, parser, ec);
    if (ec) {
      if (reused && !parser.got_some() && connection_lost(ec)) continue;
      r.transport_error = describe_exchange_error(ec, options_.socket_path, options_.call_timeout);
      return r;
    }
    auto& res = parser.get();
    r.status = res.result_int();
    if (api_version_header != nullptr) {
      if (auto it = res.find("Api-Version"); it != res.end())
        *api_version_header = trim(it->value());
    }
    r.body = std::move(res.body());
    if (res.keep_alive()) give_back(std::move(c));
    return r;
  }
  return r;
}

bool DockerEngine::negotiate(std::string* error) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!api_version_.empty()) return true;
  }
  auto report = [this](const std::string& route, bool ok, double s) {
    if (options_.on_call) options_.on_call(route, ok, s);
  };
  auto call = [this](const char* method, const std::string& path, std::string* api_header) {
    return exchange(method, path, nullptr, api_header);
  };
  auto start = Clock::now();
  std::string api;
  EngineResponse ping = call("GET", "/_ping", &api);
  report("GET /_ping", ping.ok(), seconds_since(start));
  if (ping.status == 0) {
    if (error != nullptr) *error = ping.message();
    return false;
  }
  start = Clock::now();
  EngineResponse ver = call("GET", "/version", nullptr);
  report("GET /version", ver.ok(), seconds_since(start));
  std::string engine;
  if (ver.ok()) {
    nlohmann::json j = ver.json();
    if (j.is_object()) {
      if (api.empty() && j.contains("ApiVersion") && j["ApiVersion"].is_string()) {
        api = j["ApiVersion"].get<std::string>();
      }
      if (j.contains("Version") && j["Version"].is_string())
        engine = j["Version"].get<std::string>();
    }
  }
  int major = 0, minor = 0;
  if (api.empty() || !parse_api_version(api, &major, &minor)) {
    if (error != nullptr) {
      *error = "the Docker engine at " + options_.socket_path +
               " did not report a usable API version (" +
               (ver.ok() ? "got '" + api + "'" : ver.message()) + ")";
    }
    return false;
  }
  if (std::pair(major, minor) < std::pair(kMinApiMajor, kMinApiMinor)) {
    if (error != nullptr) {
      *error = "the Docker engine at " + options_.socket_path + " speaks API " + api +
               "; edge-agent needs at least " + std::to_string(kMinApiMajor) + "." +
               std::to_string(kMinApiMinor) + " (Docker 19.03)";
    }
    return false;
  }
  if (std::pair(major, minor) > std::pair(kMaxApiMajor, kMaxApiMinor)) {
    major = kMaxApiMajor;
    minor = kMaxApiMinor;
  }
  std::string chosen = std::to_string(major) + "." + std::to_string(minor);
  bool first = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (api_version_.empty()) {
      first = true;
      api_version_ = chosen;
      engine_version_ = engine;
    }
  }
  if (first) {
    spdlog::info("docker: engine {} at {}, speaking API {} (engine offers {})",
                 engine.empty() ? "(version unknown)" : engine, options_.socket_path, chosen, api);
  }
  return true;
}

EngineResponse DockerEngine::request(const char* method, const std::string& path,
                                     const std::string* body, const std::string& route) {
  const std::string label = route.empty() ? route_template(method, path) : route;
  auto start = Clock::now();
  EngineResponse r;
  std::string error;
  if (!negotiate(&error)) {
    r.transport_error = error;
  } else {
    r = exchange(method, "/v" + api_version() + path, body, nullptr);
  }
  if (options_.on_call) options_.on_call(label, r.ok(), seconds_since(start));
  return r;
}

EngineResponse DockerEngine::get(const std::string& path, const std::string& route) {
  return request("GET", path, nullptr, route);
}

EngineResponse DockerEngine::post(const std::string& path, const nlohmann::json& body,
                                  const std::string& route) {
  if (body.is_null()) return request("POST", path, nullptr, route);
  // replace: a stray invalid UTF-8 byte must not throw out of the engine client.
  std::string text = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return request("POST", path, &text, route);
}

EngineResponse DockerEngine::del(const std::string& path, const std::string& route) {
  return request("DELETE", path, nullptr, route);
}

EngineResponse DockerEngine::stream_lines(const std::string& path,
                                          const std::function<void(std::string_view line)>& on_line,
                                          const std::atomic<bool>& stop) {
  // No idle timeout: an events stream is quiet for hours on a quiet host. A
  // dead engine closes the socket (EOF); a hung one is caught by the caller's
  // periodic re-list, which has timeouts.
  return stream("GET", path, on_line, std::chrono::milliseconds(0), stop, "");
}

EngineResponse DockerEngine::stream_post(const std::string& path,
                                         const std::function<void(std::string_view line)>& on_line,
                                         std::chrono::milliseconds idle_timeout,
                                         const std::atomic<bool>& stop, const std::string& route) {
  streams_active_.fetch_add(1);
  last_stream_bytes_ns_.store(steady_ns());  // starting counts as progress
  EngineResponse r = stream("POST", path, on_line, idle_timeout, stop, route);
  streams_active_.fetch_sub(1);
  return r;
}

EngineResponse DockerEngine::stream(const char* method, const std::string& path,
                                    const std::function<void(std::string_view line)>& on_line,
                                    std::chrono::milliseconds idle_timeout,
                                    const std::atomic<bool>& stop, const std::string& route) {
  const bool post = std::string_view(method) == "POST";
  const std::string label = route.empty() ? route_template(method, path) : route;
  auto start = Clock::now();
  EngineResponse r;
  auto finish = [&]() {
    if (!r.transport_error.empty()) r.status = 0;
    if (options_.on_call) {
      options_.on_call(label, r.ok() && r.transport_error.empty(), seconds_since(start));
    }
    return r;
  };
  std::string error;
  if (!negotiate(&error)) {
    r.transport_error = error;
    return finish();
  }
  // A stream holds its connection for its whole life: always a new one,
  // closed at the end.
  int fd = connect_engine(options_.socket_path, options_.connect_timeout, &r.transport_error);
  if (fd < 0) return finish();
  Connection c(fd);
  UnixStream::Limits limits;
  limits.stop = &stop;
  limits.idle = idle_timeout;
  if (post) limits.progress = &last_stream_bytes_ns_;
  // A pull is bounded by its idle timeout alone, from the first byte on; an
  // events stream's head is due within the call timeout, and after that
  // only stop ends it.
  if (idle_timeout.count() == 0) limits.deadline = Clock::now() + options_.call_timeout;
  c.stream.limit(limits);
  http::response_parser<http::string_body> parser;
  parser.header_limit(kMaxHeaderBytes);
  ErrorCode ec;
  http::write(c.stream, make_request(method, "/v" + api_version() + path, nullptr), ec);
  if (!ec) http::read_header(c.stream, c.buffer, parser, ec);
  if (!ec && parser.get().result_int() != 200) {
    // An error answer: its {"message": ...} within the call timeout.
    r.status = parser.get().result_int();
    limits.deadline = Clock::now() + options_.call_timeout;
    c.stream.limit(limits);
    parser.body_limit(kMaxErrorBodyBytes);
    http::read(c.stream, c.buffer, parser, ec);
    r.body = std::move(parser.get().body());
    return finish();  // a cut-short message is still the engine's answer
  }
  if (!ec) {
    r.status = 200;
    limits.deadline = Clock::time_point::max();
    c.stream.limit(limits);
    parser.body_limit(boost::none);
    std::string& body = parser.get().body();  // bytes after the last delivered line
    while (!ec && !parser.is_done()) {
      http::read_some(c.stream, c.buffer, parser, ec);
      try {
        std::size_t from = 0;
        for (std::size_t nl = body.find('\n'); nl != std::string::npos;
             nl = body.find('\n', from)) {
          std::string_view line(body.data() + from, nl - from);
          if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
          if (!line.empty()) on_line(line);
          from = nl + 1;
        }
        body.erase(0, from);
      } catch (const std::exception& e) {
        r.transport_error = std::string("stream line handler failed: ") + e.what();
        return finish();
      }
      if (body.size() > kMaxBodyBytes) {
        r.transport_error = "the Docker engine at " + options_.socket_path + " sent a line on " +
                            label + " longer than " + std::to_string(kMaxBodyBytes >> 20) + " MiB";
        return finish();
      }
    }
  }
  if (!ec || ec == asio::error::operation_aborted) return finish();  // ended, or stopped
  if (ec == asio::error::timed_out && idle_timeout.count() > 0) {
    r.transport_error = "the Docker engine at " + options_.socket_path + " sent nothing on " +
                        label + " for " + describe_duration(idle_timeout) + " (idle timeout)";
  } else {
    r.transport_error = describe_exchange_error(ec, options_.socket_path, options_.call_timeout);
    if (r.status == 200) r.transport_error = label + " stream broke: " + r.transport_error;
  }
  return finish();
}

std::string url_encode(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3);
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

}  // namespace edge::docker
