#pragma once
// A cheap structural pass over a request body before any real parser sees
// it: caps nesting (nlohmann and cpp-httplib recurse and would overflow the
// stack on a few hundred thousand '['), and finds the raw text of top-level
// members so the version hash is computed from the bytes the master sent.

#include <cstddef>
#include <map>
#include <string>
#include <string_view>

namespace edge {

struct TopLevelScan {
  bool ok = false;
  std::string error;  // why not ok, with a byte offset
  // Raw text of each top-level member value, keyed by the raw key text
  // (as written between the quotes). The last duplicate wins, as in Python.
  std::map<std::string, std::string_view, std::less<>> members;
};

// Requires a top-level object. Strings are skipped, not validated (the real
// parser does that); nesting deeper than max_depth is an error.
TopLevelScan scan_top_level(std::string_view text, std::size_t max_depth);

}  // namespace edge
