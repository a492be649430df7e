#pragma once
// `edge-agent run`: wires store, Docker runtime, HTTP server and heartbeat,
// speaks sd_notify, and shuts down cleanly on SIGTERM/SIGINT (a second signal
// exits at once). Boot never touches Docker objects and never re-applies.

#include "agent/config.h"

namespace edge {

// Returns the process exit code: 0 after a clean shutdown, 1 when it could
// not start (the reason is logged), 2 for a configuration error.
int run_daemon(const Config& config);

}  // namespace edge
