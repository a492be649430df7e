#include "docker_obs/catalog.h"

#include <gtest/gtest.h>

namespace edge::docker {
namespace {

using nlohmann::json;

std::string parse_error(const json& doc) {
  ServiceCatalog catalog;
  std::string error;
  EXPECT_FALSE(parse_service_catalog(doc, &catalog, &error));
  return error;
}

TEST(ServiceCatalog, ParsesImageCommandAndEnvOfEveryEntry) {
  ServiceCatalog catalog;
  std::string error;
  ASSERT_TRUE(parse_service_catalog(json::parse(R"({
      "http": {"image": "nginx:1.25", "command": ["nginx", "-g", "daemon off;"],
               "env": {"A": "1", "B": ""}},
      "ssh": {"image": "busybox:latest"}})"),
                                    &catalog, &error))
      << error;
  ASSERT_EQ(catalog.size(), 2u);
  EXPECT_EQ(catalog.at("http").image, "nginx:1.25");
  EXPECT_EQ(catalog.at("http").command, (std::vector<std::string>{"nginx", "-g", "daemon off;"}));
  EXPECT_EQ(catalog.at("http").env, (std::map<std::string, std::string>{{"A", "1"}, {"B", ""}}));
  EXPECT_EQ(catalog.at("ssh").image, "busybox:latest");
  EXPECT_TRUE(catalog.at("ssh").command.empty());
  EXPECT_TRUE(catalog.at("ssh").env.empty());
}

TEST(ServiceCatalog, AnEmptyObjectIsAnEmptyCatalog) {
  ServiceCatalog catalog{{"stale", {"x", {}, {}}}};
  std::string error;
  ASSERT_TRUE(parse_service_catalog(json::object(), &catalog, &error));
  EXPECT_TRUE(catalog.empty());
}

TEST(ServiceCatalog, RejectsADocumentThatIsNotAnObject) {
  EXPECT_EQ(parse_error(json::array()),
            "service catalog must be a JSON object mapping service name to {\"image\", "
            "\"command\", \"env\"}, got array");
}

TEST(ServiceCatalog, RejectsAnEntryThatIsNotAnObjectNamingIt) {
  EXPECT_EQ(parse_error(json{{"http", "nginx"}}),
            "service catalog entry \"http\": must be an object, got string");
}

TEST(ServiceCatalog, RejectsAnEntryWithoutImageNamingIt) {
  EXPECT_EQ(parse_error(json{{"ftp", {{"command", {"x"}}}}}),
            "service catalog entry \"ftp\": \"image\" must be a non-empty string");
}

TEST(ServiceCatalog, RejectsANonStringImage) {
  EXPECT_EQ(parse_error(json{{"ftp", {{"image", 3}}}}),
            "service catalog entry \"ftp\": \"image\" must be a non-empty string");
}

TEST(ServiceCatalog, RejectsACommandThatIsNotAnArray) {
  EXPECT_EQ(parse_error(json{{"smb", {{"image", "a"}, {"command", "smbd -F"}}}}),
            "service catalog entry \"smb\": \"command\" must be an array of strings");
}

TEST(ServiceCatalog, RejectsACommandWithANonStringArgument) {
  EXPECT_EQ(parse_error(json{{"smb", {{"image", "a"}, {"command", {"smbd", 1}}}}}),
            "service catalog entry \"smb\": \"command\" must be an array of strings");
}

TEST(ServiceCatalog, RejectsEnvThatIsNotAnObject) {
  EXPECT_EQ(parse_error(json{{"rdp", {{"image", "a"}, {"env", {"A=1"}}}}}),
            "service catalog entry \"rdp\": \"env\" must be an object of string to string");
}

TEST(ServiceCatalog, RejectsANonStringEnvValueNamingTheVariable) {
  EXPECT_EQ(parse_error(json{{"rdp", {{"image", "a"}, {"env", {{"PORT", 3389}}}}}}),
            "service catalog entry \"rdp\": \"env\" value of \"PORT\" must be a string");
}

TEST(ServiceCatalog, RejectsAnEnvKeyContainingEquals) {
  EXPECT_EQ(parse_error(json{{"rdp", {{"image", "a"}, {"env", {{"A=B", "1"}}}}}}),
            "service catalog entry \"rdp\": \"env\" key \"A=B\" is not a variable name");
}

TEST(ServiceCatalog, LeavesTheOutputUntouchedOnFailure) {
  ServiceCatalog catalog{{"keep", {"img", {}, {}}}};
  std::string error;
  ASSERT_FALSE(parse_service_catalog(json{{"ok", {{"image", "a"}}}, {"bad", 1}}, &catalog, &error));
  ASSERT_EQ(catalog.size(), 1u);
  EXPECT_EQ(catalog.at("keep").image, "img");
}

}  // namespace
}  // namespace edge::docker
