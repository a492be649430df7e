#include "docker_obs/diff.h"

#include <arpa/inet.h>

#include <algorithm>
#include <optional>
#include <set>

namespace edge::docker {
namespace {

using nlohmann::json;

std::string label_in(const std::map<std::string, std::string>& labels, const char* key) {
  auto it = labels.find(key);
  return it == labels.end() ? std::string() : it->second;
}

std::map<std::string, std::string> string_map(const json& obj, const char* key) {
  std::map<std::string, std::string> out;
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_object()) return out;  // Docker sends null for none
  for (const auto& [k, v] : it->items()) {
    if (v.is_string()) out[k] = v.get<std::string>();
  }
  return out;
}

std::string string_at(const json& j, const char* key) {
  if (!j.is_object()) return "";
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

json sorted_array(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return json(v);
}

struct Cidr {
  std::uint32_t network = 0;
  int prefix = 0;
  bool overlaps(const Cidr& o) const {
    const int p = std::min(prefix, o.prefix);
    const std::uint32_t mask = p == 0 ? 0 : ~std::uint32_t{0} << (32 - p);
    return (network & mask) == (o.network & mask);
  }
};

std::optional<Cidr> parse_cidr(const std::string& s) {
  auto slash = s.find('/');
  if (slash == std::string::npos) return std::nullopt;
  in_addr a{};
  if (::inet_pton(AF_INET, s.substr(0, slash).c_str(), &a) != 1) return std::nullopt;
  int prefix = -1;
  try {
    prefix = std::stoi(s.substr(slash + 1));
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (prefix < 0 || prefix > 32) return std::nullopt;
  return Cidr{ntohl(a.s_addr), prefix};
}

bool owned_by(const std::map<std::string, std::string>& labels, const std::string& owner,
              const std::vector<std::string>& adopt) {
  auto o = labels.find(kLabelOwner);
  if (o != labels.end()) return !owner.empty() && o->second == owner;
  const std::string tid = label_in(labels, kLabelTopologyId);
  return !tid.empty() && std::find(adopt.begin(), adopt.end(), tid) != adopt.end();
}

}  // namespace

std::string LiveNetwork::label(const char* key) const { return label_in(labels, key); }
std::string LiveContainer::label(const char* key) const { return label_in(labels, key); }

Expected<std::vector<LiveNetwork>> parse_networks(const json& body) {
  if (!body.is_array()) return Status::failure("the engine's network list is not a JSON array");
  std::vector<LiveNetwork> out;
  for (const auto& n : body) {
    if (!n.is_object() || !n.contains("Name") || !n["Name"].is_string()) {
      return Status::failure("the engine's network list has an entry without a Name");
    }
    LiveNetwork net{string_at(n, "Id"), n["Name"].get<std::string>(), string_map(n, "Labels"), {}};
    if (auto ipam = n.find("IPAM"); ipam != n.end() && ipam->is_object()) {
      if (auto cfg = ipam->find("Config"); cfg != ipam->end() && cfg->is_array()) {
        for (const auto& c : *cfg) {
          std::string subnet = string_at(c, "Subnet");
          if (!subnet.empty()) net.subnets.push_back(std::move(subnet));
        }
      }
    }
    out.push_back(std::move(net));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

Expected<std::vector<LiveContainer>> parse_containers(const json& body) {
  if (!body.is_array()) return Status::failure("the engine's container list is not a JSON array");
  std::vector<LiveContainer> out;
  for (const auto& c : body) {
    auto names = c.is_object() ? c.find("Names") : c.end();
    if (!c.is_object() || names == c.end() || !names->is_array() || names->empty() ||
        !names->front().is_string()) {
      return Status::failure("the engine's container list has an entry without Names");
    }
    LiveContainer live;
    live.id = string_at(c, "Id");
    live.name = names->front().get<std::string>();
    if (!live.name.empty() && live.name.front() == '/') live.name.erase(0, 1);
    live.state = string_at(c, "State");
    live.labels = string_map(c, "Labels");
    if (auto host = c.find("HostConfig"); host != c.end()) {
      live.network_mode = string_at(*host, "NetworkMode");
    }
    if (auto settings = c.find("NetworkSettings"); settings != c.end() && settings->is_object() &&
                                                   settings->contains("Networks") &&
                                                   (*settings)["Networks"].is_object()) {
      for (const auto& [net, ep] : (*settings)["Networks"].items()) {
        if (net == "none") continue;  // NetworkMode none: no endpoint at all
        std::string ip;
        if (ep.is_object() && ep.contains("IPAMConfig"))
          ip = string_at(ep["IPAMConfig"], "IPv4Address");
        live.endpoints[net] = ip;
      }
    }
    out.push_back(std::move(live));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

Live owned_objects(const Live& all, const std::string& owner,
                   const std::vector<std::string>& adopt_topology) {
  Live out;
  for (const auto& n : all.networks) {
    if (owned_by(n.labels, owner, adopt_topology)) out.networks.push_back(n);
  }
  for (const auto& c : all.containers) {
    if (owned_by(c.labels, owner, adopt_topology)) out.containers.push_back(c);
  }
  return out;
}

Live topology_objects(const Live& owned, const std::string& topology_id) {
  Live out;
  for (const auto& n : owned.networks) {
    if (n.label(kLabelTopologyId) == topology_id) out.networks.push_back(n);
  }
  for (const auto& c : owned.containers) {
    if (c.label(kLabelTopologyId) == topology_id) out.containers.push_back(c);
  }
  return out;
}

bool Actions::empty() const {
  return networks_to_create.empty() && networks_to_remove.empty() && containers_to_remove.empty() &&
         bases_to_create.empty() && bases_to_start.empty() && bases_to_unpause.empty() &&
         services_to_create.empty() && services_to_start.empty() && services_to_restart.empty() &&
         services_to_unpause.empty();
}

Actions diff(const Plan& plan, const Live& owned) {
  Actions a;
  // --- Networks: kept when the spec label matches.
  std::set<std::string> kept_networks;
  std::map<std::string, const NetworkSpec*> wanted_networks;
  for (const NetworkSpec& n : plan.networks) wanted_networks[n.name] = &n;
  for (const LiveNetwork& n : owned.networks) {
    auto want = wanted_networks.find(n.name);
    if (want != wanted_networks.end() && n.label(kLabelTopologyId) == plan.topology_id &&
        n.label(kLabelSpec) == want->second->labels.at(kLabelSpec) &&
        n.label(kLabelOwner) == plan.owner && !kept_networks.contains(n.name)) {
      kept_networks.insert(n.name);
    } else {
      a.networks_to_remove.push_back(n);
    }
  }
  for (const NetworkSpec& n : plan.networks) {
    if (!kept_networks.contains(n.name)) a.networks_to_create.push_back(&n);
  }

  // --- Containers.
  std::map<std::string, const LiveContainer*> live_by_name;
  for (const LiveContainer& c : owned.containers) {
    if (c.label(kLabelTopologyId) != plan.topology_id || live_by_name.contains(c.name)) {
      a.containers_to_remove.push_back(c);  // another topology's leftover, or a twin
    } else {
      live_by_name[c.name] = &c;
    }
  }
  auto usable = [&](const LiveContainer& c, const ContainerSpec& spec) {
    // An adopted object (no owner label yet) is recreated with this agent's.
    return c.label(kLabelSpec) == spec.labels.at(kLabelSpec) && c.state != "dead" &&
           c.state != "removing" && c.label(kLabelRole) == spec.role &&
           c.label(kLabelOwner) == plan.owner;
  };

  std::set<std::string> bases_created;
  std::set<std::string> bases_renewed;          // created or started: services must rejoin
  std::map<std::string, std::string> base_ids;  // kept base name -> id
  std::set<std::string> planned;
  for (const ContainerSpec& spec : plan.bases) {
    planned.insert(spec.name);
    auto it = live_by_name.find(spec.name);
    bool keep = false;
    if (it != live_by_name.end()) {
      const LiveContainer& c = *it->second;
      // A disconnected endpoint, a wrong IP or a network being recreated
      // means the base is recreated: endpoints are part of what it is.
      keep = usable(c, spec) && c.endpoints.size() == spec.networks.size();
      for (const auto& [net, ip] : spec.networks) {
        auto ep = c.endpoints.find(net);
        keep = keep && ep != c.endpoints.end() && ep->second == ip && kept_networks.contains(net);
      }
      if (!keep) {
        a.containers_to_remove.push_back(c);
      } else {
        base_ids[spec.name] = c.id;
        if (c.state == "paused") {
          a.bases_to_unpause.push_back(&spec);
        } else if (c.state != "running" && c.state != "restarting") {
          a.bases_to_start.push_back(&spec);
          bases_renewed.insert(spec.name);
        }
      }
    }
    if (!keep) {
      a.bases_to_create.push_back(&spec);
      bases_created.insert(spec.name);
      bases_renewed.insert(spec.name);
    }
  }

  // Services: recreated when their spec changed or their base is new (they
  // would be stuck in the old base's namespace); restarted when their base
  // was started again (a stopped base loses its namespace).
  for (const ContainerSpec& spec : plan.services) {
    planned.insert(spec.name);
    const std::string base = spec.network_mode.substr(std::string("container:").size());
    auto it = live_by_name.find(spec.name);
    bool keep = false;
    if (it != live_by_name.end()) {
      const LiveContainer& c = *it->second;
      auto base_id = base_ids.find(base);
      keep = usable(c, spec) && !bases_created.contains(base) && base_id != base_ids.end() &&
             c.network_mode == "container:" + base_id->second;
      if (!keep) {
        a.containers_to_remove.push_back(c);
      } else if (bases_renewed.contains(base)) {
        a.services_to_restart.push_back(&spec);
      } else if (c.state == "paused") {
        a.services_to_unpause.push_back(&spec);
      } else if (c.state != "running" && c.state != "restarting") {
        a.services_to_start.push_back(&spec);
      }
    }
    if (!keep) a.services_to_create.push_back(&spec);
  }
  for (const auto& [name, c] : live_by_name) {
    if (!planned.contains(name)) a.containers_to_remove.push_back(*c);
  }
  return a;
}

json drift_report(const Plan& plan, const Live& owned, const Actions& a) {
  (void)plan;
  std::set<std::string> present;
  for (const auto& n : owned.networks) present.insert(n.name);
  for (const auto& c : owned.containers) present.insert(c.name);
  std::set<std::string> recreated;
  std::vector<std::string> missing, extra, stopped, changed;
  auto created = [&](const std::string& name) {
    recreated.insert(name);
    (present.contains(name) ? changed : missing).push_back(name);
  };
  for (const NetworkSpec* n : a.networks_to_create) created(n->name);
  for (const ContainerSpec* c : a.bases_to_create) created(c->name);
  for (const ContainerSpec* c : a.services_to_create) created(c->name);
  for (const auto& n : a.networks_to_remove) {
    if (!recreated.contains(n.name)) extra.push_back(n.name);
  }
  for (const auto& c : a.containers_to_remove) {
    if (!recreated.contains(c.name)) extra.push_back(c.name);
  }
  for (const auto* list :
       {&a.bases_to_start, &a.bases_to_unpause, &a.services_to_start, &a.services_to_unpause}) {
    for (const ContainerSpec* c : *list) stopped.push_back(c->name);
  }
  const bool in_sync = a.empty();
  return json{{"in_sync", in_sync},
              {"missing", sorted_array(std::move(missing))},
              {"extra", sorted_array(std::move(extra))},
              {"stopped", sorted_array(std::move(stopped))},
              {"changed", sorted_array(std::move(changed))}};
}

std::vector<std::string> subnet_conflicts(const Plan& plan, const Live& all, const Live& owned) {
  std::set<std::string> mine;
  for (const auto& n : owned.networks) mine.insert(n.id.empty() ? n.name : n.id);
  std::vector<std::string> out;
  for (const NetworkSpec& want : plan.networks) {
    auto wanted = parse_cidr(want.subnet);
    if (!wanted) continue;
    for (const LiveNetwork& n : all.networks) {
      if (mine.contains(n.id.empty() ? n.name : n.id)) continue;
      for (const std::string& s : n.subnets) {
        auto theirs = parse_cidr(s);
        if (theirs && wanted->overlaps(*theirs)) {
          out.push_back("subnet " + want.subnet + " of LAN '" + want.lan + "' overlaps network '" +
                        n.name + "' (" + s + "), which this agent does not own");
        }
      }
    }
  }
  return out;
}

}  // namespace edge::docker
