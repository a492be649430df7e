#pragma once
// What the agent says about its own health, as text: the drift lines of the
// log and the STATUS= line systemd shows (DESIGN §8). Pure functions, so the
// wording is tested without a daemon.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace edge {

// "missing [a, b]; extra [c]; stopped [d]; changed [e]" from a drift object
// (only the non-empty lists), or its "error"/"reason" when it has no lists.
// Empty when it names nothing.
std::string describe_drift(const nlohmann::json& drift);

// True when `drift` is an object with "in_sync": false.
bool is_drifting(const nlohmann::json& drift);

struct DriftLogLine {
  bool warning = false;  // true: drift appeared or changed (warn); false: cleared (info)
  std::string text;
};

// The one log line for a change from `before` to `after` (each a drift
// object as observed), or nothing when the drift did not appear, change or
// clear.
std::optional<DriftLogLine> drift_transition(const nlohmann::json& before,
                                             const nlohmann::json& after);

struct HealthFacts {
  std::string serving;  // "127.0.0.1:8765"
  bool docker_reachable = true;
  std::string docker_error;
  bool heartbeat_failing = false;
  std::string heartbeat_reason;
  nlohmann::json drift = nlohmann::json::object();  // observed drift object
  std::string last_error;                           // the row's last_error, if any
};

// "serving on <addr>" when healthy; otherwise "degraded: " and what is
// wrong, most urgent first, e.g. "degraded: Docker unreachable (...);
// heartbeat failing (HTTP 503); drift: missing [x]; last apply failed: ...".
std::string status_line(const HealthFacts& facts);

}  // namespace edge
