// TopologyService::reload_catalog (SIGHUP) with a scripted runtime: it waits
// for an apply in flight instead of interrupting it, then re-plans the watched
// topology with the new catalog.

#include <gtest/gtest.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agent/canonical_json.h"
#include "agent/topology_service.h"
#include "common/thread.h"
#include "tests/support/test_support.h"
#include "tests/support/topology_builder.h"

namespace edge {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// Records the order of the calls the service makes; apply() can be held.
class ScriptedRuntime final : public docker::TopologyRuntime {
 public:
  Status check_subnets(const docker::Plan&, const std::vector<std::string>&) override {
    return Status::success();
  }
  Status apply(const docker::Plan&) override {
    std::unique_lock lock(mu_);
    log_.push_back("apply-start");
    cv_.notify_all();
    cv_.wait(lock, [&] { return !held_; });
    log_.push_back("apply-end");
    return Status::success();
  }
  Status teardown(const std::string&, const std::vector<std::string>&) override {
    return Status::success();
  }
  void watch(std::optional<docker::Plan> plan) override {
    std::lock_guard lock(mu_);
    // The services the plan runs tell which catalog it was made with.
    log_.push_back(plan ? "watch:" + std::to_string(plan->services.size()) : "watch-none");
  }
  docker::Observation observe() const override { return {}; }
  docker::EngineInfo engine_info() const override { return {}; }
  void on_change(std::function<void()>) override {}
  void start() override {}
  void stop() override {}

  void hold(bool h) {
    std::lock_guard lock(mu_);
    held_ = h;
    cv_.notify_all();
  }
  bool await(const std::string& entry) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, 10s,
                        [&] { return std::find(log_.begin(), log_.end(), entry) != log_.end(); });
  }
  std::vector<std::string> log() {
    std::lock_guard lock(mu_);
    return log_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> log_;
  bool held_ = false;
};

docker::ServiceCatalog catalog_of(std::initializer_list<const char*> names) {
  docker::ServiceCatalog c;
  for (const char* n : names) c[n].image = "busybox:latest";
  return c;
}

TEST(ReloadCatalog, WaitsForAnApplyInFlightThenSwapsTheCatalogAndReplansTheWatchedTopology) {
  testing::TempDir dir;
  ManualTimeSource clock;
  auto opened = store::TopologyStore::open(dir.path(), store::OpenMode::kDaemon);
  ASSERT_TRUE(opened.status.ok()) << opened.status.message;
  auto rt = std::make_unique<ScriptedRuntime>();
  ScriptedRuntime* runtime = rt.get();
  TopologyService service(std::move(opened.store), std::move(rt), catalog_of({"ssh"}), {}, nullptr,
                          clock);

  testing::TopologyShape shape;
  shape.service = "ssh";
  const std::string text = testing::make_topology(shape).dump();
  const std::string body =
      R"({"hydrated":)" + text + R"(,"version_hash":")" + canonical_hash(text).text + "\"}";

  runtime->hold(true);
  Reply reply;
  OwnedThread applying("unit-apply", [&] { reply = service.apply(body); });
  ASSERT_TRUE(runtime->await("apply-start"));
  Status reloaded = Status::failure("not run");
  OwnedThread reloading("unit-reload", [&] {
    reloaded = service.reload_catalog(catalog_of({"ssh", "http", "ftp"}));
  });
  EXPECT_FALSE(reloading.join_for(0ms));  // the apply holds the lock: it cannot have finished
  runtime->hold(false);
  ASSERT_TRUE(applying.join_for(10s));
  ASSERT_TRUE(reloading.join_for(10s));

  EXPECT_EQ(reply.status, 200) << reply.body.dump();
  EXPECT_TRUE(reloaded.ok()) << reloaded.message();
  const auto log = runtime->log();
  // watch-none at boot (empty store); the apply runs to its end and watches
  // its topology; then the reload swaps the catalog and re-plans it.
  // With the new catalog the plan stays the same topology (only ssh runs).
  const std::vector<std::string> expected{"watch-none", "apply-start", "apply-end", "watch:3",
                                          "watch:3"};
  EXPECT_EQ(log, expected);
}

TEST(ReloadCatalog, ANewCatalogDecidesWhichServicesTheNextApplyAccepts) {
  testing::TempDir dir;
  ManualTimeSource clock;
  auto opened = store::TopologyStore::open(dir.path(), store::OpenMode::kDaemon);
  ASSERT_TRUE(opened.status.ok()) << opened.status.message;
  TopologyService service(std::move(opened.store), std::make_unique<ScriptedRuntime>(),
                          catalog_of({}), ServiceOptions{}, nullptr, clock);
  testing::TopologyShape shape;
  shape.service = "ssh";
  const std::string text = testing::make_topology(shape).dump();
  const std::string body =
      R"({"hydrated":)" + text + R"(,"version_hash":")" + canonical_hash(text).text + "\"}";

  Reply before = service.apply(body);
  EXPECT_EQ(before.status, 400);
  EXPECT_NE(before.body.dump().find("UNKNOWN_SERVICE"), std::string::npos) << before.body.dump();
  ASSERT_TRUE(service.reload_catalog(catalog_of({"ssh"})).ok());
  Reply after = service.apply(body);
  EXPECT_EQ(after.status, 200) << after.body.dump();
}

TEST(ReloadCatalog, IsRefusedOnceTheServiceDrains) {
  testing::TempDir dir;
  ManualTimeSource clock;
  auto opened = store::TopologyStore::open(dir.path(), store::OpenMode::kDaemon);
  ASSERT_TRUE(opened.status.ok()) << opened.status.message;
  TopologyService service(std::move(opened.store), std::make_unique<ScriptedRuntime>(),
                          catalog_of({}), ServiceOptions{}, nullptr, clock);
  ASSERT_TRUE(service.drain(1s));
  Status st = service.reload_catalog(catalog_of({"ssh"}));
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(st.message(), "the agent is shutting down");
}

}  // namespace
}  // namespace edge
