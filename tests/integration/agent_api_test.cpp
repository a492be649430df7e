// The master-facing API end to end against the real engine: apply through
// HTTP, observe, converge, drift after `docker rm -f`, restart with a cached
// row, supersede, teardown. Every object carries this test's topology label
// and is removed in TearDown.

#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <cstdlib>
#include <random>
#include <thread>

#include "agent/canonical_json.h"
#include "docker_obs/converge.h"
#include "docker_obs/engine.h"
#include "docker_obs/plan.h"
#include "tests/support/agent_harness.h"
#include "tests/support/test_support.h"
#include "tests/support/topology_builder.h"

namespace edge {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

constexpr const char* kImage = "edge-agent-test/busybox:latest";

std::string random_hex(int n) {
  static std::mt19937_64 rng{std::random_device{}()};
  std::string out;
  for (int i = 0; i < n; ++i) out.push_back("0123456789abcdef"[rng() % 16]);
  return out;
}

class AgentApi : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!engine_.negotiate(&why)) {
      if (testing::in_ci()) FAIL() << "Docker is required in CI: " << why;
      GTEST_SKIP() << "Docker engine unreachable, skipping: " << why;
    }
    std::string script = std::string(EDGE_SOURCE_DIR) + "/tests/support/make_test_image.sh";
    ASSERT_EQ(std::system(("bash " + script + " >/dev/null").c_str()), 0);
    shape_.id = random_hex(8) + "-1111-4222-8333-" + random_hex(12);
    shape_.lans = 2;
    shape_.deckies = 3;
    shape_.service = "http";
    shape_.subnet_base = 100 + static_cast<int>(std::random_device{}() % 100);
    other_ = shape_;
    other_.id = random_hex(8) + "-2222-4222-8333-" + random_hex(12);
    start();
  }

  void TearDown() override {
    stop();
    for (const auto& id : {shape_.id, other_.id}) {
      auto st = docker::teardown_topology(engine_, id, agent_id_, {id}, 4);
      EXPECT_TRUE(st.ok()) << st.message();
    }
  }

  void start(const std::string& base_image = kImage) {
    testing::HarnessOptions o;
    o.base_image = base_image;
    o.catalog["http"].image = kImage;
    o.catalog["http"].command = {"httpd", "-f", "-p", "8080"};
    ASSERT_EQ(agent_.start(o), "");
    agent_id_ = agent_.agent_id();
  }

  void stop() { agent_.stop(); }

  httplib::Result apply(const testing::TopologyShape& s) {
    return agent_.post("/topology/apply",
                       testing::AgentHarness::apply_body(testing::make_topology(s)));
  }

  json state() { return agent_.state(); }

  // Polls the agent's own state (a test wait, not agent polling).
  json wait_state(const std::function<bool(const json&)>& pred,
                  milliseconds limit = milliseconds(5000)) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    json s = state();
    while (!pred(s) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(50));
      s = state();
    }
    return s;
  }

  std::map<std::string, std::string> container_ids(const std::string& id) {
    json filters = {{"label", {std::string(docker::kLabelTopologyId) + "=" + id}}};
    auto r = engine_.get("/containers/json?all=1&filters=" + docker::url_encode(filters.dump()));
    std::map<std::string, std::string> out;
    for (const json& c : r.json()) out[c["Names"][0].get<std::string>().substr(1)] = c["Id"];
    return out;
  }

  std::size_t network_count(const std::string& id) {
    json filters = {{"label", {std::string(docker::kLabelTopologyId) + "=" + id}}};
    return engine_.get("/networks?filters=" + docker::url_encode(filters.dump())).json().size();
  }

  std::string prefix(const testing::TopologyShape& s) {
    return "decnet_t_" + s.id.substr(0, 8) + "_";
  }

  testing::TempDir dir_;
  docker::DockerEngine engine_{docker::EngineOptions{}};
  testing::TopologyShape shape_;
  testing::TopologyShape other_;
  testing::AgentHarness agent_{dir_.path()};
  std::string agent_id_;
};

