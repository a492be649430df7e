#pragma once
// The daemon's one owner (`edge-agent run`): metrics, the topology service
// (which owns the store and the Docker runtime), the heartbeat, the HTTP
// server and its loop, the systemd watchdog and the reload worker, declared
// in the order they depend on each other and stopped in reverse by stop().
// Every callback between the parts captures the Agent, which lives on the
// heap and is never moved, so no hook outlives what it uses. Every thread is
// an OwnedThread; time comes from one injected TimeSource.
//
// Thread-safety: start() and stop() are for the owning thread;
// request_reload(), reload() and the accessors may be called from any thread.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "agent/config.h"
#include "agent/heartbeat.h"
#include "agent/http_server.h"
#include "agent/metrics.h"
#include "agent/sd_notify.h"
#include "agent/topology_service.h"
#include "common/clock.h"
#include "common/memory_budget.h"
#include "common/status.h"
#include "common/thread.h"
#include "docker_obs/catalog.h"
#include "store/topology_store.h"

namespace edge {

class TlsCredentials;

// Reads the configuration again for a reload (the same flags and
// environment, the config file as it is now).
using ConfigSource = std::function<Expected<Config>()>;

class Agent {
 public:
  // Checks the configuration, loads the catalog, opens the store, builds
  // every part and binds the listen socket; nothing runs yet. The failure's
  // code is the process exit code: exit_code::kConfig for a configuration
  // error (Config::problems(), a catalog or TLS bundle that does not load),
  // exit_code::kFailure otherwise (store, port).
  static Expected<std::unique_ptr<Agent>> create(Config config, ConfigSource reread = {},
                                                 TimeSource& time = real_time());
  ~Agent();  // stop()
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Starts the Docker observer, the heartbeat, the HTTP loop, the watchdog
  // and the reload worker; then READY=1.
  void start();

  // Drains (an apply in flight may finish within `drain`), then stops the
  // HTTP loop, reload worker, watchdog, heartbeat and observer. False when
  // an apply was still running: the parts it uses are left running and the
  // caller must exit the process at once (the store is crash-safe).
  // Idempotent.
  bool stop(std::chrono::milliseconds drain = std::chrono::seconds(20));

  // SIGHUP: queues a reload for the reload worker and returns at once.
  // Reloads in a row coalesce; one during an apply runs after it.
  void request_reload();
  // The reload itself: the service catalog (a bad one is refused, logged,
  // and the old one kept), the log level, and the TLS files through
  // tls_reload. Settings that cannot change live are logged as needing a
  // restart and kept. Never stops the agent. Fails when the catalog or the
  // TLS files were refused.
  Status reload(const Config& fresh);
  // How reload() reloads the TLS files (TlsCredentials::reload()); empty:
  // they are read at start only, and a reload says so. Set before start().
  void set_tls_reload(std::function<Status()> hook);

  // Reloads completed so far (successful or not), for tests.
  std::uint64_t reloads_done() const;
  int port() const;
  // The last STATUS= line sent to systemd.
  std::string status_text() const;

 private:
  Agent(Config config, ConfigSource reread, TimeSource& time,
        std::unique_ptr<store::TopologyStore> store, docker::ServiceCatalog catalog,
        std::string agent_id);

  HttpHandlers handlers();
  nlohmann::json heartbeat_body();
  nlohmann::json debug_state();
  bool healthy();
  void on_observation_change();
  void update_status();
  void reload_loop();

  // --- dependency order: each part may use those above it ---
  const Config config_;
  const std::string agent_id_;  // decnet.agent.id on every object this agent creates
  const ConfigSource reread_;
  TimeSource& time_;
  const TimeSource::SteadyTime started_;
  const std::int64_t started_unix_;
  Metrics metrics_;
  // --max-memory, shared by the server (bodies) and the service (plans).
  const std::shared_ptr<MemoryBudget> budget_;
  std::unique_ptr<TopologyService> service_;  // owns the store and the Docker runtime
  std::unique_ptr<HeartbeatLoop> heartbeat_;
  std::unique_ptr<HttpServer> server_;
  OwnedThread http_thread_;
  Watchdog watchdog_;
  OwnedThread reload_thread_;

  std::atomic<bool> http_alive_{true};
  std::atomic<bool> stopping_{false};
  bool stopped_ = false;  // owner thread only
  bool stopped_clean_ = true;

  mutable std::mutex reload_mu_;  // guards everything until status_mu_
  std::condition_variable reload_cv_;
  bool reload_pending_ = false;
  bool reload_quit_ = false;
  std::uint64_t reloads_done_ = 0;
  std::string log_level_;
  std::function<Status()> tls_reload_;
  std::shared_ptr<TlsCredentials> tls_;  // null without TLS; shared with server and heartbeat
  std::string tls_error_;                // why the bundle did not load (create() refuses)

  mutable std::mutex status_mu_;  // guards last_drift_, last_status_
  nlohmann::json last_drift_ = nlohmann::json::object();
  std::string last_status_;
};

}  // namespace edge
