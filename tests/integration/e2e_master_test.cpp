// End to end: build/edge-agent and build/edge_test_master as child processes
// on free ports, mutual TLS both ways with a PKI generated for this run
// (DESIGN §6, §7). Only the re-push case needs Docker; the others point the
// agent at a socket that does not exist, which must not stop it from
// serving or heartbeating.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "agent/build_info.h"
#include "agent/canonical_json.h"
#include "docker_obs/converge.h"
#include "docker_obs/engine.h"
#include "store/agent_id.h"
#include "tests/support/test_support.h"
#include "tests/support/topology_builder.h"

extern char** environ;

namespace edge {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using nlohmann::json;
namespace fs = std::filesystem;
using edge::testing::read_file;
using edge::testing::write_file;

constexpr const char* kTestImage = "edge-agent-test/busybox:latest";
constexpr const char* kHostUuid = "host-e2e-1";

std::int64_t ms_since(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout) {
  const auto until = Clock::now() + timeout;
  while (Clock::now() < until) {
    if (pred()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return pred();
}

// A child process with stdout+stderr in `log`; killed (SIGKILL) and reaped on
// scope exit if still running.
class Child {
 public:
  Child(const fs::path& binary, const std::vector<std::string>& args, fs::path log)
      : log_(std::move(log)) {
    std::vector<std::string> argv_s{binary.string()};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    const int rc = posix_spawn(&pid_, binary.c_str(), &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) throw std::runtime_error("posix_spawn " + binary.string() + " failed");
  }
  ~Child() {
    if (!exited_) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  void signal(int sig) { ::kill(pid_, sig); }
  // The wait status once it exited within `timeout`.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout) {
    const auto until = Clock::now() + timeout;
    while (true) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        return status;
      }
      if (Clock::now() >= until) return std::nullopt;
      std::this_thread::sleep_for(5ms);
    }
  }
  bool running() {
    if (exited_) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) exited_ = true;
    return !exited_;
  }
  std::string log() const { return read_file(log_); }

 private:
  fs::path log_;
  pid_t pid_ = -1;
  bool exited_ = false;
};

