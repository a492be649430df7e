#pragma once
// `edge-agent run`: blocks the signals, builds and starts the Agent, and
// waits. SIGTERM/SIGINT drain and stop it (a second one exits at once);
// SIGHUP reloads and never stops it. Boot never touches Docker objects and
// never re-applies.

#include "agent/agent.h"
#include "agent/config.h"

namespace edge {

// Returns the process exit code (agent/exit_codes.h): 0 after a clean
// shutdown, 78 for a configuration error, 1 when it could not start or stop
// cleanly (the reason is logged). `reread` reads the configuration again on
// SIGHUP; empty: a reload reuses `config` (files are still re-read).
int run_daemon(const Config& config, ConfigSource reread = {});

}  // namespace edge
