#include "agent/validate.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "tests/support/model.h"
#include "tests/support/topology_builder.h"

namespace edge {
namespace {

using nlohmann::json;
using testing::make_topology;
using testing::TopologyShape;

docker::ServiceCatalog catalog() { return {{"http", {.image = "img:1"}}}; }

ValidationIssues issues_of(const json& t) {
  auto v = validate_topology(testing::to_topology(t), catalog());
  return v ? ValidationIssues{} : v.error();
}

std::vector<std::string> codes(const json& t) {
  std::vector<std::string> out;
  for (const auto& i : issues_of(t)) out.push_back(i.code);
  return out;
}

// The 422 side: read_topology's message for a document of the wrong shape.
std::string shape_error(const json& t) {
  const std::string text = t.dump();
  auto tree = JsonTree::parse(text, JsonTree::Duplicates::kReject);
  EXPECT_TRUE(tree.ok());
  auto r = read_topology(tree->root());
  EXPECT_FALSE(r.ok());
  return r ? "" : r.error().message();
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
  auto issues = issues_of(t);
  auto it =
      std::find_if(issues.begin(), issues.end(), [](auto& i) { return i.code == "DMZ_ORPHAN"; });
  EXPECT_EQ(it->message, "LAN(s) have no bridge path to the DMZ: 'lan1'");
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
  t["lans"][1]["name"] = "a/b";
  auto issues = issues_of(t);
  EXPECT_EQ(
      std::count_if(issues.begin(), issues.end(), [](auto& i) { return i.code == "NAME_INVALID"; }),
      2);
}

TEST(Validate, NamesTheMastersValidatorAcceptsAndDockerRunsAreAccepted) {
  auto t = make_topology({});
  t["lans"][1]["name"] = "Büro LAN";
  t["deckies"][1]["name"] = std::string(64, 'd');
  t["deckies"][2]["name"] = "-edge";
  t["deckies"][3]["name"] = ".hidden";
  // ips_by_lan is keyed by LAN name: follow the rename.
  for (auto& d : t["deckies"]) {
    auto& ips = d["decky_config"]["ips_by_lan"];
    if (ips.contains("lan1")) {
      ips["Büro LAN"] = ips["lan1"];
      ips.erase("lan1");
    }
  }
  EXPECT_EQ(codes(t), std::vector<std::string>{});
  t["lans"][1]["name"] = std::string(65, 'l');
  EXPECT_TRUE(has(codes(t), "NAME_INVALID"));
  EXPECT_TRUE(is_valid_lan_name("Büro LAN"));
  EXPECT_FALSE(is_valid_lan_name("a\tb"));
  EXPECT_FALSE(is_valid_lan_name(std::string(1, '\x7f')));
  EXPECT_TRUE(is_valid_lan_name("日本語のネットワーク"));
  EXPECT_TRUE(is_valid_decky_name(std::string(64, 'a')));
  EXPECT_FALSE(is_valid_decky_name(std::string(65, 'a')));
  EXPECT_FALSE(is_valid_decky_name("a b"));
  EXPECT_FALSE(is_valid_decky_name(".."));  // a volume's {decky} must not climb
  EXPECT_FALSE(is_valid_decky_name("."));
  EXPECT_TRUE(is_valid_decky_name("..."));
}

TEST(Validate, LanNamesEqualOnceLowerCasedAreDuplicatesBeyondAscii) {
  auto t = make_topology({});
  t["lans"][0]["name"] = "BÜRO";
  t["lans"][1]["name"] = "büro";
  for (auto& d : t["deckies"]) {
    auto& ips = d["decky_config"]["ips_by_lan"];
    for (auto [from, to] : {std::pair{"DMZ", "BÜRO"}, std::pair{"lan1", "büro"}}) {
      if (ips.contains(from)) {
        ips[to] = ips[from];
        ips.erase(from);
      }
    }
  }
  EXPECT_EQ(codes(t), std::vector<std::string>{"LAN_NAME_DUP"});
}

TEST(Validate, ReservedAddressSpaceIsSubnetReserved) {
  for (const char* subnet : {"127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/24", "0.0.0.0/8",
                             "240.0.0.0/8", "127.5.0.0/16"}) {
    auto t = make_topology({});
    t["lans"][1]["subnet"] = subnet;
    auto c = codes(t);
    EXPECT_TRUE(has(c, "SUBNET_RESERVED")) << subnet;
  }
}

TEST(Validate, AValueQuotedInAMessageIsAShortEscapedExcerpt) {
  auto t = make_topology({});
  t["topology"]["id"] = std::string(100000, 'x') + "\n";
  auto issues = issues_of(t);
  ASSERT_FALSE(issues.empty());
  EXPECT_LT(issues.begin()->message.size(), 300u);
  EXPECT_EQ(issues.begin()->message.find('\n'), std::string::npos);
}

TEST(Validate, ServiceConfigMustBeObjectsOfScalars) {
  auto t = make_topology({});
  t["deckies"][1]["services"] = {"http"};
  t["deckies"][1]["decky_config"]["service_config"] = {{"http", {{"port", json::array({1})}}}};
  EXPECT_EQ(codes(t), std::vector<std::string>{"SERVICE_CFG_INVALID"});
  t["deckies"][1]["decky_config"]["service_config"] = {{"http", "x"}};
  EXPECT_EQ(codes(t), std::vector<std::string>{"SERVICE_CFG_INVALID"});
  t["deckies"][1]["decky_config"]["service_config"] = {
      {"http", {{"port", 80}, {"on", true}, {"name", "x"}, {"none", nullptr}}}};
  EXPECT_EQ(codes(t), std::vector<std::string>{});
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
}

TEST(ReadTopology, WrongTypesAreShapeErrorsWithTheirPathsNotACrash) {
  auto t = make_topology({});
  t["lans"] = "nope";
  t["deckies"][0] = 5;
  t["edges"][0]["decky_uuid"] = json::array();
  t["topology"].erase("id");
  const std::string e = shape_error(t);
  EXPECT_NE(e.find("hydrated.lans must be a list, got string"), std::string::npos) << e;
  EXPECT_NE(e.find("hydrated.deckies[0] must be an object, got number"), std::string::npos) << e;
  EXPECT_NE(e.find("hydrated.edges[0].decky_uuid must be a string, got array"), std::string::npos)
      << e;
  EXPECT_NE(e.find("hydrated.topology.id is missing"), std::string::npos) << e;
}

TEST(ReadTopology, ADeckyWithoutDeckyConfigIsAShapeError) {
  auto t = make_topology({});
  t["deckies"][1].erase("decky_config");
  EXPECT_NE(shape_error(t).find("hydrated.deckies[1].decky_config is missing"), std::string::npos);
}

TEST(ReadTopology, VolatileKeysStayInTheModelButNotInTheHash) {
  auto t = make_topology({});
  t["deckies"][1]["services"] = {"ssh"};
  t["deckies"][1]["decky_config"]["service_config"] = {{"ssh", {{"version", "OpenSSH_9"}}}};
  Topology model = testing::to_topology(t);
  EXPECT_EQ(model.deckies[1].service_config.at("ssh").at("version"), "OpenSSH_9");
  auto u = t;
  u["deckies"][1]["decky_config"]["service_config"]["ssh"]["version"] = "OpenSSH_8";
  EXPECT_EQ(canonical_hash(t.dump()).text, canonical_hash(u.dump()).text);
}

TEST(ReadTopology, ScalarsRenderAsTheMasterPrintsThem) {
  auto t = make_topology({});
  t["deckies"][1]["services"] = {"http"};
  const std::string text =
      R"({"http": {"b": true, "f": false, "i": 42, "x": 1e16, "y": 0.5, "s": "é"}})";
  t["deckies"][1]["decky_config"]["service_config"] = json::parse(text);
  auto cfg = testing::to_topology(t).deckies[1].service_config.at("http");
  EXPECT_EQ(cfg.at("b"), "true");
  EXPECT_EQ(cfg.at("f"), "false");
  EXPECT_EQ(cfg.at("i"), "42");
  EXPECT_EQ(cfg.at("x"), "1e+16");
  EXPECT_EQ(cfg.at("y"), "0.5");
  EXPECT_EQ(cfg.at("s"), "é");
}

TEST(Validate, EveryIssueIsListedInOneDetail) {
  ValidationIssues issues{{"DMZ_MISSING", "no LAN is marked is_dmz=true"},
                          {"UNKNOWN_SERVICE", "decky 'a': unknown service 'x'"}};
  EXPECT_EQ(format_validation_detail(issues),
            "2 topology validation error(s): [DMZ_MISSING] no LAN is marked is_dmz=true; "
            "[UNKNOWN_SERVICE] decky 'a': unknown service 'x'");
}

TEST(Validate, ATopologyWithAnIssuePerDeckyKeepsFiftyAndNamesEveryOtherCodeWithItsCount) {
  TopologyShape s;
  s.deckies = 200;
  s.service = "telnet";  // not in the catalog: one UNKNOWN_SERVICE per decky
  json t = make_topology(s);
  // Edges are checked after the deckies: this code comes past the kept fifty.
  t["edges"].push_back({{"id", "e-x"}, {"decky_uuid", "nobody"}, {"lan_id", "l0"}});
  const ValidationIssues issues = issues_of(t);
  EXPECT_EQ(issues.size(), 201u);
  EXPECT_EQ(std::distance(issues.begin(), issues.end()), 50);
  const std::string d = format_validation_detail(issues);
  EXPECT_EQ(d.rfind("201 topology validation error(s): [UNKNOWN_SERVICE] ", 0), 0u)
      << d.substr(0, 200);
  EXPECT_EQ(d.substr(d.find("; and ")),
            "; and 151 more: EDGE_UNKNOWN_DECKY x 1, UNKNOWN_SERVICE x 150");
}

TEST(Validate, DeckyNamesAreNarrow) {
  EXPECT_TRUE(is_valid_decky_name("decky-01_a.b"));
  EXPECT_FALSE(is_valid_decky_name(""));
  EXPECT_FALSE(is_valid_decky_name("a/b"));
  EXPECT_FALSE(is_valid_decky_name(std::string("a\0b", 3)));
}

}  // namespace
}  // namespace edge
