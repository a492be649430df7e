// The observer and the runtime glue against the real Docker engine: objects
// are made with the docker CLI (or by the runtime's own apply), then changed
// behind the agent's back; observe() must notice through /events.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>

#include "docker_obs/observer.h"
#include "docker_obs/runtime.h"
#include "tests/support/docker_fixture.h"
#include "tests/support/drift_json.h"
#include "tests/support/model.h"
#include "tests/support/topology_builder.h"

namespace edge::docker {
namespace {

using edge::testing::kTestImage;
using nlohmann::json;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

using edge::testing::wait_until;

constexpr auto drift = edge::testing::drift_json;
const json kNone = json::array();

class ObserveEngine : public edge::testing::DockerFixture {
 protected:
  // Two networks and two idle containers, as a plan and as real objects.
  Plan plan() const {
    Plan p;
    p.topology_id = topology_id_;
    for (const char* n : {"lan", "dmz"}) {
      NetworkSpec net;
      net.name = prefix_ + n;
      net.labels = {{kLabelTopologyId, topology_id_}, {kLabelSpec, std::string("s-") + n}};
      p.networks.push_back(net);
    }
    for (const char* n : {"web", "db"}) {
      ContainerSpec c;
      c.name = prefix_ + n;
      c.labels = {{kLabelTopologyId, topology_id_}, {kLabelSpec, std::string("s-") + n}};
      p.bases.push_back(c);
    }
    return p;
  }

  void create_network(const std::string& name, const std::string& tid) {
    docker("network create --internal " + labels(tid, "s-" + name) + " " + prefix_ + name);
  }
  void run_container(const std::string& name, const std::string& tid) {
    docker("run -d --network none --name " + prefix_ + name + " " + labels(tid, "s-" + name) + " " +
           kTestImage + " sleep infinity");
  }
  void create_all() {
    create_network("lan", topology_id_);
    create_network("dmz", topology_id_);
    run_container("web", topology_id_);
    run_container("db", topology_id_);
  }

  std::shared_ptr<DockerEngine> engine(
      std::function<void(const std::string&, bool, double)> hook = nullptr) {
    return std::make_shared<DockerEngine>(
        EngineOptions{"/var/run/docker.sock", milliseconds(2000), milliseconds(10000), hook});
  }

  // Observed by a started observer, and in sync.
  void settle(Observer& observer) {
    observer.watch(plan());
    observer.start();
    ASSERT_TRUE(wait_until([&] { return observer.observe().drift.value("in_sync", false); },
                           milliseconds(5000)))
        << observer.observe().drift.dump();
  }
};

TEST_F(ObserveEngine, ListsOnlyThisTopologysObjectsSortedAndOnlyRunningContainers) {
  create_all();
  docker("create --network none --name " + prefix_ + "idle " + labels(topology_id_, "s-idle") +
         " " + kTestImage + " sleep infinity");
  const std::string other = edge::testing::random_topology_id();
  also_clean_up(other);
  docker("run -d --network none --name " + prefix_ + "foreign " + labels(other, "s") + " " +
         kTestImage + " sleep infinity");
  Observer observer(engine());
  observer.watch(plan());
  ASSERT_TRUE(observer.refresh());
  Observation o = observer.observe();
  EXPECT_TRUE(o.reachable);
  EXPECT_EQ(o.error, "");
  EXPECT_EQ(o.bridges, (std::vector<std::string>{prefix_ + "dmz", prefix_ + "lan"}));
  EXPECT_EQ(o.containers, (std::vector<std::string>{prefix_ + "db", prefix_ + "web"}));
  EXPECT_EQ(o.drift, drift(kNone, {prefix_ + "idle"}, kNone, kNone));
}

TEST_F(ObserveEngine, ARemovedContainerIsMissingWithinTwoSeconds) {
  create_all();
  Observer observer(engine());
  settle(observer);
  docker("rm -f " + prefix_ + "web");
  auto start = Clock::now();
  EXPECT_TRUE(
      wait_until([&] { return observer.observe().drift["missing"] == json{prefix_ + "web"}; },
                 milliseconds(2000)))
      << observer.observe().drift.dump();
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - start).count(), 2.0);
  EXPECT_EQ(observer.observe().containers, std::vector<std::string>{prefix_ + "db"});
}

TEST_F(ObserveEngine, AStoppedContainerIsStoppedAndNoLongerListed) {
  create_all();
  Observer observer(engine());
  settle(observer);
  docker("stop -t 0 " + prefix_ + "db");
  EXPECT_TRUE(wait_until(
      [&] { return observer.observe().drift == drift(kNone, kNone, {prefix_ + "db"}, kNone); },
      milliseconds(2000)))
      << observer.observe().drift.dump();
  EXPECT_EQ(observer.observe().containers, std::vector<std::string>{prefix_ + "web"});
}

