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

#include "docker_obs/catalog.h"

namespace edge::docker {

struct RuntimeStatus {
  bool ok = true;
  std::string message;  // for a person: names the object and the engine's words
  static RuntimeStatus success() { return {}; }
  static RuntimeStatus failure(std::string m) { return {false, std::move(m)}; }
};

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
};

struct RuntimeOptions {
  std::string socket_path = "/var/run/docker.sock";
  std::string base_image = "busybox:latest";
  ServiceCatalog catalog;
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds call_timeout{60000};
  int parallelism = 8;  // concurrent engine calls during an apply
  // Observer hook for metrics: every engine call reports its method+route
  // template (e.g. "POST /containers/create"), success, and duration.
  std::function<void(const std::string& call, bool ok, double seconds)> on_engine_call;
};

class TopologyRuntime {
 public:
  virtual ~TopologyRuntime() = default;

  // Converge the engine to `hydrated` (already hash-checked and validated):
  // create what is missing, recreate what changed, remove what is unwanted.
  // Objects of any other topology id are torn down first.
  virtual RuntimeStatus apply(const nlohmann::json& hydrated) = 0;

  // Remove every object labelled with this topology id. Idempotent.
  virtual RuntimeStatus teardown(const std::string& topology_id) = 0;

  // Which topology to watch and compare against (nullopt: none). Called at
  // boot with the cached blob and after every apply/teardown. Never touches
  // engine objects; only changes what observe() reports.
  virtual void watch(const std::optional<nlohmann::json>& hydrated) = 0;

  // Replaces the service catalog later plans are built from (SIGHUP reload).
  // Call under the caller's apply lock, then watch() again to re-plan.
  virtual void set_catalog(ServiceCatalog catalog) = 0;

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
