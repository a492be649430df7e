// `edge-agent check` (DESIGN §8): each check line, passing and failing, on
// real files, a test PKI from tests/support/make_pki.sh, real sockets and a
// scripted Docker engine.

#include "agent/check.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <thread>

#include "tests/support/test_support.h"
#include "tests/unit/docker_obs/fake_engine.h"

namespace edge {
namespace {

namespace fs = std::filesystem;
using edge::testing::FakeEngine;
using edge::testing::FakeRequest;
using edge::testing::TempDir;
using std::chrono::milliseconds;

constexpr milliseconds kTimeout{2000};

// Someone who is neither the files' owner nor root: only group and other
// bits decide for them.
ServiceUser stranger(std::vector<gid_t> gids = {4242}) {
  return ServiceUser{"edge-agent", 4242, std::move(gids), true};
}

const CheckResult& find(const std::vector<CheckResult>& results, const std::string& name) {
  for (const auto& r : results) {
    if (r.name == name) return r;
  }
  ADD_FAILURE() << "no check named " << name;
  static const CheckResult kNone;
  return kNone;
}

std::string group_of(const fs::path& p) {
  struct stat st {};
  ::stat(p.c_str(), &st);
  const group* gr = ::getgrgid(st.st_gid);
  return gr != nullptr ? gr->gr_name : std::to_string(st.st_gid);
}
gid_t gid_of(const fs::path& p) {
  struct stat st {};
  ::stat(p.c_str(), &st);
  return st.st_gid;
}

// Issues a leaf for `cn` from the test CA whose validity ends `days` from now
// (negative: already expired), written as PEM cert and key into `dir`.
void issue_leaf(const fs::path& ca_crt, const fs::path& ca_key, const fs::path& out_crt,
                const fs::path& out_key, long days) {
  FILE* f = std::fopen(ca_crt.c_str(), "r");
  ASSERT_NE(f, nullptr);
  X509* ca = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  f = std::fopen(ca_key.c_str(), "r");
  ASSERT_NE(f, nullptr);
  EVP_PKEY* cakey = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  ASSERT_NE(ca, nullptr);
  ASSERT_NE(cakey, nullptr);
  EVP_PKEY* key = EVP_EC_gen("P-256");
  ASSERT_NE(key, nullptr);
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 4242);
  X509_gmtime_adj(X509_getm_notBefore(x), std::min(days - 60, -1L) * 86400L);
  X509_gmtime_adj(X509_getm_notAfter(x), days * 86400L);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("edge-agent"), -1, -1, 0);
  X509_set_issuer_name(x, X509_get_subject_name(ca));
  ASSERT_GT(X509_sign(x, cakey, EVP_sha256()), 0);
  f = std::fopen(out_crt.c_str(), "w");
  PEM_write_X509(f, x);
  std::fclose(f);
  f = std::fopen(out_key.c_str(), "w");
  PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  ::chmod(out_crt.c_str(), 0644);
  ::chmod(out_key.c_str(), 0640);
  X509_free(x);
  X509_free(ca);
  EVP_PKEY_free(key);
  EVP_PKEY_free(cakey);
}

class CheckTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ::signal(SIGPIPE, SIG_IGN);
    pki_dir_ = std::make_unique<TempDir>();
    const std::string cmd = "bash '" EDGE_SOURCE_DIR "/tests/support/make_pki.sh' '" +
                            pki_dir_->path().string() + "' >/dev/null 2>&1";
    pki_ok_ = std::system(cmd.c_str()) == 0;
  }
  static void TearDownTestSuite() { pki_dir_.reset(); }
  void SetUp() override { ASSERT_TRUE(pki_ok_) << "tests/support/make_pki.sh failed"; }

  static fs::path pki(const char* name) { return pki_dir_->path() / name; }

  // A copy of the agent's bundle in this test's dir, readable by stranger()
  // through the group bits.
  Config tls_config(const char* cert = "agent.crt", const char* key = "agent.key") {
    Config c;
    c.tls_cert = (dir_.path() / "agent.crt").string();
    c.tls_key = (dir_.path() / "agent.key").string();
    c.tls_ca = (dir_.path() / "ca.crt").string();
    fs::copy_file(pki(cert), c.tls_cert);
    fs::copy_file(pki(key), c.tls_key);
    fs::copy_file(pki("ca.crt"), c.tls_ca);
    ::chmod(c.tls_cert.c_str(), 0644);
    ::chmod(c.tls_key.c_str(), 0640);
    ::chmod(c.tls_ca.c_str(), 0644);
    ::chmod(dir_.path().c_str(), 0755);
    return c;
  }
  ServiceUser reader() { return stranger({4242, gid_of(dir_.path() / "agent.key")}); }

  // A scripted dockerd 20.10 on a socket in this test's dir.
  std::unique_ptr<FakeEngine> engine() {
    auto fake = std::make_unique<FakeEngine>((dir_.path() / "docker.sock").string());
    fake->on("GET /_ping", [](int fd, const FakeRequest&) {
      FakeEngine::reply(fd, 200, "OK", "Api-Version: 1.41\r\n");
    });
    fake->on("GET /version", [](int fd, const FakeRequest&) {
      FakeEngine::reply(fd, 200, R"({"Version":"20.10.24","ApiVersion":"1.41"})");
    });
    return fake;
  }

  TempDir dir_;
  static inline std::unique_ptr<TempDir> pki_dir_;
  static inline bool pki_ok_ = false;
};

