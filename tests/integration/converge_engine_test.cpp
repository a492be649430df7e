// converge/teardown against the real Docker engine (DESIGN §5). Every check
// reads the engine's own view (GET /containers/<name>/json, /networks/<name>).

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>
#include <string>

#include "docker_obs/converge.h"
#include "docker_obs/engine.h"
#include "docker_obs/plan.h"
#include "tests/support/docker_fixture.h"
#include "tests/support/model.h"

namespace edge::docker {
namespace {

using nlohmann::json;

constexpr int kParallelism = 4;
using edge::testing::kTestImage;

class ConvergeEngine : public edge::testing::DockerFixture {
 protected:
  void SetUp() override {
    DockerFixture::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    other_id_ = edge::testing::random_topology_id();
    owner_ = edge::testing::random_topology_id();  // a fresh agent identity per test
    also_clean_up(other_id_);
    std::random_device rd;
    x_ = static_cast<int>(rd() % 64);
    dmz_ = subnet(0);
    lan_ = subnet(1);
    catalog_.clear();
    catalog_["http"].image = kTestImage;
    catalog_["http"].command = {"httpd", "-f", "-p", "8080"};
    catalog_["http"].env = {{"GREETING", "hi"}};
  }

  // DMZ + lan1; "gw" bridges both with fixed IPs and forwards L3, "web" sits
  // on the DMZ with an http service, "db" on lan1.
  json topology() const {
    return json{
        {"topology", {{"id", topology_id_}, {"name", "it"}}},
        {"lans",
         {{{"id", "l0"}, {"name", "DMZ"}, {"subnet", dmz_ + "0/24"}, {"is_dmz", true}},
          {{"id", "l1"}, {"name", "lan1"}, {"subnet", lan_ + "0/24"}, {"is_dmz", false}}}},
        {"deckies",
         {{{"uuid", "d0"},
           {"name", "gw"},
           {"services", json::array()},
           {"decky_config",
            {{"ips_by_lan", {{"DMZ", dmz_ + "2"}, {"lan1", lan_ + "2"}}}, {"forwards_l3", true}}}},
          {{"uuid", "d1"},
           {"name", "web"},
           {"services", {"http"}},
           {"decky_config", {{"ips_by_lan", {{"DMZ", dmz_ + "10"}}}, {"forwards_l3", false}}}},
          {{"uuid", "d2"},
           {"name", "db"},
           {"services", json::array()},
           {"decky_config", {{"ips_by_lan", {{"lan1", lan_ + "10"}}}, {"forwards_l3", false}}}}}},
        {"edges",
         {{{"decky_uuid", "d0"}, {"lan_id", "l0"}, {"is_bridge", true}},
          {{"decky_uuid", "d0"}, {"lan_id", "l1"}, {"is_bridge", true}},
          {{"decky_uuid", "d1"}, {"lan_id", "l0"}, {"is_bridge", false}},
          {{"decky_uuid", "d2"}, {"lan_id", "l1"}, {"is_bridge", false}}}}};
  }

  // "10.231.<x + 64k>." : four /24s per test, picked at random so parallel
  // runs and the host's own networks are unlikely to collide.
  std::string subnet(int k) const { return "10.231." + std::to_string(x_ + 64 * k) + "."; }

  Plan plan(const json& t) const { return edge::testing::to_plan(t, catalog_, kTestImage, owner_); }

  void converge_ok(const json& t) {
    Status st = converge(engine_, plan(t), kParallelism);
    ASSERT_TRUE(st.ok()) << st.message();
  }

  Status teardown(const std::string& id) {
    return teardown_topology(engine_, id, owner_, {}, kParallelism);
  }

  json inspect_container(const std::string& name) {
    EngineResponse r = engine_.get("/containers/" + name + "/json");
    EXPECT_EQ(r.status, 200) << name << ": " << r.message();
    return r.json();
  }

  json inspect_network(const std::string& name) {
    EngineResponse r = engine_.get("/networks/" + name);
    EXPECT_EQ(r.status, 200) << name << ": " << r.message();
    return r.json();
  }

  std::string ip_of(const json& container, const std::string& network) {
    return container["NetworkSettings"]["Networks"][network]["IPAddress"].get<std::string>();
  }