class E2eMaster : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // httplib writes to peers that hang up on a refused handshake; like the
    // daemon, the test process must survive that.
    ::signal(SIGPIPE, SIG_IGN);
    pki_ = std::make_unique<edge::testing::TempDir>();
    const std::string cmd =
        "bash '" EDGE_SOURCE_DIR "/tests/support/make_pki.sh' '" + pki_->path().string() + "'";
    pki_ok_ = std::system(cmd.c_str()) == 0;
  }
  static void TearDownTestSuite() { pki_.reset(); }

  void SetUp() override {
    ASSERT_TRUE(pki_ok_) << "tests/support/make_pki.sh failed";
    ASSERT_TRUE(fs::exists(master_binary())) << master_binary() << " is not built";
    ASSERT_TRUE(fs::exists(edge::testing::agent_binary())) << "build/edge-agent is not built";
    agent_port_ = edge::testing::free_port();
    master_port_ = edge::testing::free_port();
    while (master_port_ == agent_port_) master_port_ = edge::testing::free_port();
    write_file(
        dir_.path() / "catalog.json",
        json{{"http", {{"image", kTestImage}, {"command", {"httpd", "-f", "-p", "8080"}}}}}.dump());
  }

  void TearDown() override {
    if (HasFailure()) {
      for (const char* name : {"agent.log", "master.log"}) {
        std::cerr << "---- " << name << " ----\n" << read_file(dir_.path() / name) << "\n";
      }
    }
  }

  static fs::path pki(const char* name) { return pki_->path() / name; }
  static fs::path master_binary() { return fs::path(EDGE_BINARY_DIR) / "edge_test_master"; }
  std::string agent_url() const { return "https://127.0.0.1:" + std::to_string(agent_port_); }
  fs::path record() const { return dir_.path() / "beats.jsonl"; }

  std::unique_ptr<Child> start_master(std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"--listen", "127.0.0.1:" + std::to_string(master_port_),
                                  "--cert",   pki("master.crt").string(),
                                  "--key",    pki("master.key").string(),
                                  "--ca",     pki("ca.crt").string(),
                                  "--record", record().string()};
    args.insert(args.end(), extra.begin(), extra.end());
    auto child = std::make_unique<Child>(master_binary(), args, dir_.path() / "master.log");
    EXPECT_TRUE(
        eventually([&] { return child->log().find("listening on") != std::string::npos; }, 10s))
        << "the test master did not start";
    return child;
  }

  // docker_socket "" = a socket that does not exist (Docker unreachable).
  std::unique_ptr<Child> start_agent(int interval_s, std::string docker_socket = "",
                                     bool with_master = true) {
    if (docker_socket.empty()) docker_socket = (dir_.path() / "no-docker.sock").string();
    std::vector<std::string> args{"run",
                                  "--listen",
                                  "127.0.0.1:" + std::to_string(agent_port_),
                                  "--state-dir",
                                  (dir_.path() / "state").string(),
                                  "--docker-socket",
                                  docker_socket,
                                  "--base-image",
                                  kTestImage,
                                  "--service-catalog",
                                  (dir_.path() / "catalog.json").string(),
                                  "--host-uuid",
                                  kHostUuid,
                                  "--heartbeat-interval",
                                  std::to_string(interval_s),
                                  "--tls-cert",
                                  pki("agent.crt").string(),
                                  "--tls-key",
                                  pki("agent.key").string(),
                                  "--tls-ca",
                                  pki("ca.crt").string(),
                                  "--master-identity",
                                  "decnet-master",
                                  "--log-level",
                                  "debug"};
    if (with_master) {
      args.push_back("--master-url");
      args.push_back("https://127.0.0.1:" + std::to_string(master_port_));
    }
    auto child =
        std::make_unique<Child>(edge::testing::agent_binary(), args, dir_.path() / "agent.log");
    EXPECT_TRUE(eventually(
        [&] {
          auto r = agent_call("GET", "/health");
          return r && r->status == 200;
        },
        15s))
        << "the agent did not answer GET /health over mTLS";
    return child;
  }

  // A call to the agent as the master makes it: client cert = `cert`, the
  // agent verified against the CA.
  httplib::Result agent_call(const std::string& method, const std::string& path,
                             const std::string& body = "", const char* cert = "master.crt",
                             const char* key = "master.key") const {
    httplib::SSLClient c("127.0.0.1", agent_port_, cert ? pki(cert).string() : "",
                         key ? pki(key).string() : "");
    c.set_ca_cert_path(pki("ca.crt").string());
    c.enable_server_certificate_verification(true);
    c.set_connection_timeout(2s);
    c.set_read_timeout(120s);
    return method == "GET" ? c.Get(path.c_str()) : c.Post(path.c_str(), body, "application/json");
  }

  std::vector<json> beats() const {
    std::vector<json> out;
    std::istringstream in(read_file(record()));
    for (std::string line; std::getline(in, line);) {
      if (!line.empty()) out.push_back(json::parse(line));
    }
    return out;
  }

  edge::testing::TempDir dir_;
  int agent_port_ = 0;
  int master_port_ = 0;
  static inline std::unique_ptr<edge::testing::TempDir> pki_;
  static inline bool pki_ok_ = false;
};

TEST_F(E2eMaster, HeartbeatsArriveAtTheIntervalWithTheAgentsStateFromAVerifiedCert) {
  auto master = start_master();
  auto agent = start_agent(1);

  // Time arrivals by watching the record grow.
  std::vector<Clock::time_point> arrivals;
  ASSERT_TRUE(eventually(
      [&] {
        while (arrivals.size() < beats().size()) arrivals.push_back(Clock::now());
        return arrivals.size() >= 4;
      },
      15s));
  for (std::size_t i = 2; i < 4; ++i) {  // the first beat goes out at start
    const auto gap =
        std::chrono::duration_cast<std::chrono::milliseconds>(arrivals[i] - arrivals[i - 1])
            .count();
    EXPECT_GE(gap, 800) << "beat " << i;   // 1 s - 10% jitter, minus polling slack
    EXPECT_LE(gap, 1500) << "beat " << i;  // 1 s + 10% jitter, plus TLS and polling slack
  }

  const json beat = beats().back();
  EXPECT_EQ(beat["host_uuid"], kHostUuid);
  EXPECT_EQ(beat["agent_version"], build::kVersion);
  ASSERT_TRUE(beat["status"].is_object());
  const json& topology = beat["topology"];
  for (const char* key :
       {"topology_id", "applied_version_hash", "applied_at", "last_error", "observed", "drift"}) {
    EXPECT_TRUE(topology.contains(key)) << key;
  }
  EXPECT_TRUE(topology["topology_id"].is_null());
  EXPECT_TRUE(topology["applied_version_hash"].is_null());
  // Docker is unreachable here: reported, not fatal.
  EXPECT_TRUE(topology["observed"]["error"].is_string()) << topology.dump();
  // The master only logs a heartbeat after its TLS layer verified the client cert.
  EXPECT_NE(master->log().find("heartbeat from CN=edge-agent host_uuid=host-e2e-1"),
            std::string::npos);
}