// ---- config

TEST_F(CheckTest, ConfigPassesWhenTheSettingsParsed) {
  Config c;
  CheckResult r = check_config(c, "");
  EXPECT_EQ(r.level, CheckLevel::kOk);
  EXPECT_EQ(r.detail, "settings read from flags, environment and defaults");
}

TEST_F(CheckTest, ConfigFailsWithTheReadersErrorAndAHint) {
  CheckResult r = check_config(Config{}, "--config '/x.json': unknown key 'listn'");
  EXPECT_EQ(r.level, CheckLevel::kError);
  EXPECT_EQ(r.detail, "--config '/x.json': unknown key 'listn'");
  EXPECT_FALSE(r.hint.empty());
}

TEST_F(CheckTest, ConfigFailsWhenTheDaemonWouldRefuseToStart) {
  Config c;
  c.listen_host = "0.0.0.0";  // plaintext off loopback
  CheckResult r = check_config(c, "");
  EXPECT_EQ(r.level, CheckLevel::kError);
  EXPECT_EQ(r.detail, c.problems().front());
}

// ---- TLS

TEST_F(CheckTest, TlsOffIsAWarningNotAFailure) {
  auto results = check_tls(Config{}, stranger());
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].name, "tls");
  EXPECT_EQ(results[0].level, CheckLevel::kWarning);
}

TEST_F(CheckTest, TlsFilesReadableByTheServiceUserPass) {
  Config c = tls_config();
  auto results = check_tls(c, reader());
  for (const char* name : {"tls-cert-readable", "tls-key-readable", "tls-ca-readable"}) {
    EXPECT_EQ(find(results, name).level, CheckLevel::kOk)
        << name << ": " << find(results, name).detail;
  }
}

TEST_F(CheckTest, AKeyTheServiceUserCannotReadFailsWithTheChgrpChmodFix) {
  Config c = tls_config();
  ::chmod(c.tls_key.c_str(), 0600);
  auto results = check_tls(c, reader());
  const CheckResult& r = find(results, "tls-key-readable");
  EXPECT_EQ(r.level, CheckLevel::kError);
  struct stat st {};
  ::stat(c.tls_key.c_str(), &st);
  const passwd* pw = ::getpwuid(st.st_uid);
  const std::string owner =
      (pw ? std::string(pw->pw_name) : std::to_string(st.st_uid)) + ":" + group_of(c.tls_key);
  EXPECT_EQ(r.detail,
            "agent.key is 0600 " + owner + "; the service user edge-agent cannot read it");
  EXPECT_EQ(r.hint, "chgrp edge-agent " + c.tls_key + " && chmod 0640 " + c.tls_key);
}

TEST_F(CheckTest, AMissingTlsFileFailsNamingIt) {
  Config c = tls_config();
  fs::remove(c.tls_ca);
  auto results = check_tls(c, reader());
  const CheckResult& r = find(results, "tls-ca-readable");
  EXPECT_EQ(r.level, CheckLevel::kError);
  EXPECT_EQ(r.detail, c.tls_ca + ": No such file or directory");
}

TEST_F(CheckTest, ADirectoryTheServiceUserCannotEnterFails) {
  Config c = tls_config();
  ::chmod(dir_.path().c_str(), 0700);
  auto results = check_tls(c, reader());
  const CheckResult& r = find(results, "tls-cert-readable");
  EXPECT_EQ(r.level, CheckLevel::kError);
  EXPECT_EQ(r.detail, "the service user edge-agent cannot enter " + dir_.path().string());
}

