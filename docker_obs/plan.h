#pragma once
// DESIGN §5: the Docker objects a hydrated topology maps to. Pure: no I/O.

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "docker_obs/catalog.h"

namespace edge::docker {

inline constexpr const char* kLabelTopologyId = "decnet.topology.id";
inline constexpr const char* kLabelDecky = "decnet.topology.decky";
inline constexpr const char* kLabelRole = "decnet.topology.role";  // base | service | lan
inline constexpr const char* kLabelSpec = "decnet.topology.spec";  // sha256 of the object's spec
inline constexpr const char* kLabelLan = "decnet.topology.lan";
inline constexpr const char* kLabelService = "decnet.topology.service_name";

struct NetworkSpec {
  std::string name;                           // decnet_t_<tid8>_<lan lowercased>
  std::string lan;                            // LAN name as in the topology
  std::string subnet;                         // CIDR
  bool internal = true;                       // false only for the DMZ
  std::map<std::string, std::string> labels;  // includes kLabelSpec
  nlohmann::json create_body() const;         // body for POST /networks/create
};

struct ContainerSpec {
  std::string name;  // decnet_t_<tid8>_<decky> or ..._<decky>-<service>
  std::string decky;
  std::string role;     // "base" | "service"
  std::string service;  // "" for base
  std::string image;
  std::vector<std::string> command;
  std::map<std::string, std::string> env;
  std::string hostname;  // base only
  // Base only: network name -> fixed IPv4 ("" = engine-assigned), in order.
  std::vector<std::pair<std::string, std::string>> networks;
  bool forwards_l3 = false;                   // base only: net.ipv4.ip_forward=1
  std::string network_mode;                   // service only: "container:<base name>"
  std::map<std::string, std::string> labels;  // includes kLabelSpec
  // Body for POST /containers/create?name=...: attaches only the FIRST
  // network; the rest go through POST /networks/{id}/connect (API < 1.44).
  nlohmann::json create_body() const;
};

struct Plan {
  std::string topology_id;
  std::vector<NetworkSpec> networks;
  std::vector<ContainerSpec> bases;
  std::vector<ContainerSpec> services;
};

// Maps a validated hydrated topology. Unknown services are skipped (validation
// rejects them before this is reached).
Plan plan_topology(const nlohmann::json& hydrated, const ServiceCatalog& catalog,
                   const std::string& base_image);

}  // namespace edge::docker
