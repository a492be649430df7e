#pragma once
// `edge-agent check` (DESIGN §8): a preflight an operator runs before starting
// the unit, like `iotedge check`. Each check yields one line: what passed, or
// what is wrong and what to do about it. Nothing here changes the host: no
// file is created, no lock is taken, no Docker object is made.

#include <sys/types.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "agent/config.h"

namespace edge {

enum class CheckLevel { kOk, kWarning, kError };

struct CheckResult {
  std::string name;  // stable id, e.g. "tls-files-readable"
  CheckLevel level = CheckLevel::kOk;
  std::string detail;  // what was found
  std::string hint;    // what to do; "" when ok

  bool ok() const { return level == CheckLevel::kOk; }
};

// Who the service runs as: whose permissions the file checks use.
struct ServiceUser {
  std::string name;
  uid_t uid = 0;
  std::vector<gid_t> gids;          // primary first, then supplementary
  bool is_service_account = false;  // the packaged `edge-agent` user, not the caller
};

// The `edge-agent` user when it exists, else the user running the check.
ServiceUser default_service_user();

struct CheckOptions {
  bool online = false;              // also reach the master over mTLS
  std::optional<ServiceUser> user;  // default_service_user() when unset
  // The --master-identity values in force (DESIGN §7); empty = unpinned.
  std::vector<std::string> master_identity;
  // Groups systemd adds to the service (the unit's SupplementaryGroups=).
  std::vector<std::string> unit_groups = {"docker"};
  std::chrono::milliseconds timeout{3000};  // per network call
};

// The individual checks, each usable alone (tests call them one by one).
// `config_error` is what reading the settings said ("" = they parsed).
CheckResult check_config(const Config& config, const std::string& config_error);
std::vector<CheckResult> check_tls(const Config& config, const ServiceUser& user);
CheckResult check_master_identity(const std::vector<std::string>& identities);
// Docker reachable (with its version), then the service user's socket access.
std::vector<CheckResult> check_docker(const Config& config, const CheckOptions& options,
                                      const ServiceUser& user);
CheckResult check_state_dir(const Config& config, const ServiceUser& user);
CheckResult check_listen_port(const Config& config, std::chrono::milliseconds timeout);
// The catalog parses; then each image it names (and the base image) is present.
std::vector<CheckResult> check_catalog(const Config& config, std::chrono::milliseconds timeout);
CheckResult check_master_online(const Config& config, std::chrono::milliseconds timeout);

// Every check in order (the config one first; when it failed nothing else runs).
std::vector<CheckResult> run_checks(const Config& config, const std::string& config_error,
                                    const CheckOptions& options);

// "✓ name: detail" / "✗ name: detail\n    → hint" / "⚠ ..." lines.
std::string format_checks(const std::vector<CheckResult>& results);
// {"checks":[{"name","ok","level","detail","hint"}...],"ok":bool}
nlohmann::json checks_json(const std::vector<CheckResult>& results);
// 0 when no check is an error (warnings do not fail), else 1.
int checks_exit_code(const std::vector<CheckResult>& results);

}  // namespace edge