  // name -> id of every container labelled with `id`.
  std::map<std::string, std::string> container_ids(const std::string& id) {
    json filters = {{"label", {std::string(kLabelTopologyId) + "=" + id}}};
    EngineResponse r = engine_.get("/containers/json?all=1&filters=" + url_encode(filters.dump()));
    EXPECT_TRUE(r.ok()) << r.message();
    std::map<std::string, std::string> out;
    for (const json& c : r.json()) out[c["Names"][0].get<std::string>().substr(1)] = c["Id"];
    return out;
  }

  std::set<std::string> network_names(const std::string& id) {
    json filters = {{"label", {std::string(kLabelTopologyId) + "=" + id}}};
    EngineResponse r = engine_.get("/networks?filters=" + url_encode(filters.dump()));
    EXPECT_TRUE(r.ok()) << r.message();
    std::set<std::string> out;
    for (const json& n : r.json()) out.insert(n["Name"].get<std::string>());
    return out;
  }

  std::string other_id_;
  std::string owner_;
  int x_ = 0;
  std::string dmz_;
  std::string lan_;
  ServiceCatalog catalog_;
};

TEST_F(ConvergeEngine, CreatesInternalAndDmzNetworksWithSubnetAndLabels) {
  converge_ok(topology());
  EXPECT_EQ(network_names(topology_id_),
            (std::set<std::string>{prefix_ + "dmz", prefix_ + "lan1"}));
  json dmz = inspect_network(prefix_ + "dmz");
  EXPECT_EQ(dmz["Internal"], false);
  EXPECT_EQ(dmz["Driver"], "bridge");
  EXPECT_EQ(dmz["IPAM"]["Config"][0]["Subnet"], dmz_ + "0/24");
  EXPECT_EQ(dmz["Labels"][kLabelTopologyId], topology_id_);
  EXPECT_EQ(dmz["Labels"][kLabelRole], "lan");
  EXPECT_EQ(dmz["Labels"][kLabelLan], "DMZ");
  json lan = inspect_network(prefix_ + "lan1");
  EXPECT_EQ(lan["Internal"], true);
  EXPECT_EQ(lan["IPAM"]["Config"][0]["Subnet"], lan_ + "0/24");
  EXPECT_EQ(lan["Labels"][kLabelSpec], plan(topology()).networks[1].labels.at(kLabelSpec));
}

TEST_F(ConvergeEngine, BridgeDeckyRunsOnBothLansWithFixedIpsForwardingAndNetAdmin) {
  converge_ok(topology());
  json gw = inspect_container(prefix_ + "gw");
  EXPECT_EQ(gw["State"]["Running"], true);
  EXPECT_EQ(gw["Config"]["Hostname"], "gw");
  EXPECT_EQ(gw["Config"]["Image"], kTestImage);
  EXPECT_EQ(gw["NetworkSettings"]["Networks"].size(), 2u);
  EXPECT_EQ(ip_of(gw, prefix_ + "dmz"), dmz_ + "2");
  EXPECT_EQ(ip_of(gw, prefix_ + "lan1"), lan_ + "2");
  EXPECT_EQ(gw["HostConfig"]["CapAdd"], json::array({"NET_ADMIN"}));
  EXPECT_EQ(gw["HostConfig"]["Sysctls"], json::parse(R"({"net.ipv4.ip_forward": "1"})"));
  EXPECT_EQ(gw["HostConfig"]["RestartPolicy"]["Name"], "unless-stopped");
  EXPECT_EQ(gw["Config"]["Labels"][kLabelTopologyId], topology_id_);
  EXPECT_EQ(gw["Config"]["Labels"][kLabelDecky], "gw");
  EXPECT_EQ(gw["Config"]["Labels"][kLabelRole], "base");

  json db = inspect_container(prefix_ + "db");
  EXPECT_EQ(db["NetworkSettings"]["Networks"].size(), 1u);
  EXPECT_EQ(ip_of(db, prefix_ + "lan1"), lan_ + "10");
  EXPECT_TRUE(db["HostConfig"]["Sysctls"].is_null() || db["HostConfig"]["Sysctls"].empty());
}

TEST_F(ConvergeEngine, ServiceSharesItsBaseNetworkNamespace) {
  converge_ok(topology());
  json web = inspect_container(prefix_ + "web");
  EXPECT_EQ(ip_of(web, prefix_ + "dmz"), dmz_ + "10");
  json http = inspect_container(prefix_ + "web-http");
  EXPECT_EQ(http["State"]["Running"], true);
  EXPECT_EQ(http["HostConfig"]["NetworkMode"], "container:" + web["Id"].get<std::string>());
  EXPECT_EQ(http["HostConfig"]["RestartPolicy"]["Name"], "unless-stopped");
  EXPECT_EQ(http["Config"]["Cmd"], json::parse(R"(["httpd", "-f", "-p", "8080"])"));
  EXPECT_NE(std::find(http["Config"]["Env"].begin(), http["Config"]["Env"].end(), "GREETING=hi"),
            http["Config"]["Env"].end());
  EXPECT_EQ(http["Config"]["Labels"][kLabelRole], "service");
  EXPECT_EQ(http["Config"]["Labels"][kLabelServiceName], "http");
  EXPECT_EQ(http["Config"]["Labels"][kLabelService], "true");
  EXPECT_EQ(http["Config"]["Labels"][kLabelOwner], owner_);
  EXPECT_EQ(
      http["HostConfig"]["LogConfig"],
      json::parse(R"({"Type": "json-file", "Config": {"max-file": "5", "max-size": "10m"}})"));
  EXPECT_EQ(http["Config"]["Labels"][kLabelDecky], "web");
}

TEST_F(ConvergeEngine, ReapplyingTheSamePlanKeepsEveryContainerId) {
  converge_ok(topology());
  auto before = container_ids(topology_id_);
  ASSERT_EQ(before.size(), 4u);
  converge_ok(topology());
  EXPECT_EQ(container_ids(topology_id_), before);
}

TEST_F(ConvergeEngine, ARemovedBaseIsRecreatedWithItsOldIpAndItsServiceFollows) {
  converge_ok(topology());
  auto before = container_ids(topology_id_);
  ASSERT_TRUE(engine_.del("/containers/" + prefix_ + "web?force=1").ok());
  converge_ok(topology());
  auto after = container_ids(topology_id_);
  ASSERT_EQ(after.size(), 4u);
  EXPECT_NE(after[prefix_ + "web"], before[prefix_ + "web"]);
  EXPECT_NE(after[prefix_ + "web-http"], before[prefix_ + "web-http"]);
  EXPECT_EQ(after[prefix_ + "gw"], before[prefix_ + "gw"]);
  EXPECT_EQ(after[prefix_ + "db"], before[prefix_ + "db"]);
  json web = inspect_container(prefix_ + "web");
  EXPECT_EQ(ip_of(web, prefix_ + "dmz"), dmz_ + "10");
  EXPECT_EQ(inspect_container(prefix_ + "web-http")["HostConfig"]["NetworkMode"],
            "container:" + after[prefix_ + "web"]);
}

TEST_F(ConvergeEngine, AStoppedContainerIsStartedAgainWithoutBeingRecreated) {
  converge_ok(topology());
  auto before = container_ids(topology_id_);
  ASSERT_TRUE(engine_.post("/containers/" + prefix_ + "db/stop?t=1").ok());
  ASSERT_EQ(inspect_container(prefix_ + "db")["State"]["Running"], false);
  converge_ok(topology());
  EXPECT_EQ(container_ids(topology_id_), before);
  EXPECT_EQ(inspect_container(prefix_ + "db")["State"]["Running"], true);
}

TEST_F(ConvergeEngine, ChangingOneDeckysIpRecreatesOnlyThatDeckyAndItsService) {
  converge_ok(topology());
  auto before = container_ids(topology_id_);
  json t = topology();
  t["deckies"][1]["decky_config"]["ips_by_lan"]["DMZ"] = dmz_ + "11";
  converge_ok(t);
  auto after = container_ids(topology_id_);
  ASSERT_EQ(after.size(), 4u);
  EXPECT_NE(after[prefix_ + "web"], before[prefix_ + "web"]);
  EXPECT_NE(after[prefix_ + "web-http"], before[prefix_ + "web-http"]);
  EXPECT_EQ(after[prefix_ + "gw"], before[prefix_ + "gw"]);
  EXPECT_EQ(after[prefix_ + "db"], before[prefix_ + "db"]);
  EXPECT_EQ(ip_of(inspect_container(prefix_ + "web"), prefix_ + "dmz"), dmz_ + "11");
}

TEST_F(ConvergeEngine, ChangingASubnetRecreatesThatNetworkAndTheContainersOnIt) {
  converge_ok(topology());
  auto before = container_ids(topology_id_);
  const std::string old_lan_id = inspect_network(prefix_ + "lan1")["Id"];
  const std::string dmz_id = inspect_network(prefix_ + "dmz")["Id"];
  json t = topology();
  lan_ = subnet(2);
  t["lans"][1]["subnet"] = lan_ + "0/24";
  t["deckies"][0]["decky_config"]["ips_by_lan"]["lan1"] = lan_ + "2";
  t["deckies"][2]["decky_config"]["ips_by_lan"]["lan1"] = lan_ + "10";
  converge_ok(t);
  EXPECT_NE(inspect_network(prefix_ + "lan1")["Id"], old_lan_id);
  EXPECT_EQ(inspect_network(prefix_ + "lan1")["IPAM"]["Config"][0]["Subnet"], lan_ + "0/24");
  EXPECT_EQ(inspect_network(prefix_ + "dmz")["Id"], dmz_id);
  auto after = container_ids(topology_id_);
  EXPECT_NE(after[prefix_ + "gw"], before[prefix_ + "gw"]);
  EXPECT_NE(after[prefix_ + "db"], before[prefix_ + "db"]);
  EXPECT_EQ(after[prefix_ + "web"], before[prefix_ + "web"]);
  EXPECT_EQ(after[prefix_ + "web-http"], before[prefix_ + "web-http"]);
  EXPECT_EQ(ip_of(inspect_container(prefix_ + "db"), prefix_ + "lan1"), lan_ + "10");
}

TEST_F(ConvergeEngine, ADeckyDroppedFromThePlanLosesItsContainers) {
  converge_ok(topology());
  auto before = container_ids(topology_id_);
  json t = topology();
  t["deckies"].erase(1);  // web
  t["edges"].erase(2);    // and its edge
  converge_ok(t);
  EXPECT_EQ(container_ids(topology_id_),
            (std::map<std::string, std::string>{{prefix_ + "gw", before[prefix_ + "gw"]},
                                                {prefix_ + "db", before[prefix_ + "db"]}}));
}

TEST_F(ConvergeEngine, TeardownLeavesNothingLabelledAndIsIdempotent) {
  converge_ok(topology());
  Status st = teardown(topology_id_);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_TRUE(container_ids(topology_id_).empty());
  EXPECT_TRUE(network_names(topology_id_).empty());
  st = teardown(topology_id_);
  EXPECT_TRUE(st.ok()) << st.message();
}

TEST_F(ConvergeEngine, AFailedApplyNamesTheObjectAndTeardownFindsItsLeftovers) {
  // Outside lan1's subnet (the validator would refuse it; the plan is bent
  // by hand): the engine refuses the endpoint half-way.
  Plan p = plan(topology());
  for (auto& b : p.bases) {
    if (b.decky == "db") b.networks[0].second = "192.0.2.10";
  }
  Status st = converge(engine_, p, kParallelism);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find(prefix_ + "db"), std::string::npos) << st.message();
  EXPECT_FALSE(network_names(topology_id_).empty());  // the networks were made
  st = teardown(topology_id_);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_TRUE(container_ids(topology_id_).empty());
  EXPECT_TRUE(network_names(topology_id_).empty());
}

TEST_F(ConvergeEngine, AnUnpullableBaseImageFailsNamingTheImage) {
  Status st = converge(
      engine_, edge::testing::to_plan(topology(), catalog_, "nonexistent.invalid/nope:1", owner_),
      kParallelism);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("pulling image nonexistent.invalid/nope:1 failed"), std::string::npos)
      << st.message();
}

