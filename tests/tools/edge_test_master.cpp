// edge_test_master: the smallest DECNET-style master that edge-agent can talk
// to, for trying the agent by hand and for the end-to-end tests.
//
//   edge_test_master --listen 127.0.0.1:8443 --cert master.crt --key master.key --ca ca.crt
//       [--record beats.jsonl] [--want hydrated.json --agent-url https://127.0.0.1:8765]
//       [--respond 204|403|404|500] [--hang]
//
// It serves POST /swarm/heartbeat over HTTPS and requires a client cert
// signed by --ca (TLS >= 1.2). Each heartbeat body is appended to --record
// as one JSON line. With --want, when a heartbeat's
// topology.applied_version_hash differs from the wanted topology's canonical
// hash, or topology.drift.in_sync is false, it re-pushes
// POST <agent-url>/topology/apply {"hydrated": <want>, "version_hash": h}
// with its own cert as client cert, verifying the agent against --ca; at most
// one re-push is in flight. --respond CODE answers heartbeats with CODE
// (default 204); --hang never answers them. One log line per event.
// SIGTERM/SIGINT stop it cleanly (exit 0).

#include <httplib.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include "agent/canonical_json.h"

namespace {

using nlohmann::json;

struct Endpoint {
  std::string scheme, host;
  int port = 0;
};

std::optional<Endpoint> parse_host_port(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) return std::nullopt;
  Endpoint e;
  e.host = text.substr(0, colon);
  if (e.host.size() > 2 && e.host.front() == '[' && e.host.back() == ']') {
    e.host = e.host.substr(1, e.host.size() - 2);
  }
  try {
    std::size_t used = 0;
    e.port = std::stoi(text.substr(colon + 1), &used);
    if (used != text.size() - colon - 1 || e.port < 0 || e.port > 65535) return std::nullopt;
  } catch (const std::exception&) {
    return std::nullopt;
  }
  return e;
}

std::optional<Endpoint> parse_agent_url(std::string url) {
  Endpoint e;
  for (const char* scheme : {"https", "http"}) {
    const std::string prefix = std::string(scheme) + "://";
    if (url.rfind(prefix, 0) == 0) {
      e.scheme = scheme;
      url = url.substr(prefix.size());
      break;
    }
  }
  if (e.scheme.empty()) return std::nullopt;
  while (!url.empty() && url.back() == '/') url.pop_back();
  auto hp = parse_host_port(url);
  if (!hp || hp->port == 0) return std::nullopt;
  e.host = hp->host;
  e.port = hp->port;
  return e;
}

std::string peer_common_name(const SSL* ssl) {
  if (ssl == nullptr) return "-";
  X509* peer = SSL_get1_peer_certificate(ssl);
  if (peer == nullptr) return "-";
  char cn[256] = {0};
  X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof cn);
  X509_free(peer);
  return cn;
}

std::string short_hash(const std::string& h) { return h.empty() ? "null" : h.substr(0, 12); }

class TestMaster {
 public:
  struct Options {
    std::string cert, key, ca, record;
    std::string want_text, want_hash;  // empty = no wanted topology
    std::optional<Endpoint> agent;
    int respond = 204;
    bool hang = false;
  };

  explicit TestMaster(Options o) : o_(std::move(o)) {}

