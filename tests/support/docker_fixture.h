#pragma once
// GoogleTest fixture for suites that need the real Docker engine.
//
// SetUp: reaches the engine at /var/run/docker.sock (missing engine: FAIL in
// CI, GTEST_SKIP elsewhere, saying Docker is missing), builds the offline test
// image once per process (tests/support/make_test_image.sh), and draws a
// fresh topology id per test. TearDown removes every container and network
// labelled decnet.topology.id=<that id> (and of any id passed to
// also_clean_up()), so a failed test leaves nothing behind.
//
// Header-only so it needs no change to tests/CMakeLists.txt.

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "docker_obs/engine.h"
#include "docker_obs/plan.h"
#include "tests/support/test_support.h"

namespace edge::testing {

inline constexpr const char* kTestImage = "edge-agent-test/busybox:latest";

struct CommandResult {
  int status = -1;     // exit status; -1 when it could not run
  std::string output;  // stdout and stderr
};

// Runs a shell command written by the test itself (never with outside input).
inline CommandResult run_command(const std::string& command) {
  CommandResult r;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) r.output.append(buf, n);
  int rc = ::pclose(p);
  r.status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  return r;
}

// A uuid-shaped id whose first 8 characters are random hex, so the Docker
// names (decnet_t_<first 8>_...) of concurrent tests do not collide.
inline std::string random_topology_id() {
  static constexpr char kHex[] = "0123456789abcdef";
  std::random_device rd;
  std::mt19937_64 rng((static_cast<std::uint64_t>(rd()) << 32) ^ rd());
  auto hex = [&](int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s.push_back(kHex[rng() % 16]);
    return s;
  };
  return hex(8) + "-" + hex(4) + "-4" + hex(3) + "-8" + hex(3) + "-" + hex(12);
}

class DockerFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!engine_.negotiate(&why)) {
      if (in_ci()) FAIL() << "Docker is missing, and CI requires it: " << why;
      GTEST_SKIP() << "Docker is missing (" << why << "); skipping the engine tests";
    }
    ensure_test_image();
    if (HasFatalFailure()) return;
    topology_id_ = random_topology_id();
    prefix_ = "decnet_t_" + topology_id_.substr(0, 8) + "_";
  }

  void TearDown() override {
    if (!topology_id_.empty()) remove_labelled(topology_id_);
    for (const auto& id : extra_ids_) remove_labelled(id);
  }

  // TearDown also removes this topology's objects.
  void also_clean_up(const std::string& topology_id) { extra_ids_.push_back(topology_id); }

  // `docker <args>`; the test fails when it does not exit 0.
  CommandResult docker(const std::string& args) {
    CommandResult r = run_command("docker " + args);
    EXPECT_EQ(r.status, 0) << "docker " << args << ": " << r.output;
    return r;
  }

  // --label flags marking an object as part of `topology_id`, with a spec hash.
  static std::string labels(const std::string& topology_id, const std::string& spec) {
    return std::string("--label ") + docker::kLabelTopologyId + "=" + topology_id + " --label " +
           docker::kLabelSpec + "=" + spec;
  }

  // Every labelled object of `topology_id`, removed through the engine API.
  void remove_labelled(const std::string& topology_id) {
    const std::string filters = docker::url_encode(
        nlohmann::json{{"label", {std::string(docker::kLabelTopologyId) + "=" + topology_id}}}
            .dump());
    docker::EngineResponse ctrs = engine_.get("/containers/json?all=1&filters=" + filters);
    ASSERT_TRUE(ctrs.ok()) << ctrs.message();
    for (const auto& c : ctrs.json()) {
      docker::EngineResponse r =
          engine_.del("/containers/" + c["Id"].get<std::string>() + "?force=1&v=1");
      EXPECT_TRUE(r.ok() || r.status == 404) << r.message();
    }
    docker::EngineResponse nets = engine_.get("/networks?filters=" + filters);
    ASSERT_TRUE(nets.ok()) << nets.message();
    for (const auto& n : nets.json()) {
      docker::EngineResponse r = engine_.del("/networks/" + n["Id"].get<std::string>());
      EXPECT_TRUE(r.ok() || r.status == 404) << r.message();
    }
  }

  static void ensure_test_image() {
    static bool built = false;  // test bodies run on one thread
    if (built) return;
    const std::string script = std::string(EDGE_SOURCE_DIR) + "/tests/support/make_test_image.sh";
    CommandResult r = run_command("bash " + script);
    ASSERT_EQ(r.status, 0) << "could not build the test image: " << r.output;
    built = true;
  }

  docker::DockerEngine engine_{docker::EngineOptions{}};
  std::string topology_id_;
  std::string prefix_;  // decnet_t_<tid8>_
  std::vector<std::string> extra_ids_;
};

}  // namespace edge::testing
