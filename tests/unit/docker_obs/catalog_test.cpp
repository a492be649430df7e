#include "docker_obs/catalog.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace edge::docker {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// ServiceSpec has no default member initializers, so a designated initializer
// that leaves fields out trips -Wmissing-field-initializers: set fields by name.
ServiceSpec spec_of(std::string image) {
  ServiceSpec spec;
  spec.image = std::move(image);
  return spec;
}

// The refusal message for a catalog of one entry "svc" with `fields` added to
// a valid image.
std::string refusal(json fields) {
  json entry = {{"image", "img:1"}};
  for (const auto& [k, v] : fields.items()) entry[k] = v;
  auto parsed = parse_service_catalog(json{{"svc", entry}});
  EXPECT_FALSE(parsed.ok()) << "accepted " << entry.dump();
  return parsed.ok() ? std::string() : parsed.error().message();
}

ServiceSpec parsed_entry(json fields) {
  json entry = {{"image", "img:1"}};
  for (const auto& [k, v] : fields.items()) entry[k] = v;
  auto parsed = parse_service_catalog(json{{"svc", entry}});
  EXPECT_TRUE(parsed.ok()) << (parsed.ok() ? "" : parsed.error().message());
  return parsed.ok() ? parsed->at("svc") : ServiceSpec{};
}

TEST(ServiceCatalog, ParsesEveryV2KeyOfAnEntry) {
  auto parsed = parse_service_catalog(json::parse(R"({
      "ssh": {"image": "decnet/ssh:1.2.1", "command": ["sshd", "-D"],
              "tcp_ports": [22, 2222], "udp_ports": [53], "cap_add": ["NET_BIND_SERVICE"],
              "env": {"NODE_NAME": "{decky}", "SSH_USER": "{config.user:-ubuntu}"},
              "volumes": ["/var/lib/decnet/artifacts/{decky}/ssh:/var/lib/systemd/coredump:rw"],
              "singleton": true}})"));
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  ServiceSpec want{
      .image = "decnet/ssh:1.2.1",
      .command = {"sshd", "-D"},
      .env = {{"NODE_NAME", "{decky}"}, {"SSH_USER", "{config.user:-ubuntu}"}},
      .tcp_ports = {22, 2222},
      .udp_ports = {53},
      .cap_add = {"NET_BIND_SERVICE"},
      .volumes = {"/var/lib/decnet/artifacts/{decky}/ssh:/var/lib/systemd/coredump:rw"},
      .singleton = true,
  };
  EXPECT_EQ(parsed->at("ssh"), want);
}

TEST(ServiceCatalog, LoadsAV1CatalogWithPlainValuesUnchanged) {
  auto parsed = parse_service_catalog(json::parse(R"({
      "http": {"image": "nginx:1.25", "command": ["nginx", "-g", "daemon off;"],
               "env": {"A": "1", "B": ""}},
      "ssh": {"image": "busybox:latest"}})"));
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  ASSERT_EQ(parsed->size(), 2u);
  ServiceSpec http = spec_of("nginx:1.25");
  http.command = {"nginx", "-g", "daemon off;"};
  http.env = {{"A", "1"}, {"B", ""}};
  EXPECT_EQ(parsed->at("http"), http);
  EXPECT_EQ(parsed->at("ssh"), spec_of("busybox:latest"));
}

TEST(ServiceCatalog, TreatsAnOptionalKeySetToNullAsAbsent) {
  EXPECT_EQ(parsed_entry({{"command", nullptr}, {"env", nullptr}, {"tcp_ports", nullptr}}),
            spec_of("img:1"));
}

TEST(ServiceCatalog, AnEmptyObjectIsAnEmptyCatalog) {
  auto parsed = parse_service_catalog(json::object());
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE(parsed->empty());
}

TEST(ServiceCatalog, RefusesADocumentThatIsNotAnObject) {
  auto parsed = parse_service_catalog(json::array());
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.error().message().find("must be a JSON object"), std::string::npos);
}

TEST(ServiceCatalog, RefusesAnEntryThatIsNotAnObjectNamingIt) {
  auto parsed = parse_service_catalog(json{{"ok", {{"image", "a"}}}, {"bad", 1}});
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().message(),
            "service catalog entry \"bad\": must be an object, got number");
}