TEST_F(E2eMaster, AnApplyReachesTheMasterWithinSecondsEvenWithA60sInterval) {
  auto master = start_master();
  auto agent = start_agent(60);
  ASSERT_TRUE(eventually([&] { return beats().size() >= 1; }, 10s));  // the beat at start
  // The first Docker listing (here: the engine is unreachable) changes what
  // the agent reports, which is sent at once too: let the start settle.
  std::size_t settled = beats().size();
  for (int i = 0; i < 5; ++i) {
    std::this_thread::sleep_for(1s);
    if (beats().size() == settled) break;
    settled = beats().size();
  }

  edge::testing::TopologyShape shape;
  shape.id = "e2e00001-1111-4222-8333-444455556666";
  const std::string hydrated = edge::testing::make_topology(shape).dump();
  const auto hash = canonical_hash(hydrated);
  ASSERT_TRUE(hash.ok) << hash.error;
  const auto applied_at = Clock::now();
  auto r = agent_call("POST", "/topology/apply",
                      R"({"hydrated":)" + hydrated + R"(,"version_hash":")" + hash.text + R"("})");
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  // The engine is unreachable, so the apply fails, and is recorded: that is
  // the state change the master must hear about at once.
  EXPECT_EQ(r->status, 500) << r->body;

  ASSERT_TRUE(eventually([&] { return beats().size() >= settled + 1; }, 5s));
  EXPECT_LT(ms_since(applied_at), 5000);
  const json topology = beats()[settled]["topology"];
  EXPECT_EQ(topology["topology_id"], shape.id);
  EXPECT_TRUE(topology["last_error"].is_string()) << topology.dump();
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(beats().size(), settled + 1);  // one prompt send, not a burst
}

TEST_F(E2eMaster, WhenTheMasterIsDownTheAgentKeepsServingAndHeartbeatsResumeWhenItReturns) {
  auto master = start_master();
  auto agent = start_agent(1);
  ASSERT_TRUE(eventually([&] { return beats().size() >= 1; }, 10s));

  master->signal(SIGTERM);
  ASSERT_TRUE(master->wait_exit(5s).has_value());
  const std::size_t before = beats().size();
  std::this_thread::sleep_for(2500ms);  // a few failed beats
  auto health = agent_call("GET", "/health");
  ASSERT_TRUE(health) << httplib::to_string(health.error());
  EXPECT_EQ(health->status, 200);
  EXPECT_TRUE(agent->running());
  EXPECT_EQ(beats().size(), before);

  master = start_master();
  // Backoff is capped at the 1 s interval, so the next beat comes within ~1.1 s.
  EXPECT_TRUE(eventually([&] { return beats().size() > before; }, 5s));
  EXPECT_TRUE(
      eventually([&] { return agent->log().find("heartbeat ok again") != std::string::npos; }, 2s));
}

TEST_F(E2eMaster, TheAgentsHttpsRefusesClientsWithoutACertOrWithACertFromAnotherCa) {
  auto agent = start_agent(60, "", /*with_master=*/false);
  auto as_master = agent_call("GET", "/health");
  ASSERT_TRUE(as_master) << httplib::to_string(as_master.error());
  EXPECT_EQ(as_master->status, 200);

  auto no_cert = agent_call("GET", "/health", "", nullptr, nullptr);
  EXPECT_FALSE(no_cert) << "answered " << no_cert->status << " without a client cert";
  auto rogue = agent_call("GET", "/health", "", "rogue.crt", "rogue.key");
  EXPECT_FALSE(rogue) << "answered " << rogue->status << " to a rogue-CA client cert";
  auto rogue_apply = agent_call("POST", "/topology/apply", "{}", "rogue.crt", "rogue.key");
  EXPECT_FALSE(rogue_apply);
}

TEST_F(E2eMaster, SigtermExitsZeroWithinTwoSecondsWhileTheMasterHangs) {
  auto master = start_master({"--hang"});
  auto agent = start_agent(1);
  ASSERT_TRUE(eventually([&] { return beats().size() >= 1; }, 10s));  // stuck in the master now
  const auto t = Clock::now();
  agent->signal(SIGTERM);
  const auto status = agent->wait_exit(2s);
  ASSERT_TRUE(status.has_value()) << "still running 2 s after SIGTERM";
  EXPECT_LT(ms_since(t), 2000);
  ASSERT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 0);
}

