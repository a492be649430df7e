#include "agent/topology_service.h"

#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <cstdio>

#include "agent/canonical_json.h"
#include "agent/json_scan.h"
#include "agent/metrics.h"
#include "agent/validate.h"

namespace edge {
namespace {

using nlohmann::json;

Reply detail(int status, std::string message) {
  return {status, json{{"detail", std::move(message)}}};
}

std::string sha256_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  std::string hex;
  hex.reserve(len * 2);
  char buf[3];
  for (unsigned int i = 0; i < len; ++i) {
    std::snprintf(buf, sizeof buf, "%02x", md[i]);
    hex += buf;
  }
  return hex;
}

std::string clip(const std::string& s, std::size_t n = 200) {
  return s.size() <= n ? s : s.substr(0, n) + "...";
}

// nlohmann's what() starts with "[json.exception.parse_error.101] ": keep the
// part a person reads.
std::string parse_reason(const std::exception& e) {
  std::string w = e.what();
  auto close = w.find("] ");
  return close == std::string::npos ? w : w.substr(close + 2);
}

struct ParsedBody {
  std::optional<Reply> error;
  json doc;
  TopLevelScan scan;
};

ParsedBody parse_body(std::string_view body, const char* expected_shape) {
  ParsedBody out;
  out.scan = scan_top_level(body, kMaxJsonDepth + 1);
  if (!out.scan.ok) {
    out.error = detail(
        422, "request body is not valid JSON: " + out.scan.error + "; expected " + expected_shape);
    return out;
  }
  try {
    out.doc = json::parse(body);
  } catch (const json::exception& e) {
    out.error = detail(
        422, "request body is not valid JSON: " + parse_reason(e) + "; expected " + expected_shape);
  }
  return out;
}

}  // namespace

TopologyService::TopologyService(std::unique_ptr<store::TopologyStore> store,
                                 std::unique_ptr<docker::TopologyRuntime> runtime,
                                 docker::ServiceCatalog catalog, Metrics* metrics, Clock clock)
    : store_(std::move(store)),
      runtime_(std::move(runtime)),
      metrics_(metrics),
      clock_(std::move(clock)),
      catalog_(std::make_shared<const docker::ServiceCatalog>(std::move(catalog))) {
  std::lock_guard lock(op_mu_);
  refresh_snapshot();
  watch_snapshot();
}

void TopologyService::watch_snapshot() {
  auto row = snapshot();
  std::optional<json> watched;
  if (row && !row->hydrated_json.empty() && row->hydrated_json != "{}") {
    try {
      watched = json::parse(row->hydrated_json);
    } catch (const json::exception& e) {
      spdlog::error("cached topology '{}' has an unreadable blob ({}); drift is not computed",
                    row->topology_id, parse_reason(e));
    }
  }
  runtime_->watch(watched);
}

std::shared_ptr<const docker::ServiceCatalog> TopologyService::catalog() const {
  std::lock_guard lock(snap_mu_);
  return catalog_;
}

Status TopologyService::reload_catalog(docker::ServiceCatalog catalog) {
  std::unique_lock lock(op_mu_, std::defer_lock);
  while (!lock.try_lock_for(std::chrono::milliseconds(100))) {
    if (draining_) return Status::failure("the agent is shutting down");
  }
  if (draining_) return Status::failure("the agent is shutting down");
  auto next = std::make_shared<const docker::ServiceCatalog>(std::move(catalog));
  runtime_->set_catalog(*next);
  {
    std::lock_guard snap(snap_mu_);
    catalog_ = std::move(next);
  }
  watch_snapshot();
  return Status::success();
}

TopologyService::~TopologyService() = default;

TopologyService::OperationScope::OperationScope(TopologyService& s) : service(s), lock(s.op_mu_) {
  service.busy_since_ = service.clock_();
  service.busy_ = true;
}

TopologyService::OperationScope::~OperationScope() { service.busy_ = false; }