TEST(ServiceCatalog, RefusesAServiceNameThatCannotBePartOfAContainerName) {
  auto parsed = parse_service_catalog(json{{"my service", {{"image", "a"}}}});
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.error().message().find("\"my service\""), std::string::npos);
  EXPECT_NE(parsed.error().message().find("[A-Za-z0-9_.-]"), std::string::npos);
}

TEST(ServiceCatalog, RefusesAnEntryWithoutImageNamingTheEntryAndTheRule) {
  auto parsed = parse_service_catalog(json{{"ssh", {{"command", {"x"}}}}});
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().message(),
            "service catalog entry \"ssh\": \"image\" must be a non-empty string");
}

TEST(ServiceCatalog, RefusesAnEmptyOrNonStringImage) {
  EXPECT_NE(refusal({{"image", ""}}).find("\"image\" must be a non-empty string"),
            std::string::npos);
  EXPECT_NE(refusal({{"image", 5}}).find("\"image\" must be a non-empty string"),
            std::string::npos);
}

TEST(ServiceCatalog, RefusesAnUnknownKeyNamingIt) {
  std::string why = refusal({{"ports", {22}}});
  EXPECT_NE(why.find("service catalog entry \"svc\""), std::string::npos) << why;
  EXPECT_NE(why.find("unknown key \"ports\""), std::string::npos) << why;
}

TEST(ServiceCatalog, RefusesACommandThatIsNotAnArrayOfStrings) {
  EXPECT_NE(refusal({{"command", "sshd -D"}}).find("\"command\" must be an array of strings"),
            std::string::npos);
  EXPECT_NE(refusal({{"command", {"sshd", 1}}}).find("\"command\" must be an array of strings"),
            std::string::npos);
}

TEST(ServiceCatalog, RefusesEnvThatIsNotAnObject) {
  EXPECT_NE(refusal({{"env", {"A=1"}}}).find("\"env\" must be an object"), std::string::npos);
}

TEST(ServiceCatalog, RefusesAnEnvNameThatIsNotAVariableName) {
  for (const char* bad : {"A=B", "", "1ABC", "MY-VAR", "A B"}) {
    std::string why = refusal({{"env", {{bad, "x"}}}});
    EXPECT_NE(why.find("is not a variable name"), std::string::npos) << bad << ": " << why;
  }
}

TEST(ServiceCatalog, RefusesANonStringEnvValueNamingTheVariable) {
  std::string why = refusal({{"env", {{"PORT", 80}}}});
  EXPECT_NE(why.find("\"env\" value of \"PORT\" must be a string"), std::string::npos) << why;
}

TEST(ServiceCatalog, RefusesAnEnvTemplateWithAnUnknownPlaceholder) {
  std::string why = refusal({{"env", {{"X", "{hostname}"}}}});
  EXPECT_NE(why.find("\"env\" value of \"X\": unknown placeholder {hostname}"), std::string::npos)
      << why;
}

TEST(ServiceCatalog, RefusesAnEnvTemplateWithAnUnclosedBrace) {
  std::string why = refusal({{"env", {{"X", "a{decky"}}}});
  EXPECT_NE(why.find("is never closed"), std::string::npos) << why;
}

TEST(ServiceCatalog, RefusesAConfigPlaceholderWithoutAKey) {
  EXPECT_NE(refusal({{"env", {{"X", "{config.}"}}}}).find("has no valid KEY"), std::string::npos);
  EXPECT_NE(refusal({{"env", {{"X", "{config.:-d}"}}}}).find("has no valid KEY"),
            std::string::npos);
}

TEST(ServiceCatalog, RefusesAPortOutsideOneTo65535) {
  EXPECT_NE(refusal({{"tcp_ports", {0}}}).find("\"tcp_ports\": 0 is not a port"),
            std::string::npos);
  EXPECT_NE(refusal({{"udp_ports", {65536}}}).find("\"udp_ports\": 65536 is not a port"),
            std::string::npos);
  EXPECT_NE(refusal({{"tcp_ports", {-22}}}).find("is not a port"), std::string::npos);
}

TEST(ServiceCatalog, RefusesAPortThatIsNotAnInteger) {
  EXPECT_NE(refusal({{"tcp_ports", {"22"}}}).find("\"tcp_ports\" must be an array of integers"),
            std::string::npos);
  EXPECT_NE(refusal({{"tcp_ports", {22.5}}}).find("must be an array of integers"),
            std::string::npos);
  EXPECT_NE(refusal({{"udp_ports", 53}}).find("\"udp_ports\" must be an array"), std::string::npos);
}