TEST_F(ConvergeEngine, OnlyThisAgentsObjectsAreTouchedWhateverTheirLabels) {
  // Decoys: a container and a network with the topology label of an id this
  // agent never applies (another agent's, the master's local one) and no
  // owner, and a container of THIS topology owned by another agent.
  const std::string decoy_id = edge::testing::random_topology_id();
  also_clean_up(decoy_id);
  const std::string decoy_net = "decnet_t_decoy_" + decoy_id.substr(0, 8);
  const std::string decoy_label = std::string(kLabelTopologyId) + "=" + decoy_id;
  ASSERT_EQ(docker("network create --label " + decoy_label + " " + decoy_net).status, 0);
  ASSERT_EQ(docker("run -d --name " + decoy_net + "-c --label " + decoy_label + " " + kTestImage +
                   " sleep 300")
                .status,
            0);
  ASSERT_EQ(docker("run -d --name " + prefix_ + "foreign --label " + kLabelTopologyId + "=" +
                   topology_id_ + " --label " + kLabelOwner + "=someone-else " + kTestImage +
                   " sleep 300")
                .status,
            0);
  converge_ok(topology());
  // A leftover of this agent under another id IS removed by the next converge.
  json other = topology();
  other["topology"]["id"] = other_id_;
  other["lans"][0]["subnet"] = subnet(2) + "0/24";
  other["lans"][1]["subnet"] = subnet(3) + "0/24";
  other["lans"] = json::array({other["lans"][0]});        // the DMZ alone
  other["deckies"] = json::array({other["deckies"][2]});  // db alone, on the DMZ
  other["deckies"][0]["decky_config"]["ips_by_lan"] = {{"DMZ", subnet(2) + "10"}};
  other["edges"] = json::array({{{"decky_uuid", "d2"}, {"lan_id", "l0"}}});
  ASSERT_TRUE(converge(engine_, plan(other), kParallelism).ok());
  EXPECT_EQ(container_ids(other_id_).size(), 1u);
  converge_ok(topology());
  EXPECT_TRUE(container_ids(other_id_).empty());  // this agent's leftover: removed
  EXPECT_TRUE(network_names(other_id_).empty());
  // The decoys and the other owner's container are all still there.
  EXPECT_EQ(container_ids(decoy_id).size(), 1u);
  EXPECT_EQ(network_names(decoy_id), std::set<std::string>{decoy_net});
  EXPECT_TRUE(container_ids(topology_id_).contains(prefix_ + "foreign"));
  // Teardowns leave them too, even a teardown naming the decoys' id.
  ASSERT_TRUE(teardown(topology_id_).ok());
  EXPECT_EQ(container_ids(topology_id_).size(), 1u);
  EXPECT_TRUE(teardown(decoy_id).ok());
  EXPECT_EQ(container_ids(decoy_id).size(), 1u);
  EXPECT_EQ(network_names(decoy_id).size(), 1u);
}

