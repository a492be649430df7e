#pragma once
// The master-facing operations (DESIGN §3): apply, teardown, state.
//
// Applies and teardowns are serialised by one mutex; state() never takes it:
// it reads an immutable snapshot of the store row (swapped after each write)
// and the runtime's cached observation. Nothing here re-applies on its own.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/status.h"
#include "docker_obs/catalog.h"
#include "docker_obs/runtime.h"
#include "store/topology_store.h"

namespace edge {

class Metrics;

struct Reply {
  int status = 200;
  nlohmann::json body;
};

class TopologyService {
 public:
  using Clock = std::function<std::int64_t()>;  // unix seconds

  // The store's current row becomes the first snapshot and is handed to the
  // runtime's watch(), which only changes what is compared: no engine object
  // is touched at boot.
  TopologyService(std::unique_ptr<store::TopologyStore> store,
                  std::unique_ptr<docker::TopologyRuntime> runtime, docker::ServiceCatalog catalog,
                  Metrics* metrics, Clock clock);
  ~TopologyService();

  Reply apply(std::string_view body);
  Reply teardown(std::string_view body);

  // The state object of GET /topology/state (also the heartbeat's "topology").
  nlohmann::json state() const;
  // Row details for /debug/state: blob size and sha256, without the blob.
  nlohmann::json row_summary() const;

  // SIGHUP: swaps the service catalog under the operation lock (an apply in
  // flight finishes first with the old one), hands it to the runtime and
  // re-plans the watched topology with it. Fails only while shutting down.
  Status reload_catalog(docker::ServiceCatalog catalog);

  // Called after every apply/teardown ends (success or not): heartbeat nudge.
  void on_operation_end(std::function<void()> callback);

  // Waits up to `timeout` for an apply or teardown in flight to finish, then
  // refuses new ones. True when nothing was left running.
  bool drain(std::chrono::milliseconds timeout);
  bool busy() const { return busy_.load(); }
  std::int64_t busy_since() const { return busy_since_.load(); }

  docker::TopologyRuntime& runtime() { return *runtime_; }

 private:
  using Row = store::AppliedTopology;
  // Holds the operation lock and marks the service busy for its lifetime.
  struct OperationScope {
    explicit OperationScope(TopologyService& s);
    ~OperationScope();
    TopologyService& service;
    std::unique_lock<std::timed_mutex> lock;
  };
  std::shared_ptr<const Row> snapshot() const;
  void refresh_snapshot();  // caller holds op_mu_
  void watch_snapshot();    // caller holds op_mu_
  std::shared_ptr<const docker::ServiceCatalog> catalog() const;
  Reply finish(const char* op, std::chrono::steady_clock::time_point start, Reply reply);

  std::unique_ptr<store::TopologyStore> store_;  // written only under op_mu_
  std::unique_ptr<docker::TopologyRuntime> runtime_;
  Metrics* metrics_;  // may be null
  Clock clock_;

  std::timed_mutex op_mu_;  // serialises apply/teardown
  std::atomic<bool> draining_{false};
  std::atomic<bool> busy_{false};
  std::atomic<std::int64_t> busy_since_{0};

  mutable std::mutex snap_mu_;  // guards snapshot_ and catalog_ (pointer swaps only)
  std::shared_ptr<const Row> snapshot_;
  std::shared_ptr<const docker::ServiceCatalog> catalog_;

  std::mutex cb_mu_;  // guards after_op_
  std::function<void()> after_op_;
};

}  // namespace edge