TEST(ServiceCatalog, RefusesAPortListedTwice) {
  EXPECT_NE(refusal({{"tcp_ports", {22, 22}}}).find("lists 22 twice"), std::string::npos);
}

TEST(ServiceCatalog, AcceptsCapabilitiesWithAndWithoutThePrefix) {
  EXPECT_EQ(parsed_entry({{"cap_add", {"NET_BIND_SERVICE", "CAP_NET_RAW"}}}).cap_add,
            (std::vector<std::string>{"NET_BIND_SERVICE", "CAP_NET_RAW"}));
}

TEST(ServiceCatalog, RefusesACapabilityThatIsNotUpperCaseLettersAndUnderscores) {
  for (const char* bad : {"net_bind_service", "NET-ADMIN", "CAP_", "", "SYS ADMIN"}) {
    std::string why = refusal({{"cap_add", {bad}}});
    EXPECT_NE(why.find("is not a capability name"), std::string::npos) << bad << ": " << why;
  }
  EXPECT_NE(refusal({{"cap_add", {1}}}).find("\"cap_add\" must be an array of strings"),
            std::string::npos);
}

TEST(ServiceCatalog, AcceptsVolumesWithDeckyAndServicePlaceholdersAndAMode) {
  std::vector<std::string> vols = {"/srv/{decky}/{service}:/data", "/srv/x:/y:ro", "/a:/b:rw"};
  EXPECT_EQ(parsed_entry({{"volumes", vols}}).volumes, vols);
}

TEST(ServiceCatalog, RefusesAVolumeWithARelativeHostPath) {
  std::string why = refusal({{"volumes", {"data:/data"}}});
  EXPECT_NE(why.find("volume \"data:/data\" host side \"data\" must be an absolute path"),
            std::string::npos)
      << why;
  EXPECT_NE(refusal({{"volumes", {"{decky}/x:/data"}}}).find("must be an absolute path"),
            std::string::npos);
}

TEST(ServiceCatalog, RefusesAVolumeWithARelativeContainerPath) {
  EXPECT_NE(refusal({{"volumes", {"/srv:data"}}}).find("container side \"data\""),
            std::string::npos);
}

TEST(ServiceCatalog, RefusesAVolumeWithAnUnknownModeOrTooManyParts) {
  EXPECT_NE(refusal({{"volumes", {"/a:/b:rx"}}}).find("mode \"rx\" must be \"ro\" or \"rw\""),
            std::string::npos);
  EXPECT_NE(refusal({{"volumes", {"/a:/b:ro:z"}}}).find("must be \"host:container\""),
            std::string::npos);
  EXPECT_NE(refusal({{"volumes", {"/a"}}}).find("must be \"host:container\""), std::string::npos);
}

TEST(ServiceCatalog, RefusesAVolumeWithAConfigPlaceholder) {
  std::string why = refusal({{"volumes", {"/srv/{config.dir}:/data"}}});
  EXPECT_NE(why.find("takes only {decky} and {service}, not {config.dir}"), std::string::npos)
      << why;
}

TEST(ServiceCatalog, RefusesAVolumeWhoseHostPathClimbsWithDotDot) {
  EXPECT_NE(refusal({{"volumes", {"/srv/../etc:/data"}}}).find("must not contain \"..\""),
            std::string::npos);
}

TEST(ServiceCatalog, RefusesASingletonThatIsNotABool) {
  EXPECT_NE(refusal({{"singleton", "true"}}).find("\"singleton\" must be true or false"),
            std::string::npos);
}

TEST(ServiceCatalogRender, SubstitutesDeckyServiceAndConfigValues) {
  ServiceSpec spec = spec_of("i");
  spec.env = {{"NODE_NAME", "{decky}"},
              {"WHO", "{service}@{decky}"},
              {"USER", "{config.user}"},
              {"PLAIN", "1"}};
  EXPECT_EQ(render_env(spec, "web-1", "ssh", {{"user", "admin"}}),
            (std::map<std::string, std::string>{
                {"NODE_NAME", "web-1"}, {"WHO", "ssh@web-1"}, {"USER", "admin"}, {"PLAIN", "1"}}));
}

