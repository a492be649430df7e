#include "docker_obs/observer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <set>
#include <thread>
#include <utility>

#include "common/thread.h"

namespace edge::docker {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

bool same_content(const Observation& a, const Observation& b) {
  return a.reachable == b.reachable && a.error == b.error && a.bridges == b.bridges &&
         a.containers == b.containers && a.drift == b.drift;
}

// Docker's `since` takes a Unix time with an optional fractional part.
std::string unix_time_now() {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                std::chrono::system_clock::now().time_since_epoch())
                .count();
  char buf[48];
  std::snprintf(buf, sizeof buf, "%lld.%09lld", static_cast<long long>(ns / 1000000000),
                static_cast<long long>(ns % 1000000000));
  return buf;
}

}  // namespace

Observation derive_observation(const EngineSnapshot& snapshot, const std::string& owner,
                               const Plan* watched) {
  Observation o;
  if (watched != nullptr && watched->topology_id.empty()) watched = nullptr;
  if (!snapshot.reachable) {
    o.reachable = false;
    o.error = snapshot.error.empty() ? "the Docker engine is unreachable" : snapshot.error;
    o.drift = watched == nullptr ? json::object() : json{{"in_sync", false}, {"error", o.error}};
    return o;
  }
  o.reachable = true;
  std::vector<std::string> adopt;
  if (watched != nullptr) adopt.push_back(watched->topology_id);
  const Live owned = owned_objects(snapshot.objects, owner, adopt);
  for (const auto& n : owned.networks) o.bridges.push_back(n.name);
  for (const auto& c : owned.containers) {
    if (c.state == "running") o.containers.push_back(c.name);
  }
  std::sort(o.bridges.begin(), o.bridges.end());
  std::sort(o.containers.begin(), o.containers.end());
  o.drift =
      watched == nullptr ? json::object() : drift_report(*watched, owned, diff(*watched, owned));
  return o;
}

bool event_triggers_relist(const json& event, const EventScope& scope) {
  if (!event.is_object()) return false;
  auto type = event.find("Type");
  if (type == event.end() || !type->is_string()) return false;
  auto actor = event.find("Actor");
  const json* attrs = nullptr;
  if (actor != event.end() && actor->is_object()) {
    auto a = actor->find("Attributes");
    if (a != actor->end() && a->is_object()) attrs = &*a;
  }
  auto attr = [&](const char* key) -> std::string {
    if (attrs == nullptr) return "";
    auto it = attrs->find(key);
    return it != attrs->end() && it->is_string() ? it->get<std::string>() : "";
  };
  if (*type == "network") return scope.networks.count(attr("name")) > 0;
  if (*type != "container") return false;
  auto action = event.find("Action");
  if (action == event.end() || !action->is_string()) return false;
  // "health_status: healthy", "exec_start: sh -c ..." carry a suffix.
  std::string verb = action->get<std::string>();
  verb = verb.substr(0, verb.find(':'));
  static const std::set<std::string> kLifecycle = {"create",  "start",   "restart", "die",
                                                   "kill",    "oom",     "stop",    "pause",
                                                   "unpause", "destroy", "rename",  "update"};
  if (!kLifecycle.count(verb)) return false;
  // Container events carry the container's labels among the attributes.
  if (attrs == nullptr || !attrs->contains(kLabelTopologyId)) return false;
  if (attrs->contains(kLabelOwner)) return !scope.owner.empty() && attr(kLabelOwner) == scope.owner;
  return !scope.topology_id.empty() && attr(kLabelTopologyId) == scope.topology_id;
}

EngineSnapshot list_labelled_objects(DockerEngine& engine) {
  EngineSnapshot snap;
  const std::string filters = url_encode(json{{"label", json::array({kLabelTopologyId})}}.dump());
  EngineResponse nets = engine.get("/networks?filters=" + filters, "GET /networks");
  if (!nets.ok()) {
    snap.error = "listing networks: " + nets.message();
    return snap;
  }
  EngineResponse ctrs =
      engine.get("/containers/json?all=1&filters=" + filters, "GET /containers/json");
  if (!ctrs.ok()) {
    snap.error = "listing containers: " + ctrs.message();
    return snap;
  }
  auto networks = parse_networks(nets.json());
  auto containers = parse_containers(ctrs.json());
  if (!networks || !containers) {
    snap.error = !networks ? networks.error().message() : containers.error().message();
    return snap;
  }
  snap.objects = Live{std::move(networks).value(), std::move(containers).value()};
  snap.reachable = true;
  return snap;
}

// ---------------------------------------------------------------------------

namespace detail {

struct ObserverState {
  ObserverState(std::shared_ptr<DockerEngine> e, ObserverOptions o)
      : engine(std::move(e)), options(o) {}

