#pragma once
// Semantic validation of a hydrated topology (DESIGN §3). Runs after the hash
// check and before anything touches Docker or the store. The rule of thumb:
// never refuse what the master's own validator accepts and Docker can run;
// refuse, before touching anything, what Docker would refuse half-way.
// Codes follow the master's validator (decnet/topology/validate.py) where it
// has one.

#include <initializer_list>
#include <map>
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

// Every problem found: the first kKept in full, in a stable order, and a
// count per code of the rest, so a topology with a problem in each of its
// 100,000 deckies costs a bounded list and a bounded reply.
class ValidationIssues {
 public:
  static constexpr std::size_t kKept = 50;

  ValidationIssues() = default;
  ValidationIssues(std::initializer_list<ValidationIssue> issues) {
    for (const auto& i : issues) add(i.code, i.message);
  }

  void add(std::string code, std::string message);
  bool empty() const { return total_ == 0; }
  std::size_t size() const { return total_; }  // every issue, kept or not
  // The kept issues (the first kKept).
  std::vector<ValidationIssue>::const_iterator begin() const { return kept_.begin(); }
  std::vector<ValidationIssue>::const_iterator end() const { return kept_.end(); }
  // Codes of the issues beyond the kept ones, with their counts.
  const std::map<std::string, std::size_t>& omitted() const { return omitted_; }

 private:
  std::vector<ValidationIssue> kept_;
  std::map<std::string, std::size_t> omitted_;
  std::size_t total_ = 0;
};

// Every problem found, in a stable order, or the topology as a ValidTopology.
Expected<ValidTopology, ValidationIssues> validate_topology(Topology topology,
                                                            const docker::ServiceCatalog& catalog);

// "<N> topology validation error(s): [CODE] message; [CODE] message", then,
// past the kept ones, "; and <M> more: CODE x <count>, ...": every code is
// named however many issues there are.
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