TEST_F(ConvergeEngine, UnownedObjectsOfTheAppliedTopologyAreAdopted) {
  // What 0.1.0 made: the topology's objects without an owner label.
  Plan old = plan(topology());
  old.owner.clear();
  for (auto* list : {&old.bases, &old.services}) {
    for (auto& c : *list) c.labels.erase(kLabelOwner);
  }
  for (auto& n : old.networks) n.labels.erase(kLabelOwner);
  ASSERT_TRUE(converge(engine_, old, kParallelism).ok());
  converge_ok(topology());
  json web = inspect_container(prefix_ + "web");
  EXPECT_EQ(web["Config"]["Labels"][kLabelOwner], owner_);
  EXPECT_EQ(container_ids(topology_id_).size(), 4u);
}

TEST_F(ConvergeEngine, ADisconnectedEndpointIsHealedByTheNextConverge) {
  converge_ok(topology());
  ASSERT_EQ(docker("network disconnect -f " + prefix_ + "lan1 " + prefix_ + "gw").status, 0);
  converge_ok(topology());
  json gw = inspect_container(prefix_ + "gw");
  EXPECT_EQ(ip_of(gw, prefix_ + "lan1"), lan_ + "2");
  EXPECT_EQ(ip_of(gw, prefix_ + "dmz"), dmz_ + "2");
}

