#pragma once
// Semantic validation of a hydrated topology (DESIGN §3). Runs after the hash
// check and before anything touches Docker or the store. The rule of thumb:
// never refuse what the master's own validator accepts and Docker can run;
// refuse, before touching anything, what Docker would refuse half-way.
// Codes follow the master's validator (decnet/topology/validate.py) where it
// has one.

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "common/topology.h"
#include "docker_obs/catalog.h"

namespace edge {

struct ValidationIssue {
  std::string code;     // e.g. "DMZ_MISSING", "IP_OUT_OF_SUBNET"
  std::string message;  // names the object; quotes a bad value only as a short excerpt
  bool operator==(const ValidationIssue&) const = default;
};
using ValidationIssues = std::vector<ValidationIssue>;

// Every problem found, in a stable order, or the topology as a ValidTopology.
Expected<ValidTopology, ValidationIssues> validate_topology(Topology topology,
                                                            const docker::ServiceCatalog& catalog);

// "<N> topology validation error(s): [CODE] message; [CODE] message"
std::string format_validation_detail(const ValidationIssues& issues);

// [A-Za-z0-9][A-Za-z0-9_.-]{0,127}
bool is_valid_topology_id(std::string_view s);

// A decky name: 1-64 characters of [A-Za-z0-9_.-] (a leading '-' or '.' is
// fine: the container name starts with decnet_t_), but not "." or "..": it
// fills {decky} in the catalog's volume paths.
bool is_valid_decky_name(std::string_view s);

// A LAN name: 1-64 characters (code points) of UTF-8 without '/' or control
// characters.
bool is_valid_lan_name(std::string_view s);

}  // namespace edge