TEST_F(AgentApi, ApplyIs200AndStateObservesEveryObjectInSync) {
  auto r = apply(shape_);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  std::string hash = canonical_hash(testing::make_topology(shape_).dump()).text;
  EXPECT_EQ(json::parse(r->body), json({{"status", "applied"}, {"version_hash", hash}}));
  json s = wait_state([](const json& s) { return s["drift"].value("in_sync", false); });
  EXPECT_EQ(s["topology_id"], shape_.id);
  EXPECT_EQ(s["applied_version_hash"], hash);
  EXPECT_EQ(s["applied_at"], 1700000000);
  EXPECT_TRUE(s["last_error"].is_null());
  const std::string p = prefix(shape_);
  EXPECT_EQ(s["observed"]["bridges"], json({p + "dmz", p + "lan1"}));
  // 1 bridge decky + 3 deckies, 3 of them with an http service container.
  EXPECT_EQ(s["observed"]["containers"],
            json({p + "bridge-1", p + "decky-0", p + "decky-0-http", p + "decky-1",
                  p + "decky-1-http", p + "decky-2", p + "decky-2-http"}));
  EXPECT_EQ(s["drift"]["in_sync"], true) << s.dump();
}

TEST_F(AgentApi, ReapplyingTheSameTopologyKeepsEveryContainerId) {
  ASSERT_EQ(apply(shape_)->status, 200);
  auto before = container_ids(shape_.id);
  ASSERT_EQ(before.size(), 7u);
  ASSERT_EQ(apply(shape_)->status, 200);
  EXPECT_EQ(container_ids(shape_.id), before);
}

TEST_F(AgentApi, DockerRmShowsAsDriftWithinSecondsAndTheNextApplyHeals) {
  ASSERT_EQ(apply(shape_)->status, 200);
  const std::string victim = prefix(shape_) + "decky-1";
  ASSERT_EQ(engine_.del("/containers/" + victim + "?force=1").status, 204);
  auto t0 = std::chrono::steady_clock::now();
  // A removed container first dies (stopped), then is gone (missing).
  json s = wait_state([&](const json& s) {
    return s["drift"].contains("missing") &&
           s["drift"]["missing"].dump().find(victim) != std::string::npos;
  });
  auto seen_ms =
      std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(s["drift"]["in_sync"], false) << s.dump();
  EXPECT_NE(s["drift"]["missing"].dump().find(victim), std::string::npos) << s.dump();
  EXPECT_LT(seen_ms, 2500);
  ASSERT_EQ(apply(shape_)->status, 200);
  auto c = engine_.get("/containers/" + victim + "/json").json();
  EXPECT_EQ(c["NetworkSettings"]["Networks"][prefix(shape_) + "lan1"]["IPAddress"],
            "10." + std::to_string(shape_.subnet_base) + ".1.11");
  s = wait_state([](const json& s) { return s["drift"].value("in_sync", false); });
  EXPECT_EQ(s["drift"]["in_sync"], true) << s.dump();
}

TEST_F(AgentApi, ANetworkDisconnectIsDriftAndTheNextApplyHeals) {
  ASSERT_EQ(apply(shape_)->status, 200);
  const std::string bridge = prefix(shape_) + "bridge-1";  // on the DMZ and lan1
  const std::string lan1 = prefix(shape_) + "lan1";
  auto r = engine_.post("/networks/" + lan1 + "/disconnect", json{{"Container", bridge}});
  ASSERT_TRUE(r.ok()) << r.message();
  json s = wait_state([&](const json& s) {
    return s["drift"].contains("changed") &&
           s["drift"]["changed"].dump().find(bridge) != std::string::npos;
  });
  EXPECT_EQ(s["drift"]["in_sync"], false) << s.dump();
  EXPECT_NE(s["drift"]["changed"].dump().find(bridge), std::string::npos) << s.dump();
  ASSERT_EQ(apply(shape_)->status, 200);
  auto c = engine_.get("/containers/" + bridge + "/json").json();
  EXPECT_EQ(c["NetworkSettings"]["Networks"][lan1]["IPAddress"],
            "10." + std::to_string(shape_.subnet_base) + ".1.200");
  s = wait_state([](const json& s) { return s["drift"].value("in_sync", false); });
  EXPECT_EQ(s["drift"]["in_sync"], true) << s.dump();
}

