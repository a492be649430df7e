#include "agent/daemon.h"

#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "agent/build_info.h"
#include "agent/heartbeat.h"
#include "agent/http_server.h"
#include "agent/metrics.h"
#include "agent/sd_notify.h"
#include "agent/tls_credentials.h"
#include "agent/topology_service.h"

namespace edge {
namespace {

using nlohmann::json;

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool load_catalog(const std::string& path, docker::ServiceCatalog* out, std::string* error) {
  if (path.empty()) return true;
  std::ifstream in(path);
  if (!in) {
    *error = "cannot read --service-catalog '" + path + "'";
    return false;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  json doc = json::parse(ss.str(), nullptr, false);
  if (doc.is_discarded()) {
    *error = "--service-catalog '" + path + "' is not valid JSON";
    return false;
  }
  std::string why;
  if (!docker::parse_service_catalog(doc, out, &why)) {
    *error = "--service-catalog '" + path + "': " + why;
    return false;
  }
  return true;
}

json config_summary(const Config& c, bool tls) {
  return {{"listen", c.listen_host + ":" + std::to_string(c.listen_port)},
          {"tls", tls},
          {"state_dir", c.state_dir.string()},
          {"docker_socket", c.docker_socket},
          {"base_image", c.base_image},
          {"service_catalog", c.service_catalog},
          {"master_url", c.master_url},
          {"host_uuid", c.host_uuid},
          {"heartbeat_interval_s", c.heartbeat_interval_s},
          {"tls_cert", c.tls_cert},
          {"tls_ca", c.tls_ca},
          {"max_body_bytes", c.max_body_bytes},
          {"max_memory", c.max_memory},
          {"master_identity", c.master_identity},
          {"config_file", c.config_file},
          {"log_level", c.log_level}};  // the key path is never shown
}

json heartbeat_json(const HeartbeatStatus& s) {
  return {{"enabled", s.enabled},
          {"last_success_unix", s.last_success_unix},
          {"last_failure_unix", s.last_failure_unix},
          {"last_failure_reason", s.last_failure_reason},
          {"last_http_status", s.last_http_status},
          {"next_due_unix", s.next_due_unix},
          {"consecutive_failures", s.consecutive_failures},
          {"sent_ok", s.sent_ok},
          {"sent_failed", s.sent_failed}};
}

}  // namespace

int run_daemon(const Config& config) {
  const auto started = std::chrono::steady_clock::now();
  const std::int64_t started_unix = unix_now();
  for (const auto& p : config.problems()) spdlog::critical("{}", p);
  if (!config.problems().empty()) return 2;

  // Signals are taken by sigwait() below; block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  docker::ServiceCatalog catalog;
  std::string error;
  if (!load_catalog(config.service_catalog, &catalog, &error)) {
    spdlog::critical("{}", error);
    return 2;
  }

  sd_notify("STATUS=opening the store");
  auto opened = store::TopologyStore::open(config.state_dir, store::OpenMode::kDaemon);
  if (!opened.status.ok()) {
    spdlog::critical("cannot open the state dir '{}': {}", config.state_dir.string(),
                     opened.status.message);
    return 1;
  }
  if (opened.moved_aside) {
    spdlog::critical("the store was corrupt; it was moved aside to '{}' and the agent starts EMPTY",
                     opened.moved_aside->string());
  }

  Metrics metrics(build::kVersion, build::kGitRev);
  docker::RuntimeOptions rt;
  rt.socket_path = config.docker_socket;
  rt.base_image = config.base_image;
  rt.catalog = catalog;
  rt.on_engine_call = [&metrics](const std::string& call, bool ok, double s) {
    metrics.docker_call(call, ok, s);
  };
  TopologyService service(std::move(opened.store), docker::make_docker_runtime(rt), catalog,
                          &metrics, unix_now);

  // One TLS bundle for serving and for the heartbeat: a reload (file change,
  // or TlsCredentials::reload() on SIGHUP) switches both.
  std::shared_ptr<TlsCredentials> tls_credentials;
  if (config.tls_enabled()) {
    auto loaded = TlsCredentials::load({config.tls_cert, config.tls_key, config.tls_ca}, &metrics);
    if (!loaded) {
      spdlog::critical("{}", loaded.error().message());
      return 2;
    }
    tls_credentials = *loaded;
    if (config.master_identity.empty()) {
      spdlog::warn(
          "no --master-identity: ANY certificate the CA signed (every agent's included) may "
          "apply and tear down topologies here; set --master-identity decnet-master");
    }
  }

  HeartbeatOptions hb_opts;
  hb_opts.master_url = config.master_url;
  hb_opts.host_uuid = config.host_uuid;
  hb_opts.agent_version = build::kVersion;
  hb_opts.interval = std::chrono::seconds(config.heartbeat_interval_s);
  HeartbeatLoop heartbeat(hb_opts, make_curl_poster(tls_credentials), [&] {
    auto info = service.runtime().engine_info();
    return json{{"status",
                 {{"agent", "edge-agent"},
                  {"uptime_s", unix_now() - started_unix},
                  {"docker_reachable", info.reachable},
                  {"docker_api_version", info.api_version},
                  {"applying", service.busy()}}},
                {"topology", service.state()}};
  });
  heartbeat.on_result([&metrics](bool ok, long) { metrics.heartbeat(ok ? "ok" : "error"); });
  service.on_operation_end([&heartbeat] { heartbeat.nudge(); });
  service.runtime().on_change([&] {
    auto obs = service.runtime().observe();
    bool drifting = obs.drift.is_object() && obs.drift.value("in_sync", true) == false;
    metrics.set_drift(drifting);
    heartbeat.nudge();
  });

  ServerOptions so;
  so.host = config.listen_host;
  so.port = config.listen_port;
  so.tls = tls_credentials;
  so.master_identity = config.master_identity;
  so.max_body_bytes = config.max_body_bytes;
  so.max_memory = config.max_memory;
  HttpHandlers handlers;
  handlers.apply = [&](std::string_view body) { return service.apply(body); };
  handlers.teardown = [&](std::string_view body) { return service.teardown(body); };
  handlers.state = [&] { return service.state(); };
  handlers.metrics_text = [&] { return metrics.render(); };
  handlers.on_request = [&](const std::string& route, int code) {
    metrics.http_request(route, code);
  };
  const bool tls = config.tls_enabled();
  handlers.debug_state = [&] {
    auto info = service.runtime().engine_info();
    json state = service.state();
    return json{{"row", service.row_summary()},
                {"observed", state["observed"]},
                {"drift", state["drift"]},
                {"apply", {{"in_progress", service.busy()}, {"since_unix", service.busy_since()}}},
                {"heartbeat", heartbeat_json(heartbeat.status())},
                {"docker",
                 {{"reachable", info.reachable},
                  {"api_version", info.api_version},
                  {"engine_version", info.engine_version},
                  {"events_connected", info.events_connected},
                  {"last_error", info.last_error}}},
                {"config", config_summary(config, tls)},
                {"uptime_s", std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::steady_clock::now() - started)
                                 .count()},
                {"started_at_unix", started_unix},
                {"version", build::kVersion},
                {"build", {{"git_rev", build::kGitRev}, {"commit_date", build::kBuildDate}}},
                {"pid", static_cast<long>(::getpid())}};
  };
  auto server = HttpServer::create(so, handlers, &error);
  if (!server) {
    spdlog::critical("{}", error);
    return 1;
  }

