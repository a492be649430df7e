#pragma once
// The master-facing HTTP(S) server (DESIGN §3, §7) on cpp-httplib.
//
// Limits: bodies capped (413, chunked ones too, counted as they arrive);
// JSON nesting is capped by the handlers before any parser recurses; errors
// are {"detail": ...} bodies and never echo exception text into headers.
// With TLS, a client certificate signed by the CA is required during the
// handshake and TLS < 1.2 is refused.

#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "agent/topology_service.h"

namespace httplib {
class Server;
}

namespace edge {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8765;                        // 0: any free port (read it back with port())
  std::string tls_cert, tls_key, tls_ca;  // all three, or none
  std::size_t max_body_bytes = 16u << 20;
  int worker_threads = 64;  // idle keep-alive peers each hold one for keep_alive_s
  int keep_alive_s = 5;
  int read_timeout_s = 10;  // also bounds a stalled TLS handshake
};

struct HttpHandlers {
  std::function<Reply(std::string_view body)> apply;
  std::function<Reply(std::string_view body)> teardown;
  std::function<nlohmann::json()> state;
  std::function<nlohmann::json()> debug_state;
  std::function<std::string()> metrics_text;
  // After every request: normalised route ("/topology/apply", "other") and status.
  std::function<void(const std::string& route, int status)> on_request;
};

class HttpServer {
 public:
  // Builds the server and binds the socket (so the port is known and errors
  // surface before READY=1). Returns null with *error set on failure.
  static std::unique_ptr<HttpServer> create(const ServerOptions& options, HttpHandlers handlers,
                                            std::string* error);
  ~HttpServer();

  int port() const { return port_; }
  bool tls() const { return tls_; }
  // Serves until stop(); returns false if the accept loop failed.
  bool run();
  // Stops accepting and ends run(); safe from any thread, idempotent.
  void stop();

 private:
  HttpServer() = default;
  std::unique_ptr<httplib::Server> server_;
  // cpp-httplib's stop() is a no-op until the accept loop runs: remember a
  // stop that comes early, and wait for the loop when run() has begun.
  std::mutex run_mu_;  // guards run_state_
  enum class RunState { kIdle, kStarting, kStopped } run_state_ = RunState::kIdle;
  int port_ = 0;
  bool tls_ = false;
};

}  // namespace edge