TEST(ServiceCatalogRender, UsesTheDefaultOnlyWhenTheConfigValueIsAbsent) {
  ServiceSpec spec = spec_of("i");
  spec.env = {{"U", "{config.user:-ubuntu}"}};
  EXPECT_EQ(render_env(spec, "d", "s", {}).at("U"), "ubuntu");
  EXPECT_EQ(render_env(spec, "d", "s", {{"user", "root"}}).at("U"), "root");
  EXPECT_EQ(render_env(spec, "d", "s", {{"user", ""}}).at("U"), "");
}

TEST(ServiceCatalogRender, AnEmptyDefaultRendersAnEmptyVariable) {
  ServiceSpec spec = spec_of("i");
  spec.env = {{"D", "{config.domain:-}"}};
  EXPECT_EQ(render_env(spec, "d", "s", {}), (std::map<std::string, std::string>{{"D", ""}}));
}

TEST(ServiceCatalogRender, LeavesOutAVariableWhosePlaceholderHasNoValueAndNoDefault) {
  ServiceSpec spec = spec_of("i");
  spec.env = {{"HOST", "{config.hostname}"}, {"PFX", "x-{config.p}"}, {"K", "v"}};
  EXPECT_EQ(render_env(spec, "d", "s", {}), (std::map<std::string, std::string>{{"K", "v"}}));
  EXPECT_EQ(render_env(spec, "d", "s", {{"p", "1"}}),
            (std::map<std::string, std::string>{{"PFX", "x-1"}, {"K", "v"}}));
}

TEST(ServiceCatalogRender, KeepsBracesThatAreNotPlaceholdersAndDefaultsWithColons) {
  auto parsed = parse_service_catalog(
      json{{"s", {{"image", "i"}, {"env", {{"J", "a}b"}, {"U", "{config.up:-8.8.8.8:53}"}}}}}});
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  EXPECT_EQ(render_env(parsed->at("s"), "d", "s", {}),
            (std::map<std::string, std::string>{{"J", "a}b"}, {"U", "8.8.8.8:53"}}));
}

TEST(ServiceCatalogRender, RendersVolumesInCatalogOrder) {
  ServiceSpec spec = spec_of("i");
  spec.volumes = {"/srv/{decky}/{service}:/data:rw", "/etc/x:/etc/x:ro"};
  EXPECT_EQ(render_volumes(spec, "web-1", "ftp"),
            (std::vector<std::string>{"/srv/web-1/ftp:/data:rw", "/etc/x:/etc/x:ro"}));
}

class LoadServiceCatalog : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/edge-catalog-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return (dir_ / name).string();
  }
  fs::path dir_;
};

TEST_F(LoadServiceCatalog, AnEmptyPathIsTheEmptyCatalog) {
  auto loaded = load_service_catalog("");
  ASSERT_TRUE(loaded.ok());
  EXPECT_TRUE(loaded->empty());
}

TEST_F(LoadServiceCatalog, ReadsAndParsesAFile) {
  auto loaded = load_service_catalog(write("c.json", R"({"http": {"image": "busybox"}})"));
  ASSERT_TRUE(loaded.ok()) << loaded.error().message();
  EXPECT_EQ(loaded->at("http").image, "busybox");
}

TEST_F(LoadServiceCatalog, NamesAMissingFileAndWhy) {
  std::string path = (dir_ / "nope.json").string();
  auto loaded = load_service_catalog(path);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error().message(),
            "cannot read the service catalog '" + path + "': No such file or directory");
}

TEST_F(LoadServiceCatalog, NamesAFileThatIsNotJson) {
  std::string path = write("bad.json", "{\"http\": ");
  auto loaded = load_service_catalog(path);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(
      loaded.error().message().rfind("the service catalog '" + path + "' is not valid JSON", 0), 0u)
      << loaded.error().message();
}

TEST_F(LoadServiceCatalog, NamesTheFileAndTheEntryOfARuleViolation) {
  std::string path = write("c.json", R"({"ssh": {"image": "i", "tcp_ports": [70000]}})");
  auto loaded = load_service_catalog(path);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error().message(), "'" + path +
                                          "': service catalog entry \"ssh\": \"tcp_ports\": 70000 "
                                          "is not a port (1-65535)");
}

}  // namespace
}  // namespace edge::docker