TEST_F(CheckTest, KeyMatchingTheCertPasses) {
  auto results = check_tls(tls_config(), reader());
  EXPECT_EQ(find(results, "tls-key-matches-cert").level, CheckLevel::kOk)
      << find(results, "tls-key-matches-cert").detail;
}

TEST_F(CheckTest, AKeyOfAnotherCertFails) {
  Config c = tls_config("agent.crt", "master.key");
  auto results = check_tls(c, reader());
  const CheckResult& r = find(results, "tls-key-matches-cert");
  EXPECT_EQ(r.level, CheckLevel::kError);
  EXPECT_EQ(r.detail, c.tls_key + " is not the key of " + c.tls_cert);
}

TEST_F(CheckTest, ACertSignedByTheCaChains) {
  auto results = check_tls(tls_config(), reader());
  const CheckResult& r = find(results, "tls-cert-chains-to-ca");
  EXPECT_EQ(r.level, CheckLevel::kOk) << r.detail;
  EXPECT_EQ(r.detail, "/CN=edge-agent is signed by /CN=edge-test-ca");
}

TEST_F(CheckTest, ACertFromAnotherCaDoesNotChain) {
  Config c = tls_config("rogue.crt", "rogue.key");
  auto results = check_tls(c, reader());
  const CheckResult& r = find(results, "tls-cert-chains-to-ca");
  EXPECT_EQ(r.level, CheckLevel::kError);
  EXPECT_EQ(r.detail.rfind(c.tls_cert + " does not verify against " + c.tls_ca + ": ", 0), 0u)
      << r.detail;
}

TEST_F(CheckTest, ACertValidForMoreThanThirtyDaysPassesTheExpiryCheck) {
  Config c = tls_config();
  issue_leaf(pki("ca.crt"), pki("ca.key"), c.tls_cert, c.tls_key, 400);
  auto results = check_tls(c, reader());
  const CheckResult& r = find(results, "tls-cert-expiry");
  EXPECT_EQ(r.level, CheckLevel::kOk) << r.detail;
  // 400 days from issue, minus the moments since.
  EXPECT_TRUE(r.detail == "valid for 399 more days" || r.detail == "valid for 400 more days")
      << r.detail;
  EXPECT_EQ(find(results, "tls-key-matches-cert").level, CheckLevel::kOk);
}

TEST_F(CheckTest, ACertExpiringWithinThirtyDaysIsAWarning) {
  Config c = tls_config();
  issue_leaf(pki("ca.crt"), pki("ca.key"), c.tls_cert, c.tls_key, 10);
  auto results = check_tls(c, reader());
  const CheckResult& r = find(results, "tls-cert-expiry");
  EXPECT_EQ(r.level, CheckLevel::kWarning);
  // 10 days from issue, minus the moments since.
  EXPECT_TRUE(r.detail == c.tls_cert + " expires in 9 days" ||
              r.detail == c.tls_cert + " expires in 10 days")
      << r.detail;
}

TEST_F(CheckTest, AnExpiredCertFails) {
  Config c = tls_config();
  issue_leaf(pki("ca.crt"), pki("ca.key"), c.tls_cert, c.tls_key, -1);
  auto results = check_tls(c, reader());
  const CheckResult& r = find(results, "tls-cert-expiry");
  EXPECT_EQ(r.level, CheckLevel::kError);
  EXPECT_EQ(r.detail, c.tls_cert + " has expired");
  EXPECT_NE(r.hint.find("renew"), std::string::npos);
}

// ---- master identity

TEST_F(CheckTest, AnUnpinnedMasterIsAWarning) {
  CheckResult r = check_master_identity({});
  EXPECT_EQ(r.level, CheckLevel::kWarning);
  EXPECT_NE(r.hint.find("decnet-master"), std::string::npos);
}

TEST_F(CheckTest, APinnedMasterPasses) {
  CheckResult r = check_master_identity({"decnet-master"});
  EXPECT_EQ(r.level, CheckLevel::kOk);
  EXPECT_EQ(r.detail, "only decnet-master is accepted as the master");
}

// ---- Docker

TEST_F(CheckTest, DockerUnreachableFailsNamingTheSocket) {
  Config c;
  c.docker_socket = (dir_.path() / "absent.sock").string();
  auto results = check_docker(c, CheckOptions{}, stranger());
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].level, CheckLevel::kError);
  EXPECT_EQ(results[0].detail, "cannot reach the Docker engine: socket " + c.docker_socket +
                                   " does not exist (is dockerd running?)");
}

