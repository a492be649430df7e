#include "common/flat_map.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace edge {
namespace {

using Map = FlatMap<std::string, std::string>;

std::vector<std::string> keys(const Map& m) {
  std::vector<std::string> out;
  for (const auto& [k, v] : m) out.push_back(k);
  return out;
}

TEST(FlatMapTest, IteratesInKeyOrderWhateverTheInsertionOrder) {
  Map m;
  m.emplace("lan2", "10.0.2.5");
  m.emplace("DMZ", "10.0.0.5");
  m.emplace("lan1", "10.0.1.5");
  EXPECT_EQ(keys(m), (std::vector<std::string>{"DMZ", "lan1", "lan2"}));
}

TEST(FlatMapTest, EmplaceKeepsTheFirstValueOfAKeyAsStdMapDoes) {
  Map m;
  EXPECT_TRUE(m.emplace("a", "1").second);
  auto [it, inserted] = m.emplace("a", "2");
  EXPECT_FALSE(inserted);
  EXPECT_EQ(it->second, "1");
  EXPECT_EQ(m.size(), 1u);
}

TEST(FlatMapTest, FindsByStringViewAndSaysWhenAKeyIsAbsent) {
  Map m{{"ssh", "22"}, {"http", "80"}};
  EXPECT_EQ(m.find(std::string_view("ssh"))->second, "22");
  EXPECT_EQ(m.find(std::string_view("ftp")), m.end());
  EXPECT_TRUE(m.contains(std::string_view("http")));
  EXPECT_EQ(m.count(std::string_view("smb")), 0u);
  EXPECT_EQ(m.at(std::string_view("http")), "80");
  EXPECT_THROW((void)m.at(std::string_view("smb")), std::out_of_range);
}

TEST(FlatMapTest, SubscriptInsertsADefaultOnceAndReturnsTheSameSlot) {
  FlatMap<std::string, Map> nested;
  nested["ssh"].emplace("version", "OpenSSH_9");
  nested["ssh"].emplace("port", "22");
  nested["http"];
  EXPECT_EQ(nested.size(), 2u);
  EXPECT_EQ(nested.at("ssh").size(), 2u);
  EXPECT_TRUE(nested.at("http").empty());
}

TEST(FlatMapTest, MapsWithTheSameEntriesAreEqualWhateverTheInsertionOrder) {
  Map a{{"x", "1"}, {"y", "2"}};
  Map b{{"y", "2"}, {"x", "1"}};
  EXPECT_EQ(a, b);
  b["x"] = "3";
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace edge
