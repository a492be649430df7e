#include "agent/validate.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <map>
#include <optional>
#include <queue>
#include <set>

namespace edge {
namespace {

using nlohmann::json;

struct Subnet {
  std::uint32_t network = 0;
  int prefix = 0;
  std::uint32_t mask() const { return prefix == 0 ? 0 : ~std::uint32_t{0} << (32 - prefix); }
  bool contains(std::uint32_t ip) const { return (ip & mask()) == network; }
  std::uint32_t broadcast() const { return network | ~mask(); }
};

std::optional<std::uint32_t> parse_ipv4(const std::string& s) {
  in_addr a{};
  if (s.empty() || s.size() > 15 || ::inet_pton(AF_INET, s.c_str(), &a) != 1) return std::nullopt;
  return ntohl(a.s_addr);
}

// Strict like Python's ip_network(strict=True): host bits must be zero.
// Prefixes outside 8..30 leave no room for a bridge, its gateway and deckies.
std::optional<Subnet> parse_subnet(const std::string& s) {
  auto slash = s.find('/');
  if (slash == std::string::npos) return std::nullopt;
  auto ip = parse_ipv4(s.substr(0, slash));
  std::string p = s.substr(slash + 1);
  if (!ip || p.empty() || p.size() > 2 || !std::all_of(p.begin(), p.end(), ::isdigit)) {
    return std::nullopt;
  }
  Subnet net{*ip, std::stoi(p)};
  if (net.prefix < 8 || net.prefix > 30 || (net.network & ~net.mask()) != 0) return std::nullopt;
  return net;
}

std::string str_or(const json& obj, const char* key, const std::string& fallback = "") {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : fallback;
}

std::string squote(const std::string& s) { return "'" + s + "'"; }

class Validator {
 public:
  Validator(const json& h, const docker::ServiceCatalog& c) : hydrated_(h), catalog_(c) {}

  std::vector<ValidationIssue> run() {
    if (!hydrated_.is_object()) {
      add("SHAPE_INVALID", "hydrated topology must be a JSON object");
      return issues_;
    }
    check_topology();
    check_lans();
    check_deckies();
    check_edges_and_reachability();
    return issues_;
  }

 private:
  void add(std::string code, std::string message) {
    issues_.push_back({std::move(code), std::move(message)});
  }

  const json* array_field(const char* key) {
    auto it = hydrated_.find(key);
    if (it == hydrated_.end()) {
      add("SHAPE_INVALID", std::string("hydrated topology has no '") + key + "' list");
      return nullptr;
    }
    if (!it->is_array()) {
      add("SHAPE_INVALID", std::string("'") + key + "' must be a list");
      return nullptr;
    }
    return &*it;
  }

  void check_topology() {
    auto it = hydrated_.find("topology");
    if (it == hydrated_.end() || !it->is_object()) {
      add("TOPOLOGY_ID_INVALID", "hydrated topology has no 'topology' object with an 'id'");
      return;
    }
    auto id = it->find("id");
    if (id == it->end() || !id->is_string() || !is_valid_topology_id(id->get<std::string>())) {
      add("TOPOLOGY_ID_INVALID",
          "topology.id must be a string of 1-128 characters from [A-Za-z0-9_.-] starting with a "
          "letter or digit (got " +
              (id == it->end() ? std::string("nothing") : id->dump()) + ")");
    }
  }

  void check_lans() {
    const json* lans = array_field("lans");
    if (lans == nullptr) return;
    int dmz_count = 0;
    std::set<std::string> lowered_names;
    for (std::size_t i = 0; i < lans->size(); ++i) {
      const json& lan = (*lans)[i];
      if (!lan.is_object()) {
        add("SHAPE_INVALID", "lans[" + std::to_string(i) + "] must be an object");
        continue;
      }
      std::string name = str_or(lan, "name");
      std::string label = name.empty() ? "lans[" + std::to_string(i) + "]" : squote(name);
      if (!is_docker_safe_name(name)) {
        add("NAME_INVALID", "LAN " + label +
                                ": name must be 1-63 characters from [A-Za-z0-9_.-] (it becomes "
                                "a Docker network name)");
      } else {
        std::string lowered = name;
        std::transform(lowered.begin(), lowered.end(), lowered.begin(), ::tolower);
        if (!lowered_names.insert(lowered).second) {
          add("LAN_NAME_DUP", "duplicate LAN name " + squote(name) +
                                  " (names are compared case-insensitively: they become "
                                  "lower-case network names)");
        }
      }
      if (lan.contains("id") && lan["id"].is_string()) {
        lan_ids_[lan["id"].get<std::string>()] = name;
      } else {
        add("SHAPE_INVALID", "LAN " + label + " has no string 'id'");
      }
      auto dmz = lan.find("is_dmz");
      if (dmz != lan.end() && dmz->is_boolean() && dmz->get<bool>()) {
        ++dmz_count;
        dmz_lan_id_ = str_or(lan, "id");
      }
      std::string subnet_text = str_or(lan, "subnet");
      auto subnet = parse_subnet(subnet_text);
      if (!subnet) {
        add("SUBNET_MALFORMED", "LAN " + label + ": malformed subnet " + squote(subnet_text) +
                                    " (want an IPv4 network like 10.0.1.0/24, prefix 8-30, "
                                    "host bits zero)");
      } else {
        for (const auto& [other, other_net] : subnets_) {
          if (subnet->contains(other_net.network) || other_net.contains(subnet->network)) {
            add("SUBNET_OVERLAP", "LAN " + label + " (" + subnet_text + ") overlaps LAN " +
                                      squote(other) + " (" + subnet_texts_[other] + ")");
          }
        }
        subnets_[name] = *subnet;
        subnet_texts_[name] = subnet_text;
      }
    }
    if (dmz_count == 0) add("DMZ_MISSING", "no LAN is marked is_dmz=true");
    if (dmz_count > 1) {
      add("DMZ_MULTIPLE",
          std::to_string(dmz_count) + " LANs marked is_dmz=true; exactly one allowed");
    }
  }

