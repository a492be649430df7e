#include "agent/agent.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "agent/build_info.h"
#include "agent/exit_codes.h"
#include "agent/health.h"
#include "agent/logging.h"
#include "agent/tls_credentials.h"
#include "store/agent_id.h"

namespace edge {
namespace {

using nlohmann::json;

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
          {"config_file", c.config_file},
          {"max_memory", c.max_memory},
          {"master_identity", c.master_identity},
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

// A setting that cannot change while running: say so when a reload sees a
// new value, and keep the old one.
void note_restart_needed(const char* flag, const std::string& running, const std::string& fresh) {
  if (running == fresh) return;
  spdlog::warn("reload: {} changed from '{}' to '{}'; that needs a restart, keeping '{}'", flag,
               running, fresh, running);
}

}  // namespace

Expected<std::unique_ptr<Agent>> Agent::create(Config config, ConfigSource reread,
                                               TimeSource& time) {
  std::string problems;
  for (const auto& p : config.problems()) problems += (problems.empty() ? "" : "; ") + p;
  if (!problems.empty()) return Status(exit_code::kConfig, problems);
  auto catalog = docker::load_service_catalog(config.service_catalog);
  if (!catalog) {
    return Status(exit_code::kConfig, "--service-catalog: " + catalog.error().message());
  }

  sd_notify("STATUS=opening the store");
  auto opened = store::TopologyStore::open(config.state_dir, store::OpenMode::kDaemon);
  if (!opened.status.ok()) {
    return Status(exit_code::kFailure, "cannot open the state dir '" + config.state_dir.string() +
                                           "': " + opened.status.message);
  }
  if (opened.moved_aside) {
    spdlog::critical(
        "the store was unreadable or not ours; it was moved aside to '{}' and the agent starts "
        "EMPTY",
        opened.moved_aside->string());
  }

  auto agent_id = store::load_or_create_agent_id(config.state_dir);
  if (!agent_id) return Status(exit_code::kFailure, agent_id.error().message());

  std::unique_ptr<Agent> agent(new Agent(std::move(config), std::move(reread), time,
                                         std::move(opened.store), std::move(*catalog),
                                         std::move(*agent_id)));
  const Config& c = agent->config_;
  if (!agent->tls_error_.empty()) return Status(exit_code::kConfig, agent->tls_error_);
  if (c.tls_enabled() && c.master_identity.empty()) {
    spdlog::warn(
        "no --master-identity: ANY certificate the CA signed (every agent's included) may apply "
        "and tear down topologies here; set --master-identity decnet-master");
  }
  ServerOptions so;
  so.host = c.listen_host;
  so.port = c.listen_port;
  so.tls = agent->tls_;
  so.master_identity = c.master_identity;
  so.max_body_bytes = c.max_body_bytes;
  so.max_memory = c.max_memory;
  so.budget = agent->budget_;
  std::string error;
  agent->server_ = HttpServer::create(so, agent->handlers(), &error);
  if (!agent->server_) return Status(exit_code::kFailure, error);
  return agent;
}

Agent::Agent(Config config, ConfigSource reread, TimeSource& time,
             std::unique_ptr<store::TopologyStore> store, docker::ServiceCatalog catalog,
             std::string agent_id)
    : config_(std::move(config)),
      agent_id_(std::move(agent_id)),
      reread_(std::move(reread)),
      time_(time),
      started_(time.steady_now()),
      started_unix_(time.unix_now()),
      metrics_(build::kVersion, build::kGitRev, [&time] { return time.steady_now(); }),
      budget_(std::make_shared<MemoryBudget>(config_.max_memory)),
      watchdog_([this] { return healthy(); }, time),
      log_level_(config_.log_level) {
  docker::RuntimeOptions rt;
  rt.socket_path = config_.docker_socket;
  rt.owner = agent_id_;
  rt.on_engine_call = [this](const std::string& call, bool ok, double s) {
    metrics_.docker_call(call, ok, s);
  };
  service_ = std::make_unique<TopologyService>(
      std::move(store), docker::make_docker_runtime(std::move(rt)), std::move(catalog),
      ServiceOptions{.base_image = config_.base_image,
                     .agent_id = agent_id_,
                     .budget = budget_,
                     .body_charge_factor = kBodyCostFactor},
      &metrics_, time_);

  HeartbeatOptions hb;
  hb.master_url = config_.master_url;
  hb.host_uuid = config_.host_uuid;
  hb.agent_version = build::kVersion;
  hb.interval = std::chrono::seconds(config_.heartbeat_interval_s);
  // One TLS bundle for serving and for the heartbeat: a reload (a file
  // change, or SIGHUP) switches both; requests in flight keep the old one.
  if (config_.tls_enabled()) {
    auto loaded =
        TlsCredentials::load({config_.tls_cert, config_.tls_key, config_.tls_ca}, &metrics_);
    if (loaded) {
      tls_ = *loaded;
      tls_reload_ = [tls = tls_] { return tls->reload(); };
    } else {
      tls_error_ = loaded.error().message();
    }
  }
  heartbeat_ = std::make_unique<HeartbeatLoop>(
      hb, make_master_poster(tls_), [this] { return heartbeat_body(); }, time_);
  heartbeat_->on_result([this](bool ok, long) {
    metrics_.heartbeat(ok ? "ok" : "error");
    update_status();
  });
  service_->on_operation_end([this] {
    heartbeat_->nudge();
    update_status();
  });
  service_->runtime().on_change([this] { on_observation_change(); });
}

Agent::~Agent() {
  if (!stop()) {
    // An apply still holds the store and the runtime: destroying them under
    // it is worse than leaving now. The store is crash-safe.
    spdlog::critical("an apply was still running while the agent was destroyed; exiting");
    std::_Exit(exit_code::kFailure);
  }
}

HttpHandlers Agent::handlers() {
  HttpHandlers h;
  h.apply = [this](std::string_view body) { return service_->apply(body); };
  h.teardown = [this](std::string_view body) { return service_->teardown(body); };
  h.state = [this] { return service_->state(); };
  h.metrics_text = [this] { return metrics_.render(); };
  h.on_request = [this](const std::string& route, int code) { metrics_.http_request(route, code); };
  h.debug_state = [this] { return debug_state(); };
  return h;
}

json Agent::heartbeat_body() {
  auto info = service_->runtime().engine_info();
  return json{{"status",
               {{"agent", "edge-agent"},
                {"uptime_s", time_.unix_now() - started_unix_},
                {"docker_reachable", info.reachable},
                {"docker_api_version", info.api_version},
                {"applying", service_->busy()}}},
              {"topology", service_->state()}};
}

json Agent::debug_state() {
  auto info = service_->runtime().engine_info();
  json state = service_->state();
  return json{
      {"row", service_->row_summary()},
      {"observed", state["observed"]},
      {"drift", state["drift"]},
      {"apply", {{"in_progress", service_->busy()}, {"since_unix", service_->busy_since()}}},
      {"memory_budget", {{"limit_bytes", budget_->limit()}, {"in_use_bytes", budget_->in_use()}}},
      {"heartbeat", heartbeat_json(heartbeat_->status())},
      {"docker",
       {{"reachable", info.reachable},
        {"api_version", info.api_version},
        {"engine_version", info.engine_version},
        {"events_connected", info.events_connected},
        {"last_error", info.last_error},
        {"pulls_in_progress", info.pulls_in_progress}}},
      {"agent_id", agent_id_},
      {"config", config_summary(config_, config_.tls_enabled())},
      {"uptime_s",
       std::chrono::duration_cast<std::chrono::seconds>(time_.steady_now() - started_).count()},
      {"started_at_unix", started_unix_},
      {"version", build::kVersion},
      {"build", {{"git_rev", build::kGitRev}, {"commit_date", build::kBuildDate}}},
      {"pid", static_cast<long>(::getpid())}};
}

// Wedged = the HTTP loop died, or one apply has held the lock for 10 minutes
// without an image pull receiving bytes in the last two minutes (a real
// service image on a slow link takes longer than that: busy, not wedged).
bool Agent::healthy() {
  if (!http_alive_) return false;
  if (!(service_->busy() && time_.unix_now() - service_->busy_since() > 600)) return true;
  const docker::EngineInfo info = service_->runtime().engine_info();
  return info.pulls_in_progress > 0 &&
         std::chrono::steady_clock::now() - info.last_pull_progress < std::chrono::minutes(2);
}

void Agent::start() {
  service_->runtime().start();
  heartbeat_->start();
  http_thread_ = OwnedThread("http", [this] {
    const bool ok = server_->run();
    if (!stopping_) spdlog::critical("the HTTP server stopped unexpectedly (ok={})", ok);
    http_alive_ = false;
  });
  reload_thread_ = OwnedThread("reload", [this] { reload_loop(); });
  const std::string where = config_.listen_host + ":" + std::to_string(server_->port());
  spdlog::info("edge-agent {} ({}) serving {}://{}, state dir {}, docker {}", build::kVersion,
               build::kGitRev, config_.tls_enabled() ? "https" : "http", where,
               config_.state_dir.string(), config_.docker_socket);
  {
    std::lock_guard lock(status_mu_);
    last_status_ = "serving on " + where;
    sd_notify("READY=1\nSTATUS=" + last_status_);
  }
  update_status();  // what the observer found before READY (e.g. Docker unreachable)
  watchdog_.start();
}

bool Agent::stop(std::chrono::milliseconds drain) {
  if (stopped_) return stopped_clean_;
  stopped_ = true;
  stopping_ = true;
  {
    std::lock_guard lock(reload_mu_);
    reload_quit_ = true;
  }
  reload_cv_.notify_all();
  if (server_) server_->stop();
  while (!http_thread_.join_for(std::chrono::seconds(5))) {
    spdlog::warn("the HTTP loop has not ended 5 s after stop; waiting for it");
  }
  if (!service_->drain(drain)) {
    spdlog::warn("an apply was still running after {} ms; not waiting for it", drain.count());
    stopped_clean_ = false;
    return false;
  }
  // A reload waiting for an apply gives up once the service drains.
  while (!reload_thread_.join_for(std::chrono::seconds(5))) {
    spdlog::warn("the reload worker has not ended 5 s after stop; waiting for it");
  }
  watchdog_.stop();
  heartbeat_->stop();
  service_->runtime().stop();
  return true;
}

void Agent::on_observation_change() {
  const docker::Observation obs = service_->runtime().observe();
  metrics_.set_drift(is_drifting(obs.drift));
  if (obs.reachable) {  // unreachable: drift is unknown, not cleared; keep the last one
    std::optional<DriftLogLine> line;
    {
      std::lock_guard lock(status_mu_);
      line = drift_transition(last_drift_, obs.drift);
      last_drift_ = obs.drift;
    }
    if (line && line->warning) spdlog::warn("{}", line->text);
    if (line && !line->warning) spdlog::info("{}", line->text);
  }
  heartbeat_->nudge();
  update_status();
}

void Agent::update_status() {
  if (stopping_) return;  // STATUS=draining stands
  HealthFacts f;
  f.serving =
      config_.listen_host + ":" + std::to_string(server_ ? server_->port() : config_.listen_port);
  const docker::Observation obs = service_->runtime().observe();
  f.docker_reachable = obs.reachable;
  f.docker_error = obs.error;
  f.drift = obs.drift;
  const HeartbeatStatus hb = heartbeat_->status();
  f.heartbeat_failing = hb.enabled && hb.consecutive_failures > 0;
  f.heartbeat_reason = hb.last_failure_reason;
  const json state = service_->state();
  if (state["last_error"].is_string()) f.last_error = state["last_error"].get<std::string>();
  const std::string line = status_line(f);
  std::lock_guard lock(status_mu_);  // held while sending, so lines go out in order
  if (line == last_status_) return;
  last_status_ = line;
  sd_notify("STATUS=" + line);
}

std::string Agent::status_text() const {
  std::lock_guard lock(status_mu_);
  return last_status_;
}

int Agent::port() const { return server_ ? server_->port() : 0; }

void Agent::set_tls_reload(std::function<Status()> hook) {
  std::lock_guard lock(reload_mu_);
  tls_reload_ = std::move(hook);
}

void Agent::request_reload() {
  std::lock_guard lock(reload_mu_);
  reload_pending_ = true;
  reload_cv_.notify_all();
}

std::uint64_t Agent::reloads_done() const {
  std::lock_guard lock(reload_mu_);
  return reloads_done_;
}

void Agent::reload_loop() {
  std::unique_lock lock(reload_mu_);
  while (true) {
    reload_cv_.wait(lock, [&] { return reload_pending_ || reload_quit_; });
    if (reload_quit_) return;
    reload_pending_ = false;  // requests from now on queue one more reload
    lock.unlock();
    sd_notify("RELOADING=1");
    spdlog::info("reload requested (SIGHUP)");
    if (!reread_) {
      Status st = reload(config_);
      (void)st;  // reload() logs what it refused
    } else if (auto fresh = reread_(); !fresh) {
      spdlog::error("reload refused: {}; everything stays as it was", fresh.error().message());
    } else {
      Status st = reload(*fresh);
      (void)st;
    }
    sd_notify("READY=1");
    lock.lock();
    ++reloads_done_;
  }
}

Status Agent::reload(const Config& fresh) {
  Status result;
  const auto& c = config_;
  note_restart_needed("--listen", c.listen_host + ":" + std::to_string(c.listen_port),
                      fresh.listen_host + ":" + std::to_string(fresh.listen_port));
  note_restart_needed("--state-dir", c.state_dir.string(), fresh.state_dir.string());
  note_restart_needed("--docker-socket", c.docker_socket, fresh.docker_socket);
  note_restart_needed("--base-image", c.base_image, fresh.base_image);
  note_restart_needed("--master-url", c.master_url, fresh.master_url);
  note_restart_needed("--host-uuid", c.host_uuid, fresh.host_uuid);
  note_restart_needed("--heartbeat-interval", std::to_string(c.heartbeat_interval_s),
                      std::to_string(fresh.heartbeat_interval_s));
  note_restart_needed("--max-body-bytes", std::to_string(c.max_body_bytes),
                      std::to_string(fresh.max_body_bytes));
  note_restart_needed("--tls-cert", c.tls_cert, fresh.tls_cert);
  note_restart_needed("--tls-key", c.tls_key, fresh.tls_key);
  note_restart_needed("--tls-ca", c.tls_ca, fresh.tls_ca);
  note_restart_needed("--max-memory", std::to_string(c.max_memory),
                      std::to_string(fresh.max_memory));
  auto joined = [](const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
    return out;
  };
  note_restart_needed("--master-identity", joined(c.master_identity),
                      joined(fresh.master_identity));

  std::function<Status()> tls_reload;
  std::string old_level;
  {
    std::lock_guard lock(reload_mu_);
    tls_reload = tls_reload_;
    old_level = log_level_;
  }
  if (fresh.log_level != old_level) {
    if (Status st = set_log_level(fresh.log_level); !st.ok()) {
      spdlog::error("reload: log level refused: {}; keeping '{}'", st.message(), old_level);
      result = st;
    } else {
      spdlog::info("reload: log level is now '{}' (was '{}')", fresh.log_level, old_level);
      std::lock_guard lock(reload_mu_);
      log_level_ = fresh.log_level;
    }
  }

  auto catalog = docker::load_service_catalog(fresh.service_catalog);
  if (!catalog) {
    spdlog::error("reload: service catalog refused, keeping the one in use: --service-catalog: {}",
                  catalog.error().message());
    result = catalog.error();
  } else {
    const std::size_t n = catalog->size();
    if (Status st = service_->reload_catalog(std::move(*catalog)); !st.ok()) {
      spdlog::warn("reload: service catalog not swapped: {}", st.message());
      result = st;
    } else {
      spdlog::info("reload: service catalog '{}' in use, {} service(s)", fresh.service_catalog, n);
    }
  }

  if (tls_reload) {
    if (Status st = tls_reload(); !st.ok()) {
      spdlog::error("reload: TLS files refused, keeping the ones in use: {}", st.message());
      result = st;
    } else {
      spdlog::info("reload: TLS files reloaded");
    }
  } else if (c.tls_enabled()) {
    spdlog::warn("reload: this build reads the TLS files at start only; restart to use new ones");
  }
  update_status();
  return result;
}

}  // namespace edge
