// The production TopologyRuntime: converge over the Engine API, and a live
// Observer for observe()/engine_info().

#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>
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

ObserverOptions observer_options(const RuntimeOptions& o) {
  ObserverOptions out;
  out.owner = o.owner;
  return out;
}

class DockerRuntime final : public TopologyRuntime {
 public:
  explicit DockerRuntime(RuntimeOptions options)
      : options_(std::move(options)),
        engine_(std::make_shared<DockerEngine>(
            EngineOptions{options_.socket_path, options_.connect_timeout, options_.call_timeout,
                          options_.on_engine_call, options_.pull_idle_timeout})),
        observer_(
            std::make_shared<DockerEngine>(EngineOptions{
                options_.socket_path, options_.connect_timeout,
                std::min(options_.call_timeout, kObserveCallTimeout), options_.on_engine_call}),
            observer_options(options_)) {}

  ~DockerRuntime() override { observer_.stop(); }

  Status check_subnets(const Plan& plan, const std::vector<std::string>& adopt) override {
    return docker::check_subnets(*engine_, plan, adopt);
  }

  Status apply(const Plan& plan) override {
    auto start = std::chrono::steady_clock::now();
    Status st = converge(*engine_, plan, std::max(1, options_.parallelism));
    if (st.ok()) {
      spdlog::info("docker: applied topology {} ({} networks, {} containers) in {:.2f} s",
                   plan.topology_id, plan.networks.size(), plan.bases.size() + plan.services.size(),
                   seconds_since(start));
    } else {
      spdlog::error("docker: apply {} failed after {:.2f} s: {}", plan.topology_id,
                    seconds_since(start), st.message());
    }
    // The caller reads observe() right after: make it current now.
    (void)observer_.refresh();
    return st;
  }

  Status teardown(const std::string& topology_id, const std::vector<std::string>& adopt) override {
    auto start = std::chrono::steady_clock::now();
    Status st = teardown_topology(*engine_, topology_id, options_.owner, adopt,
                                  std::max(1, options_.parallelism));
    if (st.ok()) {
      spdlog::info("docker: tore down topology {} in {:.2f} s", topology_id, seconds_since(start));
    } else {
      spdlog::error("docker: teardown of {} failed: {}", topology_id, st.message());
    }
    (void)observer_.refresh();
    return st;
  }

  void watch(std::optional<Plan> plan) override { observer_.watch(std::move(plan)); }
  Observation observe() const override { return observer_.observe(); }
  EngineInfo engine_info() const override {
    EngineInfo info = observer_.engine_info();
    StreamProgress pulls = engine_->progress();
    info.pulls_in_progress = pulls.active;
    info.last_pull_progress = pulls.last_bytes;
    return info;
  }
  void on_change(std::function<void()> callback) override {
    observer_.on_change(std::move(callback));
  }
  void start() override { observer_.start(); }
  void stop() override { observer_.stop(); }

 private:
  const RuntimeOptions options_;
  std::shared_ptr<DockerEngine> engine_;  // apply and teardown
  Observer observer_;                     // its own engine client, shorter timeouts
};

}  // namespace

std::unique_ptr<TopologyRuntime> make_docker_runtime(RuntimeOptions options) {
  return std::make_unique<DockerRuntime>(std::move(options));
}

}  // namespace edge::docker
