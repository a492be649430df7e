#pragma once
// The typed model of a hydrated topology (DESIGN §3): what the master pushes,
// read once from the request body. agent/ builds it (topology_model.h) and
// validates it (validate.h); docker_obs/ maps a ValidTopology to Docker
// objects (plan.h). Plain values, no behaviour.

#include <string>
#include <utility>
#include <vector>

#include "common/flat_map.h"

namespace edge {

struct Lan {
  std::string id;
  std::string name;    // any text up to 64 characters without '/' or controls
  std::string subnet;  // CIDR, as sent
  bool is_dmz = false;
  bool operator==(const Lan&) const = default;
};

struct Decky {
  std::string uuid;
  std::string name;
  std::vector<std::string> services;             // in the master's order
  FlatMap<std::string, std::string> ips_by_lan;  // LAN name -> IPv4, as sent
  bool forwards_l3 = false;                      // a gateway decky
  // decky_config.service_config: service -> key -> the scalar rendered as
  // text (a bool "true"/"false", a number as Python's json prints it, a
  // string as is); nulls are absent.
  FlatMap<std::string, FlatMap<std::string, std::string>> service_config;
  // service_config entries that are not objects of scalars, as read; the
  // validator reports each as SERVICE_CFG_INVALID.
  std::vector<std::string> bad_service_config;
  bool operator==(const Decky&) const = default;
};

struct Edge {
  std::string decky_uuid;
  std::string lan_id;
  bool operator==(const Edge&) const = default;
};

struct Topology {
  std::string id;
  std::vector<Lan> lans;
  std::vector<Decky> deckies;
  std::vector<Edge> edges;
  bool operator==(const Topology&) const = default;
};

// A Topology that passed validate_topology() (agent/validate.h): only that
// function makes one, so whoever holds one holds a checked topology.
class ValidTopology {
 public:
  const Topology& get() const { return topology_; }
  const Topology* operator->() const { return &topology_; }

 private:
  friend class TopologyValidator;  // agent/validate.cpp
  explicit ValidTopology(Topology t) : topology_(std::move(t)) {}
  Topology topology_;
};

}  // namespace edge
