#include "agent/validate.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <queue>
#include <set>

#include "common/text.h"

namespace edge {
namespace {

struct Subnet {
  std::uint32_t network = 0;
  int prefix = 0;
  std::uint32_t mask() const { return prefix == 0 ? 0 : ~std::uint32_t{0} << (32 - prefix); }
  bool contains(std::uint32_t ip) const { return (ip & mask()) == network; }
  std::uint32_t broadcast() const { return network | ~mask(); }
  bool overlaps(const Subnet& o) const { return contains(o.network) || o.contains(network); }
};

std::optional<std::uint32_t> parse_ipv4(const std::string& s) {
  in_addr a{};
  if (s.empty() || s.size() > 15 || ::inet_pton(AF_INET, s.c_str(), &a) != 1) return std::nullopt;
  return ntohl(a.s_addr);
}

// Strict like Python's ip_network(strict=True): host bits must be zero. The
// master only creates /8 to /30.
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

// Address space a bridge must never take (DESIGN §3 SUBNET_RESERVED).
struct Reserved {
  Subnet net;
  const char* what;
};
const Reserved kReserved[] = {
    {{0x00000000, 8}, "0.0.0.0/8 (this network)"},     {{0x7F000000, 8}, "127.0.0.0/8 (loopback)"},
    {{0xA9FE0000, 16}, "169.254.0.0/16 (link-local)"}, {{0xE0000000, 4}, "224.0.0.0/4 (multicast)"},
    {{0xF0000000, 4}, "240.0.0.0/4 (reserved)"},
};

std::string shown(std::string_view s) { return "'" + excerpt(s, 64) + "'"; }

bool safe_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

}  // namespace

// The only maker of ValidTopology (friend of it).
class TopologyValidator {
 public:
  TopologyValidator(const Topology& t, const docker::ServiceCatalog& c) : t_(t), catalog_(c) {}

  static Expected<ValidTopology, ValidationIssues> run(Topology t,
                                                       const docker::ServiceCatalog& catalog) {
    ValidationIssues issues = TopologyValidator(t, catalog).check();
    if (!issues.empty()) return issues;
    return ValidTopology(std::move(t));
  }

 private:
  ValidationIssues check() {
    if (!is_valid_topology_id(t_.id)) {
      add("TOPOLOGY_ID_INVALID", "topology.id " + shown(t_.id) +
                                     " must be 1-128 characters from [A-Za-z0-9_.-] starting "
                                     "with a letter or digit");
    }
    check_lans();
    check_deckies();
    check_edges_and_reachability();
    return std::move(issues_);
  }

  void add(std::string code, std::string message) {
    issues_.add(std::move(code), std::move(message));
  }

  void check_lans() {
    int dmz_count = 0;
    std::map<std::string, std::string_view> lowered_names;  // lowered -> as sent
    for (const Lan& lan : t_.lans) {
      const std::string label = "LAN " + shown(lan.name);
      if (!is_valid_lan_name(lan.name)) {
        add("NAME_INVALID", label +
                                ": a LAN name must be 1-64 characters without '/' or control "
                                "characters (it becomes a Docker network name)");
      } else {
        auto [it, inserted] = lowered_names.emplace(unicode_lower(lan.name), lan.name);
        if (!inserted) {
          add("LAN_NAME_DUP", "duplicate LAN name " + shown(lan.name) + " (same as " +
                                  shown(it->second) +
                                  " once lower-cased: both would be one Docker network)");
        }
      }
      if (!lan_ids_.emplace(lan.id, lan.name).second) {
        add("LAN_ID_DUP", label + ": LAN id " + shown(lan.id) + " is used twice");
      }
      if (lan.is_dmz) {
        ++dmz_count;
        dmz_lan_id_ = lan.id;
      }
      check_subnet(lan, label);
    }
    if (dmz_count == 0) add("DMZ_MISSING", "no LAN is marked is_dmz=true");
    if (dmz_count > 1) {
      add("DMZ_MULTIPLE",
          std::to_string(dmz_count) + " LANs marked is_dmz=true; exactly one allowed");
    }
  }

