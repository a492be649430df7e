// TopologyService against a fake runtime and a real store: the apply chain
// (422 / 400 / 409 / 500 / 200), supersede, record_error, and what a failed
// store write does to state(). No Docker.

#include "agent/topology_service.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>

#include <future>
#include <thread>

#include "agent/canonical_json.h"
#include "docker_obs/converge.h"
#include "tests/support/fake_runtime.h"
#include "tests/support/model.h"
#include "tests/support/test_support.h"
#include "tests/support/topology_builder.h"

namespace edge {
namespace {

using nlohmann::json;

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { start(); }

  void start(std::shared_ptr<MemoryBudget> budget = nullptr, std::size_t body_charge_factor = 0) {
    service_.reset();
    auto opened = store::TopologyStore::open(dir_.path());
    ASSERT_TRUE(opened.status.ok()) << opened.status.message;
    docker::ServiceCatalog catalog{{"http", {.image = "img:1", .tcp_ports = {80}}}};
    service_ = std::make_unique<TopologyService>(
        std::move(opened.store), std::make_unique<testing::FakeRuntime>(log_, testing::kTestOwner),
        catalog,
        ServiceOptions{.base_image = "base:1",
                       .agent_id = testing::kTestOwner,
                       .budget = std::move(budget),
                       .body_charge_factor = body_charge_factor},
        nullptr, clock_);
  }

  static json topology(const std::string& id, int subnet_base = 231) {
    testing::TopologyShape s;
    s.id = id;
    s.service = "http";
    s.subnet_base = subnet_base;
    return testing::make_topology(s);
  }
  static std::string body_of(const json& hydrated) {
    const std::string text = hydrated.dump();
    return R"({"hydrated":)" + text + R"(,"version_hash":")" + canonical_hash(text).text + "\"}";
  }
  std::vector<std::string> calls() {
    std::lock_guard lock(log_->mu);
    return log_->calls;
  }
  void forget_calls() {
    std::lock_guard lock(log_->mu);
    log_->calls.clear();
  }
  std::optional<store::AppliedTopology> row() {
    auto opened = store::TopologyStore::open(dir_.path(), store::OpenMode::kReadOnly);
    return opened.store->current();
  }

  testing::TempDir dir_;
  std::shared_ptr<testing::FakeRuntime::Log> log_ = std::make_shared<testing::FakeRuntime::Log>();
  ManualTimeSource clock_{1700000000};
  std::unique_ptr<TopologyService> service_;
};

const std::string kA = "aaaaaaaa-1111-4222-8333-444455556666";
const std::string kB = "bbbbbbbb-1111-4222-8333-444455556666";

TEST_F(ServiceTest, AnApplyIsParsedOnceStoresTheBytesThatWereHashedAndPlansOnce) {
  const json t = topology(kA);
  // Spacing the master's json.dumps would not produce: the stored blob is
  // the text as received, and it hashes to the version hash.
  const std::string text =
      "{ \"topology\" : " + t["topology"].dump() + ", \"lans\": " + t["lans"].dump() +
      ", \"deckies\": " + t["deckies"].dump() + ", \"edges\": " + t["edges"].dump() + " }";
  const std::string hash = canonical_hash(text).text;
  Reply r = service_->apply(R"({"version_hash":")" + hash + R"(", "hydrated": )" + text + "}");
  ASSERT_EQ(r.status, 200) << r.body.dump();
  EXPECT_EQ(r.body, json({{"status", "applied"}, {"version_hash", hash}}));
  auto stored = row();
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->hydrated_json, text);
  EXPECT_EQ(stored->version_hash, hash);
  EXPECT_EQ(stored->applied_at, 1700000000);
  EXPECT_EQ(calls(),
            (std::vector<std::string>{"watch none", "check " + kA, "apply " + kA, "watch " + kA}));
  json s = service_->state();
  EXPECT_EQ(s["drift"]["in_sync"], true) << s.dump();
  EXPECT_EQ(s["last_error"], nullptr);
}

