#pragma once
// Effective configuration of `edge-agent run` (DESIGN §8).
// Precedence: flags > EDGE_AGENT_* environment > --config JSON file > defaults.

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

namespace edge {

struct Config {
  std::string listen_host = "127.0.0.1";
  int listen_port = 8765;
  std::filesystem::path state_dir;  // default_state_dir() unless set
  std::string docker_socket = "/var/run/docker.sock";
  std::string base_image = "debian:bookworm-slim";
  std::string service_catalog;  // path; "" = empty catalog
  std::string master_url;       // "" = heartbeat off
  std::string host_uuid;
  int heartbeat_interval_s = 30;
  std::string tls_cert, tls_key, tls_ca;
  std::string log_level = "info";
  std::size_t max_body_bytes = 16u << 20;
  // --master-identity (repeatable): CN / DNS SAN / sha256:HEX the master's
  // client certificate must show (DESIGN §7). Empty: any CA-signed caller.
  std::vector<std::string> master_identity;
  // --max-memory: ceiling for work in flight: request bodies and their
  // parse (admission), the plans of applies (common/memory_budget.h).
  std::size_t max_memory = 512u << 20;
  std::string config_file;  // where file values came from, if any

  bool tls_enabled() const { return !tls_cert.empty() || !tls_key.empty() || !tls_ca.empty(); }
  // Problems that must stop the daemon before it binds anything, each a
  // sentence telling the operator what to pass. Empty when runnable.
  std::vector<std::string> problems() const;
};

// ./var when running from a build tree, /var/lib/edge-agent when installed
// (the binary lives under /usr).
std::filesystem::path default_state_dir();

// True for 127.0.0.0/8, ::1 and "localhost".
bool is_loopback_host(const std::string& host);

// Splits "HOST:PORT" / "[v6]:PORT". Returns false with *error set on failure.
bool parse_listen(const std::string& text, std::string* host, int* port, std::string* error);

}  // namespace edge
