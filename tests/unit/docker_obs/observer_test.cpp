// The observer's threads against a scripted engine: event-driven re-lists,
// debounce, reconnects, an unreachable or hung engine.

#include "docker_obs/observer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "tests/support/test_support.h"
#include "tests/unit/docker_obs/fake_engine.h"

namespace edge::docker {
namespace {

using edge::testing::FakeEngine;
using edge::testing::FakeRequest;
using edge::testing::TempDir;
using nlohmann::json;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

bool wait_until(const std::function<bool()>& pred, milliseconds timeout = milliseconds(3000)) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return pred();
}

json container(const std::string& name, const std::string& state) {
  return {{"Id", name + "-id"},
          {"Names", {"/" + name}},
          {"State", state},
          {"Labels", {{kLabelTopologyId, "t1"}, {kLabelOwner, "me"}, {kLabelSpec, "s-" + name}}}};
}

json labelled_event(const std::string& action) {
  return {
      {"Type", "container"},
      {"Action", action},
      {"Actor", {{"ID", "x"}, {"Attributes", {{kLabelTopologyId, "t1"}, {kLabelOwner, "me"}}}}}};
}

// dockerd as the observer sees it: two listings and an events stream the test
// feeds, cuts, or makes hang.
class FakeDockerd {
 public:
  explicit FakeDockerd(const std::string& sock) : engine_(sock) {
    engine_.on("GET /_ping", [](int fd, const FakeRequest&) {
      FakeEngine::reply(fd, 200, "OK", "Api-Version: 1.41\r\n");
    });
    engine_.on("GET /version", [](int fd, const FakeRequest&) {
      FakeEngine::reply(fd, 200, R"({"Version":"20.10.24","ApiVersion":"1.41"})");
    });
    engine_.on("GET /networks", [this](int fd, const FakeRequest&) {
      std::lock_guard<std::mutex> lock(mu_);
      FakeEngine::reply(fd, 200, networks_.dump());
    });
    engine_.on("GET /containers/json", [this](int fd, const FakeRequest&) {
      if (hang_lists_) {
        engine_.hold(std::chrono::seconds(30));
        return;
      }
      std::lock_guard<std::mutex> lock(mu_);
      FakeEngine::reply(fd, 200, containers_.dump());
    });
    engine_.on("GET /events", [this](int fd, const FakeRequest&) { serve_events(fd); });
  }

  FakeEngine& engine() { return engine_; }
  void set_containers(json c) {
    std::lock_guard<std::mutex> lock(mu_);
    containers_ = std::move(c);
  }
  void push_event(const json& e) {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(e.dump() + "\n");
  }
  void cut_stream() { cut_ = true; }
  void hang_lists() { hang_lists_ = true; }
  int lists() const { return engine_.count("GET /containers/json"); }
  int streams() const { return engine_.count("GET /events"); }

 private:
  void serve_events(int fd) {
    FakeEngine::start_chunked(fd);
    while (!engine_.stopping()) {
      if (cut_.exchange(false)) return;  // closes without the final chunk
      std::deque<std::string> batch;
      {
        std::lock_guard<std::mutex> lock(mu_);
        batch.swap(events_);
      }
      for (const auto& e : batch) FakeEngine::send_chunk(fd, e);
      std::this_thread::sleep_for(milliseconds(2));
    }
  }

  std::mutex mu_;  // guards containers_, networks_, events_
  json containers_ = json::array({container("decnet_t_t1_web", "running")});
  json networks_ = json::array(
      {{{"Name", "decnet_t_t1_dmz"},
        {"Labels", {{kLabelTopologyId, "t1"}, {kLabelOwner, "me"}, {kLabelSpec, "s"}}}}});
  std::deque<std::string> events_;
  std::atomic<bool> cut_{false};
  std::atomic<bool> hang_lists_{false};
  // Last, so it is destroyed first: its connection threads use the members above.
  FakeEngine engine_;
};

ObserverOptions fast_options() {
  ObserverOptions o;
  o.owner = "me";
  o.debounce = milliseconds(50);
  o.initial_backoff = milliseconds(20);
  o.max_backoff = milliseconds(100);
  return o;
}

std::shared_ptr<DockerEngine> engine_at(const std::string& sock) {
  return std::make_shared<DockerEngine>(
      EngineOptions{sock, milliseconds(500), milliseconds(2000), nullptr});
}

class ObserverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fake_ = std::make_unique<FakeDockerd>(sock_);
    observer_ = std::make_unique<Observer>(engine_at(sock_), fast_options());
    observer_->on_change([this] { ++changes_; });
  }
  void TearDown() override {
    observer_.reset();
    fake_.reset();
  }
  // Started, listed, and following events.
  void start_and_settle() {
    observer_->start();
    ASSERT_TRUE(
        wait_until([&] { return observer_->observe().reachable && fake_->streams() == 1; }));
    ASSERT_TRUE(wait_until([&] { return changes_ == 1; }));
  }

  TempDir dir_;
  std::string sock_ = (dir_.path() / "docker.sock").string();
  std::unique_ptr<FakeDockerd> fake_;
  std::unique_ptr<Observer> observer_;
  std::atomic<int> changes_{0};
};

TEST_F(ObserverTest, ServesTheListingFromItsCacheWithoutFurtherEngineCalls) {
  start_and_settle();
  const std::size_t calls = fake_->engine().requests().size();
  for (int i = 0; i < 100; ++i) {
    Observation o = observer_->observe();
    ASSERT_EQ(o.containers, std::vector<std::string>{"decnet_t_t1_web"});
    ASSERT_EQ(o.bridges, std::vector<std::string>{"decnet_t_t1_dmz"});
  }
  EngineInfo info = observer_->engine_info();
  EXPECT_TRUE(info.reachable);
  EXPECT_TRUE(info.events_connected);
  EXPECT_EQ(info.api_version, "1.41");
  EXPECT_EQ(info.engine_version, "20.10.24");
  std::this_thread::sleep_for(milliseconds(1000));  // idle: no polling
  EXPECT_EQ(fake_->engine().requests().size(), calls);
}

