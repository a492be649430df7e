#include "agent/http_server.h"

#include <malloc.h>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <list>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "agent/tls_credentials.h"

namespace edge {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

constexpr const char* kJson = "application/json";
constexpr const char* kPrometheus = "text/plain; version=0.0.4; charset=utf-8";
constexpr std::uint32_t kHeaderLimit = 16 * 1024;
constexpr std::size_t kDrainLimit = 1u << 20;  // bytes read and dropped before a close
constexpr std::chrono::milliseconds kDrainTime{1000};
constexpr std::chrono::milliseconds kAdmissionPoll{20};
constexpr std::size_t kTrimAfterBytes = 1u << 20;  // give a big body's pages back
// glibc keeps what is freed: up to 128 KiB (M_TRIM_THRESHOLD) free at the
// top of each thread's arena, and free pages under live chunks. A TLS
// handshake leaves ~100 KiB of them in the I/O thread's arena, and start-up
// and the heartbeat leave theirs. Once no connection has been open for this
// long, malloc_trim(0) gives them back (idle RssAnon -100 KiB); if they are
// needed again, they fault back in.
constexpr std::chrono::milliseconds kIdleTrimDelay{1000};

std::string dump(const json& body) {
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

const char* normalise_route(std::string_view path) {
  static const char* kRoutes[] = {"/health",         "/topology/state",
                                  "/topology/apply", "/topology/teardown",
                                  "/debug/state",    "/metrics"};
  for (const char* r : kRoutes) {
    if (path == r) return r;
  }
  return "other";
}

struct Answer {
  int status = 200;
  std::string body;
  const char* content_type = kJson;
  bool close = false;
  int retry_after_s = 0;  // >0: Retry-After header
};

// A request that is not valid HTTP (as opposed to a peer that left or stalled).
bool is_parse_error(const beast::error_code& ec) {
  return ec && ec.category() == http::make_error_code(http::error::need_more).category() &&
         ec != http::error::end_of_stream && ec != http::error::partial_message;
}

Answer detail(int status, const std::string& why, bool close = false) {
  return {status, dump({{"detail", why}}), kJson, close, 0};
}

}  // namespace

long raise_open_files_limit() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return 1024;
  if (lim.rlim_cur < lim.rlim_max) {
    rlimit want = lim;
    want.rlim_cur = lim.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &want) == 0) lim = want;
  }
  return lim.rlim_cur == RLIM_INFINITY ? 1L << 20 : static_cast<long>(lim.rlim_cur);
}

// One connection as the server's registry sees it. Everything here runs on
// the I/O thread except the destructor (the last reference may die on a
// handler thread), hence the registry mutex.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  enum class Phase { kHandshake, kHeaders, kIdle, kBusy, kClosing };
  virtual ~Connection() = default;
  virtual void start() = 0;
  // Closes the socket now; pending operations end with operation_aborted.
  virtual void abort() = 0;

  Phase phase = Phase::kHeaders;
  SteadyClock::time_point phase_since = SteadyClock::now();
  std::string peer;
  bool registered = false;                      // guarded by Impl::reg_mu_
  std::list<Connection*>::iterator position{};  // guarded by Impl::reg_mu_
};

class HttpServer::Impl {
 public:
  Impl(ServerOptions o, HttpHandlers h, MasterIdentity id, std::shared_ptr<TlsCredentials> creds)
      : opt(std::move(o)),
        handlers(std::move(h)),
        identity(std::move(id)),
        credentials(std::move(creds)),
        budget(opt.budget ? opt.budget : std::make_shared<MemoryBudget>(opt.max_memory)),
        ops_pool(static_cast<std::size_t>(std::max(1, opt.handler_threads))),
        read_pool(1) {}

  ~Impl() {
    // Handler threads first (they post back to the io_context), then the
    // io_context destroys what is still queued, then the registry goes.
    ops_pool.join();
    read_pool.join();
  }

