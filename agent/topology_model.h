#pragma once
// Reading the master's request bodies into the typed model, from the one
// parse (DESIGN §3 "The body is parsed once"). Errors here are the 422s of
// the contract: the body is not JSON, has a duplicate key, or is not the
// shape the master sends. Semantic checks come after, in validate.h.

#include <string>
#include <string_view>

#include "agent/canonical_json.h"
#include "common/status.h"
#include "common/topology.h"

namespace edge {

// A hydrated document read into the model. The error message lists every
// shape problem with its path ("deckies[2].decky_config must be an object").
// Given the tree `hydrated` belongs to, the deckies' part of it is given
// back as the deckies are read (JsonTree::forget_before): the tree is not
// read again afterwards.
Expected<Topology> read_topology(const JsonRef& hydrated, JsonTree* forget = nullptr);

// POST /topology/apply: {"hydrated": {...}, "version_hash": "<hex>"}.
struct ApplyRequest {
  std::string master_hash;  // version_hash as sent
  std::string local_hash;   // canonical hash of "hydrated", from the same parse
  // The raw text of "hydrated", the bytes that were hashed: a view into the
  // body given to read_apply_request, valid while that body lives (a 16 MiB
  // topology is not copied while its tree and model are also held).
  std::string_view blob;
  Topology topology;  // read only when hash_matches()

  bool hash_matches() const { return local_hash == master_hash; }
};

// Parses `body` once. The error is for a 422 detail: invalid JSON, a
// duplicate key (named with its path), a request that is not
// {"hydrated": {...}, "version_hash": "..."}, or, when the hashes match, a
// hydrated document of the wrong shape. When they do not match the topology
// is left empty and the caller answers 400.
Expected<ApplyRequest> read_apply_request(std::string_view body);

// POST /topology/teardown: {"topology_id": "..."}; the id's form is checked
// by the caller (is_valid_topology_id).
Expected<std::string> read_teardown_request(std::string_view body);

}  // namespace edge