  void check_subnet(const Lan& lan, const std::string& label) {
    auto subnet = parse_subnet(lan.subnet);
    if (!subnet) {
      add("SUBNET_MALFORMED", label + ": malformed subnet " + shown(lan.subnet) +
                                  " (want an IPv4 network like 10.0.1.0/24, prefix 8-30, "
                                  "host bits zero)");
      return;
    }
    for (const Reserved& r : kReserved) {
      if (subnet->overlaps(r.net)) {
        add("SUBNET_RESERVED",
            label + ": subnet " + lan.subnet + " lies in reserved address space " + r.what);
        return;
      }
    }
    for (const auto& [other, other_net] : subnets_) {
      if (subnet->overlaps(other_net)) {
        add("SUBNET_OVERLAP", label + " (" + lan.subnet + ") overlaps LAN " + shown(other) + " (" +
                                  std::string(subnet_texts_[other]) + ")");
      }
    }
    subnets_[lan.name] = *subnet;
    subnet_texts_[lan.name] = lan.subnet;
  }

  void check_deckies() {
    // Keys and values are views into t_, which outlives the validator.
    std::set<std::string_view> names;
    IpsInLan ips_in_lan;
    for (const Decky& d : t_.deckies) {
      const std::string label = "decky " + shown(d.name);
      if (!is_valid_decky_name(d.name)) {
        add("NAME_INVALID", label +
                                ": a decky name must be 1-64 characters from [A-Za-z0-9_.-] (it "
                                "becomes a container name and hostname)");
      } else if (!names.insert(d.name).second) {
        add("DECKY_NAME_DUP", "duplicate decky name " + shown(d.name));
      }
      if (!decky_names_.emplace(d.uuid, d.name).second) {
        add("DECKY_UUID_DUP", label + ": decky uuid " + shown(d.uuid) + " is used twice");
      }
      check_services(d, label);
      check_ips(d, label, &ips_in_lan);
    }
  }

  void check_services(const Decky& d, const std::string& label) {
    for (const std::string& svc : d.services) {
      if (catalog_.count(svc) == 0) {
        add("UNKNOWN_SERVICE",
            label + ": unknown service " + shown(svc) + " (not in the agent's service catalog)");
      }
    }
    for (const auto& [svc, values] : d.service_config) {
      (void)values;
      if (std::find(d.services.begin(), d.services.end(), svc) == d.services.end()) {
        add("SERVICE_CFG_UNDECLARED",
            label + ": service_config for " + shown(svc) + " which is not in its services list");
      }
    }
    for (const std::string& bad : d.bad_service_config) {
      add("SERVICE_CFG_INVALID",
          label + ": service_config " + bad + " (want an object of scalar values per service)");
    }
  }

  // LAN name -> IP -> the decky that claimed it first.
  using IpsInLan = std::map<std::string_view, std::map<std::uint32_t, const Decky*>>;

  void check_ips(const Decky& d, const std::string& label, IpsInLan* ips_in_lan) {
    for (const auto& [lan, ip_text] : d.ips_by_lan) {
      bool known =
          std::any_of(t_.lans.begin(), t_.lans.end(), [&](const Lan& l) { return l.name == lan; });
      if (!known) {
        add("IP_UNKNOWN_LAN", label + " claims an IP in unknown LAN " + shown(lan));
        continue;
      }
      auto ip = parse_ipv4(ip_text);
      if (!ip) {
        add("IP_MALFORMED", label + ": malformed IP " + shown(ip_text) + " for LAN " + shown(lan));
        continue;
      }
      auto subnet = subnets_.find(lan);
      if (subnet == subnets_.end()) continue;  // the LAN's subnet is already reported
      const Subnet& net = subnet->second;
      if (!net.contains(*ip)) {
        add("IP_OUT_OF_SUBNET", ip_text + " not inside " + std::string(subnet_texts_[lan]) + " (" +
                                    label + ", LAN " + shown(lan) + ")");
        continue;
      }
      // Docker takes the first host address as the bridge gateway.
      if (*ip == net.network || *ip == net.broadcast() || *ip == net.network + 1) {
        add("IP_RESERVED", ip_text + " is the network, broadcast or gateway address of " +
                               std::string(subnet_texts_[lan]) + " (" + label + ", LAN " +
                               shown(lan) + ")");
        continue;
      }
      auto [it, inserted] = (*ips_in_lan)[lan].emplace(*ip, &d);
      if (!inserted) {
        add("IP_COLLISION", "IP " + ip_text + " claimed by both decky " + shown(it->second->name) +
                                " and " + label + " in LAN " + shown(lan));
      }
    }
  }

