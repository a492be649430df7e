// The production TopologyRuntime: plan -> converge over the Engine API, and a
// live Observer for observe()/engine_info().

#include <spdlog/spdlog.h>

#include <algorithm>
#include <exception>
#include <memory>
#include <mutex>
#include <utility>

#include "docker_obs/converge.h"
#include "docker_obs/engine.h"
#include "docker_obs/observer.h"
#include "docker_obs/plan.h"
#include "docker_obs/runtime.h"

namespace edge::docker {
namespace {

// Observation calls are small lists: a hung engine should turn into
// "unreachable" within seconds, not after an apply-sized timeout.
constexpr std::chrono::milliseconds kObserveCallTimeout{10000};

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

class DockerRuntime final : public TopologyRuntime {
 public:
  explicit DockerRuntime(RuntimeOptions options)
      : options_(std::move(options)),
        engine_(std::make_shared<DockerEngine>(
            EngineOptions{options_.socket_path, options_.connect_timeout, options_.call_timeout,
                          options_.on_engine_call})),
        observer_(std::make_shared<DockerEngine>(EngineOptions{
            options_.socket_path, options_.connect_timeout,
            std::min(options_.call_timeout, kObserveCallTimeout), options_.on_engine_call})) {}

  ~DockerRuntime() override { observer_.stop(); }

  RuntimeStatus apply(const nlohmann::json& hydrated) override {
    auto start = std::chrono::steady_clock::now();
    std::string error;
    std::optional<Plan> plan = make_plan(hydrated, &error);
    if (!plan) return RuntimeStatus::failure(error);
    const int parallelism = std::max(1, options_.parallelism);
    RuntimeStatus st = teardown_other_topologies(*engine_, plan->topology_id, parallelism);
    if (!st.ok) {
      spdlog::error("docker: apply {}: removing other topologies failed: {}", plan->topology_id,
                    st.message);
      observer_.refresh();
      return st;
    }
    st = converge(*engine_, *plan, parallelism);
    if (st.ok) {
      observer_.watch(*plan);
      spdlog::info("docker: applied topology {} ({} networks, {} containers) in {:.2f} s",
                   plan->topology_id, plan->networks.size(),
                   plan->bases.size() + plan->services.size(), seconds_since(start));
    } else {
      spdlog::error("docker: apply {} failed after {:.2f} s: {}", plan->topology_id,
                    seconds_since(start), st.message);
    }
    // The caller reads observe() right after: make it current now.
    observer_.refresh();
    return st;
  }

  RuntimeStatus teardown(const std::string& topology_id) override {
    auto start = std::chrono::steady_clock::now();
    RuntimeStatus st = teardown_topology(*engine_, topology_id, std::max(1, options_.parallelism));
    if (st.ok) {
      spdlog::info("docker: tore down topology {} in {:.2f} s", topology_id, seconds_since(start));
    } else {
      spdlog::error("docker: teardown of {} failed: {}", topology_id, st.message);
    }
    observer_.refresh();
    return st;
  }

  void watch(const std::optional<nlohmann::json>& hydrated) override {
    if (!hydrated) {
      observer_.watch(std::nullopt);
      return;
    }
    std::string error;
    std::optional<Plan> plan = make_plan(*hydrated, &error);
    if (!plan) spdlog::error("docker: watching nothing: {}", error);
    observer_.watch(std::move(plan));
  }

  void set_catalog(ServiceCatalog catalog) override {
    std::lock_guard lock(catalog_mu_);
    catalog_ = std::move(catalog);
  }

  Observation observe() const override { return observer_.observe(); }
  EngineInfo engine_info() const override { return observer_.engine_info(); }
  void on_change(std::function<void()> callback) override {
    observer_.on_change(std::move(callback));
  }
  void start() override { observer_.start(); }
  void stop() override { observer_.stop(); }

 private:
  // plan_topology expects a validated topology; a cached blob from an older
  // agent might not be one. Library exceptions stop here.
  std::optional<Plan> make_plan(const nlohmann::json& hydrated, std::string* error) const {
    try {
      std::unique_lock lock(catalog_mu_);
      const ServiceCatalog catalog = catalog_;
      lock.unlock();
      Plan plan = plan_topology(hydrated, catalog, options_.base_image);
      if (plan.topology_id.empty()) {
        *error = "the topology has no id, so it cannot be mapped to Docker objects";
        return std::nullopt;
      }
      return plan;
    } catch (const std::exception& e) {
      *error = std::string("cannot map the topology to Docker objects: ") + e.what();
      return std::nullopt;
    }
  }

  const RuntimeOptions options_;
  mutable std::mutex catalog_mu_;  // guards catalog_
  ServiceCatalog catalog_ = options_.catalog;
  std::shared_ptr<DockerEngine> engine_;  // apply and teardown
  Observer observer_;                     // its own engine client, shorter timeouts
};

}  // namespace

std::unique_ptr<TopologyRuntime> make_docker_runtime(RuntimeOptions options) {
  return std::make_unique<DockerRuntime>(std::move(options));
}

}  // namespace edge::docker
