#pragma once
// What the agent asks of Docker (DESIGN §5): converge to a topology, tear one
// down, and say what is really running. docker_obs/ implements it against the
// Engine API; agent/ only sees this interface.
//
// Thread-safety: every method may be called from any thread. apply() and
// teardown() are serialised by the caller (the agent's apply lock); observe()
// never blocks on them and never makes an engine round trip.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "docker_obs/plan.h"

namespace edge::docker {

// A point-in-time view, served from the watcher's cache.
struct Observation {
  bool reachable = false;
  std::string error;                    // set when !reachable
  std::vector<std::string> bridges;     // sorted, labelled with the watched id
  std::vector<std::string> containers;  // sorted, running, labelled with the watched id
  // DESIGN §3 "drift": {"in_sync": bool, "missing": [...], "extra": [...],
  // "stopped": [...], "changed": [...]} (names), compared with the watched
  // desired topology; {} when nothing is watched.
  nlohmann::json drift = nlohmann::json::object();
  std::uint64_t generation = 0;  // bumps on every change the watcher sees
};

struct EngineInfo {
  bool reachable = false;
  std::string api_version;  // negotiated, e.g. "1.41"
  std::string engine_version;
  bool events_connected = false;
  std::string last_error;
  // Image pulls streaming right now, and when one last received bytes from
  // the engine: an apply that holds the lock for long while this moves is
  // busy pulling, not wedged.
  int pulls_in_progress = 0;
  std::chrono::steady_clock::time_point last_pull_progress{};
};

struct RuntimeOptions {
  std::string socket_path = "/var/run/docker.sock";
  std::string owner;  // this agent's id (kLabelOwner): the only objects it touches
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds call_timeout{60000};
  // A pull fails when the engine sends nothing for this long (no total timeout).
  std::chrono::milliseconds pull_idle_timeout{120000};
  int parallelism = 8;  // concurrent engine calls during an apply
  // Observer hook for metrics: every engine call reports its method+route
  // template (e.g. "POST /containers/create"), success, and duration.
  std::function<void(const std::string& call, bool ok, double seconds)> on_engine_call;
};

class TopologyRuntime {
 public:
  virtual ~TopologyRuntime() = default;

  // Fails (code docker::kSubnetConflict) when a planned subnet overlaps a
  // network this agent does not own, counting unowned objects of the
  // `adopt` topology ids as its own. Reads only; creates nothing.
  virtual Status check_subnets(const Plan& plan, const std::vector<std::string>& adopt) = 0;

  // Converge the engine to `plan` (built from a validated topology): create
  // what is missing, recreate what changed, remove what is unwanted, this
  // agent's leftovers of other topologies included. Touches nothing it does
  // not own (or adopt: unowned objects of plan's topology).
  virtual Status apply(const Plan& plan) = 0;

  // Remove this agent's objects of this topology id (and its unowned ones
  // when the id is among `adopt`). Idempotent.
  virtual Status teardown(const std::string& topology_id,
                          const std::vector<std::string>& adopt) = 0;

  // Which plan to watch and compare against (nullopt: none). Called at boot
  // with the cached topology's plan and after every apply/teardown. Never
  // touches engine objects; only changes what observe() reports.
  virtual void watch(std::optional<Plan> plan) = 0;

  virtual Observation observe() const = 0;
  virtual EngineInfo engine_info() const = 0;

  // Called (from the watcher thread) when the observation changes.
  virtual void on_change(std::function<void()> callback) = 0;

  // Starts the events watcher; stop() ends it and joins. Both idempotent.
  virtual void start() = 0;
  virtual void stop() = 0;
};

// The production implementation: Engine API over the Unix socket.
std::unique_ptr<TopologyRuntime> make_docker_runtime(RuntimeOptions options);

}  // namespace edge::docker