std::shared_ptr<const TopologyService::Row> TopologyService::snapshot() const {
  std::lock_guard lock(snap_mu_);
  return snapshot_;
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

Reply TopologyService::apply(std::string_view body) {
  const auto start = std::chrono::steady_clock::now();
  static constexpr const char* kShape = R"({"hydrated": {...}, "version_hash": "<sha256 hex>"})";
  ParsedBody parsed = parse_body(body, kShape);
  if (parsed.error) return finish("apply", start, *parsed.error);
  const json& doc = parsed.doc;
  auto hyd = doc.find("hydrated");
  auto vh = doc.find("version_hash");
  if (hyd == doc.end() || !hyd->is_object()) {
    return finish("apply", start,
                  detail(422, std::string("'hydrated' must be a JSON object; expected ") + kShape));
  }
  if (vh == doc.end() || !vh->is_string()) {
    return finish("apply", start,
                  detail(422, std::string("'version_hash' must be a string; expected ") + kShape));
  }
  auto raw = parsed.scan.members.find("hydrated");
  if (raw == parsed.scan.members.end()) {
    return finish("apply", start,
                  detail(422, "the 'hydrated' member name must be written without escapes"));
  }
  const std::string master_hash = vh->get<std::string>();
  CanonicalResult local = canonical_hash(raw->second);
  if (!local.ok) {
    return finish("apply", start, detail(422, "'hydrated' cannot be hashed: " + local.error));
  }
  if (local.text != master_hash) {
    return finish(
        "apply", start,
        detail(400, "master hash '" + clip(master_hash, 80) + "' does not match agent hash '" +
                        local.text + "' — refusing to apply"));
  }
  auto issues = validate_topology(*hyd, *catalog());
  if (!issues.empty()) {
    return finish("apply", start, detail(400, format_validation_detail(issues)));
  }
  const std::string tid = (*hyd)["topology"]["id"].get<std::string>();
  const std::string blob(raw->second);

  OperationScope scope(*this);
  if (draining_) return finish("apply", start, detail(503, "agent is shutting down"));
  spdlog::info("apply started: topology '{}' hash {}", tid, local.text.substr(0, 12));

  auto row = snapshot();
  if (row && row->topology_id != tid) {
    spdlog::info("topology '{}' supersedes '{}': tearing the old one down first", tid,
                 row->topology_id);
    auto down = runtime_->teardown(row->topology_id);
    if (!down.ok) {
      store_->record_error(row->topology_id,
                           "superseding by '" + tid + "' failed: " + down.message);
      refresh_snapshot();
      return finish(
          "apply", start,
          detail(409, "agent already has topology '" + row->topology_id + "'; cannot apply '" +
                          tid + "': tearing the old one down failed: " + down.message));
    }
    auto st = store_->clear(row->topology_id);
    if (!st.ok()) {
      if (metrics_ != nullptr) metrics_->store_error();
      return finish("apply", start,
                    detail(500, "could not clear the old topology from the store: " + st.message));
    }
    refresh_snapshot();
  }

  auto result = runtime_->apply(*hyd);
  if (!result.ok) {
    auto st = store_->record_error(tid, clip(result.message, 2000), blob);
    if (!st.ok()) {
      spdlog::error("could not record the apply error in the store: {}", st.message);
      if (metrics_ != nullptr) metrics_->store_error();
    }
    refresh_snapshot();
    runtime_->watch(*hyd);
    return finish("apply", start,
                  detail(500, "apply of topology '" + tid + "' failed: " + result.message));
  }
  auto st = store_->put(tid, local.text, blob, clock_());
  if (!st.ok()) {
    if (metrics_ != nullptr) metrics_->store_error();
    return finish("apply", start,
                  detail(st.code == store::StoreCode::kAlreadyApplied ? 409 : 500,
                         "topology applied in Docker but not recorded: " + st.message));
  }
  refresh_snapshot();
  runtime_->watch(*hyd);
  return finish("apply", start, {200, json{{"status", "applied"}, {"version_hash", local.text}}});
}

Reply TopologyService::teardown(std::string_view body) {
  const auto start = std::chrono::steady_clock::now();
  static constexpr const char* kShape = R"({"topology_id": "<id>"})";
  ParsedBody parsed = parse_body(body, kShape);
  if (parsed.error) return finish("teardown", start, *parsed.error);
  auto id_it = parsed.doc.find("topology_id");
  if (id_it == parsed.doc.end() || !id_it->is_string()) {
    return finish("teardown", start,
                  detail(422, std::string("'topology_id' must be a string; expected ") + kShape));
  }
  const std::string tid = id_it->get<std::string>();
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
  auto result = runtime_->teardown(tid);
  if (!result.ok) {
    if (pinned) {
      store_->record_error(tid, clip("teardown failed: " + result.message, 2000));
      refresh_snapshot();
    }
    return finish("teardown", start,
                  detail(500, "teardown of topology '" + tid + "' failed: " + result.message));
  }
  auto st = store_->clear(tid);
  if (!st.ok()) {
    if (metrics_ != nullptr) metrics_->store_error();
    return finish("teardown", start,
                  detail(500, "topology torn down in Docker but the store could not forget it: " +
                                  st.message));
  }
  refresh_snapshot();
  if (pinned) runtime_->watch(std::nullopt);
  return finish("teardown", start, {200, json{{"status", "torn_down"}, {"topology_id", tid}}});
}

json TopologyService::state() const {
  auto row = snapshot();
  docker::Observation obs = runtime_->observe();
  json s;
  s["topology_id"] = row ? json(row->topology_id) : json(nullptr);
  s["applied_version_hash"] = row ? json(row->version_hash) : json(nullptr);
  s["applied_at"] = row ? json(row->applied_at) : json(nullptr);
  s["last_error"] = row && row->last_error ? json(*row->last_error) : json(nullptr);
  if (obs.reachable) {
    s["observed"] = {{"bridges", obs.bridges}, {"containers", obs.containers}};
  } else {
    s["observed"] = {{"error", obs.error.empty() ? "docker engine not observed yet" : obs.error}};
  }
  json drift = obs.drift.is_object() ? obs.drift : json::object();
  if (row && (row->version_hash.empty() || row->last_error)) {
    drift["in_sync"] = false;
    drift["reason"] = row->version_hash.empty() ? "the last apply failed" : "last_error is set";
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