TEST_F(ObserverTest, ABurstOfEventsBecomesOneRelistAndOneChange) {
  start_and_settle();
  const int lists = fake_->lists();
  const auto generation = observer_->observe().generation;
  fake_->set_containers(json::array({container("decnet_t_t1_web", "exited")}));
  for (int i = 0; i < 5; ++i) fake_->push_event(labelled_event("die"));
  ASSERT_TRUE(wait_until([&] { return observer_->observe().containers.empty(); }));
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_EQ(fake_->lists(), lists + 1);
  EXPECT_EQ(changes_, 2);
  EXPECT_EQ(observer_->observe().generation, generation + 1);
}

TEST_F(ObserverTest, EventsThatCannotChangeTheObservationCauseNoRelist) {
  start_and_settle();
  const int lists = fake_->lists();
  fake_->push_event(labelled_event("exec_start: sh"));
  fake_->push_event(json{{"Type", "container"},
                         {"Action", "start"},
                         {"Actor", {{"ID", "y"}, {"Attributes", {{"name", "unlabelled"}}}}}});
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_EQ(fake_->lists(), lists);
}

TEST_F(ObserverTest, AfterTheStreamBreaksItReconnectsFromBeforeARelist) {
  start_and_settle();
  const int lists = fake_->lists();
  fake_->cut_stream();
  ASSERT_TRUE(wait_until([&] { return fake_->streams() == 2; }));
  EXPECT_EQ(fake_->lists(), lists + 1);
  std::string target;
  for (const auto& r : fake_->engine().requests()) {
    if (FakeEngine::route_of(r) == "GET /events") target = r.target;
  }
  EXPECT_NE(target.find("/v1.41/events?since="), std::string::npos) << target;
  EXPECT_NE(observer_->engine_info().last_error, "");
}

TEST_F(ObserverTest, ARelistWithTheSameContentDoesNotFireOnChange) {
  start_and_settle();
  const int lists = fake_->lists();
  const auto generation = observer_->observe().generation;
  observer_->request_refresh();
  ASSERT_TRUE(wait_until([&] { return fake_->lists() == lists + 1; }));
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_EQ(changes_, 1);
  EXPECT_EQ(observer_->observe().generation, generation);
}

TEST_F(ObserverTest, WatchTakesEffectAtOnceOnTheCachedListing) {
  start_and_settle();
  const std::size_t calls = fake_->engine().requests().size();
  Plan p;
  p.topology_id = "t1";
  p.owner = "me";
  NetworkSpec net;
  net.name = "decnet_t_t1_dmz";
  net.labels = {{kLabelSpec, "s"}};
  p.networks = {net};
  ContainerSpec web;
  web.name = "decnet_t_t1_web";
  web.labels = {{kLabelSpec, "s-decnet_t_t1_web"}};
  ContainerSpec db = web;
  db.name = "decnet_t_t1_db";
  p.bases = {web, db};
  observer_->watch(p);
  EXPECT_EQ(observer_->observe().drift, json({{"in_sync", false},
                                              {"missing", {"decnet_t_t1_db"}},
                                              {"extra", json::array()},
                                              {"stopped", json::array()},
                                              {"changed", json::array()}}));
  observer_->watch(std::nullopt);
  EXPECT_EQ(observer_->observe().drift, json::object());
  EXPECT_EQ(fake_->engine().requests().size(), calls);
}

TEST_F(ObserverTest, StopReturnsWithinASecondWhileAListingHangs) {
  start_and_settle();
  fake_->hang_lists();
  const int lists = fake_->lists();
  observer_->request_refresh();
  ASSERT_TRUE(wait_until([&] { return fake_->lists() == lists + 1; }));
  auto start = Clock::now();
  observer_->stop();
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - start).count(), 1.2);
}

TEST_F(ObserverTest, RefreshListsInTheCallersThreadWithoutStart) {
  EXPECT_FALSE(observer_->observe().reachable);
  EXPECT_EQ(observer_->observe().error, "the Docker engine has not been listed yet");
  EXPECT_TRUE(observer_->refresh());
  EXPECT_EQ(observer_->observe().containers, std::vector<std::string>{"decnet_t_t1_web"});
  EXPECT_EQ(fake_->streams(), 0);
}

TEST(ObserverUnreachable, ReportsTheReasonAndKeepsAnsweringInstantly) {
  TempDir dir;
  const std::string sock = (dir.path() / "absent.sock").string();
  Observer observer(engine_at(sock), fast_options());
  observer.start();
  const std::string reason =
      "cannot reach the Docker engine: socket " + sock + " does not exist (is dockerd running?)";
  ASSERT_TRUE(wait_until([&] { return observer.observe().error == "listing networks: " + reason; }))
      << observer.observe().error;
  auto start = Clock::now();
  for (int i = 0; i < 1000; ++i) ASSERT_FALSE(observer.observe().reachable);
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - start).count(), 0.1);
  EngineInfo info = observer.engine_info();
  EXPECT_FALSE(info.reachable);
  EXPECT_FALSE(info.events_connected);
  EXPECT_EQ(info.api_version, "");
  EXPECT_EQ(info.last_error, "listing networks: " + reason);
  observer.stop();
}

}  // namespace
}  // namespace edge::docker