  // --- registry (any thread) ---
  bool admit_connection(Connection* c) {
    std::lock_guard lock(reg_mu_);
    int& n = per_peer[c->peer];
    if (n >= opt.max_connections_per_peer) {
      if (n == opt.max_connections_per_peer) {
        spdlog::debug("refusing a connection from {}: it already holds {}", c->peer, n);
      }
      return false;
    }
    if (live >= max_connections && !evict_one_locked()) return false;
    ++n;
    ++live;
    c->position = conns.insert(conns.end(), c);
    c->registered = true;
    return true;
  }
  void unregister(Connection* c) {
    std::lock_guard lock(reg_mu_);
    unregister_locked(c);
  }
  void unregister_locked(Connection* c) {
    if (!c->registered) return;
    c->registered = false;
    conns.erase(c->position);
    --live;
    auto it = per_peer.find(c->peer);
    if (it != per_peer.end() && --it->second <= 0) per_peer.erase(it);
  }
  // Idle keep-alive first, then the oldest that has not sent a whole header.
  bool evict_one_locked() {
    Connection* victim = nullptr;
    for (auto phase :
         {Connection::Phase::kIdle, Connection::Phase::kHandshake, Connection::Phase::kHeaders}) {
      for (Connection* c : conns) {
        if (c->phase == phase && (victim == nullptr || c->phase_since < victim->phase_since)) {
          victim = c;
        }
      }
      if (victim != nullptr) break;
    }
    if (victim == nullptr) return false;
    unregister_locked(victim);
    victim->abort();
    ++evicted;
    return true;
  }
  void close_all() {
    std::lock_guard lock(reg_mu_);
    while (!conns.empty()) {
      Connection* c = conns.front();
      unregister_locked(c);
      c->abort();
    }
  }

  // --- admission (I/O thread; the budget is shared with the applies) ---
  bool charge(std::size_t bytes) { return budget->try_charge(bytes); }
  void refund(std::size_t bytes) {
    if (bytes > 0) budget->release(bytes);
  }

  void accept();
  void watch_tls();
  // Any thread, after a connection is unregistered: when it was the last
  // one, arms idle_trim (kIdleTrimDelay) on the I/O thread.
  void connection_closed();
  void arm_idle_trim();  // I/O thread

  const ServerOptions opt;
  const HttpHandlers handlers;
  const MasterIdentity identity;
  const std::shared_ptr<TlsCredentials> credentials;  // null: plaintext
  std::size_t max_connections = 0;
  int port = 0;
  std::atomic<bool> stopped{false};

  mutable std::mutex reg_mu_;  // guards conns, per_peer, live, evicted
  std::list<Connection*> conns;
  std::unordered_map<std::string, int> per_peer;
  std::size_t live = 0;
  std::uint64_t evicted = 0;

  const std::shared_ptr<MemoryBudget> budget;
  int parses = 0;  // I/O thread only

  asio::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  asio::steady_timer accept_retry{ioc};
  asio::steady_timer tls_watch{ioc};
  asio::steady_timer idle_trim{ioc};
  asio::thread_pool ops_pool;
  asio::thread_pool read_pool;
};

namespace {

using Impl = HttpServer::Impl;
using TlsStream = asio::ssl::stream<beast::tcp_stream>;

template <class Stream>
class Session final : public Connection {
 public:
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

  Session(Impl& srv, tcp::socket socket, std::shared_ptr<const TlsBundle> bundle)
      : srv_(srv),
        bundle_(std::move(bundle)),
        stream_(make_stream(std::move(socket))),
        wait_timer_(srv.ioc) {}

  ~Session() override {
    // Normally answer() gave these back; an aborted request gives them back here.
    if (charged_ > 0) srv_.refund(charged_);
    if (parse_slot_) --srv_.parses;
    srv_.unregister(this);
    srv_.connection_closed();
  }

  void start() override {
    if constexpr (kTls) {
      set_phase(Phase::kHandshake);
      lowest().expires_after(srv_.opt.handshake_timeout);
      stream_.async_handshake(asio::ssl::stream_base::server,
                              [self = shared()](beast::error_code ec) { self->on_handshake(ec); });
    } else {
      read_request(true);
    }
  }

  void abort() override {
    set_phase(Phase::kClosing);
    beast::error_code ec;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ec);
    lowest().socket().close(ec);
  }

