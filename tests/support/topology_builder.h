#pragma once
// Builds valid hydrated topologies for tests: a DMZ LAN plus `lans - 1`
// internal LANs, each joined to the DMZ by a bridge decky on both, and
// `deckies` deckies spread over the LANs, with the master's volatile keys.

#include <nlohmann/json.hpp>
#include <string>

namespace edge::testing {

struct TopologyShape {
  std::string id = "0badc0de-1111-4222-8333-444455556666";
  int lans = 2;
  int deckies = 3;        // plain deckies, besides the bridges
  int subnet_base = 231;  // 10.<subnet_base>.<lan>.0/24
  std::string service;    // "" = no services; else every plain decky runs it
};

inline nlohmann::json make_topology(const TopologyShape& s) {
  using nlohmann::json;
  json t;
  t["topology"] = {{"id", s.id},
                   {"name", "test"},
                   {"mode", "agent"},
                   {"target_host_uuid", "h1"},
                   {"status", "deploying"},
                   {"version", 7}};
  auto subnet = [&](int lan) {
    return "10." + std::to_string(s.subnet_base) + "." + std::to_string(lan);
  };
  json lans = json::array();
  for (int i = 0; i < s.lans; ++i) {
    lans.push_back({{"id", "l" + std::to_string(i)},
                    {"name", i == 0 ? "DMZ" : "lan" + std::to_string(i)},
                    {"subnet", subnet(i) + ".0/24"},
                    {"is_dmz", i == 0},
                    {"x", 10 * i},
                    {"y", 5},
                    {"created_at", "2026-04-21T00:00:00+00:00"}});
  }
  json deckies = json::array();
  json edges = json::array();
  auto lan_name = [&](int i) { return lans[i]["name"].get<std::string>(); };
  int edge_no = 0;
  for (int i = 1; i < s.lans; ++i) {  // bridges
    std::string uuid = "b" + std::to_string(i);
    deckies.push_back({{"uuid", uuid},
                       {"name", "bridge-" + std::to_string(i)},
                       {"services", json::array()},
                       {"decky_config",
                        {{"ips_by_lan",
                          {{lan_name(0), subnet(0) + "." + std::to_string(200 + i)},
                           {lan_name(i), subnet(i) + ".200"}}},
                         {"forwards_l3", true},
                         {"service_config", json::object()}}},
                       {"state", "pending"},
                       {"x", 1},
                       {"y", 2},
                       {"last_error", nullptr}});
    edges.push_back({{"id", "e" + std::to_string(edge_no++)},
                     {"decky_uuid", uuid},
                     {"lan_id", "l0"},
                     {"is_bridge", true},
                     {"forwards_l3", true}});
    edges.push_back({{"id", "e" + std::to_string(edge_no++)},
                     {"decky_uuid", uuid},
                     {"lan_id", "l" + std::to_string(i)},
                     {"is_bridge", true},
                     {"forwards_l3", true}});
  }
  for (int d = 0; d < s.deckies; ++d) {
    int lan = d % s.lans;
    std::string uuid = "d" + std::to_string(d);
    json services = s.service.empty() ? json::array() : json::array({s.service});
    deckies.push_back(
        {{"uuid", uuid},
         {"name", "decky-" + std::to_string(d)},
         {"services", services},
         {"decky_config",
          {{"ips_by_lan", {{lan_name(lan), subnet(lan) + "." + std::to_string(10 + d)}}},
           {"forwards_l3", false},
           {"service_config", json::object()},
           {"weight", 0.25}}},
         {"state", "pending"},
         {"x", d},
         {"y", d},
         {"last_error", nullptr}});
    edges.push_back({{"id", "e" + std::to_string(edge_no++)},
                     {"decky_uuid", uuid},
                     {"lan_id", "l" + std::to_string(lan)},
                     {"is_bridge", false},
                     {"forwards_l3", false}});
  }
  t["lans"] = lans;
  t["deckies"] = deckies;
  t["edges"] = edges;
  return t;
}

}  // namespace edge::testing
