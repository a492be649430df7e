// Reading a body into the typed model while the tree is given back
// (JsonTree::forget_before): the model must be the one read from the whole
// tree, whatever the document's member order.

#include "agent/topology_model.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "agent/canonical_json.h"
#include "tests/support/topology_builder.h"

namespace edge {
namespace {

using nlohmann::json;

Topology read_keeping(const std::string& text) {
  auto tree = JsonTree::parse(text, JsonTree::Duplicates::kReject);
  EXPECT_TRUE(tree.ok());
  auto t = read_topology(tree->root());
  EXPECT_TRUE(t.ok()) << t.error().message();
  return t ? std::move(t).value() : Topology{};
}

Topology read_forgetting(const std::string& text) {
  auto tree = JsonTree::parse(text, JsonTree::Duplicates::kReject);
  EXPECT_TRUE(tree.ok());
  auto t = read_topology(tree->root(), &*tree);
  EXPECT_TRUE(t.ok()) << t.error().message();
  return t ? std::move(t).value() : Topology{};
}

// Large enough that the deckies' nodes span many pages (forget_before gives
// pages back 64 KiB at a time), with service_config, escapes and numbers.
json big_topology() {
  testing::TopologyShape s;
  s.lans = 4;
  s.deckies = 2000;
  s.service = "ssh";
  json t = testing::make_topology(s);
  int i = 0;
  for (auto& d : t["deckies"]) {
    d["decky_config"]["service_config"]["ssh"] = {
        {"version", "OpenSSH_9." + std::to_string(i)},
        {"banner", "w\u00e9lcome \"" + std::to_string(i) + "\"\n"},
        {"port", 22 + i},
        {"weight", 0.5 + i},
        {"strict", i % 2 == 0}};
    d["note"] = std::string(200, 'n');  // not read into the model
    ++i;
  }
  return t;
}

TEST(TopologyModel, ForgettingTheTreeWhileReadingGivesTheSameModel) {
  const std::string text = big_topology().dump();
  ASSERT_GT(text.size(), 1'000'000u);
  const Topology kept = read_keeping(text);
  ASSERT_EQ(kept.deckies.size(), 2003u);
  EXPECT_EQ(read_forgetting(text), kept);
}

TEST(TopologyModel, ForgettingWorksWhateverOrderTheTopLevelMembersComeIn) {
  const json t = big_topology();
  // deckies before lans and topology, edges first: the model reads lans and
  // topology after the deckies' part of the tree was given back.
  const std::string text = R"({"edges":)" + t["edges"].dump() + R"(,"deckies":)" +
                           t["deckies"].dump() + R"(,"lans":)" + t["lans"].dump() +
                           R"(,"topology":)" + t["topology"].dump() + "}";
  EXPECT_EQ(read_forgetting(text), read_keeping(t.dump()));
}

TEST(TopologyModel, TheHashOfTheBodyIsTheHashOfItsText) {
  // read_apply_request hashes, then reads while forgetting: the hash is the
  // one canonical_hash() gives for the same text.
  const std::string hydrated = big_topology().dump();
  const std::string hash = canonical_hash(hydrated).text;
  auto req =
      read_apply_request(R"({"hydrated":)" + hydrated + R"(,"version_hash":")" + hash + "\"}");
  ASSERT_TRUE(req) << req.error().message();
  EXPECT_TRUE(req->hash_matches());
  EXPECT_EQ(req->topology, read_keeping(hydrated));
}

}  // namespace
}  // namespace edge
