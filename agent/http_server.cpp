#include "agent/http_server.h"

#include <httplib.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <chrono>
#include <thread>

namespace edge {
namespace {

using nlohmann::json;

constexpr const char* kJson = "application/json";
constexpr std::size_t kDrainAfterCap = 1u << 20;

void send(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), kJson);
}

std::string normalise_route(const std::string& path) {
  static const char* kRoutes[] = {"/health",         "/topology/state",
                                  "/topology/apply", "/topology/teardown",
                                  "/debug/state",    "/metrics"};
  for (const char* r : kRoutes) {
    if (path == r) return r;
  }
  return "other";
}

std::string ssl_error_text() {
  unsigned long e = ERR_get_error();
  if (e == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

std::uint64_t declared_length(const httplib::Request& req) {
  const std::string v = req.get_header_value("Content-Length");
  char* end = nullptr;
  unsigned long long n = std::strtoull(v.c_str(), &end, 10);
  return v.empty() || *end != '\0' ? 0 : n;
}

// Reads the body as it arrives, counting bytes, so a chunked body is capped
// as surely as one that declares Content-Length.
void post_route(httplib::Server& svr, const std::string& path, std::size_t cap,
                std::function<Reply(std::string_view)> handler) {
  svr.Post(path, [cap, handler](const httplib::Request& req, httplib::Response& res,
                                const httplib::ContentReader& reader) {
    std::string body;
    bool too_big = false;
    std::size_t discarded = 0;
    bool read_ok = reader([&](const char* data, std::size_t len) {
      if (too_big || body.size() + len > cap) {
        // Keep reading (and dropping) a bounded amount past the cap, so a
        // client that is still sending gets our 413 instead of a reset.
        too_big = true;
        discarded += len;
        return discarded <= kDrainAfterCap;
      }
      body.append(data, len);
      return true;
    });
    if (too_big || (!read_ok && declared_length(req) > cap)) {
      res.set_header("Connection", "close");
      send(res, 413, {{"detail", "request body larger than " + std::to_string(cap) + " bytes"}});
      return;
    }
    if (!read_ok) {
      res.set_header("Connection", "close");
      send(res, 400, {{"detail", "could not read the request body"}});
      return;
    }
    Reply reply = handler(body);
    send(res, reply.status, reply.body);
  });
}

}  // namespace

std::unique_ptr<HttpServer> HttpServer::create(const ServerOptions& opt, HttpHandlers h,
                                               std::string* error) {
  std::unique_ptr<HttpServer> self(new HttpServer());
  const bool want_tls = !opt.tls_cert.empty() || !opt.tls_key.empty() || !opt.tls_ca.empty();
  if (want_tls) {
    std::string tls_error;
    auto svr = std::make_unique<httplib::SSLServer>([&](SSL_CTX& ctx) {
      if (SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION) != 1 ||
          SSL_CTX_use_certificate_chain_file(&ctx, opt.tls_cert.c_str()) != 1) {
        tls_error = "cannot load --tls-cert '" + opt.tls_cert + "': " + ssl_error_text();
        return false;
      }
      if (SSL_CTX_use_PrivateKey_file(&ctx, opt.tls_key.c_str(), SSL_FILETYPE_PEM) != 1 ||
          SSL_CTX_check_private_key(&ctx) != 1) {
        tls_error = "cannot load --tls-key '" + opt.tls_key +
                    "' (or it does not match the cert): " + ssl_error_text();
        return false;
      }
      if (SSL_CTX_load_verify_locations(&ctx, opt.tls_ca.c_str(), nullptr) != 1) {
        tls_error = "cannot load --tls-ca '" + opt.tls_ca + "': " + ssl_error_text();
        return false;
      }
      STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(opt.tls_ca.c_str());
      if (names != nullptr) SSL_CTX_set_client_CA_list(&ctx, names);
      // The master must present a certificate signed by the CA.
      SSL_CTX_set_verify(&ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
      return true;
    });
    if (!svr->is_valid()) {
      *error = tls_error.empty() ? "TLS setup failed" : tls_error;
      return nullptr;
    }
    self->server_ = std::move(svr);
    self->tls_ = true;
  } else {
    self->server_ = std::make_unique<httplib::Server>();
  }
  httplib::Server& svr = *self->server_;
  const int threads = opt.worker_threads;
  svr.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  svr.set_keep_alive_timeout(opt.keep_alive_s);
  svr.set_read_timeout(opt.read_timeout_s, 0);
  svr.set_write_timeout(opt.read_timeout_s, 0);
  svr.set_payload_max_length(opt.max_body_bytes);
  svr.set_tcp_nodelay(true);
  // cpp-httplib's default adds SO_REUSEPORT, which would let a second agent
  // bind the same port and silently share the master's calls.
  svr.set_socket_options([](int sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });

  svr.Get("/health", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"status":"ok"})", kJson);
  });
  svr.Get("/topology/state",
          [h](const httplib::Request&, httplib::Response& res) { send(res, 200, h.state()); });
  svr.Get("/debug/state", [h](const httplib::Request&, httplib::Response& res) {
    send(res, 200, h.debug_state());
  });
  svr.Get("/metrics", [h](const httplib::Request&, httplib::Response& res) {
    res.set_content(h.metrics_text(), "text/plain; version=0.0.4; charset=utf-8");
  });
  post_route(svr, "/topology/apply", opt.max_body_bytes, h.apply);
  post_route(svr, "/topology/teardown", opt.max_body_bytes, h.teardown);

  svr.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;
    const char* reason = res.status == 404   ? "Not Found"
                         : res.status == 413 ? "request body too large"
                         : res.status == 405 ? "Method Not Allowed"
                                             : "bad request";
    send(res, res.status, {{"detail", reason}});
  });
  svr.set_exception_handler(
      [](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
        // Log the reason; the peer gets a fixed sentence and no exception text.
        try {
          if (ep) std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          spdlog::error("handler for {} {} threw: {}", req.method, req.path, e.what());
        }
        send(res, 500, {{"detail", "internal error; see the agent's log"}});
      });
  auto on_request = h.on_request;
  svr.set_logger([on_request](const httplib::Request& req, const httplib::Response& res) {
    if (on_request) on_request(normalise_route(req.path), res.status);
  });

  if (opt.port == 0) {
    self->port_ = svr.bind_to_any_port(opt.host);
    if (self->port_ <= 0) {
      *error = "cannot bind " + opt.host + ":0";
      return nullptr;
    }
  } else {
    if (!svr.bind_to_port(opt.host, opt.port)) {
      *error = "cannot bind " + opt.host + ":" + std::to_string(opt.port) +
               " (in use, or not an address of this host)";
      return nullptr;
    }
    self->port_ = opt.port;
  }
  return self;
}

HttpServer::~HttpServer() { stop(); }

bool HttpServer::run() {
  {
    std::lock_guard lock(run_mu_);
    if (run_state_ == RunState::kStopped) return true;
    run_state_ = RunState::kStarting;
  }
  return server_->listen_after_bind();
}

void HttpServer::stop() {
  if (!server_) return;
  bool starting = false;
  {
    std::lock_guard lock(run_mu_);
    starting = run_state_ == RunState::kStarting;
    run_state_ = RunState::kStopped;
  }
  if (starting) {
    // run() has begun: wait (bounded) for the accept loop so stop() takes.
    for (int i = 0; i < 2000 && !server_->is_running(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  server_->stop();
}

}  // namespace edge
