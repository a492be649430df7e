#pragma once
// Live observation of the topology's Docker objects (DESIGN §3 "observed" and
// "drift", §5 "Observation").
//
// The Observer lists every network and container carrying a
// decnet.topology.id label, follows GET /events and re-lists (debounced) when
// a labelled container or any network changes, and re-lists after every
// reconnect of the events stream. Besides that it re-lists only once per
// `safety_relist` period: no polling loop. observe() and engine_info() are
// served from the cache and never make an engine round trip.
//
// When the engine is unreachable the observation is {reachable=false,
// error=<reason>}, and stays served; the stream reconnects with a capped
// exponential backoff.
//
// Threads: start() runs two threads, the events follower and the lister (the
// lister also runs the on_change callback). stop() returns within about
// `stop_grace` even when the engine hangs: a thread stuck in an engine call is
// detached and exits after that call's timeout (it only holds shared state).
// After stop() returns no callback runs. Every method is thread-safe, except
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

#include "docker_obs/engine.h"
#include "docker_obs/plan.h"
#include "docker_obs/runtime.h"

namespace edge::docker {

namespace detail {
struct ObserverState;  // observer.cpp: cache and wake-ups shared with the threads
struct ObserverRun;    // observer.cpp: one start()..stop() cycle
}  // namespace detail

struct ObservedNetwork {
  std::string name;
  std::map<std::string, std::string> labels;
};

struct ObservedContainer {
  std::string name;   // without Docker's leading '/'
  std::string state;  // Docker's State: "running", "exited", "created", ...
  std::map<std::string, std::string> labels;
};

// One listing of every object that carries a decnet.topology.id label.
struct EngineSnapshot {
  bool reachable = false;
  std::string error;                          // set when !reachable
  std::vector<ObservedNetwork> networks;      // sorted by name
  std::vector<ObservedContainer> containers;  // sorted by name
};

// Pure. Compares the objects of `snapshot` labelled with plan.topology_id
// against `plan`, by name, spec label (kLabelSpec) and state:
//   {"in_sync": bool, "missing": [...], "extra": [...], "stopped": [...],
//    "changed": [...]}
// missing: wanted networks/containers absent; extra: labelled objects the
// plan does not want; stopped: wanted containers present but not running;
// changed: present with a different (or no) spec label. All sorted; in_sync
// when all four are empty. Objects of other topologies are ignored.
nlohmann::json compute_drift(const Plan& plan, const EngineSnapshot& snapshot);

// Pure. The Observation (generation left 0) of `snapshot` for `watched`
// (nullptr: nothing watched, so every labelled object is listed and drift is
// {}). Unreachable: {reachable=false, error}, and drift
// {"in_sync": false, "error": <reason>} when something is watched (the truth
// is unknown, so it is not reported as in sync).
Observation derive_observation(const EngineSnapshot& snapshot, const Plan* watched);

// Pure. Parse the bodies of GET /networks and GET /containers/json. On a
// body that is not the expected shape: false, and *error names what is wrong.
bool parse_network_list(const nlohmann::json& body, std::vector<ObservedNetwork>* out,
                        std::string* error);
bool parse_container_list(const nlohmann::json& body, std::vector<ObservedContainer>* out,
                          std::string* error);

// Which /events messages concern the observation. An empty topology_id
// (nothing watched): every labelled container and every network.
struct EventScope {
  std::string topology_id;
  // Networks named by the watched plan or seen labelled with topology_id.
  // Network events carry no labels, only the network's name.
  std::set<std::string> networks;
};

// Pure. Whether one /events message can change the observation: a lifecycle
// event (create, start, die, destroy, ...) of a container labelled with the
// scope's topology id (any id when none), or an event of a network in scope
// (any network when none). exec_*, attach, health_status and the like do not.
// Another topology's churn is ignored: the engine is shared.
bool event_triggers_relist(const nlohmann::json& event, const EventScope& scope = {});

// Lists the labelled objects now: two engine calls. Never throws.
EngineSnapshot list_labelled_objects(DockerEngine& engine);

struct ObserverOptions {
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
};

}  // namespace edge::docker
