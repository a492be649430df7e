#include "docker_obs/plan.h"

#include <gtest/gtest.h>
#include <malloc.h>

#include <fstream>
#include <string>

#include "tests/support/model.h"
#include "tests/support/topology_builder.h"

namespace edge::docker {
namespace {

using nlohmann::json;

// Two LANs (DMZ + internal), a bridge decky on both with fixed IPs that
// forwards L3, a DMZ decky with two services, and an internal decky attached
// by an edge only (engine-assigned IP).
json topology() {
  return json::parse(R"({
    "topology": {"id": "6237656b-2c43-4afa-a221-9e8e3858ab0d", "name": "t", "status": "deploying",
                 "version": 3},
    "lans": [
      {"id": "l0", "name": "DMZ", "subnet": "10.0.0.0/24", "is_dmz": true, "x": 1, "y": 2},
      {"id": "l1", "name": "lan1", "subnet": "10.1.0.0/24", "is_dmz": false}
    ],
    "deckies": [
      {"uuid": "d0", "name": "gw", "services": [],
       "decky_config": {"ips_by_lan": {"lan1": "10.1.0.2", "DMZ": "10.0.0.2"}, "forwards_l3": true}},
      {"uuid": "d1", "name": "web", "services": ["http", "ssh"],
       "decky_config": {"ips_by_lan": {"DMZ": "10.0.0.10"}, "forwards_l3": false}},
      {"uuid": "d2", "name": "db", "services": [],
       "decky_config": {"ips_by_lan": {}, "forwards_l3": false}}
    ],
    "edges": [
      {"decky_uuid": "d0", "lan_id": "l0", "is_bridge": true, "forwards_l3": true},
      {"decky_uuid": "d0", "lan_id": "l1", "is_bridge": true, "forwards_l3": true},
      {"decky_uuid": "d1", "lan_id": "l0", "is_bridge": false, "forwards_l3": false},
      {"decky_uuid": "d2", "lan_id": "l1", "is_bridge": false, "forwards_l3": false}
    ]})");
}

ServiceCatalog catalog() {
  return {{"http", {"edge-agent-test/busybox:latest", {"httpd", "-f"}, {{"PORT", "80"}}}},
          {"ssh", {"sshimg:1", {}, {}}}};
}

const ContainerSpec& find(const std::vector<ContainerSpec>& v, const std::string& name) {
  for (const auto& c : v) {
    if (c.name == name) return c;
  }
  ADD_FAILURE() << "no container " << name;
  static const ContainerSpec kNone;
  return kNone;
}

std::map<std::string, std::string> spec_labels(const Plan& plan) {
  std::map<std::string, std::string> out;
  for (const auto& n : plan.networks) out[n.name] = n.labels.at(kLabelSpec);
  for (const auto& c : plan.bases) out[c.name] = c.labels.at(kLabelSpec);
  for (const auto& c : plan.services) out[c.name] = c.labels.at(kLabelSpec);
  return out;
}

std::vector<std::string> changed(const Plan& a, const Plan& b) {
  auto la = spec_labels(a);
  auto lb = spec_labels(b);
  std::vector<std::string> out;
  for (const auto& [name, spec] : la) {
    if (lb.at(name) != spec) out.push_back(name);
  }
  return out;
}

TEST(PlanTopology, NamesNetworksAfterTheFirstEightCharsOfTheIdAndTheLowercasedLanName) {
  Plan plan = testing::to_plan(topology(), catalog(), "base:1");
  EXPECT_EQ(plan.topology_id, "6237656b-2c43-4afa-a221-9e8e3858ab0d");
  ASSERT_EQ(plan.networks.size(), 2u);
  EXPECT_EQ(plan.networks[0].name, "decnet_t_6237656b_dmz");
  EXPECT_EQ(plan.networks[0].lan, "DMZ");
  EXPECT_EQ(plan.networks[1].name, "decnet_t_6237656b_lan1");
}

TEST(PlanTopology, OnlyTheDmzNetworkIsNotInternal) {
  Plan plan = testing::to_plan(topology(), catalog(), "base:1");
  EXPECT_FALSE(plan.networks[0].internal);
  EXPECT_TRUE(plan.networks[1].internal);
}

TEST(PlanTopology, NetworkCreateBodyIsABridgeWithTheSubnetAndTopologyLabels) {
  Plan plan = testing::to_plan(topology(), catalog(), "base:1");
  json body = plan.networks[1].create_body();
  EXPECT_EQ(body["Name"], "decnet_t_6237656b_lan1");
  EXPECT_EQ(body["Driver"], "bridge");
  EXPECT_EQ(body["CheckDuplicate"], true);
  EXPECT_EQ(body["Internal"], true);
  EXPECT_EQ(body["IPAM"]["Config"], json::parse(R"([{"Subnet": "10.1.0.0/24"}])"));
  EXPECT_EQ(body["Labels"]["decnet.topology.id"], "6237656b-2c43-4afa-a221-9e8e3858ab0d");
  EXPECT_EQ(body["Labels"]["decnet.topology.role"], "lan");
  EXPECT_EQ(body["Labels"]["decnet.topology.lan"], "lan1");
  EXPECT_EQ(body["Labels"]["decnet.topology.spec"].get<std::string>().size(), 64u);
  EXPECT_EQ(body["Labels"]["decnet.agent.id"], testing::kTestOwner);
  EXPECT_EQ(body["Labels"].size(), 5u);
}

TEST(PlanTopology, BaseContainerIdlesWithNetAdminRestartPolicyAndDeckyHostname) {
  Plan plan = testing::to_plan(topology(), catalog(), "base:1");
  ASSERT_EQ(plan.bases.size(), 3u);
  const ContainerSpec& web = find(plan.bases, "decnet_t_6237656b_web");
  json body = web.create_body();
  EXPECT_EQ(body["Image"], "base:1");
  EXPECT_EQ(body["Hostname"], "web");
  EXPECT_EQ(
      body["Cmd"],
      json::parse(R"(["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 3600 & wait $!; done"])"));
  EXPECT_EQ(body["HostConfig"]["CapAdd"], json::array({"NET_ADMIN"}));
  EXPECT_EQ(body["HostConfig"]["RestartPolicy"], json::parse(R"({"Name": "unless-stopped"})"));
  EXPECT_FALSE(body["HostConfig"].contains("Sysctls"));
  EXPECT_EQ(body["Labels"]["decnet.topology.role"], "base");
  EXPECT_EQ(body["Labels"]["decnet.topology.decky"], "web");
  EXPECT_EQ(body["Labels"]["decnet.topology.id"], plan.topology_id);
  EXPECT_EQ(body["Labels"]["decnet.agent.id"], testing::kTestOwner);
  EXPECT_EQ(body["Labels"].size(), 5u);
  EXPECT_EQ(body["HostConfig"]["LogConfig"], json::parse(R"({"Type": "json-file",
      "Config": {"max-size": "10m", "max-file": "5"}})"));
}

TEST(PlanTopology, ForwardingDeckyGetsTheIpForwardSysctl) {
  Plan plan = testing::to_plan(topology(), catalog(), "base:1");
  json body = find(plan.bases, "decnet_t_6237656b_gw").create_body();
  EXPECT_EQ(body["HostConfig"]["Sysctls"], json::parse(R"({"net.ipv4.ip_forward": "1"})"));
}

TEST(PlanTopology, BridgeDeckyListsEveryLanInLanOrderButCreatesWithTheFirstOnly) {
  Plan plan = testing::to_plan(topology(), catalog(), "base:1");
  const ContainerSpec& gw = find(plan.bases, "decnet_t_6237656b_gw");
  EXPECT_EQ(gw.networks,
            (std::vector<std::pair<std::string, std::string>>{
                {"decnet_t_6237656b_dmz", "10.0.0.2"}, {"decnet_t_6237656b_lan1", "10.1.0.2"}}));
  json body = gw.create_body();
  EXPECT_EQ(body["HostConfig"]["NetworkMode"], "decnet_t_6237656b_dmz");
  EXPECT_EQ(body["NetworkingConfig"], json::parse(R"({"EndpointsConfig": {
      "decnet_t_6237656b_dmz": {"IPAMConfig": {"IPv4Address": "10.0.0.2"}}}})"));
}