// Needs the Docker engine and the offline test image.
TEST_F(E2eMaster, TheMasterRePushesOnMismatchAndTheAgentConverges) {
  docker::DockerEngine engine{docker::EngineOptions{}};
  std::string why;
  if (!engine.negotiate(&why)) {
    if (edge::testing::in_ci()) FAIL() << "Docker is required in CI: " << why;
    GTEST_SKIP() << "Docker engine unreachable: " << why;
  }
  ASSERT_EQ(std::system("bash '" EDGE_SOURCE_DIR "/tests/support/make_test_image.sh' >/dev/null"),
            0)
      << "could not build the test image";

  std::random_device rd;
  std::mt19937 rng(rd());
  edge::testing::TopologyShape shape;
  char id[40];
  std::snprintf(id, sizeof id, "%08x-e2e0-4000-8000-%012x", static_cast<unsigned>(rng()),
                static_cast<unsigned>(rng()));
  shape.id = id;
  shape.lans = 2;
  shape.deckies = 2;
  shape.service = "http";
  shape.subnet_base = 100 + static_cast<int>(rng() % 150);
  const std::string hydrated = edge::testing::make_topology(shape).dump();
  const auto wanted = canonical_hash(hydrated);
  ASSERT_TRUE(wanted.ok) << wanted.error;
  write_file(dir_.path() / "want.json", hydrated);

  // The agent process labels its objects with its own id (state dir).
  struct Cleanup {
    docker::DockerEngine& engine;
    std::string id;
    std::filesystem::path state;
    ~Cleanup() {
      auto owner = store::read_agent_id(state);
      (void)docker::teardown_topology(engine, id, owner ? *owner : "", {id}, 4);
    }
  } cleanup{engine, shape.id, dir_.path() / "state"};

  auto master =
      start_master({"--want", (dir_.path() / "want.json").string(), "--agent-url", agent_url()});
  auto agent = start_agent(1, "/var/run/docker.sock");

  // In sync with the wanted hash, in a beat after the first `from` beats.
  auto converged_after = [&](std::size_t from) {
    const auto all = beats();
    for (std::size_t i = from; i < all.size(); ++i) {
      const json& t = all[i]["topology"];
      if (t["applied_version_hash"] == wanted.text && t["drift"].is_object() &&
          t["drift"].value("in_sync", false)) {
        return true;
      }
    }
    return false;
  };
  ASSERT_TRUE(eventually([&] { return converged_after(0); }, 120s))
      << "no heartbeat reported the wanted topology in sync";
  EXPECT_NE(master->log().find("re-push done: 200"), std::string::npos);

  // Drift: a service container goes away behind the agent's back. The agent
  // notices, says so in a heartbeat, the master re-pushes, the agent converges.
  const std::string victim = "decnet_t_" + shape.id.substr(0, 8) + "_decky-0-http";
  ASSERT_EQ(engine.get("/containers/" + victim + "/json").status, 200) << victim;
  const std::size_t before = beats().size();
  ASSERT_TRUE(engine.del("/containers/" + victim + "?force=1").ok());
  ASSERT_TRUE(eventually(
      [&] {
        const auto all = beats();
        for (std::size_t i = before; i < all.size(); ++i) {
          if (all[i]["topology"]["drift"].value("in_sync", true) == false) return true;
        }
        return false;
      },
      30s))
      << "no heartbeat reported the drift";
  ASSERT_TRUE(eventually([&] { return converged_after(before + 1); }, 120s))
      << "the agent did not converge after the re-push";
  EXPECT_EQ(engine.get("/containers/" + victim + "/json").status, 200) << victim;
  const std::string log = master->log();
  EXPECT_NE(log.find("re-push done: 200", log.find("re-push done: 200") + 1), std::string::npos)
      << "expected a second successful re-push";

  // Stop the master first, so it does not re-push while the agent tears down.
  master->signal(SIGTERM);
  ASSERT_TRUE(master->wait_exit(10s).has_value());
  auto down = agent_call("POST", "/topology/teardown", json{{"topology_id", shape.id}}.dump());
  ASSERT_TRUE(down) << httplib::to_string(down.error());
  EXPECT_EQ(down->status, 200) << down->body;
}

}  // namespace
}  // namespace edge
