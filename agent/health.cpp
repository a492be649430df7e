#include "agent/health.h"

#include "common/text.h"

namespace edge {
namespace {

using nlohmann::json;

std::string names(const json& list) {
  std::string out;
  std::size_t shown = 0;
  for (const auto& item : list) {
    if (shown == 8) {
      out += ", and " + std::to_string(list.size() - shown) + " more";
      break;
    }
    if (shown > 0) out += ", ";
    out += item.is_string() ? excerpt(item.get<std::string>(), 128) : excerpt(item.dump(), 128);
    ++shown;
  }
  return out;
}

std::string text_field(const json& drift, const char* key) {
  auto it = drift.find(key);
  return it != drift.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

bool is_drifting(const json& drift) {
  if (!drift.is_object()) return false;
  auto it = drift.find("in_sync");
  return it != drift.end() && it->is_boolean() && !it->get<bool>();
}

std::string describe_drift(const json& drift) {
  if (!drift.is_object()) return "";
  std::string out;
  for (const char* key : {"missing", "extra", "stopped", "changed"}) {
    auto it = drift.find(key);
    if (it == drift.end() || !it->is_array() || it->empty()) continue;
    if (!out.empty()) out += "; ";
    out += std::string(key) + " [" + names(*it) + "]";
  }
  if (!out.empty()) return out;
  std::string why = text_field(drift, "error");
  if (why.empty()) why = text_field(drift, "reason");
  return excerpt(why, 200);
}

std::optional<DriftLogLine> drift_transition(const json& before, const json& after) {
  const bool was = is_drifting(before), is = is_drifting(after);
  if (!was && !is) return std::nullopt;
  if (is) {
    const std::string now = describe_drift(after);
    if (was && now == describe_drift(before)) return std::nullopt;
    return DriftLogLine{true, std::string(was ? "drift changed: " : "drift: ") +
                                  (now.empty() ? "Docker differs from the applied topology" : now)};
  }
  const std::string old = describe_drift(before);
  return DriftLogLine{false, "drift cleared: Docker matches the applied topology again" +
                                 (old.empty() ? std::string() : " (was: " + old + ")")};
}

std::string status_line(const HealthFacts& f) {
  std::string wrong;
  const auto add = [&](const std::string& what) {
    if (!wrong.empty()) wrong += "; ";
    wrong += what;
  };
  if (!f.docker_reachable) {
    add("Docker unreachable" +
        (f.docker_error.empty() ? std::string() : " (" + excerpt(f.docker_error, 120) + ")"));
  }
  if (f.heartbeat_failing) {
    add("heartbeat failing" + (f.heartbeat_reason.empty()
                                   ? std::string()
                                   : " (" + excerpt(f.heartbeat_reason, 120) + ")"));
  }
  if (!f.last_error.empty()) add("last apply failed: " + excerpt(f.last_error, 120));
  // Unreachable Docker already says why drift cannot be known.
  if (f.docker_reachable && is_drifting(f.drift)) {
    const std::string d = describe_drift(f.drift);
    add("drift" + (d.empty() ? std::string() : ": " + excerpt(d, 160)));
  }
  if (wrong.empty()) return "serving on " + f.serving;
  return "degraded: " + wrong;
}

}  // namespace edge