TEST(PlanTopology, DeckyWithAnEdgeButNoIpGetsAnEngineAssignedEndpoint) {
  Plan plan = testing::to_plan(topology(), catalog(), "base:1");
  const ContainerSpec& db = find(plan.bases, "decnet_t_6237656b_db");
  EXPECT_EQ(db.networks,
            (std::vector<std::pair<std::string, std::string>>{{"decnet_t_6237656b_lan1", ""}}));
  EXPECT_EQ(db.create_body()["NetworkingConfig"],
            json::parse(R"({"EndpointsConfig": {"decnet_t_6237656b_lan1": {}}})"));
}

TEST(PlanTopology, ServicesShareTheBaseNetnsAndTakeImageCommandEnvFromTheCatalog) {
  Plan plan = testing::to_plan(topology(), catalog(), "base:1");
  ASSERT_EQ(plan.services.size(), 2u);
  const ContainerSpec& http = find(plan.services, "decnet_t_6237656b_web-http");
  json body = http.create_body();
  EXPECT_EQ(body["Image"], "edge-agent-test/busybox:latest");
  EXPECT_EQ(body["Cmd"], json::array({"httpd", "-f"}));
  EXPECT_EQ(body["Env"], json::array({"HOSTNAME=web", "PORT=80"}));
  EXPECT_EQ(body["HostConfig"]["NetworkMode"], "container:decnet_t_6237656b_web");
  EXPECT_EQ(body["HostConfig"]["RestartPolicy"], json::parse(R"({"Name": "unless-stopped"})"));
  EXPECT_FALSE(body.contains("Hostname"));  // the engine refuses it with a shared netns
  EXPECT_FALSE(body.contains("NetworkingConfig"));
  EXPECT_EQ(body["Labels"]["decnet.topology.role"], "service");
  EXPECT_EQ(body["Labels"]["decnet.topology.service_name"], "http");
  EXPECT_EQ(body["Labels"]["decnet.topology.decky"], "web");
  EXPECT_EQ(body["Labels"]["decnet.topology.service"], "true");
  EXPECT_EQ(body["Labels"]["decnet.agent.id"], testing::kTestOwner);
  EXPECT_EQ(body["Labels"].size(), 7u);
  EXPECT_EQ(body["HostConfig"]["LogConfig"]["Type"], "json-file");

  json ssh = find(plan.services, "decnet_t_6237656b_web-ssh").create_body();
  EXPECT_FALSE(ssh.contains("Cmd"));  // the image's own command
  EXPECT_EQ(ssh["Env"], json::array({"HOSTNAME=web"}));
}

