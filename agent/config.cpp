#include "agent/config.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <climits>
#include <cstring>
#include <fstream>

#include "agent/heartbeat.h"
#include "agent/http_server.h"
#include "agent/tls_credentials.h"

namespace edge {

std::filesystem::path default_state_dir() {
  std::array<char, PATH_MAX> buf{};
  ssize_t n = ::readlink("/proc/self/exe", buf.data(), buf.size() - 1);
  if (n > 0) {
    std::string exe(buf.data(), static_cast<std::size_t>(n));
    if (exe.rfind("/usr/", 0) == 0) return "/var/lib/edge-agent";
  }
  return "./var";
}

bool is_loopback_host(const std::string& host) {
  if (host == "localhost") return true;
  in_addr v4{};
  if (::inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (::inet_pton(AF_INET6, host.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
  return false;
}

bool parse_listen(const std::string& text, std::string* host, int* port, std::string* error) {
  std::string h;
  std::string p;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      *error = "listen address '" + text + "' is not [IPv6]:PORT";
      return false;
    }
    h = text.substr(1, close - 1);
    p = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0) {
      *error = "listen address '" + text + "' is not HOST:PORT (e.g. 127.0.0.1:8765)";
      return false;
    }
    h = text.substr(0, colon);
    p = text.substr(colon + 1);
  }
  char* end = nullptr;
  long value = std::strtol(p.c_str(), &end, 10);
  if (p.empty() || *end != '\0' || value < 0 || value > 65535) {
    *error = "listen port '" + p + "' is not a number from 0 to 65535";
    return false;
  }
  *host = h;
  *port = static_cast<int>(value);
  return true;
}

std::vector<std::string> Config::problems() const {
  std::vector<std::string> out;
  const std::string where = listen_host + ":" + std::to_string(listen_port);
  if (tls_enabled()) {
    if (tls_cert.empty() || tls_key.empty() || tls_ca.empty()) {
      out.push_back("TLS needs all three of --tls-cert, --tls-key and --tls-ca (the master's CA)");
    }
    for (const auto* path : {&tls_cert, &tls_key, &tls_ca}) {
      if (path->empty() || std::ifstream(*path).good()) continue;
      const int err = errno;
      std::string why = "cannot read TLS file '" + *path + "': " + std::strerror(err);
      if (err == EACCES) {
        why += " (the agent runs as uid " + std::to_string(::geteuid()) +
               "; give its group read access, e.g. chgrp edge-agent '" + *path +
               "' && chmod 0640 '" + *path + "')";
      }
      out.push_back(why);
    }
  } else if (!is_loopback_host(listen_host)) {
    out.push_back("refusing to serve plaintext HTTP on " + where +
                  ": pass --tls-cert, --tls-key and --tls-ca (the master's CA) to serve HTTPS "
                  "with client certificates, or listen on a loopback address such as "
                  "127.0.0.1:" +
                  std::to_string(listen_port));
  }
  if (auto id = MasterIdentity::parse(master_identity); !id.ok()) {
    out.push_back(id.error().message());
  } else if (id->pinned() && !tls_enabled()) {
    out.push_back("--master-identity needs TLS: pass --tls-cert, --tls-key and --tls-ca");
  }
  if (max_memory < kBodyCostFactor * max_body_bytes) {
    out.push_back("--max-memory (" + std::to_string(max_memory) + " bytes) must be at least " +
                  std::to_string(kBodyCostFactor) + " x --max-body-bytes (" +
                  std::to_string(kBodyCostFactor * max_body_bytes) +
                  ") so one largest body can be read and parsed");
  }
  if (heartbeat_interval_s < 1 || heartbeat_interval_s > 3600) {
    out.push_back("--heartbeat-interval must be between 1 and 3600 seconds");
  }
  if (!master_url.empty() && host_uuid.empty()) {
    out.push_back("--master-url is set but --host-uuid is empty: the master needs the host's uuid");
  }
  if (!master_url.empty()) {
    std::string why = check_master_url(master_url);
    if (!why.empty()) out.push_back("--master-url: " + why);
    if (master_url.rfind("https://", 0) == 0 && !tls_enabled()) {
      out.push_back(
          "--master-url is https:// but --tls-cert, --tls-key and --tls-ca are not set: "
          "the master requires this host's client certificate");
    }
  }
  return out;
}

}  // namespace edge