  void check_deckies() {
    const json* deckies = array_field("deckies");
    if (deckies == nullptr) return;
    std::set<std::string> names;
    std::map<std::string, std::map<std::uint32_t, std::string>> ips_in_lan;
    for (std::size_t i = 0; i < deckies->size(); ++i) {
      const json& d = (*deckies)[i];
      if (!d.is_object()) {
        add("SHAPE_INVALID", "deckies[" + std::to_string(i) + "] must be an object");
        continue;
      }
      std::string name = str_or(d, "name");
      std::string label = name.empty() ? "deckies[" + std::to_string(i) + "]" : squote(name);
      if (!is_docker_safe_name(name)) {
        add("NAME_INVALID", "decky " + label +
                                ": name must be 1-63 characters from [A-Za-z0-9_.-] (it becomes "
                                "a container name and hostname)");
      } else if (!names.insert(name).second) {
        add("DECKY_NAME_DUP", "duplicate decky name " + squote(name));
      }
      std::string uuid = str_or(d, "uuid");
      if (uuid.empty()) {
        add("SHAPE_INVALID", "decky " + label + " has no string 'uuid'");
      } else {
        decky_names_[uuid] = name;
      }
      check_services(d, label);
      check_ips(d, label, &ips_in_lan);
    }
  }

  void check_services(const json& d, const std::string& label) {
    std::set<std::string> declared;
    auto services = d.find("services");
    if (services != d.end() && !services->is_array()) {
      add("SHAPE_INVALID", "decky " + label + ": 'services' must be a list of names");
    } else if (services != d.end()) {
      for (const json& s : *services) {
        if (!s.is_string() || !is_docker_safe_name(s.get<std::string>())) {
          add("NAME_INVALID",
              "decky " + label + ": service " + s.dump() + " must be a name from [A-Za-z0-9_.-]");
          continue;
        }
        const std::string svc = s.get<std::string>();
        if (catalog_.count(svc) == 0) {
          add("UNKNOWN_SERVICE", "decky " + label + ": unknown service " + squote(svc) +
                                     " (not in the agent's service catalog)");
        }
        declared.insert(svc);
      }
    }
    auto config = d.find("decky_config");
    if (config == d.end() || !config->is_object()) return;
    auto svc_cfg = config->find("service_config");
    if (svc_cfg != config->end() && svc_cfg->is_object()) {
      for (const auto& [svc, unused] : svc_cfg->items()) {
        if (declared.count(svc) == 0) {
          add("SERVICE_CFG_UNDECLARED", "decky " + label + ": service_config for " + squote(svc) +
                                            " which is not in its services list");
        }
      }
    }
  }

  void check_ips(const json& d, const std::string& label,
                 std::map<std::string, std::map<std::uint32_t, std::string>>* ips_in_lan) {
    auto config = d.find("decky_config");
    if (config == d.end()) return;
    if (!config->is_object()) {
      add("SHAPE_INVALID", "decky " + label + ": 'decky_config' must be an object");
      return;
    }
    auto ips = config->find("ips_by_lan");
    if (ips == config->end()) return;
    if (!ips->is_object()) {
      add("SHAPE_INVALID", "decky " + label + ": 'decky_config.ips_by_lan' must be an object");
      return;
    }
    for (const auto& [lan, ip_json] : ips->items()) {
      std::string ip_text = ip_json.is_string() ? ip_json.get<std::string>() : ip_json.dump();
      auto subnet = subnets_.find(lan);
      bool known = std::any_of(lan_ids_.begin(), lan_ids_.end(),
                               [&](const auto& kv) { return kv.second == lan; });
      if (!known) {
        add("IP_UNKNOWN_LAN", "decky " + label + " claims IP in unknown LAN " + squote(lan));
        continue;
      }
      auto ip = ip_json.is_string() ? parse_ipv4(ip_text) : std::nullopt;
      if (!ip) {
        add("IP_MALFORMED",
            "decky " + label + ": malformed IP " + squote(ip_text) + " for LAN " + squote(lan));
        continue;
      }
      if (subnet == subnets_.end()) continue;  // the LAN's subnet is already reported
      const Subnet& net = subnet->second;
      if (!net.contains(*ip)) {
        add("IP_OUT_OF_SUBNET", ip_text + " not inside " + subnet_texts_[lan] + " (decky " + label +
                                    ", LAN " + squote(lan) + ")");
        continue;
      }
      // Docker takes the first host address as the bridge gateway.
      if (*ip == net.network || *ip == net.broadcast() || *ip == net.network + 1) {
        add("IP_RESERVED", ip_text + " is the network, broadcast or gateway address of " +
                               subnet_texts_[lan] + " (decky " + label + ", LAN " + squote(lan) +
                               ")");
        continue;
      }
      auto [it, inserted] = (*ips_in_lan)[lan].emplace(*ip, label);
      if (!inserted) {
        add("IP_COLLISION", "IP " + ip_text + " claimed by both " + it->second + " and " + label +
                                " in LAN " + squote(lan));
      }
    }
  }