TEST_F(ConvergeEngine, ASubnetOverlappingANetworkNotOursFailsNamingItWithNothingCreated) {
  const std::string foreign = "edge-test-foreign-" + topology_id_.substr(0, 8);
  ASSERT_EQ(docker("network create --subnet " + dmz_ + "0/25 " + foreign).status, 0);
  Status st = converge(engine_, plan(topology()), kParallelism);
  docker("network rm " + foreign);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), kSubnetConflict);
  EXPECT_NE(st.message().find("overlaps network '" + foreign + "'"), std::string::npos)
      << st.message();
  EXPECT_TRUE(network_names(topology_id_).empty());
  EXPECT_TRUE(container_ids(topology_id_).empty());
}

TEST_F(ConvergeEngine, ASubnetOverlappingDocker0IsRefused) {
  json bridge = inspect_network("bridge");
  ASSERT_TRUE(bridge["IPAM"]["Config"].is_array() && !bridge["IPAM"]["Config"].empty());
  const std::string docker0 = bridge["IPAM"]["Config"][0]["Subnet"];
  json t = topology();
  t["lans"][0]["subnet"] = docker0;
  // Fixed IPs inside docker0's subnet (its second and third hosts + 10).
  const std::string base = docker0.substr(0, docker0.rfind('.') + 1);
  t["deckies"][0]["decky_config"]["ips_by_lan"]["DMZ"] = base + "12";
  t["deckies"][1]["decky_config"]["ips_by_lan"]["DMZ"] = base + "13";
  Status st = converge(engine_, plan(t), kParallelism);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("overlaps network 'bridge'"), std::string::npos) << st.message();
  EXPECT_TRUE(container_ids(topology_id_).empty());
}