TEST_F(ObserveEngine, ARemovedNetworkIsAMissingBridge) {
  create_all();
  Observer observer(engine());
  settle(observer);
  docker("network rm " + prefix_ + "lan");
  EXPECT_TRUE(wait_until(
      [&] { return observer.observe().drift == drift({prefix_ + "lan"}, kNone, kNone, kNone); },
      milliseconds(2000)))
      << observer.observe().drift.dump();
  EXPECT_EQ(observer.observe().bridges, std::vector<std::string>{prefix_ + "dmz"});
}

TEST_F(ObserveEngine, AChangeMadeWhileStoppedIsSeenAfterRestart) {
  create_all();
  Observer observer(engine());
  settle(observer);
  observer.stop();
  docker("rm -f " + prefix_ + "db");
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_TRUE(observer.observe().drift.value("in_sync", false));  // stopped: nothing noticed
  observer.start();
  EXPECT_TRUE(
      wait_until([&] { return observer.observe().drift["missing"] == json{prefix_ + "db"}; },
                 milliseconds(2000)))
      << observer.observe().drift.dump();
}

TEST_F(ObserveEngine, AnIdleEngineCostsNoCallsBecauseObservationFollowsEvents) {
  create_all();
  std::atomic<int> calls{0};
  Observer observer(engine([&](const std::string&, bool, double) { ++calls; }));
  settle(observer);
  std::this_thread::sleep_for(milliseconds(300));  // let the settling re-lists finish
  const int before = calls;
  for (int i = 0; i < 300; ++i) {
    observer.observe();
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_EQ(calls - before, 0);
  EXPECT_TRUE(observer.engine_info().events_connected);
}

TEST_F(ObserveEngine, TheRuntimeAppliesObservesInSyncAndNoticesDriftThenTearsDown) {
  edge::testing::TopologyShape shape;
  shape.id = topology_id_;
  shape.lans = 2;
  shape.deckies = 2;
  shape.subnet_base = 160 + static_cast<int>(std::random_device{}() % 40);
  json hydrated = edge::testing::make_topology(shape);
  RuntimeOptions o;
  o.owner = edge::testing::random_topology_id();
  auto runtime = make_docker_runtime(o);
  std::atomic<int> changes{0};
  runtime->on_change([&] { ++changes; });
  runtime->start();
  const Plan plan = edge::testing::to_plan(hydrated, {}, kTestImage, o.owner);
  runtime->watch(plan);
  Status st = runtime->apply(plan);
  ASSERT_TRUE(st.ok()) << st.message();
  Observation after = runtime->observe();  // current on return, no waiting
  EXPECT_EQ(after.drift, drift(kNone, kNone, kNone, kNone));
  EXPECT_EQ(after.bridges, (std::vector<std::string>{prefix_ + "dmz", prefix_ + "lan1"}));
  EXPECT_EQ(after.containers.size(), 3u);  // one bridge decky + two deckies
  EngineInfo info = runtime->engine_info();
  EXPECT_TRUE(info.reachable);
  EXPECT_EQ(info.api_version, "1.41");

  docker("rm -f " + after.containers.front());
  EXPECT_TRUE(wait_until(
      [&] { return runtime->observe().drift["missing"] == json{after.containers.front()}; },
      milliseconds(2000)))
      << runtime->observe().drift.dump();
  EXPECT_TRUE(wait_until([&] { return changes > 0; }, milliseconds(1000)));

  st = runtime->teardown(topology_id_, {});
  ASSERT_TRUE(st.ok()) << st.message();
  Observation gone = runtime->observe();
  EXPECT_TRUE(gone.bridges.empty());
  EXPECT_TRUE(gone.containers.empty());
  EXPECT_EQ(gone.drift["missing"].size(), 5u);  // still watched until the agent says otherwise
  runtime->watch(std::nullopt);
  EXPECT_EQ(runtime->observe().drift, json::object());
  runtime->stop();
}

TEST(ObserveUnreachable, TheRuntimeReportsAnUnreachableEngineAndStillAnswersAtOnce) {
  edge::testing::TempDir dir;
  RuntimeOptions o;
  o.socket_path = (dir.path() / "no-docker.sock").string();
  auto runtime = make_docker_runtime(o);
  runtime->start();
  const std::string reason = "cannot reach the Docker engine: socket " + o.socket_path +
                             " does not exist (is dockerd running?)";
  ASSERT_TRUE(wait_until([&] { return runtime->observe().error == "listing networks: " + reason; },
                         milliseconds(2000)))
      << runtime->observe().error;
  auto start = Clock::now();
  for (int i = 0; i < 1000; ++i) ASSERT_FALSE(runtime->observe().reachable);
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - start).count(), 0.1);
  EXPECT_FALSE(runtime->engine_info().reachable);
  Status st = runtime->teardown("0badc0de-1111-4222-8333-444455556666", {});
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find(reason), std::string::npos) << st.message();
  start = Clock::now();
  runtime->stop();
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - start).count(), 1.0);
}

}  // namespace
}  // namespace edge::docker