TEST(PlanTopology, SpecLabelsAreDeterministicAndIgnoreCosmeticFields) {
  json moved = topology();
  moved["lans"][0]["x"] = 500;
  moved["topology"]["status"] = "active";
  moved["topology"]["name"] = "renamed";
  EXPECT_EQ(spec_labels(testing::to_plan(topology(), catalog(), "base:1")),
            spec_labels(testing::to_plan(moved, catalog(), "base:1")));
}

TEST(PlanTopology, ChangingOneDeckysIpChangesOnlyThatDeckyAndItsServices) {
  json t = topology();
  t["deckies"][1]["decky_config"]["ips_by_lan"]["DMZ"] = "10.0.0.11";
  EXPECT_EQ(changed(testing::to_plan(topology(), catalog(), "b:1"),
                    testing::to_plan(t, catalog(), "b:1")),
            (std::vector<std::string>{"decnet_t_6237656b_web", "decnet_t_6237656b_web-http",
                                      "decnet_t_6237656b_web-ssh"}));
}

TEST(PlanTopology, ChangingASubnetChangesTheNetworkAndEveryContainerOnIt) {
  json t = topology();
  t["lans"][1]["subnet"] = "10.9.0.0/24";
  t["deckies"][0]["decky_config"]["ips_by_lan"]["lan1"] = "10.9.0.2";
  EXPECT_EQ(changed(testing::to_plan(topology(), catalog(), "b:1"),
                    testing::to_plan(t, catalog(), "b:1")),
            (std::vector<std::string>{"decnet_t_6237656b_db", "decnet_t_6237656b_gw",
                                      "decnet_t_6237656b_lan1"}));
}