 private:
  Stream make_stream(tcp::socket socket) {
    if constexpr (kTls) {
      return Stream(beast::tcp_stream(std::move(socket)), *bundle_->server_context);
    } else {
      return Stream(std::move(socket));
    }
  }
  std::shared_ptr<Session> shared() {
    return std::static_pointer_cast<Session>(shared_from_this());
  }
  beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }
  void set_phase(Phase p) {
    phase = p;
    phase_since = SteadyClock::now();
  }

  void on_handshake(beast::error_code ec) {
    if (ec) return abort();  // timeout, no certificate, rogue CA: nothing to answer
    if constexpr (kTls) {
      std::string why = srv_.identity.check(SSL_get0_peer_certificate(stream_.native_handle()));
      if (!why.empty()) {
        // Not the master: answered and closed before its request is read
        // (DESIGN §3), so nothing it sends ever reaches a parser.
        spdlog::warn("refusing {}: {}", peer, why);
        return answer(detail(403, why, true), "other");
      }
    }
    read_request(true);
  }

  void read_request(bool first) {
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    parser_->body_limit(boost::none);  // the cap is checked after the header
    if (!first && buffer_.size() == 0) {
      // Keep-alive: wait for the next request's first bytes (evictable).
      set_phase(Phase::kIdle);
      lowest().expires_after(srv_.opt.keep_alive_timeout);
      stream_.async_read_some(buffer_.prepare(1024),
                              [self = shared()](beast::error_code ec, std::size_t n) {
                                if (ec) return self->abort();
                                self->buffer_.commit(n);
                                self->read_header();
                              });
      return;
    }
    read_header();
  }

  void read_header() {
    set_phase(Phase::kHeaders);
    lowest().expires_after(srv_.opt.header_timeout);
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared()](beast::error_code ec, std::size_t) { self->on_header(ec); });
  }

  void on_header(beast::error_code ec) {
    if (ec == http::error::bad_content_length || ec == http::error::multiple_content_length ||
        ec == http::error::bad_transfer_encoding) {
      return answer(
          detail(400, "conflicting or malformed Content-Length / Transfer-Encoding headers", true),
          "other");
    }
    if (ec == http::error::header_limit) {
      return answer(detail(431, "request header fields larger than 16 KiB", true), "other");
    }
    if (is_parse_error(ec)) return answer(detail(400, "malformed HTTP request", true), "other");
    if (ec) return abort();  // EOF, timeout, reset: nobody to answer
    set_phase(Phase::kBusy);

    auto& req = parser_->get();
    const std::string_view target(req.target().data(), req.target().size());
    route_ = normalise_route(target.substr(0, target.find('?')));
    method_ = req.method();
    keep_alive_ = req.keep_alive();

    const std::size_t cap = srv_.opt.max_body_bytes;
    const auto length = parser_->content_length();
    if (length && *length > cap) {
      return answer(
          detail(413,
                 "request body of " + std::to_string(*length) +
                     " bytes is larger than the limit of " + std::to_string(cap) + " bytes",
                 true),
          route_);
    }
    const bool has_body = parser_->chunked() || (length && *length > 0);
    if (!has_body) return dispatch();
    const std::size_t cost = kBodyCostFactor * (length ? *length : cap);
    if (cost > srv_.budget->limit()) {
      return answer(detail(413,
                           "a body of this size does not fit the agent's memory budget "
                           "(--max-memory " +
                               std::to_string(srv_.budget->limit()) + " bytes)",
                           true),
                    route_);
    }
    wait_deadline_ = SteadyClock::now() + srv_.opt.admission_wait;
    admit_body(cost);
  }

  // Charges the body against the budget, waiting (bounded) for room.
  void admit_body(std::size_t cost) {
    if (srv_.charge(cost)) {
      charged_ = cost;
      return continue_then_read_body();
    }
    if (SteadyClock::now() >= wait_deadline_) return busy();
    wait_timer_.expires_after(kAdmissionPoll);
    wait_timer_.async_wait([self = shared(), cost](beast::error_code ec) {
      if (ec || self->phase == Phase::kClosing) return;
      self->admit_body(cost);
    });
  }

  void busy() {
    Answer a = detail(503, "the agent is busy with other requests; retry shortly", true);
    a.retry_after_s = 1;
    answer(std::move(a), route_);
  }

  void continue_then_read_body() {
    auto& req = parser_->get();
    auto expect = req[http::field::expect];
    if (!beast::iequals(expect, "100-continue")) return read_body();
    continue_.emplace(http::status::continue_, req.version());
    lowest().expires_after(srv_.opt.write_timeout);
    http::async_write(stream_, *continue_, [self = shared()](beast::error_code ec, std::size_t) {
      if (ec) return self->abort();
      self->read_body();
    });
  }

  void read_body() {
    parser_->body_limit(srv_.opt.max_body_bytes);
    lowest().expires_after(srv_.opt.body_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared()](beast::error_code ec, std::size_t) { self->on_body(ec); });
  }

  void on_body(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      return answer(
          detail(413,
                 "request body larger than " + std::to_string(srv_.opt.max_body_bytes) + " bytes",
                 true),
          route_);
    }
    if (is_parse_error(ec)) {
      return answer(detail(400, "malformed request body framing", true), route_);
    }
    if (ec) return abort();  // the peer stalled or left: nobody to answer
    dispatch();
  }

  void dispatch() {
    const std::string_view route = route_;
    const bool get = method_ == http::verb::get;
    const bool post = method_ == http::verb::post;
    const HttpHandlers& h = srv_.handlers;
    if (route == "/health") {
      if (!get) return answer(detail(405, "Method Not Allowed"), route_);
      return answer({200, R"({"status":"ok"})", kJson, false, 0}, route_);
    }
    if (route == "/topology/state" || route == "/debug/state" || route == "/metrics") {
      if (!get) return answer(detail(405, "Method Not Allowed"), route_);
      std::function<Answer()> read;
      if (route == "/metrics") {
        read = [&h] { return Answer{200, h.metrics_text(), kPrometheus, false, 0}; };
      } else {
        auto fn = route == "/debug/state" ? h.debug_state : h.state;
        read = [fn] { return Answer{200, dump(fn()), kJson, false, 0}; };
      }
      return run_on(srv_.read_pool, std::move(read));
    }
    if (route == "/topology/apply" || route == "/topology/teardown") {
      if (!post) return answer(detail(405, "Method Not Allowed"), route_);
      if (!parse_slot_) {
        wait_deadline_ = SteadyClock::now() + srv_.opt.admission_wait;
        return take_parse_slot();
      }
    }
    answer(detail(404, "Not Found"), route_);
  }

  // At most max_concurrent_parses handlers hold a body at once.
  void take_parse_slot() {
    if (srv_.parses < srv_.opt.max_concurrent_parses) {
      ++srv_.parses;
      parse_slot_ = true;
      return run_operation();
    }
    if (SteadyClock::now() >= wait_deadline_) return busy();
    wait_timer_.expires_after(kAdmissionPoll);
    wait_timer_.async_wait([self = shared()](beast::error_code ec) {
      if (ec || self->phase == Phase::kClosing) return;
      self->take_parse_slot();
    });
  }

  void run_operation() {
    auto fn = route_ == std::string_view("/topology/apply") ? srv_.handlers.apply
                                                            : srv_.handlers.teardown;
    auto body = std::make_shared<std::string>(std::move(parser_->get().body()));
    run_on(srv_.ops_pool, [fn, body] {
      Reply r = fn(*body);
      const std::size_t size = body->size();
      std::string().swap(*body);
      if (size >= kTrimAfterBytes) ::malloc_trim(0);
      // A 503 from the service (its plan does not fit the budget now, or it
      // is shutting down) is one to retry, as the server's own are.
      return Answer{r.status, dump(r.body), kJson, false, r.status == 503 ? 1 : 0};
    });
  }

  // Runs `work` on a handler thread and answers with its result on the I/O thread.
  void run_on(asio::thread_pool& pool, std::function<Answer()> work) {
    asio::post(pool, [self = shared(), work = std::move(work)] {
      Answer a;
      try {
        a = work();
      } catch (const std::exception& e) {
        spdlog::error("handler for {} threw: {}", self->route_, e.what());
        a = detail(500, "internal error; see the agent's log");
      }
      asio::post(self->srv_.ioc,
                 [self, a = std::move(a)]() mutable { self->answer(std::move(a), self->route_); });
    });
  }

  void answer(Answer a, const char* route) {
    set_phase(Phase::kBusy);
    srv_.refund(charged_);
    charged_ = 0;
    if (parse_slot_) {
      --srv_.parses;
      parse_slot_ = false;
    }
    parser_.reset();  // frees the body
    const bool close = a.close || !keep_alive_ || srv_.stopped.load();
    res_.emplace(static_cast<http::status>(a.status), 11);
    res_->set(http::field::content_type, a.content_type);
    if (a.retry_after_s > 0) res_->set(http::field::retry_after, std::to_string(a.retry_after_s));
    res_->body() = std::move(a.body);
    res_->keep_alive(!close);
    res_->prepare_payload();
    if (srv_.handlers.on_request) srv_.handlers.on_request(route, a.status);
    lowest().expires_after(srv_.opt.write_timeout);
    http::async_write(stream_, *res_, [self = shared(), close](beast::error_code ec, std::size_t) {
      self->res_.reset();
      if (ec) return self->abort();
      if (close) return self->drain_and_close();
      self->read_request(false);
    });
  }

  // After a closing answer: stop sending, read and drop what the peer still
  // sends (bounded), so its unread request does not turn our answer into a
  // reset before the peer has read it. With TLS the end is a close_notify
  // (the peer sees a clean close, not a truncation); OpenSSL drops any
  // application data that arrives after it, until the peer's close_notify,
  // its EOF or the drain deadline.
  void drain_and_close() {
    set_phase(Phase::kClosing);
    lowest().expires_after(kDrainTime);
    if constexpr (kTls) {
      stream_.async_shutdown([self = shared()](beast::error_code) { self->abort(); });
    } else {
      beast::error_code ec;
      lowest().socket().shutdown(tcp::socket::shutdown_send, ec);
      buffer_.clear();
      drain();
    }
  }
  void drain() {
    lowest().async_read_some(buffer_.prepare(16384),
                             [self = shared()](beast::error_code ec, std::size_t n) {
                               self->drained_ += n;
                               if (ec || self->drained_ > kDrainLimit) return self->abort();
                               self->drain();
                             });
  }

  Impl& srv_;
  std::shared_ptr<const TlsBundle> bundle_;  // TLS: the bundle this connection started on
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::string_body>> res_;
  std::optional<http::response<http::empty_body>> continue_;
  asio::steady_timer wait_timer_;
  SteadyClock::time_point wait_deadline_{};
  const char* route_ = "other";
  http::verb method_ = http::verb::unknown;
  bool keep_alive_ = false;
  std::size_t charged_ = 0;  // budget held by this request's body
  bool parse_slot_ = false;
  std::size_t drained_ = 0;
};

}  // namespace

