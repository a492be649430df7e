#pragma once
// The operator's service catalog: which image and command run each service.

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace edge::docker {

struct ServiceSpec {
  std::string image;
  std::vector<std::string> command;  // empty: the image's own
  std::map<std::string, std::string> env;
};

using ServiceCatalog = std::map<std::string, ServiceSpec>;

// Parses {"<service>": {"image": "ref", "command": [...], "env": {...}}}.
// On failure returns false and sets *error to a reason naming the entry.
bool parse_service_catalog(const nlohmann::json& doc, ServiceCatalog* out, std::string* error);

}  // namespace edge::docker
