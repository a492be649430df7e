#include "docker_obs/plan.h"

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

}  // namespace edge::docker