  // Called on httplib's worker threads.
  void on_heartbeat(const httplib::Request& req, httplib::Response& res) {
    const std::string cn = peer_common_name(req.ssl);
    json body = json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) {
      spdlog::warn("heartbeat from CN={} is not a JSON object; answering 422", cn);
      res.status = 422;
      res.set_content(R"({"detail":"heartbeat body is not a JSON object"})", "application/json");
      return;
    }
    record(body);
    std::string applied;
    bool in_sync = true;
    if (const auto t = body.find("topology"); t != body.end() && t->is_object()) {
      if (auto h = t->find("applied_version_hash"); h != t->end() && h->is_string()) {
        applied = h->get<std::string>();
      }
      if (auto d = t->find("drift"); d != t->end() && d->is_object()) {
        if (auto s = d->find("in_sync"); s != d->end() && s->is_boolean()) in_sync = s->get<bool>();
      }
    }
    const std::string host_uuid = body.value("host_uuid", std::string("?"));
    if (o_.hang) {
      spdlog::info("heartbeat from CN={} host_uuid={} hash={} in_sync={} -> hanging (--hang)", cn,
                   host_uuid, short_hash(applied), in_sync);
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [&] { return shutting_down_; });
      res.status = 503;
      return;
    }
    res.status = o_.respond;
    if (o_.respond >= 400) {
      res.set_content(
          json{{"detail", "test master answers " + std::to_string(o_.respond) + " (--respond)"}}
              .dump(),
          "application/json");
    }
    spdlog::info("heartbeat from CN={} host_uuid={} hash={} in_sync={} -> {}", cn, host_uuid,
                 short_hash(applied), in_sync, o_.respond);
    if (o_.respond >= 200 && o_.respond < 300 && !o_.want_hash.empty() &&
        (applied != o_.want_hash || !in_sync)) {
      maybe_repush(applied, in_sync);
    }
  }

  // Releases hanging handlers and an in-flight re-push, and joins the pusher.
  void shutdown() {
    std::thread pusher;
    {
      std::lock_guard lock(mutex_);
      shutting_down_ = true;
      if (push_client_ != nullptr) push_client_->stop();
      pusher = std::move(pusher_);
    }
    cv_.notify_all();
    if (pusher.joinable()) pusher.join();
  }

 private:
  void record(const json& body) {
    if (o_.record.empty()) return;
    std::lock_guard lock(record_mutex_);
    std::ofstream out(o_.record, std::ios::app | std::ios::binary);
    out << body.dump(-1, ' ', false, json::error_handler_t::replace) << '\n';
    out.flush();
    if (!out) spdlog::error("could not append to --record {}", o_.record);
  }

  void maybe_repush(const std::string& applied, bool in_sync) {
    if (!o_.agent) {
      spdlog::info("agent has {} (in_sync={}) but {} is wanted; no --agent-url, not re-pushing",
                   short_hash(applied), in_sync, short_hash(o_.want_hash));
      return;
    }
    std::lock_guard lock(mutex_);
    if (shutting_down_) return;
    if (push_in_flight_) {
      spdlog::info("re-push already in flight; not starting another");
      return;
    }
    if (pusher_.joinable()) pusher_.join();  // the previous one has finished
    push_in_flight_ = true;
    spdlog::info("re-push: agent has {} (in_sync={}), wanted {}; POST {}://{}:{}/topology/apply",
                 short_hash(applied), in_sync, short_hash(o_.want_hash), o_.agent->scheme,
                 o_.agent->host, o_.agent->port);
    pusher_ = std::thread([this] { repush(); });
  }

  void repush() {
    const std::string body =
        R"({"hydrated":)" + o_.want_text + R"(,"version_hash":")" + o_.want_hash + R"("})";
    std::unique_ptr<httplib::ClientImpl> client;
    if (o_.agent->scheme == "https") {
      auto ssl =
          std::make_unique<httplib::SSLClient>(o_.agent->host, o_.agent->port, o_.cert, o_.key);
      ssl->set_ca_cert_path(o_.ca);
      ssl->enable_server_certificate_verification(true);
      SSL_CTX_set_min_proto_version(ssl->ssl_context(), TLS1_2_VERSION);
      client = std::move(ssl);
    } else {
      client = std::make_unique<httplib::ClientImpl>(o_.agent->host, o_.agent->port);
    }
    client->set_connection_timeout(std::chrono::seconds(5));
    client->set_read_timeout(std::chrono::seconds(300));  // an apply may pull images
    {
      std::lock_guard lock(mutex_);
      if (shutting_down_) {
        push_in_flight_ = false;
        return;
      }
      push_client_ = client.get();
    }
    auto result = client->Post("/topology/apply", body, "application/json");
    if (result) {
      std::string answer = result->body.substr(0, 300);
      for (char& c : answer) c = c == '\n' ? ' ' : c;
      if (result->status == 200) {
        spdlog::info("re-push done: {} {}", result->status, answer);
      } else {
        spdlog::warn("re-push refused by the agent: {} {}", result->status, answer);
      }
    } else {
      spdlog::warn("re-push failed: {}", httplib::to_string(result.error()));
    }
    std::lock_guard lock(mutex_);
    push_client_ = nullptr;
    push_in_flight_ = false;
  }

  const Options o_;
  std::mutex record_mutex_;  // serialises appends to --record
  std::mutex mutex_;         // guards everything below
  std::condition_variable cv_;
  bool shutting_down_ = false;
  bool push_in_flight_ = false;
  std::thread pusher_;
  httplib::ClientImpl* push_client_ = nullptr;
};