TEST_F(CheckTest, DockerReachableReportsItsVersionAndApi) {
  auto fake = engine();
  Config c;
  c.docker_socket = (dir_.path() / "docker.sock").string();
  ::chmod(c.docker_socket.c_str(), 0660);
  auto results = check_docker(c, CheckOptions{}, stranger({4242, gid_of(c.docker_socket)}));
  const CheckResult& r = find(results, "docker");
  EXPECT_EQ(r.level, CheckLevel::kOk);
  EXPECT_EQ(r.detail, "Docker 20.10.24 at " + c.docker_socket + ", API 1.41");
  EXPECT_EQ(find(results, "docker-access").level, CheckLevel::kOk);
}

TEST_F(CheckTest, DockerAccessThroughTheUnitsSupplementaryGroupPasses) {
  auto fake = engine();
  Config c;
  c.docker_socket = (dir_.path() / "docker.sock").string();
  ::chmod(c.docker_socket.c_str(), 0660);
  CheckOptions o;
  o.unit_groups = {group_of(c.docker_socket)};
  auto results = check_docker(c, o, stranger());
  const CheckResult& r = find(results, "docker-access");
  EXPECT_EQ(r.level, CheckLevel::kOk) << r.detail;
  EXPECT_EQ(r.detail, "the unit's SupplementaryGroups=" + group_of(c.docker_socket) +
                          " gives edge-agent " + c.docker_socket);
}

TEST_F(CheckTest, ASocketTheServiceUserCannotUseFailsWithTheGroupToAdd) {
  auto fake = engine();
  Config c;
  c.docker_socket = (dir_.path() / "docker.sock").string();
  ::chmod(c.docker_socket.c_str(), 0660);
  CheckOptions o;
  o.unit_groups = {};
  auto results = check_docker(c, o, stranger());
  const CheckResult& r = find(results, "docker-access");
  EXPECT_EQ(r.level, CheckLevel::kError);
  EXPECT_NE(r.detail.find("the service user edge-agent cannot use it"), std::string::npos);
  EXPECT_NE(r.hint.find("SupplementaryGroups=" + group_of(c.docker_socket)), std::string::npos);
}

// ---- state dir

TEST_F(CheckTest, AWritableStateDirPasses) {
  Config c;
  c.state_dir = dir_.path() / "state";
  fs::create_directory(c.state_dir);
  ::chmod(c.state_dir.c_str(), 0770);
  CheckResult r = check_state_dir(c, stranger({4242, gid_of(c.state_dir)}));
  EXPECT_EQ(r.level, CheckLevel::kOk) << r.detail;
  EXPECT_EQ(r.detail, c.state_dir.string() + " is writable by edge-agent");
}

TEST_F(CheckTest, AStateDirTheServiceUserCannotWriteFails) {
  Config c;
  c.state_dir = dir_.path() / "state";
  fs::create_directory(c.state_dir);
  ::chmod(c.state_dir.c_str(), 0750);
  CheckResult r = check_state_dir(c, stranger({4242, gid_of(c.state_dir)}));
  EXPECT_EQ(r.level, CheckLevel::kError);
  EXPECT_EQ(r.hint, "chown -R edge-agent " + c.state_dir.string());
}

TEST_F(CheckTest, AStateDirLockedByARunningAgentIsSaidNotFailed) {
  Config c;
  c.state_dir = dir_.path() / "state";
  fs::create_directory(c.state_dir);
  ::chmod(c.state_dir.c_str(), 0770);
  int fd = ::open((c.state_dir / "edge-agent.lock").c_str(), O_RDWR | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);
  ASSERT_EQ(::write(fd, "31337\n", 6), 6);
  CheckResult r = check_state_dir(c, stranger({4242, gid_of(c.state_dir)}));
  ::close(fd);
  EXPECT_EQ(r.level, CheckLevel::kOk);
  EXPECT_EQ(r.detail,
            c.state_dir.string() + " is writable and in use by a running edge-agent (pid 31337)");
}

TEST_F(CheckTest, AStateDirThatIsAFileFails) {
  Config c;
  c.state_dir = dir_.path() / "file";
  edge::testing::write_file(c.state_dir, "x");
  CheckResult r = check_state_dir(c, stranger());
  EXPECT_EQ(r.level, CheckLevel::kError);
  EXPECT_EQ(r.detail, c.state_dir.string() + " is not a directory");
}

// ---- listen port

