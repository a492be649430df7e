#pragma once
// Shared helpers for the suites: temp dirs, free ports, child processes.

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace edge::testing {

// A fresh directory under $TMPDIR, removed with everything in it on scope exit.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

std::string read_file(const std::filesystem::path& p);
void write_file(const std::filesystem::path& p, const std::string& content);

// True in CI (CI=true): there, a missing Docker engine is a failure.
bool in_ci();

// Path of the built daemon (build/edge-agent).
std::filesystem::path agent_binary();

// Polls `pred` every 10 ms until it holds or `timeout` passes (a test's
// wait, never the agent's); returns the last answer.
bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout);

// A port on 127.0.0.1 that was free a moment ago.
int free_port();

// One plain TCP connection: sends "GET <path> HTTP/1.0" and returns what the
// peer answers within 2 s ("" when the connection fails).
std::string http_get_raw(const std::string& host, int port, const std::string& path);

}  // namespace edge::testing
