#include "docker_obs/plan.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <set>

namespace edge::docker {

namespace {

using nlohmann::json;

// The base container's idle process: exits at once on SIGTERM (a bare
// `sleep infinity` as PID 1 ignores it, so every `docker stop` would wait
// the full grace period). Works with busybox and debian shells alike.
const std::vector<std::string> kIdleCommand = {
    "sh", "-c", "trap 'exit 0' TERM; while :; do sleep 3600 & wait $!; done"};

std::string sha256_hex(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr) != 1) {
    // Only a broken libcrypto gets here; an empty spec label then forces a
    // recreate on the next converge, which is safe.
    return "";
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0x0f]);
  }
  return out;
}

// Field readers that tolerate a missing or mistyped key: the topology is
// validated before it gets here, so a default is only a safety net.
std::string str(const json& j, const char* key) {
  if (!j.is_object()) return "";
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

bool flag(const json& j, const char* key) {
  if (!j.is_object()) return false;
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}

const json& sub(const json& j, const char* key) {
  static const json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it != j.end() ? *it : kNull;
}

std::string lowercase(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

json env_list(const std::map<std::string, std::string>& env) {
  json out = json::array();
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

struct Lan {
  std::string id;
  std::string name;
  std::string network;  // docker network name
  std::string spec;     // the network's spec hash
};

}  // namespace

json NetworkSpec::create_body() const {
  json body = {
      {"Name", name},
      {"Driver", "bridge"},
      {"CheckDuplicate", true},
      {"Internal", internal},
      {"Attachable", false},
      {"IPAM", {{"Driver", "default"}, {"Config", json::array({{{"Subnet", subnet}}})}}},
      {"Labels", labels},
  };
  return body;
}

json ContainerSpec::create_body() const {
  json body = {{"Image", image}, {"Labels", labels}};
  if (!command.empty()) body["Cmd"] = command;
  if (!env.empty()) body["Env"] = env_list(env);
  if (!hostname.empty()) body["Hostname"] = hostname;

  json host = {{"RestartPolicy", {{"Name", "unless-stopped"}}}};
  if (role == "service") {
    host["NetworkMode"] = network_mode;
  } else {
    host["CapAdd"] = json::array({"NET_ADMIN"});
    if (forwards_l3) host["Sysctls"] = {{"net.ipv4.ip_forward", "1"}};
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

Plan plan_topology(const json& hydrated, const ServiceCatalog& catalog,
                   const std::string& base_image) {
  Plan plan;
  plan.topology_id = str(sub(hydrated, "topology"), "id");
  const std::string prefix = "decnet_t_" + plan.topology_id.substr(0, 8) + "_";

  // LANs, in the topology's order (which also orders a decky's endpoints).
  std::vector<Lan> lans;
  if (const json& arr = sub(hydrated, "lans"); arr.is_array()) {
    for (const json& l : arr) {
      NetworkSpec net;
      net.lan = str(l, "name");
      net.name = prefix + lowercase(net.lan);
      net.subnet = str(l, "subnet");
      net.internal = !flag(l, "is_dmz");
      net.labels = {
          {kLabelTopologyId, plan.topology_id}, {kLabelRole, "lan"}, {kLabelLan, net.lan}};
      const std::string spec = sha256_hex(net.create_body().dump());
      net.labels[kLabelSpec] = spec;
      lans.push_back({str(l, "id"), net.lan, net.name, spec});
      plan.networks.push_back(std::move(net));
    }
  }

  // decky uuid -> LAN ids it has an edge to.
  std::map<std::string, std::set<std::string>> edge_lans;
  if (const json& arr = sub(hydrated, "edges"); arr.is_array()) {
    for (const json& e : arr) edge_lans[str(e, "decky_uuid")].insert(str(e, "lan_id"));
  }

  const json& deckies = sub(hydrated, "deckies");
  if (!deckies.is_array()) return plan;
  for (const json& d : deckies) {
    const std::string decky = str(d, "name");
    const json& config = sub(d, "decky_config");
    const json& ips = sub(config, "ips_by_lan");
    const auto& edges = edge_lans[str(d, "uuid")];

    ContainerSpec base;
    base.name = prefix + decky;
    base.decky = decky;
    base.role = "base";
    base.image = base_image;
    base.command = kIdleCommand;
    base.hostname = decky;
    base.forwards_l3 = flag(config, "forwards_l3");
    json network_specs = json::array();
    for (const Lan& lan : lans) {
      std::string ip;
      if (ips.is_object() && ips.contains(lan.name) && ips[lan.name].is_string()) {
        ip = ips[lan.name].get<std::string>();
      } else if (!edges.contains(lan.id)) {
        continue;  // not on this LAN
      }
      base.networks.emplace_back(lan.network, ip);
      network_specs.push_back({lan.network, ip, lan.spec});
    }
    base.labels = {
        {kLabelTopologyId, plan.topology_id}, {kLabelDecky, decky}, {kLabelRole, "base"}};
    // The create body holds only the first endpoint; the spec covers every
    // endpoint and the spec of each network it sits on (a recreated network
    // needs its containers recreated too).
    const std::string base_spec =
        sha256_hex(json{{"create", base.create_body()}, {"networks", network_specs}}.dump());
    base.labels[kLabelSpec] = base_spec;

    if (const json& services = sub(d, "services"); services.is_array()) {
      for (const json& s : services) {
        if (!s.is_string()) continue;
        const std::string service = s.get<std::string>();
        auto found = catalog.find(service);
        if (found == catalog.end()) continue;  // validation rejects this earlier
        ContainerSpec svc;
        svc.name = base.name + "-" + service;
        svc.decky = decky;
        svc.role = "service";
        svc.service = service;
        svc.image = found->second.image;
        svc.command = found->second.command;
        svc.env = found->second.env;
        svc.network_mode = "container:" + base.name;
        svc.labels = {{kLabelTopologyId, plan.topology_id},
                      {kLabelDecky, decky},
                      {kLabelRole, "service"},
                      {kLabelService, service}};
        // A service lives in its base's network namespace: a new base means a
        // new service.
        svc.labels[kLabelSpec] =
            sha256_hex(json{{"create", svc.create_body()}, {"base", base_spec}}.dump());
        plan.services.push_back(std::move(svc));
      }
    }
    plan.bases.push_back(std::move(base));
  }
  return plan;
}

}  // namespace edge::docker
