#pragma once
// The TLS bundle of DESIGN §7/§8: one cert+key for this agent and one CA (the
// master's). The same bundle serves HTTPS (client certs must chain to `ca`)
// and authenticates the heartbeat client (the master must chain to `ca`).

#include <string>

namespace edge {

struct TlsFiles {
  std::string cert;  // PEM certificate (chain) of this agent
  std::string key;   // PEM private key of `cert`
  std::string ca;    // PEM CA that signs the master's and the agent's certs

  // Some but maybe not all of the three are set (a half-configured bundle
  // is an operator error the config should name).
  bool any() const { return !cert.empty() || !key.empty() || !ca.empty(); }
  // All three are set: mTLS can be used.
  bool complete() const { return !cert.empty() && !key.empty() && !ca.empty(); }
};

}  // namespace edge
