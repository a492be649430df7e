#pragma once
// The master-facing operations (DESIGN §3): apply, teardown, state.
//
// apply() is a chain of typed steps on one parse of the body:
//   read_apply_request (422) -> hash check (400) -> validate_topology (400)
//   -> plan_topology -> [op lock] subnet check (400) -> supersede (409)
//   -> runtime apply (500, error recorded) -> store put.
// Nothing touches Docker or the store before the first three pass.
//
// Applies and teardowns are serialised by one mutex; state() never takes it:
// it reads an immutable snapshot of the store row (swapped after each write)
// and the runtime's cached observation. Nothing here re-applies on its own.
// A failed store write is kept in memory and reported as last_error until a
// write succeeds (DESIGN §4).

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/memory_budget.h"
#include "common/status.h"
#include "docker_obs/catalog.h"
#include "docker_obs/plan.h"
#include "docker_obs/runtime.h"
#include "store/topology_store.h"

namespace edge {

class Metrics;

struct Reply {
  int status = 200;
  nlohmann::json body;
};

struct ServiceOptions {
  std::string base_image = "busybox:latest";
  std::string agent_id;  // the owner label of everything this agent creates
  // --max-memory, shared with the HTTP server: an apply charges its plan
  // (plan_bytes_bound, twice: the apply's and the observer's copy) before
  // planning, waiting up to `budget_wait` for room. Null: not bounded.
  std::shared_ptr<MemoryBudget> budget;
  std::chrono::milliseconds budget_wait{2000};
  // What the caller already holds of `budget` per body byte while apply()
  // runs (the HTTP server's kBodyCostFactor): a plan that fits only without
  // it can never fit, a 413 rather than a 503 to retry forever.
  std::size_t body_charge_factor = 0;
};

class TopologyService {
 public:
  // The store's current row is planned and handed to the runtime's watch(),
  // which only changes what is compared: no engine object is touched at boot.
  TopologyService(std::unique_ptr<store::TopologyStore> store,
                  std::unique_ptr<docker::TopologyRuntime> runtime, docker::ServiceCatalog catalog,
                  ServiceOptions options, Metrics* metrics, TimeSource& clock = real_time());
  ~TopologyService();

  Reply apply(std::string_view body);
  Reply teardown(std::string_view body);

  // The state object of GET /topology/state (also the heartbeat's "topology").
  nlohmann::json state() const;
  // Row details for /debug/state: blob size and sha256, without the blob.
  nlohmann::json row_summary() const;

  // SIGHUP: swaps the service catalog under the operation lock (an apply in
  // flight finishes first with the old one) and re-plans the watched
  // topology with it, so drift shows what a re-push would change. Fails only
  // while shutting down.
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
  std::shared_ptr<const docker::ServiceCatalog> catalog() const;
  void refresh_snapshot();  // caller holds op_mu_
  // Caller holds op_mu_. Remembers a failed store write (reported in state()
  // until a write succeeds) or forgets it; returns `st` unchanged.
  store::StoreStatus note_write(store::StoreStatus st);
  // Caller holds op_mu_. The plan of the stored row for watch(), or nullopt
  // (with the reason kept for state()) when it cannot be planned.
  void watch_stored_row();
  Reply finish(const char* op, std::chrono::steady_clock::time_point start, Reply reply);

  // An apply that passed the typed steps: what converge and the store get.
  struct Prepared {
    MemoryCharge charge;  // the plan's share of --max-memory, held until the apply ends
    docker::Plan plan;
    std::string hash;       // the canonical hash, equal to the master's
    std::string_view blob;  // the bytes that were hashed: a view into the request body
  };
  // Steps that need neither Docker nor the lock: parse (422), hash (400),
  // validate (400), plan.
  Expected<Prepared, Reply> prepare_apply(std::string_view body) const;
  // The budget for a plan of `bytes`, beside `held` the caller holds for the
  // body: 413 if it can never fit, 503 if it does not before budget_wait ends.
  Expected<MemoryCharge, Reply> charge_plan(std::size_t bytes, std::size_t held) const;
  // Caller holds op_mu_. Tears `old` down and forgets it; the 409/500 reply
  // when that fails (recorded on the old row).
  std::optional<Reply> supersede(const Row& old, const std::string& tid);
  // Caller holds op_mu_. The 409 of a supersede that cannot happen, the
  // error recorded on the old (still pinned) row.
  std::optional<Reply> supersede_refused(const Row& old, const std::string& tid, const Status& why);
  // Caller holds op_mu_. Records the failure first, hands the plan to the
  // observer (moved), then the 500 reply.
  Reply apply_failed(Prepared& p, const Status& why);

  std::unique_ptr<store::TopologyStore> store_;  // written only under op_mu_
  std::unique_ptr<docker::TopologyRuntime> runtime_;
  const ServiceOptions options_;
  Metrics* metrics_;  // may be null
  TimeSource& clock_;

  std::timed_mutex op_mu_;  // serialises apply, teardown and reload_catalog
  std::atomic<bool> draining_{false};
  std::atomic<bool> busy_{false};
  std::atomic<std::int64_t> busy_since_{0};

  // guards snapshot_, catalog_, write_failure_, watch_problem_ (swaps only)
  mutable std::mutex snap_mu_;
  std::shared_ptr<const Row> snapshot_;
  std::shared_ptr<const docker::ServiceCatalog> catalog_;
  std::optional<std::string> write_failure_;  // a store write that failed, until one succeeds
  std::optional<std::string> watch_problem_;  // why the stored row is not compared

  std::mutex cb_mu_;  // guards after_op_
  std::function<void()> after_op_;
};

}  // namespace edge