  const std::shared_ptr<DockerEngine> engine;
  const ObserverOptions options;

  std::mutex list_mu;  // serialises listings, so the last one stored is the newest

  mutable std::mutex mu;  // guards everything below
  std::condition_variable cv;
  std::optional<Plan> watched;
  EngineSnapshot snapshot;
  bool listed = false;
  Clock::time_point last_list{};
  Observation observation;
  bool events_connected = false;
  std::string last_error;
  bool relist_pending = false;
  Clock::time_point relist_due{};
  bool notify_pending = false;
  EventScope scope;  // follows watched and snapshot

  std::mutex cb_mu;  // guards callback; held while it runs
  std::function<void()> callback;

  // Under mu. Re-derives the observation; flags a notification on change.
  void recompute_locked() {
    scope = EventScope{};
    scope.owner = options.owner;
    std::vector<std::string> adopt;
    if (watched && !watched->topology_id.empty()) {
      scope.topology_id = watched->topology_id;
      adopt.push_back(scope.topology_id);
      for (const auto& n : watched->networks) scope.networks.insert(n.name);
    }
    for (const auto& n : owned_objects(snapshot.objects, options.owner, adopt).networks) {
      scope.networks.insert(n.name);
    }
    Observation o = derive_observation(snapshot, options.owner, watched ? &*watched : nullptr);
    if (!listed) {
      o.reachable = false;
      o.error = "the Docker engine has not been listed yet";
      o.drift = watched && !watched->topology_id.empty()
                    ? json{{"in_sync", false}, {"error", o.error}}
                    : json::object();
    }
    if (same_content(o, observation)) return;
    o.generation = observation.generation + 1;
    observation = std::move(o);
    notify_pending = true;
    cv.notify_all();
  }

  bool list_now() {
    std::lock_guard<std::mutex> serial(list_mu);
    EngineSnapshot snap = list_labelled_objects(*engine);
    std::lock_guard<std::mutex> lock(mu);
    if (!snap.reachable) {
      if (snapshot.reachable || !listed) spdlog::warn("docker: observation failed: {}", snap.error);
      last_error = snap.error;
    } else if (!snapshot.reachable && listed) {
      spdlog::info("docker: engine reachable again");
    }
    bool ok = snap.reachable;
    snapshot = std::move(snap);
    listed = true;
    last_list = Clock::now();
    recompute_locked();
    return ok;
  }

  void schedule_relist(std::chrono::milliseconds delay) {
    std::lock_guard<std::mutex> lock(mu);
    if (relist_pending) return;  // already due: coalesce
    relist_pending = true;
    relist_due = Clock::now() + delay;
    cv.notify_all();
  }
};

struct ObserverRun {
  std::atomic<bool> stop{false};
  bool stream_done = false;  // guarded by ObserverState::mu
  bool lister_done = false;  // guarded by ObserverState::mu
  // Last: destroyed (joined) first, while what the threads use still lives.
  OwnedThread stream;
  OwnedThread lister;
};

}  // namespace detail

using detail::ObserverRun;
using detail::ObserverState;

Observer::Observer(std::shared_ptr<DockerEngine> engine, ObserverOptions options)
    : state_(std::make_shared<ObserverState>(std::move(engine), options)) {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->recompute_locked();
  state_->notify_pending = false;
}

Observer::~Observer() { stop(); }

void Observer::watch(std::optional<Plan> plan) {
  std::lock_guard<std::mutex> lock(state_->mu);
  if (plan && plan->topology_id.empty()) plan.reset();
  state_->watched = std::move(plan);
  state_->recompute_locked();
}

Observation Observer::observe() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->observation;
}

EngineInfo Observer::engine_info() const {
  EngineInfo info;
  info.api_version = state_->engine->api_version();
  info.engine_version = state_->engine->engine_version();
  std::lock_guard<std::mutex> lock(state_->mu);
  info.reachable = state_->listed && state_->snapshot.reachable;
  info.events_connected = state_->events_connected;
  info.last_error = state_->last_error;
  return info;
}

void Observer::on_change(std::function<void()> callback) {
  std::lock_guard<std::mutex> lock(state_->cb_mu);
  state_->callback = std::move(callback);
}

bool Observer::refresh() { return state_->list_now(); }

void Observer::request_refresh() { state_->schedule_relist(state_->options.debounce); }

namespace {

void fire_callback(ObserverState& s, const std::atomic<bool>& stop) {
  std::lock_guard<std::mutex> lock(s.cb_mu);
  if (stop.load() || !s.callback) return;
  try {
    s.callback();
  } catch (const std::exception& e) {
    spdlog::error("docker: observation change callback failed: {}", e.what());
  }
}

}  // namespace