TEST_F(CheckTest, AFreePortIsBindable) {
  Config c;
  c.listen_port = edge::testing::free_port();
  CheckResult r = check_listen_port(c, kTimeout);
  EXPECT_EQ(r.level, CheckLevel::kOk);
  EXPECT_EQ(r.detail, "127.0.0.1:" + std::to_string(c.listen_port) + " is free to bind");
}

TEST_F(CheckTest, APortHeldByAnotherProgramFails) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  Config c;
  c.listen_port = ntohs(addr.sin_port);
  std::thread closer([fd] {  // answers nothing like an agent: accept and close
    int conn = ::accept(fd, nullptr, nullptr);
    if (conn >= 0) ::close(conn);
  });
  CheckResult r = check_listen_port(c, kTimeout);
  ::shutdown(fd, SHUT_RDWR);
  closer.join();
  ::close(fd);
  EXPECT_EQ(r.level, CheckLevel::kError);
  EXPECT_EQ(r.detail,
            "127.0.0.1:" + std::to_string(c.listen_port) + " is in use by another program");
}

TEST_F(CheckTest, APortHeldByARunningEdgeAgentIsSaidNotFailed) {
  httplib::Server server;
  server.Get("/health", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"status":"ok"})", "application/json");
  });
  int port = server.bind_to_any_port("127.0.0.1");
  std::thread t([&] { server.listen_after_bind(); });
  while (!server.is_running()) std::this_thread::sleep_for(milliseconds(1));
  Config c;
  c.listen_port = port;
  CheckResult r = check_listen_port(c, kTimeout);
  server.stop();
  t.join();
  EXPECT_EQ(r.level, CheckLevel::kOk);
  EXPECT_EQ(r.detail, "127.0.0.1:" + std::to_string(port) + " is held by a running edge-agent");
}

// ---- catalog and images

TEST_F(CheckTest, AnInvalidCatalogFailsNamingTheEntry) {
  Config c;
  c.service_catalog = (dir_.path() / "services.json").string();
  edge::testing::write_file(c.service_catalog, R"({"ssh": {"image": "i", "tcp_ports": [0]}})");
  auto results = check_catalog(c, kTimeout);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].level, CheckLevel::kError);
  EXPECT_NE(results[0].detail.find("service catalog entry \"ssh\""), std::string::npos);
}

TEST_F(CheckTest, ImagesAreLookedUpAndTheMissingOnesNamed) {
  auto fake = engine();
  fake->on("GET /images/base:1/json",
           [](int fd, const FakeRequest&) { FakeEngine::reply(fd, 200, R"({"Id":"sha256:1"})"); });
  fake->on("GET /images/decnet/ssh:1.2.1/json", [](int fd, const FakeRequest&) {
    FakeEngine::reply(fd, 404, R"({"message":"No such image: decnet/ssh:1.2.1"})");
  });
  Config c;
  c.docker_socket = (dir_.path() / "docker.sock").string();
  c.base_image = "base:1";
  c.service_catalog = (dir_.path() / "services.json").string();
  edge::testing::write_file(c.service_catalog, R"({"ssh": {"image": "decnet/ssh:1.2.1"},
      "sniffer": {"image": "decnet/sniffer:1.2.1", "singleton": true}})");
  auto results = check_catalog(c, kTimeout);
  EXPECT_EQ(find(results, "catalog").level, CheckLevel::kOk);
  EXPECT_EQ(find(results, "catalog").detail, c.service_catalog + ": 2 services");
  const CheckResult& img = find(results, "images");
  EXPECT_EQ(img.level, CheckLevel::kWarning);
  EXPECT_EQ(img.detail, "1 of 2 images present; missing: decnet/ssh:1.2.1");
  EXPECT_EQ(fake->count("GET /images/decnet/sniffer:1.2.1/json"), 0);  // singletons never run
}

TEST_F(CheckTest, AllImagesPresentPasses) {
  auto fake = engine();
  fake->on("GET /images/base:1/json",
           [](int fd, const FakeRequest&) { FakeEngine::reply(fd, 200, R"({"Id":"sha256:1"})"); });
  Config c;
  c.docker_socket = (dir_.path() / "docker.sock").string();
  c.base_image = "base:1";
  auto results = check_catalog(c, kTimeout);
  EXPECT_EQ(find(results, "catalog").level, CheckLevel::kWarning);  // no catalog at all
  EXPECT_EQ(find(results, "images").level, CheckLevel::kOk);
}

// ---- master online

