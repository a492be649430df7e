#pragma once
// Semantic validation of a hydrated topology (DESIGN §3). Runs after the hash
// check and before anything touches Docker or the store. Codes follow the
// master's own validator (decnet/topology/validate.py) where it has one.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "docker_obs/catalog.h"

namespace edge {

struct ValidationIssue {
  std::string code;     // e.g. "DMZ_MISSING", "IP_OUT_OF_SUBNET"
  std::string message;  // names the object and the offending value
};

// Every problem found, in a stable order; empty when the topology is valid.
std::vector<ValidationIssue> validate_topology(const nlohmann::json& hydrated,
                                               const docker::ServiceCatalog& catalog);

// "<N> topology validation error(s): [CODE] message; [CODE] message"
std::string format_validation_detail(const std::vector<ValidationIssue>& issues);

// [A-Za-z0-9_.-], 1..63 characters, not starting with '.' or '-': a string
// that may become part of a Docker object name or a hostname.
bool is_docker_safe_name(const std::string& s);

// [A-Za-z0-9][A-Za-z0-9_.-]{0,127}
bool is_valid_topology_id(const std::string& s);

}  // namespace edge
