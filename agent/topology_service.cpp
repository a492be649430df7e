#include "agent/topology_service.h"

#include <spdlog/spdlog.h>

#include "agent/metrics.h"
#include "agent/topology_model.h"
#include "agent/validate.h"
#include "common/text.h"
#include "docker_obs/converge.h"

namespace edge {
namespace {

using nlohmann::json;

Reply detail(int status, std::string message) {
  return {status, json{{"detail", std::move(message)}}};
}

std::string clip(const std::string& s, std::size_t n = 2000) {
  return s.size() <= n ? s : s.substr(0, n) + "...";
}

}  // namespace

TopologyService::TopologyService(std::unique_ptr<store::TopologyStore> store,
                                 std::unique_ptr<docker::TopologyRuntime> runtime,
                                 docker::ServiceCatalog catalog, ServiceOptions options,
                                 Metrics* metrics, TimeSource& clock)
    : store_(std::move(store)),
      runtime_(std::move(runtime)),
      options_(std::move(options)),
      metrics_(metrics),
      clock_(clock),
      catalog_(std::make_shared<const docker::ServiceCatalog>(std::move(catalog))) {
  std::lock_guard lock(op_mu_);
  refresh_snapshot();
  watch_stored_row();
}

TopologyService::~TopologyService() = default;

TopologyService::OperationScope::OperationScope(TopologyService& s) : service(s), lock(s.op_mu_) {
  service.busy_since_ = service.clock_.unix_now();
  service.busy_ = true;
}

TopologyService::OperationScope::~OperationScope() { service.busy_ = false; }

std::shared_ptr<const TopologyService::Row> TopologyService::snapshot() const {
  std::lock_guard lock(snap_mu_);
  return snapshot_;
}

std::shared_ptr<const docker::ServiceCatalog> TopologyService::catalog() const {
  std::lock_guard lock(snap_mu_);
  return catalog_;
}

void TopologyService::refresh_snapshot() {
  store::StoreStatus st;
  auto row = store_->current(&st);
  if (!st.ok()) {
    spdlog::error("store read failed: {}", st.message);
    if (metrics_ != nullptr) metrics_->store_error();
    return;  // keep serving the last known row
  }
  std::shared_ptr<const Row> next = row ? std::make_shared<const Row>(std::move(*row)) : nullptr;
  std::lock_guard lock(snap_mu_);
  snapshot_ = std::move(next);
}

store::StoreStatus TopologyService::note_write(store::StoreStatus st) {
  std::lock_guard lock(snap_mu_);
  if (st.ok()) {
    if (write_failure_) spdlog::info("store writes succeed again");
    write_failure_.reset();
  } else {
    spdlog::error("store write failed: {}", st.message);
    if (metrics_ != nullptr) metrics_->store_error();
    write_failure_ = "the agent's store could not record the last operation: " + st.message;
  }
  return st;
}

void TopologyService::watch_stored_row() {
  auto row = snapshot();
  std::optional<std::string> problem;
  std::optional<docker::Plan> plan;
  if (row && !row->hydrated_json.empty() && row->hydrated_json != "{}") {
    auto tree = JsonTree::parse(row->hydrated_json, JsonTree::Duplicates::kLastWins);
    auto topology = tree ? read_topology(tree->root()) : Expected<Topology>(tree.error());
    if (!topology) {
      problem = "the cached topology cannot be read: " + topology.error().message();
    } else if (auto valid = validate_topology(std::move(topology).value(), *catalog()); !valid) {
      problem = "the cached topology does not validate against the current catalog: " +
                format_validation_detail(valid.error());
    } else {
      plan = docker::plan_topology(*valid, *catalog(), {options_.base_image, options_.agent_id});
    }
  }
  if (problem)
    spdlog::error("topology '{}': {}; drift is not computed", row->topology_id, *problem);
  {
    std::lock_guard lock(snap_mu_);
    watch_problem_ = problem;
  }
  runtime_->watch(std::move(plan));
}

void TopologyService::on_operation_end(std::function<void()> callback) {
  std::lock_guard lock(cb_mu_);
  after_op_ = std::move(callback);
}

Reply TopologyService::finish(const char* op, std::chrono::steady_clock::time_point start,
                              Reply reply) {
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const char* outcome = reply.status < 300 ? "ok" : reply.status < 500 ? "rejected" : "error";
  if (metrics_ != nullptr) metrics_->operation(op, outcome, seconds);
  if (reply.status < 300) {
    spdlog::info("{} ended: {} in {:.3f}s", op, outcome, seconds);
  } else {
    spdlog::warn("{} ended: {} ({}) in {:.3f}s: {}", op, outcome, reply.status, seconds,
                 clip(reply.body.value("detail", ""), 500));
  }
  std::function<void()> cb;
  {
    std::lock_guard lock(cb_mu_);
    cb = after_op_;
  }
  if (cb && reply.status != 422 && reply.status != 400) cb();
  return reply;
}

Expected<TopologyService::Prepared, Reply> TopologyService::prepare_apply(
    std::string_view body) const {
  // 1. One parse: the hash, the blob and the typed topology come from it.
  auto request = read_apply_request(body);
  if (!request) return detail(422, request.error().message());
  ApplyRequest& req = *request;
  // 2. The hash, before anything else is believed.
  if (!req.hash_matches()) {
    return detail(400, "master hash '" + excerpt(req.master_hash, 80) +
                           "' does not match agent hash '" + req.local_hash +
                           "' — refusing to apply");
  }
  // 3. Validation and the plan, against the catalog of this moment (a reload
  // swaps the pointer; this apply keeps the one it validated against).
  const auto catalog_now = catalog();
  auto valid = validate_topology(std::move(req.topology), *catalog_now);
  if (!valid) return detail(400, format_validation_detail(valid.error()));
  // 4. Room for the plan before it is made: it grows with deckies x
  // services x catalog entries, not with the body (DESIGN §7).
  const docker::PlanOptions plan_options{options_.base_image, options_.agent_id};
  auto charge = charge_plan(2 * docker::plan_bytes_bound(*valid, *catalog_now, plan_options),
                            options_.body_charge_factor * body.size());
  if (!charge) return charge.error();
  return Prepared{std::move(charge).value(),
                  docker::plan_topology(*valid, *catalog_now, plan_options),
                  std::move(req.local_hash), req.blob};
}

Expected<MemoryCharge, Reply> TopologyService::charge_plan(std::size_t bytes,
                                                           std::size_t held) const {
  MemoryBudget* budget = options_.budget.get();
  if (budget == nullptr) return MemoryCharge();
  if (held > budget->limit() || bytes > budget->limit() - held) {
    return detail(413, fmt::format("this topology needs about {:.1f} MiB to plan and converge, "
                                   "more than the agent's --max-memory ({:.1f} MiB)",
                                   bytes / 1048576.0, budget->limit() / 1048576.0));
  }
  if (!budget->charge_until(bytes, clock_, clock_.steady_now() + options_.budget_wait)) {
    return detail(503,
                  "the agent's memory budget (--max-memory) is taken by requests in "
                  "flight; retry shortly");
  }
  return MemoryCharge(budget, bytes);
}

Reply TopologyService::apply_failed(Prepared& p, const Status& why) {
  const std::string tid = p.plan.topology_id;
  (void)note_write(store_->record_error(tid, clip(why.message()), std::string(p.blob)));
  refresh_snapshot();
  runtime_->watch(std::move(p.plan));  // the observer keeps it: no second copy
  return detail(500, "apply of topology '" + tid + "' failed: " + why.message());
}

std::optional<Reply> TopologyService::supersede_refused(const Row& old, const std::string& tid,
                                                        const Status& why) {
  (void)note_write(store_->record_error(
      old.topology_id, clip("superseding by '" + tid + "' failed: " + why.message())));
  refresh_snapshot();
  return detail(409, "agent already has topology '" + old.topology_id + "'; cannot apply '" + tid +
                         "': tearing the old one down failed: " + why.message());
}

std::optional<Reply> TopologyService::supersede(const Row& old, const std::string& tid) {
  spdlog::info("topology '{}' supersedes '{}': tearing the old one down first", tid,
               old.topology_id);
  if (Status down = runtime_->teardown(old.topology_id, {old.topology_id}); !down.ok()) {
    return supersede_refused(old, tid, down);
  }
  if (!note_write(store_->clear(old.topology_id)).ok()) {
    return detail(500, "the old topology '" + old.topology_id +
                           "' was torn down but the store could not forget it");
  }
  refresh_snapshot();
  return std::nullopt;
}

Reply TopologyService::apply(std::string_view body) {
  const auto start = std::chrono::steady_clock::now();
  auto prepared = prepare_apply(body);  // steps 1-3: nothing touched yet
  if (!prepared) return finish("apply", start, prepared.error());
  Prepared& p = *prepared;
  const std::string tid = p.plan.topology_id;

  OperationScope scope(*this);
  if (draining_) return finish("apply", start, detail(503, "agent is shutting down"));
  spdlog::info("apply started: topology '{}' hash {}", tid, p.hash.substr(0, 12));
  auto row = snapshot();
  const bool superseding = row && row->topology_id != tid;
  // 4. Refuse what Docker would refuse half-way, before touching anything.
  std::vector<std::string> adopt{tid};
  if (superseding) adopt.push_back(row->topology_id);
  if (Status st = runtime_->check_subnets(p.plan, adopt); !st.ok()) {
    if (st.code() == docker::kSubnetConflict) {
      return finish(
          "apply", start,
          detail(400, "1 topology validation error(s): [SUBNET_CONFLICT] " + st.message()));
    }
    // Docker cannot even be read: the pinned topology still runs, so it
    // keeps its row (with the error) rather than a marker of the new one.
    if (superseding) return finish("apply", start, *supersede_refused(*row, tid, st));
    return finish("apply", start, apply_failed(p, st));
  }
  // 5. The master is authoritative: a new topology supersedes the pinned one.
  if (superseding) {
    if (auto refused = supersede(*row, tid)) return finish("apply", start, *refused);
  }
  // 6. Converge; a failure is recorded before it is answered.
  if (Status st = runtime_->apply(p.plan); !st.ok()) {
    return finish("apply", start, apply_failed(p, st));
  }
  runtime_->watch(std::move(p.plan));  // the observer keeps it: no second copy
  {
    std::lock_guard lock(snap_mu_);
    watch_problem_.reset();
  }
  auto st = note_write(store_->put(tid, p.hash, std::string(p.blob), clock_.unix_now()));
  refresh_snapshot();
  if (!st.ok()) {
    return finish("apply", start,
                  detail(st.code == store::StoreCode::kAlreadyApplied ? 409 : 500,
                         "topology applied in Docker but not recorded: " + st.message));
  }
  return finish("apply", start, {200, json{{"status", "applied"}, {"version_hash", p.hash}}});
}

Reply TopologyService::teardown(std::string_view body) {
  const auto start = std::chrono::steady_clock::now();
  auto parsed = read_teardown_request(body);
  if (!parsed) return finish("teardown", start, detail(422, parsed.error().message()));
  const std::string tid = *parsed;
  if (!is_valid_topology_id(tid)) {
    return finish("teardown", start,
                  detail(422,
                         "'topology_id' must be 1-128 characters from [A-Za-z0-9_.-] "
                         "starting with a letter or digit"));
  }

  OperationScope scope(*this);
  if (draining_) return finish("teardown", start, detail(503, "agent is shutting down"));
  spdlog::info("teardown started: topology '{}'", tid);
  auto row = snapshot();
  const bool pinned = row && row->topology_id == tid;
  Status result =
      runtime_->teardown(tid, pinned ? std::vector<std::string>{tid} : std::vector<std::string>{});
  if (!result.ok()) {
    if (pinned) {
      (void)note_write(store_->record_error(tid, clip("teardown failed: " + result.message())));
      refresh_snapshot();
    }
    return finish("teardown", start,
                  detail(500, "teardown of topology '" + tid + "' failed: " + result.message()));
  }
  if (!note_write(store_->clear(tid)).ok()) {
    return finish("teardown", start,
                  detail(500, "topology torn down in Docker but the store could not forget it"));
  }
  refresh_snapshot();
  if (pinned) {
    runtime_->watch(std::nullopt);
    std::lock_guard lock(snap_mu_);
    watch_problem_.reset();
  }
  return finish("teardown", start, {200, json{{"status", "torn_down"}, {"topology_id", tid}}});
}

Status TopologyService::reload_catalog(docker::ServiceCatalog catalog) {
  if (draining_) return Status::failure("the agent is shutting down");
  // Waits for an apply in flight (it finishes with the catalog it validated
  // against); a plain lock, as try_lock_for on a timed_mutex is invisible
  // to ThreadSanitizer.
  std::lock_guard lock(op_mu_);
  if (draining_) return Status::failure("the agent is shutting down");
  {
    std::lock_guard snap(snap_mu_);
    catalog_ = std::make_shared<const docker::ServiceCatalog>(std::move(catalog));
  }
  watch_stored_row();
  return Status::success();
}

json TopologyService::state() const {
  std::shared_ptr<const Row> row;
  std::optional<std::string> write_failure, watch_problem;
  {
    std::lock_guard lock(snap_mu_);
    row = snapshot_;
    write_failure = write_failure_;
    watch_problem = watch_problem_;
  }
  docker::Observation obs = runtime_->observe();
  json s;
  s["topology_id"] = row ? json(row->topology_id) : json(nullptr);
  s["applied_version_hash"] = row ? json(row->version_hash) : json(nullptr);
  s["applied_at"] = row ? json(row->applied_at) : json(nullptr);
  // A failed write means the row may no longer match Docker: never report
  // it as healthy (DESIGN §4).
  if (write_failure) {
    s["last_error"] = *write_failure;
  } else {
    s["last_error"] = row && row->last_error ? json(*row->last_error) : json(nullptr);
  }
  if (obs.reachable) {
    s["observed"] = {{"bridges", obs.bridges}, {"containers", obs.containers}};
  } else {
    s["observed"] = {{"error", obs.error.empty() ? "docker engine not observed yet" : obs.error}};
  }
  json drift = obs.drift.is_object() ? obs.drift : json::object();
  if (write_failure) {
    drift["in_sync"] = false;
    drift["reason"] = "a store write failed";
  } else if (row && (row->version_hash.empty() || row->last_error)) {
    drift["in_sync"] = false;
    drift["reason"] = row->version_hash.empty() ? "the last apply failed" : "last_error is set";
  } else if (row && watch_problem) {
    drift["in_sync"] = false;
    drift["reason"] = *watch_problem;
  } else if (row && !obs.reachable) {
    drift["in_sync"] = false;
    drift["reason"] = "docker engine unreachable";
  }
  s["drift"] = std::move(drift);
  return s;
}

json TopologyService::row_summary() const {
  auto row = snapshot();
  if (!row) return nullptr;
  return {{"topology_id", row->topology_id},
          {"applied_version_hash", row->version_hash},
          {"applied_at", row->applied_at},
          {"last_error", row->last_error ? json(*row->last_error) : json(nullptr)},
          {"blob_bytes", row->hydrated_json.size()},
          {"blob_sha256", sha256_hex(row->hydrated_json)},
          {"store_path", store_->path().string()}};
}

bool TopologyService::drain(std::chrono::milliseconds timeout) {
  draining_ = true;
  if (op_mu_.try_lock_for(timeout)) {
    op_mu_.unlock();
    return true;
  }
  return false;
}

}  // namespace edge
