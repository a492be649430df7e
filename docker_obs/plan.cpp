#include "docker_obs/plan.h"

#include <algorithm>
#include <set>

#include "common/text.h"

namespace edge::docker {

namespace {

using nlohmann::json;

// The base container's idle process: exits at once on SIGTERM (a bare
// `sleep infinity` as PID 1 ignores it, so every `docker stop` would wait
// the full grace period). Works with busybox and debian shells alike.
const std::vector<std::string> kIdleCommand = {
    "sh", "-c", "trap 'exit 0' TERM; while :; do sleep 3600 & wait $!; done"};

json env_list(const std::map<std::string, std::string>& env) {
  json out = json::array();
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

std::string port_key(const PublishedPort& p) {
  return std::to_string(p.port) + (p.udp ? "/udp" : "/tcp");
}

struct LanInfo {
  std::string id;
  std::string name;
  std::string network;  // docker network name
  std::string spec;     // the network's spec hash
};

}  // namespace

json NetworkSpec::create_body() const {
  return {
      {"Name", name},
      {"Driver", "bridge"},
      {"CheckDuplicate", true},
      {"Internal", internal},
      {"Attachable", false},
      {"IPAM", {{"Driver", "default"}, {"Config", json::array({{{"Subnet", subnet}}})}}},
      {"Labels", labels},
  };
}

json ContainerSpec::create_body() const {
  json body = {{"Image", image}, {"Labels", labels}};
  if (!command.empty()) body["Cmd"] = command;
  if (!env.empty()) body["Env"] = env_list(env);
  if (!hostname.empty()) body["Hostname"] = hostname;

  json host = {
      {"RestartPolicy", {{"Name", "unless-stopped"}}},
      {"LogConfig", {{"Type", "json-file"}, {"Config", {{"max-size", "10m"}, {"max-file", "5"}}}}}};
  if (!cap_add.empty()) host["CapAdd"] = cap_add;
  if (role == "service") {
    host["NetworkMode"] = network_mode;
    if (!volumes.empty()) host["Binds"] = volumes;
  } else {
    if (forwards_l3) host["Sysctls"] = {{"net.ipv4.ip_forward", "1"}};
    if (!ports.empty()) {
      json exposed = json::object();
      json bindings = json::object();
      for (const PublishedPort& p : ports) {
        exposed[port_key(p)] = json::object();
        bindings[port_key(p)] =
            json::array({{{"HostIp", ""}, {"HostPort", std::to_string(p.port)}}});
      }
      body["ExposedPorts"] = std::move(exposed);
      host["PortBindings"] = std::move(bindings);
    }
    if (networks.empty()) {
      host["NetworkMode"] = "none";
    } else {
      // Docker attaches exactly one network at create time (API < 1.44): the
      // first one. The rest are connected before start.
      const auto& [net, ip] = networks.front();
      host["NetworkMode"] = net;
      json endpoint = json::object();
      if (!ip.empty()) endpoint["IPAMConfig"] = {{"IPv4Address", ip}};
      body["NetworkingConfig"] = {{"EndpointsConfig", {{net, endpoint}}}};
    }
  }
  body["HostConfig"] = std::move(host);
  return body;
}

Plan plan_topology(const ValidTopology& valid, const ServiceCatalog& catalog,
                   const PlanOptions& options) {
  const Topology& t = valid.get();
  Plan plan;
  plan.topology_id = t.id;
  plan.owner = options.owner;
  const std::string prefix = "decnet_t_" + t.id.substr(0, 8) + "_";
  auto labels = [&](std::initializer_list<std::pair<const std::string, std::string>> own) {
    std::map<std::string, std::string> l(own);
    l[kLabelTopologyId] = t.id;
    if (!options.owner.empty()) l[kLabelOwner] = options.owner;
    return l;
  };

  // LANs, in the topology's order (which also orders a decky's endpoints).
  std::vector<LanInfo> lans;
  for (const Lan& l : t.lans) {
    NetworkSpec net;
    net.lan = l.name;
    net.name = prefix + unicode_lower(l.name);
    net.subnet = l.subnet;
    net.internal = !l.is_dmz;
    net.labels = labels({{kLabelRole, "lan"}, {kLabelLan, l.name}});
    const std::string spec = sha256_hex(net.create_body().dump());
    net.labels[kLabelSpec] = spec;
    lans.push_back({l.id, l.name, net.name, spec});
    plan.networks.push_back(std::move(net));
  }

  // decky uuid -> LAN ids it has an edge to.
  std::map<std::string, std::set<std::string>> edge_lans;
  for (const Edge& e : t.edges) edge_lans[e.decky_uuid].insert(e.lan_id);

  static const ServiceConfig kNoConfig;
  for (const Decky& d : t.deckies) {
    const auto& edges = edge_lans[d.uuid];

    ContainerSpec base;
    base.name = prefix + d.name;
    base.decky = d.name;
    base.role = "base";
    base.image = options.base_image;
    base.command = kIdleCommand;
    base.hostname = d.name;
    base.forwards_l3 = d.forwards_l3;
    base.cap_add = {"NET_ADMIN"};
    json network_specs = json::array();
    for (const LanInfo& lan : lans) {
      std::string ip;
      if (auto it = d.ips_by_lan.find(lan.name); it != d.ips_by_lan.end()) {
        ip = it->second;
      } else if (!edges.contains(lan.id)) {
        continue;  // not on this LAN
      }
      base.networks.emplace_back(lan.network, ip);
      network_specs.push_back({lan.network, ip, lan.spec});
    }

    // The services this decky runs: once each, singletons skipped.
    std::vector<std::pair<std::string, const ServiceSpec*>> services;
    std::set<std::string> seen;
    for (const std::string& name : d.services) {
      auto found = catalog.find(name);
      if (found == catalog.end() || found->second.singleton || !seen.insert(name).second) continue;
      services.emplace_back(name, &found->second);
    }
    // A gateway decky is the deception network's front door: it publishes
    // every port of its services on the host, as the master's compose does.
    if (d.forwards_l3) {
      std::set<PublishedPort> ports;
      for (const auto& [name, spec] : services) {
        for (int p : spec->tcp_ports) ports.insert({p, false});
        for (int p : spec->udp_ports) ports.insert({p, true});
      }
      base.ports.assign(ports.begin(), ports.end());
    }
    base.labels = labels({{kLabelDecky, d.name}, {kLabelRole, "base"}});
    // The create body holds only the first endpoint; the spec covers every
    // endpoint and the spec of each network it sits on (a recreated network
    // needs its containers recreated too).
    const std::string base_spec =
        sha256_hex(json{{"create", base.create_body()}, {"networks", network_specs}}.dump());
    base.labels[kLabelSpec] = base_spec;

    for (const auto& [service, spec] : services) {
      auto cfg = d.service_config.find(service);
      ContainerSpec svc;
      svc.name = base.name + "-" + service;
      svc.decky = d.name;
      svc.role = "service";
      svc.service = service;
      svc.image = spec->image;
      svc.command = spec->command;
      svc.env = render_env(*spec, d.name, service,
                           cfg == d.service_config.end() ? kNoConfig : cfg->second);
      svc.env["HOSTNAME"] = d.name;
      svc.cap_add = spec->cap_add;
      svc.volumes = render_volumes(*spec, d.name, service);
      svc.network_mode = "container:" + base.name;
      svc.labels = labels({{kLabelDecky, d.name},
                           {kLabelRole, "service"},
                           {kLabelService, "true"},
                           {kLabelServiceName, service}});
      // A service lives in its base's network namespace: a new base means a
      // new service.
      svc.labels[kLabelSpec] =
          sha256_hex(json{{"create", svc.create_body()}, {"base", base_spec}}.dump());
      plan.services.push_back(std::move(svc));
    }
    plan.bases.push_back(std::move(base));
  }
  return plan;
}

namespace {

// Heap bytes, beyond the objects themselves, of the pieces a plan is made
// of: glibc's malloc takes 16 bytes per allocation and rounds to 16; a
// std::string holds up to 15 characters inline.
constexpr std::size_t kMalloc = 16;
constexpr std::size_t alloc(std::size_t n) { return (n + kMalloc + 15) / 16 * 16; }
constexpr std::size_t text(std::size_t n) { return n > 15 ? alloc(n + 1) : 0; }
// One entry of a std::map<std::string, std::string> (node header 32 bytes).
constexpr std::size_t map_entry(std::size_t key, std::size_t value) {
  return alloc(32 + 2 * sizeof(std::string)) + text(key) + text(value);
}
// A label value is at most this long: a sha256 hex, an agent id, a LAN or
// decky name (64 characters, up to 4 bytes each) or a topology id (128).
constexpr std::size_t kLabelKey = 28;  // "decnet.topology.service_name"
constexpr std::size_t kSpecHash = 64;

// Transient: the JSON create body and spec text hashed once per object.
constexpr std::size_t kTransient = 16u << 10;

}  // namespace

std::size_t plan_bytes_bound(const ValidTopology& valid, const ServiceCatalog& catalog,
                             const PlanOptions& options) {
  const Topology& t = valid.get();
  const std::size_t id = t.id.size();
  const std::size_t owner = options.owner.size();
  const std::size_t prefix = 18;  // "decnet_t_" + 8 + "_"
  // The labels every object carries: topology id, owner, role, spec, and the
  // object's own (decky or LAN, and service name for services).
  auto labels = [&](std::size_t own_values, std::size_t own_count) {
    return map_entry(kLabelKey, id) + map_entry(kLabelKey, owner) + map_entry(kLabelKey, 8) +
           map_entry(kLabelKey, kSpecHash) + own_count * map_entry(kLabelKey, 0) +
           text(own_values) * own_count;
  };
  std::size_t total = sizeof(Plan) + text(id) + text(owner) + kTransient;
  for (const Lan& l : t.lans) {
    total += sizeof(NetworkSpec) + 3 * text(prefix + 4 * l.name.size()) + text(l.subnet.size()) +
             labels(4 * l.name.size(), 1) +
             // LanInfo kept while planning
             sizeof(std::string) * 4 + text(l.id.size()) + 2 * text(prefix + 4 * l.name.size()) +
             text(kSpecHash);
  }
  // The edge index: decky uuid -> LAN ids.
  for (const Edge& e : t.edges) {
    total += alloc(32 + sizeof(std::string) + 48) + text(e.decky_uuid.size()) +
             alloc(32 + sizeof(std::string)) + text(e.lan_id.size());
  }
  static const std::size_t kIdle = [] {
    std::size_t n = 0;
    for (const auto& a : kIdleCommand) n += sizeof(std::string) + text(a.size());
    return n;
  }();
  // Endpoints: one per LAN a decky has an IP or an edge on, each a network
  // name and an IP (a network name is at most prefix + the longest LAN name).
  std::size_t longest_lan = 0;
  for (const Lan& l : t.lans) longest_lan = std::max(longest_lan, l.name.size());
  std::size_t endpoints = t.edges.size();
  std::size_t containers = t.deckies.size();
  for (const Decky& d : t.deckies) {
    endpoints += d.ips_by_lan.size();
    const std::size_t name = d.name.size();
    const std::size_t cname = prefix + name;
    // Base: name, decky, hostname, image, the idle command, NET_ADMIN, the
    // endpoint vector (counted below), labels.
    total += sizeof(ContainerSpec) + text(cname) + 2 * text(name) +
             text(options.base_image.size()) + alloc(kIdle) + alloc(sizeof(std::string)) +
             alloc(sizeof(std::string) * 2) + labels(name, 2);
    std::size_t ports = 0;
    for (const std::string& service : d.services) {
      auto found = catalog.find(service);
      if (found == catalog.end() || found->second.singleton) continue;
      ++containers;
      const ServiceSpec& spec = found->second;
      ports += spec.tcp_ports.size() + spec.udp_ports.size();
      // Config values a {config.KEY} can put into the environment.
      std::size_t config = 0;
      if (auto cfg = d.service_config.find(service); cfg != d.service_config.end()) {
        for (const auto& [k, v] : cfg->second) config += v.size();
      }
      std::size_t svc = sizeof(ContainerSpec) + text(cname + 1 + service.size()) + text(name) +
                        text(service.size()) + text(spec.image.size()) +
                        text(10 + cname);  // network_mode "container:<base>"
      svc += alloc(spec.command.size() * sizeof(std::string));
      for (const auto& a : spec.command) svc += text(a.size());
      for (const auto& [k, v] : spec.env) svc += map_entry(k.size(), v.size() + name + config);
      svc += map_entry(8, name);  // HOSTNAME
      svc += alloc(spec.cap_add.size() * sizeof(std::string));
      for (const auto& c : spec.cap_add) svc += text(c.size());
      svc += alloc(spec.volumes.size() * sizeof(std::string));
      for (const auto& v : spec.volumes) svc += text(v.size() + name + service.size());
      svc += labels(name + service.size(), 4);
      // Held while this decky is planned: its service list and seen set.
      svc += alloc(sizeof(std::string) + sizeof(void*)) + alloc(32 + sizeof(std::string));
      total += svc;
    }
    if (d.forwards_l3) total += alloc(ports * sizeof(PublishedPort)) + ports * alloc(48);
  }
  total += endpoints * (2 * sizeof(std::string) + text(prefix + 4 * longest_lan) + kMalloc);
  // The vectors of bases and services move their objects when they grow:
  // up to one more object's worth each while they do.
  return total + containers * sizeof(ContainerSpec);
}

}  // namespace edge::docker