  void check_edges_and_reachability() {
    std::map<std::string_view, std::set<std::string_view>> lans_of_decky;
    for (std::size_t i = 0; i < t_.edges.size(); ++i) {
      const Edge& e = t_.edges[i];
      const std::string where = "edges[" + std::to_string(i) + "]";
      if (decky_names_.count(e.decky_uuid) == 0) {
        add("EDGE_UNKNOWN_DECKY", where + " names unknown decky uuid " + shown(e.decky_uuid));
        continue;
      }
      if (lan_ids_.count(e.lan_id) == 0) {
        add("EDGE_UNKNOWN_LAN", where + " names unknown LAN id " + shown(e.lan_id));
        continue;
      }
      lans_of_decky[e.decky_uuid].insert(e.lan_id);
    }
    for (const auto& [uuid, name] : decky_names_) {
      if (lans_of_decky.count(uuid) == 0) {
        add("DECKY_ORPHAN", "decky " + shown(name) + " has no LAN edges");
      }
    }
    if (dmz_lan_id_.empty()) return;
    // A decky with edges on two or more LANs bridges them (the master's rule).
    std::map<std::string_view, std::set<std::string_view>> adjacent;
    for (const auto& [decky, lans] : lans_of_decky) {
      if (lans.size() < 2) continue;
      for (const auto& a : lans) {
        for (const auto& b : lans) {
          if (a != b) adjacent[a].insert(b);
        }
      }
    }
    std::set<std::string_view> seen{dmz_lan_id_};
    std::queue<std::string_view> todo;
    todo.push(dmz_lan_id_);
    while (!todo.empty()) {
      std::string_view lan = todo.front();
      todo.pop();
      for (const auto& next : adjacent[lan]) {
        if (seen.insert(next).second) todo.push(next);
      }
    }
    std::string orphans;
    for (const auto& [id, name] : lan_ids_) {
      if (seen.count(id) == 0) orphans += (orphans.empty() ? "" : ", ") + shown(name);
    }
    if (!orphans.empty()) add("DMZ_ORPHAN", "LAN(s) have no bridge path to the DMZ: " + orphans);
  }

  const Topology& t_;
  const docker::ServiceCatalog& catalog_;
  ValidationIssues issues_;
  // Views into t_.
  std::map<std::string_view, std::string_view> lan_ids_;  // lan id -> name
  std::map<std::string_view, Subnet> subnets_;            // lan name -> subnet
  std::map<std::string_view, std::string_view> subnet_texts_;
  std::map<std::string_view, std::string_view> decky_names_;  // uuid -> name
  std::string_view dmz_lan_id_;
};

Expected<ValidTopology, ValidationIssues> validate_topology(Topology topology,
                                                            const docker::ServiceCatalog& catalog) {
  return TopologyValidator::run(std::move(topology), catalog);
}

bool is_valid_decky_name(std::string_view s) {
  // "." and ".." would climb directories through a catalog volume's {decky}.
  return !s.empty() && s.size() <= 64 && s != "." && s != ".." &&
         std::all_of(s.begin(), s.end(), safe_char);
}

bool is_valid_lan_name(std::string_view s) {
  if (s.empty() || !is_valid_utf8(s)) return false;
  std::size_t chars = 0;
  for (std::size_t i = 0; i < s.size(); i += utf8_sequence_length(s, i)) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f || c == '/') return false;
    if (c == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) < 0xA0) {
      return false;  // C1 controls U+0080..U+009F
    }
    ++chars;
  }
  return chars <= 64;
}

bool is_valid_topology_id(std::string_view s) {
  return !s.empty() && s.size() <= 128 && std::isalnum(static_cast<unsigned char>(s.front())) &&
         std::all_of(s.begin(), s.end(), safe_char);
}

void ValidationIssues::add(std::string code, std::string message) {
  ++total_;
  if (kept_.size() < kKept) {
    kept_.push_back({std::move(code), std::move(message)});
  } else {
    ++omitted_[std::move(code)];
  }
}

std::string format_validation_detail(const ValidationIssues& issues) {
  std::string out = std::to_string(issues.size()) + " topology validation error(s): ";
  bool first = true;
  for (const ValidationIssue& i : issues) {
    out += (first ? "[" : "; [") + i.code + "] " + i.message;
    first = false;
  }
  if (issues.omitted().empty()) return out;
  out += "; and " + std::to_string(issues.size() - ValidationIssues::kKept) + " more:";
  first = true;
  for (const auto& [code, count] : issues.omitted()) {
    out += (first ? " " : ", ") + code + " x " + std::to_string(count);
    first = false;
  }
  return out;
}

}  // namespace edge