std::string read_text(const std::string& path, bool* ok) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  *ok = static_cast<bool>(in) || in.eof();
  return ss.str();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"edge_test_master: a minimal master for edge-agent (mTLS both ways)"};
  std::string listen = "127.0.0.1:8443", want, agent_url;
  TestMaster::Options o;
  app.add_option("--listen", listen, "HOST:PORT to serve HTTPS on (port 0 = any)");
  app.add_option("--cert", o.cert, "master certificate (PEM)")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("--key", o.key, "master private key (PEM)")->required()->check(CLI::ExistingFile);
  app.add_option("--ca", o.ca, "CA that signs agent certs (and the agent's server cert)")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("--record", o.record, "append every heartbeat body to FILE as a JSON line");
  app.add_option("--want", want, "hydrated topology (JSON file) the host should run")
      ->check(CLI::ExistingFile);
  app.add_option("--agent-url", agent_url, "where to re-push, e.g. https://127.0.0.1:8765");
  app.add_option("--respond", o.respond, "status to answer heartbeats with")
      ->check(CLI::Range(200, 599));
  app.add_flag("--hang", o.hang, "never answer heartbeats");
  CLI11_PARSE(app, argc, argv);

  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %l edge_test_master: %v");
  spdlog::flush_on(spdlog::level::info);

  const auto where = parse_host_port(listen);
  if (!where) {
    spdlog::error("--listen must be HOST:PORT (got '{}')", listen);
    return 2;
  }
  if (!want.empty()) {
    bool ok = false;
    o.want_text = read_text(want, &ok);
    const auto hash = edge::canonical_hash(o.want_text);
    if (!ok || !hash.ok) {
      spdlog::error("--want {}: {}", want, ok ? hash.error : "cannot read the file");
      return 2;
    }
    o.want_hash = hash.text;
    spdlog::info("wants topology {} (version_hash {})", want, o.want_hash);
  }
  if (!agent_url.empty()) {
    o.agent = parse_agent_url(agent_url);
    if (!o.agent) {
      spdlog::error("--agent-url must be http(s)://HOST:PORT (got '{}')", agent_url);
      return 2;
    }
  }

  // A client hanging up mid-response must not kill the master.
  signal(SIGPIPE, SIG_IGN);
  // Signals are taken by sigwait below; every thread started after this inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  httplib::SSLServer server(o.cert.c_str(), o.key.c_str(), o.ca.c_str());
  if (!server.is_valid()) {
    spdlog::error("cannot load --cert {} / --key {} / --ca {}", o.cert, o.key, o.ca);
    return 1;
  }
  SSL_CTX_set_min_proto_version(server.ssl_context(), TLS1_2_VERSION);
  TestMaster master(o);
  server.Post("/swarm/heartbeat", [&master](const httplib::Request& req, httplib::Response& res) {
    master.on_heartbeat(req, res);
  });
  const int port = where->port == 0
                       ? server.bind_to_any_port(where->host)
                       : (server.bind_to_port(where->host, where->port) ? where->port : -1);
  if (port <= 0) {
    spdlog::error("cannot listen on {}", listen);
    return 1;
  }
  std::thread listener([&server] { server.listen_after_bind(); });
  while (!server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  spdlog::info("listening on https://{}:{} (client certs from {} required; answering {})",
               where->host, port, o.ca, o.hang ? std::string("never") : std::to_string(o.respond));

  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("received {}; stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  master.shutdown();
  server.stop();
  listener.join();
  return 0;
}
