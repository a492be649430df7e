#pragma once
// The master-facing HTTP(S) server (DESIGN §3, §7): event-driven, on
// Boost.Beast/Asio, so no idle, slow or half-open peer can hold capacity.
//
// Threads: one I/O thread (the caller of run()) owns accept, the TLS
// handshake, reading and writing. apply/teardown run on a small pool
// (`handler_threads`), the other GETs on one more thread, so a long apply
// never stalls the I/O loop and /health answers while it runs.
//
// Every phase has a total deadline (handshake, request headers, body,
// write, keep-alive idle). At capacity, the oldest idle keep-alive
// connection is closed first, then the oldest one that has not yet sent a
// complete request header; a peer address holds at most
// `max_connections_per_peer`.
//
// Limits: a declared Content-Length above the cap is a 413 at once (then
// close), a chunked body is counted as it arrives; a request without either
// length header has an empty body; conflicting lengths are a 400; pipelined
// requests are answered in order. Bodies in flight are admitted against a
// memory budget (`max_memory`) and at most `max_concurrent_parses` handlers
// parse at once: beyond either, a request waits up to `admission_wait`, then
// gets 503 with Retry-After. Errors are {"detail": ...} and never echo
// exception text. Once no connection has been open for a second, freed heap
// pages go back to the kernel (malloc_trim), so a burst does not stay
// resident.
//
// With TLS, a client certificate signed by the CA is required during the
// handshake (TLS >= 1.2); with a pinned master identity, a CA-signed caller
// that does not match gets 403 before its request is handled. The bundle is
// re-read when its files change (checked every `tls_watch_interval`) and on
// TlsCredentials::reload(); new connections use the new bundle.

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "agent/topology_service.h"
#include "common/memory_budget.h"
#include "common/status.h"

namespace edge {

class TlsCredentials;

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8765;  // 0: any free port (read it back with port())
  // TLS: either a loaded credentials object (shared with the heartbeat, so
  // one reload serves both), or the three paths (the server loads them).
  std::shared_ptr<TlsCredentials> tls;
  std::string tls_cert, tls_key, tls_ca;
  // --master-identity entries (see MasterIdentity); empty: any CA-signed caller.
  std::vector<std::string> master_identity;

  std::size_t max_body_bytes = 16u << 20;
  // Admission budget for request bodies in flight: each body is charged
  // kBodyCostFactor x its size (buffer + parse) while it is read and handled.
  // `budget`, when set, is shared with the applies (their plans); else the
  // server makes its own of `max_memory`.
  std::size_t max_memory = 512u << 20;
  std::shared_ptr<MemoryBudget> budget;
  int max_connections = 4096;          // also capped by RLIMIT_NOFILE
  int max_connections_per_peer = 256;  // a master needs few; wrk -c256 fits
  int handler_threads = 2;             // apply/teardown pool
  int max_concurrent_parses = 2;
  std::chrono::milliseconds handshake_timeout{5000};
  std::chrono::milliseconds header_timeout{10000};
  std::chrono::milliseconds body_timeout{60000};
  std::chrono::milliseconds write_timeout{10000};
  std::chrono::milliseconds keep_alive_timeout{5000};
  std::chrono::milliseconds admission_wait{2000};
  std::chrono::milliseconds tls_watch_interval{2000};  // 0: no file watch
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

// A body of n bytes is charged this many times n against max_memory while
// it is read and handled: body, tree and model peak at 3.6 n, validation at
// 4.8 n, on the costliest shape measured (14.8 MB of tiny deckies,
// bench_apply_memory), so 6 keeps the budget an upper bound. The plan of an
// apply is charged on its own (plan_bytes_bound).
inline constexpr std::size_t kBodyCostFactor = 6;

// Raises the RLIMIT_NOFILE soft limit to the hard limit (systemd's default
// soft limit is 1024). Returns the soft limit now in force.
long raise_open_files_limit();

class HttpServer {
 public:
  // Builds the server and binds the socket (so the port is known and errors
  // surface before READY=1). Fails with a reason a person can act on.
  static Expected<std::unique_ptr<HttpServer>> make(const ServerOptions& options,
                                                    HttpHandlers handlers);
  // The same, for callers that predate Expected: null with *error set.
  static std::unique_ptr<HttpServer> create(const ServerOptions& options, HttpHandlers handlers,
                                            std::string* error);
  ~HttpServer();  // stops; joins the handler threads (waits for a running apply)
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const;
  bool tls() const;
  // Serves on the calling thread until stop(); returns false if the accept
  // loop failed. A stop() before run() makes run() return at once.
  bool run();
  // Stops accepting, closes every connection and ends run(); safe from any
  // thread, idempotent.
  void stop();
  // Connections currently open (for tests and /debug/state).
  std::size_t connections() const;

  class Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace edge