TEST_F(AgentApi, TwoAgentsOnOneEngineNeverTouchEachOthersObjects) {
  // A decoy with the topology label, no owner, of an id neither agent applies.
  const std::string decoy_id = random_hex(8) + "-3333-4222-8333-" + random_hex(12);
  const std::string decoy = "decnet_t_" + decoy_id.substr(0, 8) + "_decoy";
  ASSERT_EQ(std::system(("docker run -d --name " + decoy + " --label " + docker::kLabelTopologyId +
                         "=" + decoy_id + " " + kImage + " sleep 300 >/dev/null")
                            .c_str()),
            0);
  testing::TempDir dir_b;
  testing::AgentHarness agent_b{dir_b.path()};
  testing::HarnessOptions o;
  o.base_image = kImage;
  o.catalog["http"].image = kImage;
  o.catalog["http"].command = {"httpd", "-f", "-p", "8080"};
  ASSERT_EQ(agent_b.start(o), "");
  ASSERT_NE(agent_b.agent_id(), agent_id_);

  // Each agent: apply, re-apply, then supersede with its second topology,
  // both at once. Four topologies, four subnet ranges.
  auto shape = [&](int k) {
    testing::TopologyShape t = shape_;
    t.id = random_hex(8) + "-4444-4222-8333-" + random_hex(12);
    t.subnet_base = (shape_.subnet_base + 1 + k) % 250;
    return t;
  };
  const testing::TopologyShape a1 = shape(0), a2 = shape(1), b1 = shape(2), b2 = shape(3);
  auto run = [](testing::AgentHarness& agent, const testing::TopologyShape& first,
                const testing::TopologyShape& second, std::vector<int>* codes) {
    for (const auto* t : {&first, &first, &second}) {
      auto r = agent.post("/topology/apply",
                          testing::AgentHarness::apply_body(testing::make_topology(*t)));
      codes->push_back(r ? r->status : -1);
    }
  };
  std::vector<int> codes_a, codes_b;
  {
    std::thread ta([&] { run(agent_, a1, a2, &codes_a); });
    std::thread tb([&] { run(agent_b, b1, b2, &codes_b); });
    ta.join();
    tb.join();
  }
  EXPECT_EQ(codes_a, (std::vector<int>{200, 200, 200}));
  EXPECT_EQ(codes_b, (std::vector<int>{200, 200, 200}));
  EXPECT_TRUE(container_ids(a1.id).empty());
  EXPECT_TRUE(container_ids(b1.id).empty());
  auto a_ids = container_ids(a2.id);
  auto b_ids = container_ids(b2.id);
  EXPECT_EQ(a_ids.size(), 7u);
  EXPECT_EQ(b_ids.size(), 7u);
  EXPECT_EQ(container_ids(decoy_id).size(), 1u);
  // Each observes only its own objects, in sync.
  json sa = wait_state([](const json& s) { return s["drift"].value("in_sync", false); });
  EXPECT_EQ(sa["drift"]["in_sync"], true) << sa.dump();
  for (const auto& name : sa["observed"]["containers"]) {
    EXPECT_EQ(name.get<std::string>().rfind("decnet_t_" + a2.id.substr(0, 8), 0), 0u) << name;
  }
  json sb = agent_b.state();
  for (const auto& name : sb["observed"]["containers"]) {
    EXPECT_EQ(name.get<std::string>().rfind("decnet_t_" + b2.id.substr(0, 8), 0), 0u) << name;
  }
  // A tears down while B re-applies: B's containers keep their ids.
  {
    std::thread ta([&] {
      agent_.post("/topology/teardown", R"({"topology_id":")" + a2.id + "\"}");
      // Even a teardown naming B's topology leaves it alone: not A's objects.
      agent_.post("/topology/teardown", R"({"topology_id":")" + b2.id + "\"}");
    });
    std::thread tb([&] {
      agent_b.post("/topology/apply",
                   testing::AgentHarness::apply_body(testing::make_topology(b2)));
    });
    ta.join();
    tb.join();
  }
  EXPECT_TRUE(container_ids(a2.id).empty());
  EXPECT_EQ(container_ids(b2.id), b_ids);
  EXPECT_EQ(container_ids(decoy_id).size(), 1u);

  agent_b.post("/topology/teardown", R"({"topology_id":")" + b2.id + "\"}");
  EXPECT_TRUE(container_ids(b2.id).empty());
  agent_b.stop();
  EXPECT_EQ(std::system(("docker rm -f " + decoy + " >/dev/null").c_str()), 0);
  for (const auto* t : {&a1, &a2, &b1, &b2}) {
    EXPECT_TRUE(container_ids(t->id).empty()) << t->id;
    EXPECT_EQ(network_count(t->id), 0u) << t->id;
  }
}

