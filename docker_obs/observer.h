#pragma once
// Live observation of the topology's Docker objects (DESIGN §3 "observed" and
// "drift", §5 "Observation").
//
// The Observer lists every network and container carrying a
// decnet.topology.id label (keeping this agent's own), follows GET /events and re-lists (debounced)
// when a labelled container or any network changes, and re-lists after every reconnect of the
// events stream. Besides that it re-lists only once per `safety_relist` period: no polling loop.
// observe() and engine_info() are served from the cache and never make an engine round trip.
//
// When the engine is unreachable the observation is {reachable=false,
// error=<reason>}, and stays served; the stream reconnects with a capped
// exponential backoff.
//
// Threads: start() runs two OwnedThreads, the events follower and the lister
// (the lister also runs the on_change callback). stop() returns within about
// `stop_grace` even when the engine hangs: a thread stuck in an engine call
// stays owned and ends at that call's timeout; the next start() or the
// destructor joins it. After stop() returns no callback runs. Every method is thread-safe, except
// that the on_change callback must not call stop() or start().

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "docker_obs/diff.h"
#include "docker_obs/engine.h"
#include "docker_obs/plan.h"
#include "docker_obs/runtime.h"

namespace edge::docker {

namespace detail {
struct ObserverState;  // observer.cpp: cache and wake-ups shared with the threads
struct ObserverRun;    // observer.cpp: one start()..stop() cycle
}  // namespace detail

// One listing of every object that carries a decnet.topology.id label.
struct EngineSnapshot {
  bool reachable = false;
  std::string error;  // set when !reachable
  Live objects;       // every labelled object, whoever owns it
};

// Pure. The Observation (generation left 0) of `snapshot` for this agent
// (`owner`) and its `watched` plan (nullptr: nothing watched). Only this
// agent's objects are listed (and unowned ones of the watched topology,
// which it adopts); drift is diff()'s report against `watched`, {} when
// nothing is watched. Unreachable: {reachable=false, error}, and drift
// {"in_sync": false, "error": <reason>} when something is watched (the truth
// is unknown, so it is not reported as in sync).
Observation derive_observation(const EngineSnapshot& snapshot, const std::string& owner,
                               const Plan* watched);

// Which /events messages concern the observation.
struct EventScope {
  std::string owner;        // this agent's id
  std::string topology_id;  // the watched one ("" = none)
  // Networks named by the watched plan or owned by this agent: network
  // events carry no labels, only the network's name.
  std::set<std::string> networks;
};

// Pure. Whether one /events message can change the observation: a lifecycle
// event (create, start, die, destroy, ...) of a container this agent owns
// (or an unowned one of the watched topology), or an event of a network in
// scope (connect, disconnect, destroy, ...). exec_*, attach, health_status
// and the like do not. Other agents' churn is ignored: the engine is shared.
bool event_triggers_relist(const nlohmann::json& event, const EventScope& scope = {});

// Lists the labelled objects now: two engine calls. Never throws.
EngineSnapshot list_labelled_objects(DockerEngine& engine);

struct ObserverOptions {
  std::string owner;                               // this agent's id: only its objects are observed
  std::chrono::milliseconds debounce{100};         // events -> one re-list
  std::chrono::milliseconds safety_relist{60000};  // re-list even when quiet
  std::chrono::milliseconds initial_backoff{100};  // stream reconnect
  std::chrono::milliseconds max_backoff{5000};
  std::chrono::milliseconds stop_grace{900};  // how long stop() waits for a busy thread
};

class Observer {
 public:
  // `engine` is shared with the observer's threads (they may outlive a
  // stop() that had to detach them). Its call_timeout bounds how long a hung
  // engine keeps an observation stale.
  explicit Observer(std::shared_ptr<DockerEngine> engine, ObserverOptions options = {});
  ~Observer();  // stop()
  Observer(const Observer&) = delete;
  Observer& operator=(const Observer&) = delete;

  // What to compare with (nullopt, or an empty topology id: nothing). Takes
  // effect at once on the cached listing; no engine call.
  void watch(std::optional<Plan> plan);

  Observation observe() const;
  EngineInfo engine_info() const;

  // Fired from the lister thread when the observation's content changes
  // (not on every re-list). Replaces any previous callback.
  void on_change(std::function<void()> callback);

  // Lists now, in the caller's thread (serialised with the observer's own
  // listings); observe() reflects the result when this returns. Works
  // whether or not the observer is started. Returns the snapshot's
  // reachability.
  bool refresh();

  // Asks the lister for a re-list after the debounce delay.
  void request_refresh();

  void start();  // idempotent
  void stop();   // idempotent; joins, or detaches a thread stuck in the engine

 private:
  std::shared_ptr<detail::ObserverState> state_;
  std::shared_ptr<detail::ObserverRun> run_;  // the current cycle, or null when stopped
  // Stopped cycles whose threads were still in an engine call; joined later.
  std::vector<std::shared_ptr<detail::ObserverRun>> stopping_;
};

}  // namespace edge::docker