TEST_F(ServiceTest, ADuplicateKeySpelledWithEscapesAtTheTopIs422AndChangesNothing) {
  const json a = topology(kA);
  json b = topology(kB);
  const std::string body = R"({"hydrated":)" + a.dump() + R"(,"hydr\u0061ted":)" + b.dump() +
                           R"(,"version_hash":")" + canonical_hash(a.dump()).text + "\"}";
  Reply r = service_->apply(body);
  EXPECT_EQ(r.status, 422);
  EXPECT_NE(r.body["detail"].get<std::string>().find("duplicate key 'hydrated'"), std::string::npos)
      << r.body.dump();
  EXPECT_FALSE(row());
  EXPECT_EQ(calls(), std::vector<std::string>{"watch none"});
}

TEST_F(ServiceTest, ADuplicateKeyInsideHydratedIs422NamingItsPath) {
  json a = topology(kA);
  std::string text = a.dump();
  // lans[1] gets a second, escaped "name".
  const std::string needle = R"("name":"lan1")";
  text.replace(text.find(needle), needle.size(), R"("name":"lan1","n\u0061me":"evil")");
  Reply r = service_->apply(R"({"hydrated":)" + text + R"(,"version_hash":")" +
                            canonical_hash(text).text + "\"}");
  EXPECT_EQ(r.status, 422);
  EXPECT_NE(r.body["detail"].get<std::string>().find("duplicate key 'name' in 'hydrated.lans[1]'"),
            std::string::npos)
      << r.body.dump();
  EXPECT_FALSE(row());
  EXPECT_EQ(calls(), std::vector<std::string>{"watch none"});
}

TEST_F(ServiceTest, AHashMismatchIs400NamingBothHashesAndTouchesNothing) {
  Reply r = service_->apply(R"({"hydrated":)" + topology(kA).dump() + R"(,"version_hash":"00"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body["detail"].get<std::string>().find("master hash '00' does not match"),
            std::string::npos);
  EXPECT_FALSE(row());
  EXPECT_EQ(calls(), std::vector<std::string>{"watch none"});
}