namespace {

// Waits for a re-list request, the safety period, or a pending notification.
void lister_loop(const std::shared_ptr<ObserverState>& s, ObserverRun* run) {
  std::unique_lock<std::mutex> lock(s->mu);
  while (!run->stop.load()) {
    if (s->notify_pending) {
      s->notify_pending = false;
      lock.unlock();
      fire_callback(*s, run->stop);
      lock.lock();
      continue;
    }
    Clock::time_point now = Clock::now();
    // Before the first listing the events thread is about to list anyway.
    Clock::time_point due = (s->listed ? s->last_list : now) + s->options.safety_relist;
    if (s->relist_pending) due = std::min(due, s->relist_due);
    if (now >= due) {
      s->relist_pending = false;
      lock.unlock();
      s->list_now();
      lock.lock();
      continue;
    }
    s->cv.wait_until(lock, due);
  }
  run->lister_done = true;
  s->cv.notify_all();
}

// Lists, then follows /events from the moment before that listing (so no
// event between the two is lost); on a break, backs off and starts over.
void stream_loop(const std::shared_ptr<ObserverState>& s, ObserverRun* run) {
  const std::string filters =
      url_encode(json{{"type", json::array({"container", "network"})}}.dump());
  auto backoff = s->options.initial_backoff;
  while (!run->stop.load()) {
    const std::string since = unix_time_now();
    if (s->list_now()) {
      {
        std::lock_guard<std::mutex> lock(s->mu);
        s->events_connected = true;
      }
      auto opened = Clock::now();
      EngineResponse r = s->engine->stream_lines(
          "/events?since=" + since + "&filters=" + filters,
          [&](std::string_view line) {
            json event = json::parse(line, nullptr, /*allow_exceptions=*/false);
            bool relevant = false;
            {
              std::lock_guard<std::mutex> lock(s->mu);
              relevant = event_triggers_relist(event, s->scope);
            }
            if (relevant) s->schedule_relist(s->options.debounce);
          },
          run->stop);
      {
        std::lock_guard<std::mutex> lock(s->mu);
        s->events_connected = false;
        if (!run->stop.load()) {
          s->last_error = r.status == 0 ? r.message() : "the Docker engine ended the events stream";
        }
      }
      if (run->stop.load()) break;
      spdlog::warn("docker: events stream ended: {}; reconnecting",
                   r.status == 0 ? r.message() : "closed by the engine");
      // A stream that lived a while was healthy: start the backoff over.
      if (Clock::now() - opened > std::chrono::seconds(10)) backoff = s->options.initial_backoff;
    }
    std::unique_lock<std::mutex> lock(s->mu);
    s->cv.wait_for(lock, backoff, [&] { return run->stop.load(); });
    backoff = std::min(backoff * 2, s->options.max_backoff);
  }
  std::lock_guard<std::mutex> lock(s->mu);
  run->stream_done = true;
  s->cv.notify_all();
}

}  // namespace

void Observer::start() {
  if (run_) return;
  // Finished runs a stop() could not join in time are joined now.
  std::erase_if(stopping_, [](const auto& r) {
    return r->stream.join_for(std::chrono::milliseconds(0)) &&
           r->lister.join_for(std::chrono::milliseconds(0));
  });
  auto run = std::make_shared<ObserverRun>();
  // The threads see their run through a plain pointer: the run owns them and
  // joins them before it goes.
  ObserverRun* r = run.get();
  run->lister = OwnedThread("docker-lister", [s = state_, r] { lister_loop(s, r); });
  run->stream = OwnedThread("docker-events", [s = state_, r] { stream_loop(s, r); });
  run_ = std::move(run);
}

void Observer::stop() {
  if (!run_) return;
  std::shared_ptr<ObserverRun> run = std::move(run_);
  run_.reset();
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    run->stop.store(true);
    state_->cv.notify_all();
  }
  bool stream_done = false, lister_done = false;
  {
    std::unique_lock<std::mutex> lock(state_->mu);
    state_->cv.wait_for(lock, state_->options.stop_grace,
                        [&] { return run->stream_done && run->lister_done; });
    stream_done = run->stream_done;
    lister_done = run->lister_done;
  }
  // A thread stuck in a hung engine call ends when that call times out; it
  // stays owned (joined by the next start() or the destructor), never
  // detached.
  if (stream_done && lister_done) {
    (void)run->stream.join_for(std::chrono::milliseconds(1000));
    (void)run->lister.join_for(std::chrono::milliseconds(1000));
  } else {
    spdlog::warn(
        "docker: an observer thread is stuck in an engine call; it ends at that call's "
        "timeout");
    stopping_.push_back(std::move(run));
  }
  // Waits out a callback already running; none starts after this.
  std::lock_guard<std::mutex> gate(state_->cb_mu);
}

}  // namespace edge::docker