  service.runtime().start();
  heartbeat.start();
  std::atomic<bool> http_alive{true};
  std::atomic<bool> stopping{false};
  std::thread http_thread([&] {
    bool ok = server->run();
    if (!stopping) spdlog::critical("the HTTP server stopped unexpectedly (ok={})", ok);
    http_alive = false;
  });
  spdlog::info("edge-agent {} ({}) serving {}://{}:{}, state dir {}, docker {}", build::kVersion,
               build::kGitRev, tls ? "https" : "http", config.listen_host, server->port(),
               config.state_dir.string(), config.docker_socket);
  sd_notify("READY=1\nSTATUS=serving on " + config.listen_host + ":" +
            std::to_string(server->port()));

  // Wedged = the HTTP loop died, or one apply has held the lock for 10 minutes.
  Watchdog watchdog([&] {
    if (!http_alive) return false;
    return !(service.busy() && unix_now() - service.busy_since() > 600);
  });
  watchdog.start();

  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("received {}; draining", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  sd_notify("STOPPING=1\nSTATUS=draining");
  std::thread second_signal([signals]() mutable {
    int again = 0;
    if (sigwait(&signals, &again) == 0) {
      spdlog::warn("second signal: exiting at once");
      _exit(128 + again);
    }
  });
  second_signal.detach();

  stopping = true;
  server->stop();
  http_thread.join();
  if (!service.drain(std::chrono::seconds(20))) {
    spdlog::warn("an apply was still running after 20s; exiting without waiting for it");
    watchdog.stop();
    heartbeat.stop();
    _exit(1);  // the store is crash-safe: the row stays old or new, never torn
  }
  watchdog.stop();
  heartbeat.stop();
  service.runtime().stop();
  spdlog::info("stopped cleanly");
  return 0;
}

}  // namespace edge