TEST_F(ServiceTest, TheHashIsCheckedBeforeTheDocumentsShape) {
  // A hydrated document of the wrong shape under a hash that does not match
  // is refused for the hash: what the master did not hash is never read.
  json t = topology(kA);
  t["deckies"][1].erase("decky_config");
  Reply r = service_->apply(R"({"hydrated":)" + t.dump() + R"(,"version_hash":"00"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body["detail"].get<std::string>().find("does not match"), std::string::npos);
  EXPECT_FALSE(row());
}

TEST(ApplyRequestTest, AMismatchedHashLeavesTheTopologyUnread) {
  const std::string body =
      R"({"hydrated":{"topology":{"id":"t1"},"lans":[],"deckies":[{"uuid":"d","name":"n"}],)"
      R"("edges":[]},"version_hash":"00"})";
  auto req = read_apply_request(body);
  ASSERT_TRUE(req) << req.error().message();
  EXPECT_FALSE(req->hash_matches());
  EXPECT_EQ(req->topology, Topology{});
  EXPECT_EQ(req->blob.substr(0, 12), R"({"topology":)");
}

TEST_F(ServiceTest, APlanThatCanNeverFitTheMemoryBudgetIs413AndTouchesNothing) {
  start(std::make_shared<MemoryBudget>(64u << 10));  // a plan of 5 deckies needs more
  forget_calls();
  Reply r = service_->apply(body_of(topology(kA)));
  EXPECT_EQ(r.status, 413);
  EXPECT_NE(r.body["detail"].get<std::string>().find("more than the agent's --max-memory"),
            std::string::npos)
      << r.body.dump();
  EXPECT_FALSE(row());
  EXPECT_EQ(calls(), std::vector<std::string>{});
}

TEST_F(ServiceTest, APlanThatFitsOnlyWithoutItsOwnBodysChargeIs413NotA503ToRetry) {
  const std::string body = body_of(topology(kA));
  constexpr std::size_t kFactor = 1000;
  // The budget is exactly what the server holds for this body while it is
  // handled: the plan can never get room, however long it waits.
  auto budget = std::make_shared<MemoryBudget>(kFactor * body.size());
  start(budget, kFactor);
  ASSERT_TRUE(budget->try_charge(kFactor * body.size()));
  auto reply = std::async(std::launch::async, [&] { return service_->apply(body); });
  if (reply.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
    clock_.advance(std::chrono::seconds(3));  // unblock it, then fail
    FAIL() << "the apply waited for room that can never come";
  }
  const Reply r = reply.get();
  EXPECT_EQ(r.status, 413) << r.body.dump();
  EXPECT_FALSE(row());
}

TEST_F(ServiceTest, APlanWaitsForTheBudgetThen503sAndGivesItsChargeBackAfterAnApply) {
  auto budget = std::make_shared<MemoryBudget>(8u << 20);
  start(budget);
  ASSERT_TRUE(budget->try_charge(budget->limit()));  // requests in flight hold it all
  std::optional<Reply> r;
  std::thread t([&] { r = service_->apply(body_of(topology(kA))); });
  ASSERT_TRUE(clock_.await_waiters(1));     // parked on the budget, not spinning
  clock_.advance(std::chrono::seconds(3));  // past budget_wait (2 s)
  t.join();
  EXPECT_EQ(r->status, 503);
  EXPECT_FALSE(row());

  budget->release(budget->limit());
  EXPECT_EQ(service_->apply(body_of(topology(kA))).status, 200);
  EXPECT_TRUE(row());
  EXPECT_EQ(budget->in_use(), 0u);
}

TEST_F(ServiceTest, AnInvalidTopologyIs400ListingCodesAndTouchesNothing) {
  json t = topology(kA);
  t["lans"][1]["subnet"] = "127.0.0.0/8";
  t["deckies"][1]["services"] = {"telnet"};
  Reply r = service_->apply(body_of(t));
  EXPECT_EQ(r.status, 400);
  const std::string d = r.body["detail"];
  EXPECT_NE(d.find("[SUBNET_RESERVED]"), std::string::npos) << d;
  EXPECT_NE(d.find("[UNKNOWN_SERVICE]"), std::string::npos) << d;
  EXPECT_FALSE(row());
  EXPECT_EQ(calls(), std::vector<std::string>{"watch none"});
}

TEST_F(ServiceTest, AWrongShapeIs422NotA500) {
  json t = topology(kA);
  t["deckies"][1].erase("decky_config");
  Reply r = service_->apply(body_of(t));
  EXPECT_EQ(r.status, 422);
  EXPECT_NE(r.body["detail"].get<std::string>().find("decky_config is missing"), std::string::npos);
  EXPECT_EQ(service_->apply(R"({"hydrated": [], "version_hash": "x"})").status, 422);
  EXPECT_EQ(service_->apply("not json").status, 422);
  EXPECT_FALSE(row());
}

TEST_F(ServiceTest, ASubnetConflictWithAForeignNetworkIs400AndCreatesNothing) {
  {
    std::lock_guard lock(log_->mu);
    log_->fail_check = Status(docker::kSubnetConflict,
                              "subnet 10.231.0.0/24 of LAN 'DMZ' overlaps network 'bridge'");
  }
  Reply r = service_->apply(body_of(topology(kA)));
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body["detail"].get<std::string>().find("[SUBNET_CONFLICT]"), std::string::npos);
  EXPECT_NE(r.body["detail"].get<std::string>().find("'bridge'"), std::string::npos);
  EXPECT_FALSE(row());
  EXPECT_EQ(calls(), (std::vector<std::string>{"watch none", "check " + kA}));
}

TEST_F(ServiceTest, ANewTopologySupersedesThePinnedOneTearingItDownFirst) {
  ASSERT_EQ(service_->apply(body_of(topology(kA))).status, 200);
  forget_calls();
  ASSERT_EQ(service_->apply(body_of(topology(kB, 232))).status, 200);
  EXPECT_EQ(calls(), (std::vector<std::string>{"check " + kB, "teardown " + kA + " adopt=" + kA,
                                               "apply " + kB, "watch " + kB}));
  EXPECT_EQ(row()->topology_id, kB);
}

TEST_F(ServiceTest, AFailedSupersedeIs409AndRecordsTheErrorOnTheOldRow) {
  ASSERT_EQ(service_->apply(body_of(topology(kA))).status, 200);
  {
    std::lock_guard lock(log_->mu);
    log_->fail_teardown = Status::failure("removing container x: engine says no");
  }
  Reply r = service_->apply(body_of(topology(kB, 232)));
  EXPECT_EQ(r.status, 409);
  auto stored = row();
  EXPECT_EQ(stored->topology_id, kA);
  EXPECT_NE(stored->last_error->find("engine says no"), std::string::npos);
  EXPECT_EQ(service_->state()["drift"]["in_sync"], false);
}