void HttpServer::Impl::accept() {
  acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
    if (stopped) return;
    if (ec) {
      if (ec == asio::error::operation_aborted) return;
      // EMFILE/ENFILE and friends: make room, then try again shortly.
      spdlog::warn("accept failed: {}; retrying", ec.message());
      {
        std::lock_guard lock(reg_mu_);
        evict_one_locked();
      }
      accept_retry.expires_after(std::chrono::milliseconds(50));
      accept_retry.async_wait([this](beast::error_code e) {
        if (!e) accept();
      });
      return;
    }
    beast::error_code peer_ec;
    auto remote = socket.remote_endpoint(peer_ec);
    if (!peer_ec) {
      socket.set_option(tcp::no_delay(true), peer_ec);
      std::shared_ptr<Connection> c;
      if (credentials) {
        c = std::make_shared<Session<TlsStream>>(*this, std::move(socket), credentials->current());
      } else {
        c = std::make_shared<Session<beast::tcp_stream>>(*this, std::move(socket), nullptr);
      }
      c->peer = remote.address().to_string();
      if (admit_connection(c.get())) c->start();
      // else: c dies here and closes the socket
    }
    accept();
  });
}

void HttpServer::Impl::connection_closed() {
  if (stopped) return;
  {
    std::lock_guard lock(reg_mu_);
    if (live > 0) return;
  }
  asio::post(ioc, [this] { arm_idle_trim(); });
}