TEST(PlanTopology, MovingTheDmzChangesBothInternalFlagsAndSpecs) {
  json t = topology();
  t["lans"][0]["is_dmz"] = false;
  t["lans"][1]["is_dmz"] = true;
  Plan plan = testing::to_plan(t, catalog(), "b:1");
  EXPECT_FALSE(plan.networks[1].internal);
  EXPECT_TRUE(plan.networks[0].internal);
  EXPECT_EQ(changed(testing::to_plan(topology(), catalog(), "b:1"), plan),
            (std::vector<std::string>{"decnet_t_6237656b_db", "decnet_t_6237656b_dmz",
                                      "decnet_t_6237656b_gw", "decnet_t_6237656b_lan1",
                                      "decnet_t_6237656b_web", "decnet_t_6237656b_web-http",
                                      "decnet_t_6237656b_web-ssh"}));
}

TEST(PlanTopology, ChangingACatalogImageChangesOnlyThatServicesContainers) {
  ServiceCatalog other = catalog();
  other["ssh"].image = "sshimg:2";
  EXPECT_EQ(changed(testing::to_plan(topology(), catalog(), "b:1"),
                    testing::to_plan(topology(), other, "b:1")),
            (std::vector<std::string>{"decnet_t_6237656b_web-ssh"}));
}

TEST(PlanTopology, ChangingTheBaseImageChangesEveryContainer) {
  auto diff = changed(testing::to_plan(topology(), catalog(), "b:1"),
                      testing::to_plan(topology(), catalog(), "b:2"));
  EXPECT_EQ(diff, (std::vector<std::string>{"decnet_t_6237656b_db", "decnet_t_6237656b_gw",
                                            "decnet_t_6237656b_web", "decnet_t_6237656b_web-http",
                                            "decnet_t_6237656b_web-ssh"}));
}

TEST(PlanTopology, TogglingForwardsL3ChangesOnlyThatBaseAndItsServices) {
  json t = topology();
  t["deckies"][0]["decky_config"]["forwards_l3"] = false;
  EXPECT_EQ(changed(testing::to_plan(topology(), catalog(), "b:1"),
                    testing::to_plan(t, catalog(), "b:1")),
            (std::vector<std::string>{"decnet_t_6237656b_gw"}));
}

TEST(PlanTopology, MapsTheThirtyDeckyPublicVector) {
  std::ifstream in(std::string(EDGE_TEST_VECTORS) + "/canonical_hash_public.jsonl");
  ASSERT_TRUE(in) << "cannot open the public vectors";
  std::string line;
  json hydrated;
  while (std::getline(in, line)) {
    json v = json::parse(line);
    if (v["name"] == "v1-30") hydrated = json::parse(v["input"].get<std::string>());
  }
  ASSERT_TRUE(hydrated.is_object());
  // The vector leaves lan1 without a bridge to the DMZ (DMZ_ORPHAN): give
  // decky-0 an edge on it so the topology validates.
  hydrated["edges"].push_back({{"decky_uuid", "d0"}, {"lan_id", "l1"}});
  ServiceCatalog cat;
  for (const char* s : {"http", "ftp", "smb", "ssh", "rdp"})
    cat[s] = {.image = "img:" + std::string(s)};
  Plan plan = testing::to_plan(hydrated, cat, "b:1");
  EXPECT_EQ(plan.networks.size(), 2u);
  ASSERT_EQ(plan.bases.size(), 30u);
  size_t services = 0;
  for (const auto& d : hydrated["deckies"]) services += d["services"].size();
  EXPECT_EQ(plan.services.size(), services);
  const ContainerSpec& d0 = find(plan.bases, "decnet_t_6237656b_decky-0");
  EXPECT_EQ(d0.networks,
            (std::vector<std::pair<std::string, std::string>>{
                {"decnet_t_6237656b_lan0", "10.0.0.10"}, {"decnet_t_6237656b_lan1", ""}}));
  EXPECT_TRUE(d0.forwards_l3);
  EXPECT_EQ(find(plan.services, "decnet_t_6237656b_decky-0-ftp").network_mode,
            "container:decnet_t_6237656b_decky-0");
}