TEST_F(ConvergeEngine, NamesTheMastersValidatorAcceptsRunInDocker) {
  json t = topology();
  t["lans"][1]["name"] = "Büro LAN";
  t["deckies"][0]["decky_config"]["ips_by_lan"] = {{"DMZ", dmz_ + "2"}, {"Büro LAN", lan_ + "2"}};
  t["deckies"][2]["decky_config"]["ips_by_lan"] = {{"Büro LAN", lan_ + "10"}};
  t["deckies"][2]["name"] = "-edge";
  t["deckies"][1]["name"] = std::string(64, 'w');
  converge_ok(t);
  EXPECT_TRUE(network_names(topology_id_).contains(prefix_ + "büro lan"));
  EXPECT_EQ(inspect_container(prefix_ + "-edge")["State"]["Running"], true);
  EXPECT_EQ(inspect_container(prefix_ + std::string(64, 'w'))["Config"]["Hostname"],
            std::string(64, 'w'));
  EXPECT_EQ(inspect_container(prefix_ + std::string(64, 'w') + "-http")["State"]["Running"], true);
}

TEST_F(ConvergeEngine, AGatewayDeckyPublishesItsServicePortsOnTheHost) {
  // A port that is free now, served by busybox httpd in the service container.
  const int port = edge::testing::free_port();
  catalog_["http"].command = {"httpd", "-f", "-p", std::to_string(port)};
  catalog_["http"].tcp_ports = {port};
  json t = topology();
  t["deckies"][0]["services"] = {"http"};  // gw forwards L3: the front door
  converge_ok(t);
  json gw = inspect_container(prefix_ + "gw");
  const std::string key = std::to_string(port) + "/tcp";
  EXPECT_EQ(gw["HostConfig"]["PortBindings"][key][0]["HostPort"], std::to_string(port));
  // Internal deckies publish nothing.
  EXPECT_TRUE(inspect_container(prefix_ + "web")["HostConfig"]["PortBindings"].empty());
  // A real TCP connection through the host port reaches httpd.
  std::string answer;
  edge::testing::wait_until(
      [&] {
        answer = edge::testing::http_get_raw("127.0.0.1", port, "/");
        return answer.rfind("HTTP/1.", 0) == 0;
      },
      std::chrono::seconds(10));
  EXPECT_EQ(answer.rfind("HTTP/1.", 0), 0u) << "answer: '" << answer << "'";
}

TEST_F(ConvergeEngine, AServiceConfigValueReachesTheEnvironmentAndRecreatesOnlyItsContainer) {
  catalog_["http"].env = {{"GREETING", "{config.greeting:-hi}"}, {"NODE_NAME", "{decky}"}};
  json t = topology();
  t["deckies"][0]["services"] = {"http"};
  converge_ok(t);
  auto before = container_ids(topology_id_);
  t["deckies"][1]["decky_config"]["service_config"] = {{"http", {{"greeting", "hello"}}}};
  converge_ok(t);
  auto after = container_ids(topology_id_);
  for (const auto& [name, id] : before) {
    if (name == prefix_ + "web-http") {
      EXPECT_NE(after[name], id);
    } else {
      EXPECT_EQ(after[name], id) << name;
    }
  }
  json env = inspect_container(prefix_ + "web-http")["Config"]["Env"];
  for (const char* want : {"GREETING=hello", "NODE_NAME=web", "HOSTNAME=web"}) {
    EXPECT_NE(std::find(env.begin(), env.end(), want), env.end()) << want << " in " << env.dump();
  }
}

}  // namespace
}  // namespace edge::docker
