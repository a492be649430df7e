#pragma once
// The one comparison between what a Plan wants and what the engine runs
// (DESIGN §5 "Drift and converge use one comparison"): converge executes the
// Actions, drift reports them. Pure: no I/O.

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/status.h"
#include "docker_obs/plan.h"

namespace edge::docker {

struct LiveNetwork {
  std::string id;
  std::string name;
  std::map<std::string, std::string> labels;
  std::vector<std::string> subnets;  // IPAM config, CIDR
  std::string label(const char* key) const;
};

struct LiveContainer {
  std::string id;
  std::string name;   // without Docker's leading '/'
  std::string state;  // created | running | paused | restarting | removing | exited | dead
  std::map<std::string, std::string> labels;
  std::string network_mode;                      // HostConfig.NetworkMode
  std::map<std::string, std::string> endpoints;  // network name -> configured IPv4 ("" if none)
  std::string label(const char* key) const;
};

// One listing of the engine, sorted by name.
struct Live {
  std::vector<LiveNetwork> networks;
  std::vector<LiveContainer> containers;
};

// Pure. Parse the bodies of GET /networks and GET /containers/json; the
// error names what is wrong with the engine's answer.
Expected<std::vector<LiveNetwork>> parse_networks(const nlohmann::json& body);
Expected<std::vector<LiveContainer>> parse_containers(const nlohmann::json& body);

// Which objects are this agent's (DESIGN §5 "Ownership"): those labelled with
// its id, plus objects of the `adopt_topologies` (the pinned one, the one
// being applied) that carry the topology label but no owner label (made by 0.1.0).
// Everything else on the engine is never touched nor reported.
Live owned_objects(const Live& all, const std::string& owner,
                   const std::vector<std::string>& adopt_topologies);

// Of `owned`, the objects of one topology.
Live topology_objects(const Live& owned, const std::string& topology_id);

struct Actions {
  std::vector<const NetworkSpec*> networks_to_create;
  std::vector<LiveNetwork> networks_to_remove;
  std::vector<LiveContainer> containers_to_remove;  // unwanted, changed, or dead
  std::vector<const ContainerSpec*> bases_to_create;
  std::vector<const ContainerSpec*> bases_to_start;
  std::vector<const ContainerSpec*> bases_to_unpause;
  std::vector<const ContainerSpec*> services_to_create;
  std::vector<const ContainerSpec*> services_to_start;
  std::vector<const ContainerSpec*> services_to_restart;  // their base was started again
  std::vector<const ContainerSpec*> services_to_unpause;
  bool empty() const;
};

// What converge must do to bring `owned` (this agent's objects, any
// topology) to `plan`: objects of other topologies are removed; an object is
// kept when its spec label, role and owner label match (an adopted one is
// recreated with this agent's label), it is not dead, a base's
// endpoints are exactly the planned networks and IPs, and a service runs in
// its (kept) base's namespace. The returned pointers point into `plan`.
Actions diff(const Plan& plan, const Live& owned);

// The drift report of those actions (DESIGN §3 "drift"):
//   {"in_sync": bool, "missing": [...], "extra": [...], "stopped": [...],
//    "changed": [...]}, names sorted. missing: wanted, absent; changed:
// present but to be recreated; extra: present, not wanted; stopped: present,
// to be started or unpaused. in_sync when converge would do nothing.
nlohmann::json drift_report(const Plan& plan, const Live& owned, const Actions& actions);

// The networks of `all` that this agent does not own whose subnets overlap a
// planned LAN: converge refuses to create anything while one exists.
// Empty when there is no conflict; else one sentence per conflict.
std::vector<std::string> subnet_conflicts(const Plan& plan, const Live& all, const Live& owned);

}  // namespace edge::docker