ServiceCatalog v2_catalog() {
  ServiceCatalog c = catalog();
  c["ssh"] = {
      .image = "decnet/ssh:1.2.1",
      .env = {{"NODE_NAME", "{decky}"},
              {"SSH_USER", "{config.user:-ubuntu}"},
              {"SSH_BANNER", "{config.banner}"}},
      .tcp_ports = {22},
      .cap_add = {"NET_BIND_SERVICE"},
      .volumes = {"/var/lib/decnet/artifacts/{decky}/{service}:/var/lib/systemd/coredump:rw"}};
  c["dns"] = {.image = "decnet/dns:1.2.1", .tcp_ports = {53}, .udp_ports = {53}};
  c["sniffer"] = {.image = "decnet/sniffer:1.2.1", .tcp_ports = {9999}, .singleton = true};
  return c;
}

// The gateway decky runs ssh, dns and a singleton; web runs ssh.
json gateway_topology() {
  json t = topology();
  t["deckies"][0]["services"] = {"ssh", "dns", "sniffer"};
  return t;
}

TEST(PlanTopology, AGatewayDeckyPublishesEveryPortOfItsServicesOnTheHostAsTheMasterDoes) {
  Plan plan = testing::to_plan(gateway_topology(), v2_catalog(), "b:1");
  const ContainerSpec& gw = find(plan.bases, "decnet_t_6237656b_gw");
  EXPECT_EQ(gw.ports, (std::vector<PublishedPort>{{22, false}, {53, false}, {53, true}}));
  json body = gw.create_body();
  EXPECT_EQ(body["ExposedPorts"], json::parse(R"({"22/tcp": {}, "53/tcp": {}, "53/udp": {}})"));
  EXPECT_EQ(body["HostConfig"]["PortBindings"], json::parse(R"({
      "22/tcp": [{"HostIp": "", "HostPort": "22"}],
      "53/tcp": [{"HostIp": "", "HostPort": "53"}],
      "53/udp": [{"HostIp": "", "HostPort": "53"}]})"));
}

TEST(PlanTopology, AnInternalDeckyPublishesNothing) {
  json t = gateway_topology();
  t["deckies"][1]["services"] = {"ssh", "dns"};
  Plan plan = testing::to_plan(t, v2_catalog(), "b:1");
  json body = find(plan.bases, "decnet_t_6237656b_web").create_body();
  EXPECT_FALSE(body.contains("ExposedPorts"));
  EXPECT_FALSE(body["HostConfig"].contains("PortBindings"));
}

TEST(PlanTopology, ASingletonServiceIsSkippedWithItsPorts) {
  Plan plan = testing::to_plan(gateway_topology(), v2_catalog(), "b:1");
  for (const auto& s : plan.services) EXPECT_NE(s.service, "sniffer");
  for (const auto& p : find(plan.bases, "decnet_t_6237656b_gw").ports) EXPECT_NE(p.port, 9999);
}