void HttpServer::Impl::arm_idle_trim() {
  if (stopped) return;
  idle_trim.expires_after(kIdleTrimDelay);  // a later close restarts the wait
  idle_trim.async_wait([this](beast::error_code ec) {
    if (ec || stopped) return;
    {
      std::lock_guard lock(reg_mu_);
      if (live > 0) return;  // busy again: its last close re-arms
    }
    ::malloc_trim(0);
  });
}

void HttpServer::Impl::watch_tls() {
  if (!credentials || opt.tls_watch_interval.count() <= 0) return;
  tls_watch.expires_after(opt.tls_watch_interval);
  tls_watch.async_wait([this](beast::error_code ec) {
    if (ec || stopped) return;
    credentials->reload_if_changed();
    watch_tls();
  });
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Expected<std::unique_ptr<HttpServer>> HttpServer::make(const ServerOptions& opt,
                                                       HttpHandlers handlers) {
  auto identity = MasterIdentity::parse(opt.master_identity);
  if (!identity) return identity.error();
  std::shared_ptr<TlsCredentials> creds = opt.tls;
  if (!creds && (!opt.tls_cert.empty() || !opt.tls_key.empty() || !opt.tls_ca.empty())) {
    auto loaded = TlsCredentials::load({opt.tls_cert, opt.tls_key, opt.tls_ca});
    if (!loaded) return loaded.error();
    creds = *loaded;
  }
  if (identity->pinned() && !creds) {
    return Status::failure("--master-identity needs TLS: pass --tls-cert, --tls-key and --tls-ca");
  }
  // Big bodies come from mmap (and go back to the kernel when freed) instead
  // of growing the heap, which the dynamic threshold would otherwise do.
  ::mallopt(M_MMAP_THRESHOLD, 256 * 1024);

  auto impl = std::make_unique<Impl>(opt, std::move(handlers), std::move(*identity), creds);
  const long files = raise_open_files_limit();
  impl->max_connections =
      static_cast<std::size_t>(std::max(16L, std::min<long>(opt.max_connections, files - 64)));

  beast::error_code ec;
  auto address = asio::ip::make_address(opt.host == "localhost" ? "127.0.0.1" : opt.host, ec);
  if (ec) {
    return Status::failure("cannot listen on '" + opt.host + "': not an IP address (" +
                           ec.message() + ")");
  }
  tcp::endpoint endpoint(address, static_cast<unsigned short>(opt.port));
  auto& acc = impl->acceptor;
  const std::string where = opt.host + ":" + std::to_string(opt.port);
  // SO_REUSEADDR only: SO_REUSEPORT would let a second agent bind the same
  // port and silently share the master's calls.
  acc.open(endpoint.protocol(), ec);
  if (!ec) acc.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acc.bind(endpoint, ec);
  if (!ec) acc.listen(1024, ec);
  if (ec) {
    return Status::failure("cannot bind " + where + " (" + ec.message() +
                           "; in use, or not an address of this host)");
  }
  impl->port = acc.local_endpoint(ec).port();
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

std::unique_ptr<HttpServer> HttpServer::create(const ServerOptions& options, HttpHandlers handlers,
                                               std::string* error) {
  auto made = make(options, std::move(handlers));
  if (!made) {
    *error = made.error().message();
    return nullptr;
  }
  return std::move(*made);
}

HttpServer::~HttpServer() {
  stop();
  beast::error_code ec;
  impl_->acceptor.close(ec);
}

int HttpServer::port() const { return impl_->port; }
bool HttpServer::tls() const { return impl_->credentials != nullptr; }

std::size_t HttpServer::connections() const {
  std::lock_guard lock(impl_->reg_mu_);
  return impl_->live;
}

bool HttpServer::run() {
  if (impl_->stopped) return true;
  impl_->accept();
  impl_->watch_tls();
  try {
    impl_->ioc.run();
  } catch (const std::exception& e) {
    spdlog::critical("the HTTP I/O loop failed: {}", e.what());
    return false;
  }
  return true;
}

void HttpServer::stop() {
  if (impl_->stopped.exchange(true)) return;
  Impl* impl = impl_.get();
  asio::post(impl->ioc, [impl] {
    beast::error_code ec;
    impl->acceptor.close(ec);
    impl->accept_retry.cancel();
    impl->tls_watch.cancel();
    impl->idle_trim.cancel();
    impl->close_all();
    impl->ioc.stop();
  });
}

}  // namespace edge