TEST_F(AgentApi, ARestartedAgentReportsDriftAndRecreatesNothing) {
  ASSERT_EQ(apply(shape_)->status, 200);
  stop();
  const std::string victim = prefix(shape_) + "decky-0";
  ASSERT_EQ(engine_.del("/containers/" + victim + "?force=1").status, 204);
  auto ids = container_ids(shape_.id);
  start();
  json s = wait_state([](const json& s) {
    return s["observed"].contains("containers") && s["drift"].value("in_sync", true) == false;
  });
  EXPECT_EQ(s["topology_id"], shape_.id);
  EXPECT_NE(s["drift"]["missing"].dump().find(victim), std::string::npos) << s.dump();
  std::this_thread::sleep_for(milliseconds(1000));
  EXPECT_EQ(container_ids(shape_.id), ids) << "boot must not touch Docker's objects";
}

TEST_F(AgentApi, ADifferentTopologyIdTearsTheOldOneDownFirst) {
  ASSERT_EQ(apply(shape_)->status, 200);
  other_.subnet_base = shape_.subnet_base + 1;
  auto r = apply(other_);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_TRUE(container_ids(shape_.id).empty());
  EXPECT_EQ(network_count(shape_.id), 0u);
  EXPECT_EQ(container_ids(other_.id).size(), 7u);
  EXPECT_EQ(state()["topology_id"], other_.id);
}

TEST_F(AgentApi, TeardownLeavesNothingAndIsIdempotent) {
  ASSERT_EQ(apply(shape_)->status, 200);
  std::string body = R"({"topology_id":")" + shape_.id + "\"}";
  for (int i = 0; i < 2; ++i) {
    auto r = agent_.post("/topology/teardown", body);
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(json::parse(r->body), json({{"status", "torn_down"}, {"topology_id", shape_.id}}));
  }
  EXPECT_TRUE(container_ids(shape_.id).empty());
  EXPECT_EQ(network_count(shape_.id), 0u);
  json s = wait_state(
      [](const json& s) { return s["observed"].value("bridges", json::array()).empty(); });
  EXPECT_TRUE(s["topology_id"].is_null());
  EXPECT_EQ(s["observed"]["containers"], json::array());
}

TEST_F(AgentApi, AnUnpullableBaseImageFailsTheApplyNamingItAndRecordsTheError) {
  stop();
  start("nonexistent.invalid/edge-agent-nope:1");
  auto r = apply(shape_);
  ASSERT_EQ(r->status, 500) << r->body;
  EXPECT_NE(r->body.find("nonexistent.invalid/edge-agent-nope:1"), std::string::npos) << r->body;
  json s = state();
  EXPECT_EQ(s["topology_id"], shape_.id);
  EXPECT_EQ(s["applied_version_hash"], "");
  EXPECT_NE(s["last_error"].get<std::string>().find("nonexistent.invalid"), std::string::npos);
}

}  // namespace
}  // namespace edge