TEST(PlanTopology, ServiceConfigReachesTheEnvironmentThroughTheCatalogTemplates) {
  json t = gateway_topology();
  t["deckies"][1]["decky_config"]["service_config"] = {{"ssh", {{"user", "admin"}}}};
  Plan plan = testing::to_plan(t, v2_catalog(), "b:1");
  const ContainerSpec& ssh = find(plan.services, "decnet_t_6237656b_web-ssh");
  EXPECT_EQ(ssh.env, (std::map<std::string, std::string>{
                         {"HOSTNAME", "web"}, {"NODE_NAME", "web"}, {"SSH_USER", "admin"}}));
  EXPECT_EQ(ssh.cap_add, std::vector<std::string>{"NET_BIND_SERVICE"});
  json body = ssh.create_body();
  EXPECT_EQ(body["HostConfig"]["CapAdd"], json::array({"NET_BIND_SERVICE"}));
  EXPECT_EQ(body["HostConfig"]["Binds"],
            json::array({"/var/lib/decnet/artifacts/web/ssh:/var/lib/systemd/coredump:rw"}));
  // Without service_config the master's default applies.
  const ContainerSpec& gw_ssh = find(plan.services, "decnet_t_6237656b_gw-ssh");
  EXPECT_EQ(gw_ssh.env.at("SSH_USER"), "ubuntu");
}

TEST(PlanTopology, ChangingOneServiceConfigValueChangesOnlyThatServicesContainer) {
  json a = gateway_topology();
  a["deckies"][1]["decky_config"]["service_config"] = {{"ssh", {{"user", "admin"}}}};
  json b = a;
  b["deckies"][1]["decky_config"]["service_config"]["ssh"]["user"] = "root";
  EXPECT_EQ(
      changed(testing::to_plan(a, v2_catalog(), "b:1"), testing::to_plan(b, v2_catalog(), "b:1")),
      (std::vector<std::string>{"decnet_t_6237656b_web-ssh"}));
}

TEST(PlanTopology, ANonAsciiLanNameIsLowerCasedIntoTheNetworkName) {
  json t = topology();
  t["lans"][1]["name"] = "Büro LAN";
  t["deckies"][0]["decky_config"]["ips_by_lan"] = {{"DMZ", "10.0.0.2"}, {"Büro LAN", "10.1.0.2"}};
  Plan plan = testing::to_plan(t, catalog(), "b:1");
  EXPECT_EQ(plan.networks[1].name, "decnet_t_6237656b_büro lan");
  EXPECT_EQ(plan.networks[1].lan, "Büro LAN");
}

}  // namespace
}  // namespace edge::docker

namespace edge::docker {
namespace {

// plan_bytes_bound() is what an apply charges against --max-memory before it
// plans: it must hold the plan, and not by so much that a topology that
// fits is refused. Measured with glibc's counters, so not under sanitizers
// (their allocators keep their own books).
TEST(PlanBound, BoundsThePlansHeapWithTheDecnetCatalogWithinTwiceIt) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "glibc's malloc counters are not kept under a sanitizer's allocator";
#else
  auto catalog =
      load_service_catalog(std::string(EDGE_SOURCE_DIR) + "/packaging/services.decnet.json");
  ASSERT_TRUE(catalog) << catalog.error().message();
  testing::TopologyShape shape;
  shape.lans = 4;
  shape.deckies = 180;  // IPs .10 to .189: below the bridges' .200 and up
  shape.service = "ssh";
  json t = testing::make_topology(shape);
  for (auto& d : t["deckies"]) {
    d["services"] = {"ssh", "http", "smb", "mysql", "telnet"};
    d["decky_config"]["service_config"]["ssh"] = {{"hostname", "host-" + std::string(40, 'h')}};
  }
  auto valid = testing::to_valid(t, *catalog);
  ASSERT_TRUE(valid);
  const PlanOptions options{"edge-agent-test/busybox:latest", testing::kTestOwner};
  const std::size_t bound = plan_bytes_bound(*valid, *catalog, options);

  auto heap = [] {
    const struct mallinfo2 mi = ::mallinfo2();
    return mi.uordblks + mi.hblkhd;
  };
  const std::size_t before = heap();
  Plan plan = plan_topology(*valid, *catalog, options);
  const std::size_t used = heap() - before;
  ASSERT_EQ(plan.services.size(), 5 * t["deckies"].size());
  EXPECT_GE(bound, used);
  EXPECT_LE(bound, 2 * used);
#endif
}

}  // namespace
}  // namespace edge::docker
