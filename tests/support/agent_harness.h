#pragma once
// An agent in the test process: real store in a temp dir, real Docker
// runtime (pointed at whatever socket the test chooses), real HTTP server on
// a free port, and a client for it. start()/stop() may be repeated to model
// a restart on the same state dir.

#include <httplib.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "agent/canonical_json.h"
#include "agent/http_server.h"
#include "agent/topology_service.h"
#include "common/clock.h"
#include "store/agent_id.h"
#include "tests/support/test_support.h"

namespace edge::testing {

struct HarnessOptions {
  std::string docker_socket = "/var/run/docker.sock";
  std::string base_image = "edge-agent-test/busybox:latest";
  docker::ServiceCatalog catalog;
  std::size_t max_body_bytes = 16u << 20;
  std::string agent_id;  // "" = the state dir's own (made once, like the daemon does)
  // TLS: the agent's bundle and pinned identities; the harness's client then
  // calls over mTLS with client_cert/client_key, verifying the agent by tls_ca.
  std::string tls_cert, tls_key, tls_ca;
  std::vector<std::string> master_identity;
  std::string client_cert, client_key;
};

class AgentHarness {
 public:
  explicit AgentHarness(const std::filesystem::path& state_dir) : state_dir_(state_dir) {}
  ~AgentHarness() { stop(); }

  // Returns "" on success, else why the agent could not start.
  std::string start(const HarnessOptions& o) {
    auto opened = store::TopologyStore::open(state_dir_);
    if (!opened.status.ok()) return opened.status.message;
    std::string owner = o.agent_id;
    if (owner.empty()) {
      auto id = store::load_or_create_agent_id(state_dir_);
      if (!id) return id.error().message();
      owner = *id;
    }
    agent_id_ = owner;
    docker::RuntimeOptions rt;
    rt.socket_path = o.docker_socket;
    rt.owner = owner;
    rt.connect_timeout = std::chrono::milliseconds(500);
    auto runtime = docker::make_docker_runtime(rt);
    runtime->start();
    service_ =
        std::make_unique<TopologyService>(std::move(opened.store), std::move(runtime), o.catalog,
                                          ServiceOptions{o.base_image, owner}, nullptr, clock_);
    ServerOptions so;
    so.port = 0;
    so.max_body_bytes = o.max_body_bytes;
    so.tls_cert = o.tls_cert;
    so.tls_key = o.tls_key;
    so.tls_ca = o.tls_ca;
    so.master_identity = o.master_identity;
    HttpHandlers h;
    h.apply = [this](std::string_view b) { return service_->apply(b); };
    h.teardown = [this](std::string_view b) { return service_->teardown(b); };
    h.state = [this] { return service_->state(); };
    h.debug_state = [] { return nlohmann::json::object(); };
    h.metrics_text = [] { return std::string(); };
    std::string error;
    server_ = HttpServer::create(so, h, &error);
    if (!server_) return error;
    thread_ = std::thread([this] { server_->run(); });
    if (o.tls_cert.empty()) {
      client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    } else {
      client_ = std::make_unique<httplib::Client>(
          "https://127.0.0.1:" + std::to_string(server_->port()), o.client_cert, o.client_key);
      client_->set_ca_cert_path(o.tls_ca);
      client_->enable_server_certificate_verification(true);
    }
    client_->set_read_timeout(120, 0);
    for (int i = 0; i < 200 && !client_->Get("/health"); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return "";
  }

  void stop() {
    if (server_) server_->stop();
    if (thread_.joinable()) thread_.join();
    server_.reset();
    if (service_) service_->runtime().stop();
    service_.reset();
  }

  httplib::Client& client() { return *client_; }
  const std::string& agent_id() const { return agent_id_; }
  int port() const { return server_->port(); }

  httplib::Result post(const std::string& path, const std::string& body) {
    return client_->Post(path.c_str(), body, "application/json");
  }

  nlohmann::json state() { return nlohmann::json::parse(client_->Get("/topology/state")->body); }

  // {"hydrated": <hydrated>, "version_hash": <its canonical hash>}
  static std::string apply_body(const nlohmann::json& hydrated) {
    std::string text = hydrated.dump();
    return R"({"hydrated":)" + text + R"(,"version_hash":")" + canonical_hash(text).text + "\"}";
  }

 private:
  std::filesystem::path state_dir_;
  ManualTimeSource clock_{1700000000};
  std::string agent_id_;
  std::unique_ptr<TopologyService> service_;
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
  std::unique_ptr<httplib::Client> client_;
};

}  // namespace edge::testing
