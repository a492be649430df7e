// The example catalog packaging/services.decnet.json against the facts about
// the DECNET master's 29 services (tests/vectors/decnet_services.json, a copy
// of the master's registry facts): what the agent builds from the catalog
// must be what the master's compose generator builds.

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "docker_obs/catalog.h"

namespace edge::docker {
namespace {

using nlohmann::json;

constexpr const char* kDecky = "web-1";
constexpr const char* kBaitRoot = "/var/lib/decnet/bait/";

json read_json(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in) << "cannot open " << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return json::parse(ss.str(), nullptr, false);
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
  return s;
}

class DecnetCatalog : public ::testing::Test {
 protected:
  void SetUp() override {
    facts_ = read_json(std::string(EDGE_TEST_VECTORS) + "/decnet_services.json")["services"];
    ASSERT_TRUE(facts_.is_object());
    auto loaded =
        load_service_catalog(std::string(EDGE_SOURCE_DIR) + "/packaging/services.decnet.json");
    ASSERT_TRUE(loaded.ok()) << loaded.error().message();
    catalog_ = std::move(*loaded);
  }
  json facts_;
  ServiceCatalog catalog_;
};

TEST_F(DecnetCatalog, HasAnEntryForExactlyTheMastersTwentyNineServices) {
  std::vector<std::string> want, have;
  for (const auto& [name, f] : facts_.items()) want.push_back(name);
  for (const auto& [name, spec] : catalog_) have.push_back(name);
  EXPECT_EQ(want.size(), 29u);
  EXPECT_EQ(have, want);
}

TEST_F(DecnetCatalog, NamesEveryImageDecnetServiceAtTheMastersVersion) {
  for (const auto& [name, spec] : catalog_) {
    EXPECT_EQ(spec.image, "decnet/" + name + ":1.2.1");
  }
}

TEST_F(DecnetCatalog, RendersTheMastersEnvironmentForEveryServiceWithoutServiceConfig) {
  for (const auto& [name, f] : facts_.items()) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(catalog_.count(name));
    std::map<std::string, std::string> want;
    for (const auto& [var, value] : f["env_with_no_config"].items()) {
      want[var] = replace_all(value.get<std::string>(), "{decky}", kDecky);
    }
    EXPECT_EQ(render_env(catalog_.at(name), kDecky, name, {}), want);
  }
}

TEST_F(DecnetCatalog, MapsEveryConfigKeyOntoTheVariableTheMasterSets) {
  int checked = 0;
  for (const auto& [name, f] : facts_.items()) {
    ASSERT_TRUE(catalog_.count(name)) << name;
    const ServiceSpec& spec = catalog_.at(name);
    const auto bare = render_env(spec, kDecky, name, {});
    for (const auto& [key, c] : f["config_keys"].items()) {
      SCOPED_TRACE(name + "." + key);
      // A bool key sets its variable to "true"; any other key to the value.
      const bool is_bool = c["type"] == "bool";
      const std::string value = is_bool ? "true" : "value-of-" + key;
      auto env = render_env(spec, kDecky, name, {{key, value}});
      auto want = bare;
      for (const auto& [var, how] : c["sets_env"].items()) {
        want[var] = how == "<value>" ? value : how.get<std::string>();
        // The facts give a multi_enum's env as an example list; the value
        // itself is what a set key renders to.
        if (c["type"] == "multi_enum") want[var] = value;
        ++checked;
      }
      EXPECT_EQ(env, want);
    }
  }
  EXPECT_GT(checked, 40);
}

TEST_F(DecnetCatalog, PublishesThePortsCapsAndSingletonFlagOfTheFacts) {
  for (const auto& [name, f] : facts_.items()) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(catalog_.count(name));
    const ServiceSpec& spec = catalog_.at(name);
    EXPECT_EQ(spec.tcp_ports, f["tcp_ports"].get<std::vector<int>>());
    EXPECT_EQ(spec.udp_ports, f["udp_ports"].get<std::vector<int>>());
    EXPECT_EQ(spec.cap_add, f["cap_add"].get<std::vector<std::string>>());
    EXPECT_EQ(spec.singleton, f["fleet_singleton"].get<bool>());
  }
}

TEST_F(DecnetCatalog, MountsTheMastersVolumesWithTheBaitDirUnderVarLibDecnetBait) {
  for (const auto& [name, f] : facts_.items()) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(catalog_.count(name));
    auto have = render_volumes(catalog_.at(name), kDecky, name);
    auto want = f["volumes"].get<std::vector<std::string>>();
    ASSERT_EQ(have.size(), want.size());
    for (std::size_t i = 0; i < want.size(); ++i) {
      std::string w = replace_all(want[i], "{decky}", kDecky);
      const std::string bait = "{bait_dir}";
      if (w.rfind(bait, 0) == 0) {
        ASSERT_EQ(have[i].rfind(kBaitRoot, 0), 0u) << have[i];
        std::string host = have[i].substr(0, have[i].find(':'));
        w = host + w.substr(bait.size());
      }
      EXPECT_EQ(have[i], w);
    }
  }
}

}  // namespace
}  // namespace edge::docker
