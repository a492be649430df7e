#pragma once
// The drift object the observer reports (DESIGN §3), built from its four
// name lists; in_sync is derived, as the observer derives it.

#include <nlohmann/json.hpp>

namespace edge::testing {

inline nlohmann::json drift_json(nlohmann::json missing, nlohmann::json extra,
                                 nlohmann::json stopped, nlohmann::json changed) {
  bool in_sync = missing.empty() && extra.empty() && stopped.empty() && changed.empty();
  return {{"in_sync", in_sync},
          {"missing", missing},
          {"extra", extra},
          {"stopped", stopped},
          {"changed", changed}};
}

}  // namespace edge::testing
