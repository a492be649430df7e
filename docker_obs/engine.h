#pragma once
// Docker Engine API client over the Unix socket (libcurl).
//
// Every call has a connect timeout and a total timeout. The API version is
// negotiated once (GET /_ping -> "Api-Version" header, or GET /version) and
// every later path is sent as /v<version>/<path>. Thread-safe: each call uses
// its own curl easy handle (cheap on a Unix socket), so calls may run in
// parallel from a pool.

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace edge::docker {

struct EngineResponse {
  long status = 0;              // HTTP status; 0 when the transport failed
  std::string body;             // raw body
  std::string transport_error;  // curl's reason when status == 0

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
};

class DockerEngine {
 public:
  explicit DockerEngine(EngineOptions options);

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

  const EngineOptions& options() const { return options_; }

 private:
  EngineResponse request(const char* method, const std::string& path, const std::string* body,
                         const std::string& route);

  EngineOptions options_;
  mutable std::mutex mu_;  // guards api_version_, engine_version_
  std::string api_version_;
  std::string engine_version_;
};

// URL-encodes a string for a query parameter (e.g. a filters JSON).
std::string url_encode(std::string_view s);

}  // namespace edge::docker
