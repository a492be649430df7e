#pragma once
// A TopologyRuntime that keeps the "engine" in memory: apply() makes every
// planned object exist and run, teardown() removes a topology's objects, and
// observe() derives the observation from that state with the production
// derive_observation(). Every call is recorded; failures can be scripted.
// For testing TopologyService without Docker.

#include <mutex>
#include <string>
#include <vector>

#include "docker_obs/converge.h"
#include "docker_obs/observer.h"
#include "docker_obs/runtime.h"

namespace edge::testing {

class FakeRuntime final : public docker::TopologyRuntime {
 public:
  struct Log {
    std::mutex mu;
    std::vector<std::string> calls;  // "apply t1", "teardown t0 adopt=t0", "watch t1", ...
    Status fail_apply, fail_teardown, fail_check;  // returned once set (ok = no failure)
    docker::Live live;
    std::vector<docker::Plan> applied;
  };

  explicit FakeRuntime(std::shared_ptr<Log> log, std::string owner)
      : log_(std::move(log)), owner_(std::move(owner)) {}

  Status check_subnets(const docker::Plan& plan, const std::vector<std::string>&) override {
    std::lock_guard lock(log_->mu);
    log_->calls.push_back("check " + plan.topology_id);
    return log_->fail_check;
  }

  Status apply(const docker::Plan& plan) override {
    std::lock_guard lock(log_->mu);
    log_->calls.push_back("apply " + plan.topology_id);
    log_->applied.push_back(plan);
    if (!log_->fail_apply.ok()) return log_->fail_apply;
    docker::Live next;
    for (const auto& n : plan.networks)
      next.networks.push_back({n.name, n.name, n.labels, {n.subnet}});
    for (const auto& b : plan.bases) {
      std::map<std::string, std::string> eps(b.networks.begin(), b.networks.end());
      next.containers.push_back({b.name, b.name, "running", b.labels, "", eps});
    }
    for (const auto& s : plan.services) {
      next.containers.push_back(
          {s.name, s.name, "running", s.labels, "container:" + s.network_mode.substr(10), {}});
    }
    log_->live = std::move(next);
    return Status::success();
  }

  Status teardown(const std::string& topology_id, const std::vector<std::string>& adopt) override {
    std::lock_guard lock(log_->mu);
    std::string a;
    for (const auto& x : adopt) a += (a.empty() ? "" : ",") + x;
    log_->calls.push_back("teardown " + topology_id + " adopt=" + a);
    if (!log_->fail_teardown.ok()) return log_->fail_teardown;
    std::erase_if(log_->live.networks,
                  [&](const auto& n) { return n.label(docker::kLabelTopologyId) == topology_id; });
    std::erase_if(log_->live.containers,
                  [&](const auto& c) { return c.label(docker::kLabelTopologyId) == topology_id; });
    return Status::success();
  }

  void watch(std::optional<docker::Plan> plan) override {
    std::lock_guard lock(log_->mu);
    log_->calls.push_back("watch " + (plan ? plan->topology_id : std::string("none")));
    watched_ = std::move(plan);
  }

  docker::Observation observe() const override {
    std::lock_guard lock(log_->mu);
    docker::EngineSnapshot snap{true, "", log_->live};
    return docker::derive_observation(snap, owner_, watched_ ? &*watched_ : nullptr);
  }
  docker::EngineInfo engine_info() const override { return {true, "1.41", "fake", true, ""}; }
  void on_change(std::function<void()>) override {}
  void start() override {}
  void stop() override {}

 private:
  std::shared_ptr<Log> log_;
  std::string owner_;
  std::optional<docker::Plan> watched_;  // under log_->mu
};

}  // namespace edge::testing
