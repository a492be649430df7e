#pragma once
// From a test's JSON to the typed model, the way the agent reads a body:
// one parse, read_topology, validate_topology, plan_topology.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "agent/canonical_json.h"
#include "agent/topology_model.h"
#include "agent/validate.h"
#include "docker_obs/plan.h"

namespace edge::testing {

inline constexpr const char* kTestOwner = "0000aaaa-0000-4000-8000-00000000beef";

inline Topology to_topology(const nlohmann::json& hydrated) {
  const std::string text = hydrated.dump();
  auto tree = JsonTree::parse(text, JsonTree::Duplicates::kReject);
  if (!tree) {
    ADD_FAILURE() << tree.error().message();
    return {};
  }
  auto t = read_topology(tree->root());
  if (!t) {
    ADD_FAILURE() << t.error().message();
    return {};
  }
  return std::move(t).value();
}

inline std::optional<ValidTopology> to_valid(const nlohmann::json& hydrated,
                                             const docker::ServiceCatalog& catalog) {
  auto v = validate_topology(to_topology(hydrated), catalog);
  if (!v) {
    ADD_FAILURE() << format_validation_detail(v.error());
    return std::nullopt;
  }
  return std::move(v).value();
}

inline docker::Plan to_plan(const nlohmann::json& hydrated, const docker::ServiceCatalog& catalog,
                            const std::string& base_image = "edge-agent-test/busybox:latest",
                            const std::string& owner = kTestOwner) {
  auto v = to_valid(hydrated, catalog);
  if (!v) return {};
  return docker::plan_topology(*v, catalog, {base_image, owner});
}

}  // namespace edge::testing
