#pragma once
// This agent's identity (DESIGN §5 "Ownership"): a UUID made once and kept
// in <state-dir>/agent-id. Every Docker object the agent creates carries it
// as decnet.agent.id, so it never touches another agent's objects.

#include <filesystem>
#include <string>

#include "common/status.h"

namespace edge::store {

// Reads <state_dir>/agent-id, or makes a random (v4) UUID and writes it
// durably (temp file, fsync, rename) when the file is missing. A file that
// holds something else than a UUID is an error naming the file: the agent
// must not silently change identity and orphan its objects.
Expected<std::string> load_or_create_agent_id(const std::filesystem::path& state_dir);

// Reads it without creating (for `edge-agent state`/`check`): "" when absent.
Expected<std::string> read_agent_id(const std::filesystem::path& state_dir);

}  // namespace edge::store