TEST_F(ServiceTest, AFailedApplyIs500WithTheErrorRecordedFirstAsAMarkerRow) {
  {
    std::lock_guard lock(log_->mu);
    log_->fail_apply = Status::failure("pulling image img:1 failed: not found");
  }
  Reply r = service_->apply(body_of(topology(kA)));
  EXPECT_EQ(r.status, 500);
  auto stored = row();
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->version_hash, "");
  EXPECT_EQ(stored->applied_at, 0);
  EXPECT_EQ(*stored->last_error, "pulling image img:1 failed: not found");
  json s = service_->state();
  EXPECT_EQ(s["last_error"], "pulling image img:1 failed: not found");
  EXPECT_EQ(s["drift"]["in_sync"], false);
}

TEST_F(ServiceTest, TeardownOfThePinnedTopologyAdoptsItsUnownedObjectsAndClearsTheRow) {
  ASSERT_EQ(service_->apply(body_of(topology(kA))).status, 200);
  forget_calls();
  Reply r = service_->teardown(R"({"topology_id":")" + kA + "\"}");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(calls(), (std::vector<std::string>{"teardown " + kA + " adopt=" + kA, "watch none"}));
  EXPECT_FALSE(row());
  forget_calls();
  EXPECT_EQ(service_->teardown(R"({"topology_id":"someone-else"})").status, 200);
  EXPECT_EQ(calls(), std::vector<std::string>{"teardown someone-else adopt="});
  EXPECT_EQ(service_->teardown(R"({"topology_id":"-x"})").status, 422);
  EXPECT_EQ(service_->teardown(R"({"topology_id":1})").status, 422);
}

TEST_F(ServiceTest, ARestartWatchesTheCachedTopologyAndAppliesNothing) {
  ASSERT_EQ(service_->apply(body_of(topology(kA))).status, 200);
  forget_calls();
  start();
  EXPECT_EQ(calls(), std::vector<std::string>{"watch " + kA});
}

TEST_F(ServiceTest, ACatalogReloadReplansTheWatchedTopologySoDriftShowsTheChange) {
  ASSERT_EQ(service_->apply(body_of(topology(kA))).status, 200);
  EXPECT_EQ(service_->state()["drift"]["in_sync"], true);
  ASSERT_TRUE(service_->reload_catalog({{"http", {.image = "img:2", .tcp_ports = {80}}}}).ok());
  json d = service_->state()["drift"];
  EXPECT_EQ(d["in_sync"], false);
  EXPECT_EQ(d["changed"].size(), 3u) << d.dump();  // the three http containers
}

// A full disk, injected: RLIMIT_FSIZE 0 makes every file write fail (EFBIG),
// as SQLite sees a full disk.
class NoWrites {
 public:
  NoWrites() {
    signal(SIGXFSZ, SIG_IGN);
    getrlimit(RLIMIT_FSIZE, &saved_);
    rlimit none{0, saved_.rlim_max};
    setrlimit(RLIMIT_FSIZE, &none);
  }
  ~NoWrites() { setrlimit(RLIMIT_FSIZE, &saved_); }

 private:
  rlimit saved_{};
};

TEST_F(ServiceTest, AFailedStoreWriteIsReportedAsLastErrorUntilAWriteSucceeds) {
  ASSERT_EQ(service_->apply(body_of(topology(kA))).status, 200);
  Reply r;
  {
    NoWrites full;
    r = service_->apply(body_of(topology(kB, 232)));
  }
  EXPECT_EQ(r.status, 500) << r.body.dump();
  // A was torn down in "Docker" but the row still names it: state must not
  // call it healthy.
  json s = service_->state();
  ASSERT_TRUE(s["last_error"].is_string()) << s.dump();
  EXPECT_NE(s["last_error"].get<std::string>().find("store could not record"), std::string::npos);
  EXPECT_EQ(s["drift"]["in_sync"], false);
  // Writes work again: the next apply records B and the report clears.
  ASSERT_EQ(service_->apply(body_of(topology(kB, 232))).status, 200);
  s = service_->state();
  EXPECT_EQ(s["last_error"], nullptr);
  EXPECT_EQ(s["topology_id"], kB);
}

}  // namespace
}  // namespace edge
