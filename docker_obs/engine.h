#pragma once
// Docker Engine API client over the Unix socket (HTTP/1.1 by Boost.Beast's
// parser on a plain non-blocking socket; no libcurl and its dependency tree
// in the daemon's memory).
//
// Every call has a connect timeout and a total timeout; streams (events,
// pulls) have none, a pull has an idle timeout instead. The API version is
// negotiated once (GET /_ping -> "Api-Version" header, or GET /version) and
// every later path is sent as /v<version>/<path>. Thread-safe: calls may run
// in parallel. Each call borrows a kept-alive connection to the engine from
// a small pool (or opens one) and gives it back when the engine keeps it
// open, so one connection serves many calls; a pooled connection the engine
// has closed meanwhile is dropped, and a call that finds it closed under its
// request is sent once more on a new connection.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace edge::docker {

struct EngineResponse {
  long status = 0;              // HTTP status; 0 when the transport failed
  std::string body;             // raw body
  std::string transport_error;  // why nothing was answered, when status == 0

  bool ok() const { return status >= 200 && status < 300; }
  // The engine's {"message": ...} when present, else the transport error,
  // else "HTTP <status>". Always something a person can read.
  std::string message() const;
  // Parsed body, or null json when it is not JSON.
  nlohmann::json json() const;
};

struct EngineOptions {
  std::string socket_path = "/var/run/docker.sock";
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds call_timeout{60000};
  // Metrics hook: (call template like "POST /containers/create", ok, seconds).
  std::function<void(const std::string&, bool, double)> on_call;
  // A pull (stream_post) fails when the engine sends nothing for this long.
  std::chrono::milliseconds pull_idle_timeout{120000};
};

// What streams are doing, for a watchdog that must not kill an agent that is
// busy pulling: how many are open and when any of them last received bytes.
struct StreamProgress {
  int active = 0;
  std::chrono::steady_clock::time_point last_bytes{};  // epoch when none ever did
};

class DockerEngine {
 public:
  explicit DockerEngine(EngineOptions options);
  ~DockerEngine();
  DockerEngine(const DockerEngine&) = delete;
  DockerEngine& operator=(const DockerEngine&) = delete;

  // Negotiates the API version if not yet done. Returns false (and a reason
  // in *error) when the engine is unreachable. Cheap after the first success.
  bool negotiate(std::string* error = nullptr);
  std::string api_version() const;     // "" until negotiated
  std::string engine_version() const;  // "" until negotiated

  // `path` is unversioned and starts with '/', e.g. "/containers/json?all=1".
  // `route` is the metrics label ("GET /containers/json"); defaults to method+path sans query.
  EngineResponse get(const std::string& path, const std::string& route = "");
  EngineResponse post(const std::string& path, const nlohmann::json& body = nullptr,
                      const std::string& route = "");
  EngineResponse del(const std::string& path, const std::string& route = "");

  // Streams a long-lived GET (e.g. /events): on_line gets each complete
  // newline-delimited JSON line. Returns when the stream ends, fails, or
  // `stop` becomes true (checked at least every 200 ms). No total timeout.
  EngineResponse stream_lines(const std::string& path,
                              const std::function<void(std::string_view line)>& on_line,
                              const std::atomic<bool>& stop);

  // Streams a POST whose answer is newline-delimited JSON progress (e.g.
  // /images/create): on_line gets each complete line. No total timeout; the
  // call fails with a transport error when nothing arrives for
  // `idle_timeout`, and ends when `stop` becomes true. A non-200 answer is
  // returned with its body. Every received byte counts as progress().
  EngineResponse stream_post(const std::string& path,
                             const std::function<void(std::string_view line)>& on_line,
                             std::chrono::milliseconds idle_timeout, const std::atomic<bool>& stop,
                             const std::string& route = "");

  // Open stream_post calls and when one last received bytes. Lock-free.
  StreamProgress progress() const;

  // Kept-alive engine connections currently idle in the pool (for tests and /debug).
  std::size_t pooled_connections() const;

  const EngineOptions& options() const { return options_; }

 private:
  EngineResponse request(const char* method, const std::string& path, const std::string* body,
                         const std::string& route);
  EngineResponse stream(const char* method, const std::string& path,
                        const std::function<void(std::string_view line)>& on_line,
                        std::chrono::milliseconds idle_timeout, const std::atomic<bool>& stop,
                        const std::string& route);
  struct Connection;
  // A pooled connection the engine has not closed, or a new one; null (and
  // why in *error) when the engine cannot be reached. *reused says which.
  std::unique_ptr<Connection> take_connection(bool* reused, std::string* error);
  void give_back(std::unique_ptr<Connection> connection);
  EngineResponse exchange(const char* method, const std::string& target, const std::string* body,
                          std::string* api_version_header);

  EngineOptions options_;
  mutable std::mutex mu_;  // guards api_version_, engine_version_
  std::string api_version_;
  std::string engine_version_;
  mutable std::mutex pool_mu_;                     // guards pool_
  std::vector<std::unique_ptr<Connection>> pool_;  // idle kept-alive connections
  std::atomic<int> streams_active_{0};
  std::atomic<std::int64_t> last_stream_bytes_ns_{0};  // steady_clock, since its epoch
};

// URL-encodes a string for a query parameter (e.g. a filters JSON).
std::string url_encode(std::string_view s);

}  // namespace edge::docker
