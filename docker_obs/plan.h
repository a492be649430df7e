#pragma once
// DESIGN §5: the Docker objects a validated topology maps to, as the master's
// compose generator means them. Pure: no I/O. Built once per apply (and once
// per watched topology) and handed to converge and to the observer.

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/topology.h"
#include "docker_obs/catalog.h"

namespace edge::docker {

inline constexpr const char* kLabelTopologyId = "decnet.topology.id";
inline constexpr const char* kLabelDecky = "decnet.topology.decky";
inline constexpr const char* kLabelRole = "decnet.topology.role";  // base | service | lan
inline constexpr const char* kLabelSpec = "decnet.topology.spec";  // sha256 of the object's spec
inline constexpr const char* kLabelLan = "decnet.topology.lan";
// The master's log collector finds honeypot containers by these two.
inline constexpr const char* kLabelService = "decnet.topology.service";  // "true"
inline constexpr const char* kLabelServiceName = "decnet.topology.service_name";
// The owner: this agent's identity (state dir's agent-id).
inline constexpr const char* kLabelOwner = "decnet.agent.id";

struct NetworkSpec {
  std::string name;                           // decnet_t_<tid8>_<lan lowercased>
  std::string lan;                            // LAN name as in the topology
  std::string subnet;                         // CIDR
  bool internal = true;                       // false only for the DMZ
  std::map<std::string, std::string> labels;  // includes kLabelSpec
  nlohmann::json create_body() const;         // body for POST /networks/create
};

struct PublishedPort {
  int port = 0;  // host port P -> container port P
  bool udp = false;
  bool operator<(const PublishedPort& o) const {
    return port != o.port ? port < o.port : udp < o.udp;
  }
  bool operator==(const PublishedPort&) const = default;
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
  std::vector<PublishedPort> ports;           // base of a gateway decky only
  std::vector<std::string> cap_add;           // base: NET_ADMIN; service: the catalog's
  std::vector<std::string> volumes;           // service only: binds "host:container[:mode]"
  std::string network_mode;                   // service only: "container:<base name>"
  std::map<std::string, std::string> labels;  // includes kLabelSpec and kLabelOwner
  // Body for POST /containers/create?name=...: attaches only the FIRST
  // network; the rest go through POST /networks/{id}/connect (API < 1.44).
  nlohmann::json create_body() const;
};

struct Plan {
  std::string topology_id;
  std::string owner;  // kLabelOwner of every object
  std::vector<NetworkSpec> networks;
  std::vector<ContainerSpec> bases;
  std::vector<ContainerSpec> services;
};

// What every object gets besides its own fields.
struct PlanOptions {
  std::string base_image = "busybox:latest";
  std::string owner;  // this agent's id
};

// Maps a validated topology. Services not in the catalog cannot occur (the
// validator refuses them); singleton services are skipped, as the master's
// compose generator skips them, ports included.
Plan plan_topology(const ValidTopology& topology, const ServiceCatalog& catalog,
                   const PlanOptions& options);

// An upper bound, in bytes, of the heap plan_topology() takes for this
// topology and catalog (its result and what it holds while it works), from
// counts and string lengths alone: an apply charges it against --max-memory
// before it plans (DESIGN §7), since a plan grows with deckies x services x
// catalog entries, not with the body's size.
std::size_t plan_bytes_bound(const ValidTopology& topology, const ServiceCatalog& catalog,
                             const PlanOptions& options);

}  // namespace edge::docker