  void check_edges_and_reachability() {
    const json* edges = array_field("edges");
    if (edges == nullptr) return;
    std::map<std::string, std::set<std::string>> lans_of_decky;
    for (std::size_t i = 0; i < edges->size(); ++i) {
      const json& e = (*edges)[i];
      std::string where = "edges[" + std::to_string(i) + "]";
      if (!e.is_object()) {
        add("SHAPE_INVALID", where + " must be an object");
        continue;
      }
      std::string decky = str_or(e, "decky_uuid");
      std::string lan = str_or(e, "lan_id");
      if (decky_names_.count(decky) == 0) {
        add("EDGE_UNKNOWN_DECKY", where + " names unknown decky uuid " + squote(decky));
        continue;
      }
      if (lan_ids_.count(lan) == 0) {
        add("EDGE_UNKNOWN_LAN", where + " names unknown LAN id " + squote(lan));
        continue;
      }
      lans_of_decky[decky].insert(lan);
    }
    for (const auto& [uuid, name] : decky_names_) {
      if (lans_of_decky.count(uuid) == 0) {
        add("DECKY_ORPHAN", "decky " + squote(name) + " has no LAN edges");
      }
    }
    if (dmz_lan_id_.empty() || lan_ids_.count(dmz_lan_id_) == 0) return;
    // A decky with edges on two or more LANs bridges them (the master's rule).
    std::map<std::string, std::set<std::string>> adjacent;
    for (const auto& [decky, lans] : lans_of_decky) {
      if (lans.size() < 2) continue;
      for (const auto& a : lans) {
        for (const auto& b : lans) {
          if (a != b) adjacent[a].insert(b);
        }
      }
    }
    std::set<std::string> seen{dmz_lan_id_};
    std::queue<std::string> todo;
    todo.push(dmz_lan_id_);
    while (!todo.empty()) {
      std::string lan = todo.front();
      todo.pop();
      for (const auto& next : adjacent[lan]) {
        if (seen.insert(next).second) todo.push(next);
      }
    }
    std::string orphans;
    for (const auto& [id, name] : lan_ids_) {
      if (seen.count(id) == 0) orphans += (orphans.empty() ? "" : ", ") + name;
    }
    if (!orphans.empty()) add("DMZ_ORPHAN", "LAN(s) have no bridge path to the DMZ: " + orphans);
  }

  const json& hydrated_;
  const docker::ServiceCatalog& catalog_;
  std::vector<ValidationIssue> issues_;
  std::map<std::string, std::string> lan_ids_;  // lan id -> name
  std::map<std::string, Subnet> subnets_;       // lan name -> subnet
  std::map<std::string, std::string> subnet_texts_;
  std::map<std::string, std::string> decky_names_;  // uuid -> name
  std::string dmz_lan_id_;
};

bool safe_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

}  // namespace

bool is_docker_safe_name(const std::string& s) {
  return !s.empty() && s.size() <= 63 && s.front() != '.' && s.front() != '-' &&
         std::all_of(s.begin(), s.end(), safe_char);
}

bool is_valid_topology_id(const std::string& s) {
  return !s.empty() && s.size() <= 128 && std::isalnum(static_cast<unsigned char>(s.front())) &&
         std::all_of(s.begin(), s.end(), safe_char);
}

std::vector<ValidationIssue> validate_topology(const nlohmann::json& hydrated,
                                               const docker::ServiceCatalog& catalog) {
  return Validator(hydrated, catalog).run();
}

std::string format_validation_detail(const std::vector<ValidationIssue>& issues) {
  std::string out = std::to_string(issues.size()) + " topology validation error(s): ";
  for (std::size_t i = 0; i < issues.size(); ++i) {
    if (i > 0) out += "; ";
    out += "[" + issues[i].code + "] " + issues[i].message;
  }
  return out;
}

}  // namespace edge
