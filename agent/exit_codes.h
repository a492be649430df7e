#pragma once
// Exit codes of the edge-agent command, documented in --help and the README.
// The unit sets RestartPreventExitStatus=78, so a configuration error is not
// restarted in a loop.

namespace edge::exit_code {

constexpr int kOk = 0;       // done, or a clean shutdown
constexpr int kFailure = 1;  // a runtime failure (store, port, Docker, I/O)
constexpr int kUsage = 2;    // a bad command line: unknown command or option
constexpr int kConfig = 78;  // EX_CONFIG: bad flag value, config file, catalog or TLS bundle

}  // namespace edge::exit_code