TEST_F(CheckTest, TheMasterAnsweringOverMtlsPasses) {
  httplib::SSLServer master(pki("master.crt").c_str(), pki("master.key").c_str(),
                            pki("ca.crt").c_str());
  ASSERT_TRUE(master.is_valid());
  int port = master.bind_to_any_port("127.0.0.1");
  std::thread t([&] { master.listen_after_bind(); });
  while (!master.is_running()) std::this_thread::sleep_for(milliseconds(1));
  Config c = tls_config();
  c.master_url = "https://127.0.0.1:" + std::to_string(port);
  CheckResult r = check_master_online(c, kTimeout);
  master.stop();
  t.join();
  EXPECT_EQ(r.level, CheckLevel::kOk) << r.detail;
  EXPECT_EQ(r.detail, c.master_url + "/ answered HTTP 404 over mTLS");
}

TEST_F(CheckTest, AMasterThatRefusesOurCertificateFails) {
  httplib::SSLServer master(pki("master.crt").c_str(), pki("master.key").c_str(),
                            pki("rogue-ca.crt").c_str());  // trusts another CA for clients
  ASSERT_TRUE(master.is_valid());
  int port = master.bind_to_any_port("127.0.0.1");
  std::thread t([&] { master.listen_after_bind(); });
  while (!master.is_running()) std::this_thread::sleep_for(milliseconds(1));
  Config c = tls_config();
  c.master_url = "https://127.0.0.1:" + std::to_string(port);
  CheckResult r = check_master_online(c, kTimeout);
  master.stop();
  t.join();
  EXPECT_EQ(r.level, CheckLevel::kError);
  EXPECT_EQ(r.detail.rfind(c.master_url + "/: ", 0), 0u) << r.detail;
}

TEST_F(CheckTest, NoMasterUrlFailsTheOnlineCheck) {
  CheckResult r = check_master_online(Config{}, kTimeout);
  EXPECT_EQ(r.level, CheckLevel::kError);
  EXPECT_EQ(r.detail, "no master_url is set");
}

// ---- the whole run

TEST_F(CheckTest, AConfigErrorStopsTheRunAndExitsOne) {
  auto results = run_checks(Config{}, "--listen must be HOST:PORT", CheckOptions{});
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(checks_exit_code(results), 1);
  EXPECT_EQ(format_checks(results),
            "\u2717 config: --listen must be HOST:PORT\n    \u2192 " + results[0].hint + "\n");
}

TEST_F(CheckTest, WarningsDoNotFailAndJsonCarriesEveryField) {
  std::vector<CheckResult> results = {
      {"config", CheckLevel::kOk, "fine", ""},
      {"master-identity", CheckLevel::kWarning, "unpinned", "pin it"}};
  EXPECT_EQ(checks_exit_code(results), 0);
  EXPECT_EQ(checks_json(results), nlohmann::json::parse(R"({"ok": true, "checks": [
      {"name": "config", "ok": true, "level": "ok", "detail": "fine", "hint": ""},
      {"name": "master-identity", "ok": false, "level": "warning", "detail": "unpinned",
       "hint": "pin it"}]})"));
  results.push_back({"docker", CheckLevel::kError, "down", "start it"});
  EXPECT_EQ(checks_exit_code(results), 1);
  EXPECT_FALSE(checks_json(results)["ok"].get<bool>());
}

TEST_F(CheckTest, AFullRunOnAHealthyDevelopmentSetupHasNoFailure) {
  auto fake = engine();
  fake->on("GET /images/base:1/json",
           [](int fd, const FakeRequest&) { FakeEngine::reply(fd, 200, R"({"Id":"sha256:1"})"); });
  Config c = tls_config();
  issue_leaf(pki("ca.crt"), pki("ca.key"), c.tls_cert, c.tls_key, 400);
  c.docker_socket = (dir_.path() / "docker.sock").string();
  c.base_image = "base:1";
  c.state_dir = dir_.path();
  c.listen_port = edge::testing::free_port();
  CheckOptions o;
  o.user = default_service_user();
  o.unit_groups = {};
  o.master_identity = {"decnet-master"};
  o.user->is_service_account = false;
  o.user->uid = ::geteuid();
  auto results = run_checks(c, "", o);
  for (const auto& r : results) {
    EXPECT_NE(r.level, CheckLevel::kError) << r.name << ": " << r.detail;
  }
  EXPECT_EQ(checks_exit_code(results), 0) << format_checks(results);
}

}  // namespace
}  // namespace edge
