#pragma once
// The operator's service catalog (DESIGN §5): which image, command, ports,
// capabilities, environment and volumes each honeypot service runs with.
//
// v2 entry (every key but "image" optional):
//   {"image": "decnet/ssh:1.2.1", "command": ["..."],
//    "tcp_ports": [22], "udp_ports": [], "cap_add": ["NET_BIND_SERVICE"],
//    "env": {"NODE_NAME": "{decky}", "SSH_USER": "{config.user:-ubuntu}"},
//    "volumes": ["/var/lib/decnet/artifacts/{decky}/ssh:/var/lib/systemd/coredump:rw"],
//    "singleton": false}
// A v1 entry ({"image", "command", "env"} with plain values) is a v2 entry.
//
// Templates: {decky} the decky name, {service} the service name,
// {config.KEY} the rendered value of decky_config.service_config[service][KEY],
// {config.KEY:-DEFAULT} with a default. An env variable whose placeholder has
// no value and no default is left out. Volumes take {decky} and {service}
// only, and their host side must be an absolute path.

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/flat_map.h"
#include "common/status.h"

namespace edge::docker {

struct ServiceSpec {
  std::string image;
  std::vector<std::string> command;        // empty: the image's own
  std::map<std::string, std::string> env;  // name -> template
  std::vector<int> tcp_ports;              // published on gateway deckies as P:P
  std::vector<int> udp_ports;              // ... as P:P/udp
  std::vector<std::string> cap_add;        // e.g. "NET_BIND_SERVICE"
  std::vector<std::string> volumes;        // "host:container[:ro|rw]" templates
  bool singleton = false;                  // fleet-wide: never run per decky

  bool operator==(const ServiceSpec&) const = default;
};

using ServiceCatalog = std::map<std::string, ServiceSpec>;

// One decky's service_config for one service, each scalar already rendered
// as text (a bool "true"/"false", a number as JSON prints it, a string as is).
// A JSON null is absent.
using ServiceConfig = FlatMap<std::string, std::string>;

// Parses a catalog document. The error names the entry and the rule it breaks.
Expected<ServiceCatalog> parse_service_catalog(const nlohmann::json& doc);

// Reads and parses the file at `path` ("" = the empty catalog).
Expected<ServiceCatalog> load_service_catalog(const std::string& path);

// The container environment of `service` on `decky` (HOSTNAME is not added
// here: the plan adds it to every service container).
std::map<std::string, std::string> render_env(const ServiceSpec& spec, std::string_view decky,
                                              std::string_view service,
                                              const ServiceConfig& config);

// The bind mounts of `service` on `decky`, in catalog order.
std::vector<std::string> render_volumes(const ServiceSpec& spec, std::string_view decky,
                                        std::string_view service);

}  // namespace edge::docker
