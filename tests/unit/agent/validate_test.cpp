#include "agent/validate.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "tests/support/topology_builder.h"

namespace edge {
namespace {

using nlohmann::json;
using testing::make_topology;
using testing::TopologyShape;

docker::ServiceCatalog catalog() {
  docker::ServiceCatalog c;
  c["http"].image = "img:1";
  return c;
}

std::vector<std::string> codes(const json& t) {
  std::vector<std::string> out;
  for (const auto& i : validate_topology(t, catalog())) out.push_back(i.code);
  return out;
}

bool has(const std::vector<std::string>& v, const std::string& code) {
  return std::find(v.begin(), v.end(), code) != v.end();
}

TEST(Validate, AWellFormedTopologyHasNoIssues) {
  TopologyShape s;
  s.lans = 3;
  s.deckies = 5;
  s.service = "http";
  EXPECT_EQ(codes(make_topology(s)), std::vector<std::string>{});
}

TEST(Validate, NoDmzIsDmzMissing) {
  auto t = make_topology({});
  t["lans"][0]["is_dmz"] = false;
  EXPECT_TRUE(has(codes(t), "DMZ_MISSING"));
}

TEST(Validate, TwoDmzLansIsDmzMultiple) {
  auto t = make_topology({});
  t["lans"][1]["is_dmz"] = true;
  EXPECT_TRUE(has(codes(t), "DMZ_MULTIPLE"));
}

TEST(Validate, ALanWithoutABridgePathIsDmzOrphan) {
  auto t = make_topology({});
  // Drop the bridge decky's second edge: lan1 is cut off from the DMZ.
  auto& edges = t["edges"];
  edges.erase(edges.begin() + 1);
  auto c = codes(t);
  EXPECT_TRUE(has(c, "DMZ_ORPHAN"));
  auto issues = validate_topology(t, catalog());
  auto it =
      std::find_if(issues.begin(), issues.end(), [](auto& i) { return i.code == "DMZ_ORPHAN"; });
  EXPECT_EQ(it->message, "LAN(s) have no bridge path to the DMZ: lan1");
}

TEST(Validate, DuplicateNamesAreReported) {
  auto t = make_topology({});
  t["lans"][1]["name"] = "dmz";  // differs only in case from "DMZ": same network name
  t["deckies"][2]["name"] = t["deckies"][1]["name"];
  auto c = codes(t);
  EXPECT_TRUE(has(c, "LAN_NAME_DUP"));
  EXPECT_TRUE(has(c, "DECKY_NAME_DUP"));
}

TEST(Validate, NamesThatCannotBeDockerNamesAreNameInvalid) {
  auto t = make_topology({});
  t["deckies"][1]["name"] = "../../etc";
  t["lans"][1]["name"] = "a b";
  auto issues = validate_topology(t, catalog());
  EXPECT_EQ(
      std::count_if(issues.begin(), issues.end(), [](auto& i) { return i.code == "NAME_INVALID"; }),
      2);
}

TEST(Validate, ADeckyWithNoEdgeIsDeckyOrphan) {
  auto t = make_topology({});
  auto& edges = t["edges"];
  edges.erase(edges.end() - 1);
  EXPECT_TRUE(has(codes(t), "DECKY_ORPHAN"));
}

TEST(Validate, IpProblemsEachHaveTheirCode) {
  auto t = make_topology({});
  auto& d = t["deckies"];
  d[1]["decky_config"]["ips_by_lan"] = {{"DMZ", "10.231.5.10"}};      // out of subnet
  d[2]["decky_config"]["ips_by_lan"] = {{"lan1", "10.231.1.300"}};    // malformed
  d[3]["decky_config"]["ips_by_lan"] = {{"nowhere", "10.231.0.12"}};  // unknown LAN
  t["deckies"].push_back(d[1]);
  t["deckies"].back()["name"] = "decky-x";
  t["deckies"].back()["uuid"] = "dx";
  t["deckies"].back()["decky_config"]["ips_by_lan"] = {{"DMZ", "10.231.0.1"}};  // gateway
  auto c = codes(t);
  EXPECT_TRUE(has(c, "IP_OUT_OF_SUBNET"));
  EXPECT_TRUE(has(c, "IP_MALFORMED"));
  EXPECT_TRUE(has(c, "IP_UNKNOWN_LAN"));
  EXPECT_TRUE(has(c, "IP_RESERVED"));
}

TEST(Validate, TheSameIpTwiceInOneLanIsIpCollision) {
  auto t = make_topology({});
  t["deckies"][3]["decky_config"]["ips_by_lan"] = t["deckies"][1]["decky_config"]["ips_by_lan"];
  EXPECT_TRUE(has(codes(t), "IP_COLLISION"));
}

TEST(Validate, SubnetProblemsAreMalformedOrOverlap) {
  auto t = make_topology({});
  t["lans"][1]["subnet"] = "10.231.0.128/25";  // inside the DMZ's /24
  EXPECT_TRUE(has(codes(t), "SUBNET_OVERLAP"));
  t["lans"][1]["subnet"] = "10.231.1.5/24";  // host bits set
  EXPECT_TRUE(has(codes(t), "SUBNET_MALFORMED"));
}

TEST(Validate, AServiceMissingFromTheCatalogIsUnknownService) {
  auto t = make_topology({});
  t["deckies"][1]["services"] = {"telnet"};
  EXPECT_TRUE(has(codes(t), "UNKNOWN_SERVICE"));
}

TEST(Validate, ServiceConfigForAnUndeclaredServiceIsReported) {
  auto t = make_topology({});
  t["deckies"][1]["decky_config"]["service_config"] = {{"http", {{"port", 80}}}};
  EXPECT_TRUE(has(codes(t), "SERVICE_CFG_UNDECLARED"));
}

TEST(Validate, ABadTopologyIdIsTopologyIdInvalid) {
  auto t = make_topology({});
  t["topology"]["id"] = "-rm -rf /";
  EXPECT_TRUE(has(codes(t), "TOPOLOGY_ID_INVALID"));
  t["topology"].erase("id");
  EXPECT_TRUE(has(codes(t), "TOPOLOGY_ID_INVALID"));
}

TEST(Validate, WrongTypesAreShapeInvalidNotACrash) {
  auto t = make_topology({});
  t["lans"] = "nope";
  t["deckies"][0] = 5;
  t["edges"][0]["decky_uuid"] = json::array();
  EXPECT_TRUE(has(codes(t), "SHAPE_INVALID"));
  EXPECT_TRUE(has(codes(json::array()), "SHAPE_INVALID"));
}

TEST(Validate, EveryIssueIsListedInOneDetail) {
  std::vector<ValidationIssue> issues{{"DMZ_MISSING", "no LAN is marked is_dmz=true"},
                                      {"UNKNOWN_SERVICE", "decky 'a': unknown service 'x'"}};
  EXPECT_EQ(format_validation_detail(issues),
            "2 topology validation error(s): [DMZ_MISSING] no LAN is marked is_dmz=true; "
            "[UNKNOWN_SERVICE] decky 'a': unknown service 'x'");
}

TEST(Validate, DockerSafeNamesAreNarrow) {
  EXPECT_TRUE(is_docker_safe_name("decky-01_a.b"));
  EXPECT_FALSE(is_docker_safe_name(""));
  EXPECT_FALSE(is_docker_safe_name("-x"));
  EXPECT_FALSE(is_docker_safe_name("a/b"));
  EXPECT_FALSE(is_docker_safe_name(std::string("a\0b", 3)));
  EXPECT_FALSE(is_docker_safe_name(std::string(64, 'a')));
}

}  // namespace
}  // namespace edge
