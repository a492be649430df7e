// The master-facing API against a real server, store and Docker client. The
// engine socket here does not exist, so every path that needs Docker takes
// its failure branch; the success paths run in tests/integration.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "agent/canonical_json.h"
#include "tests/support/agent_harness.h"
#include "tests/support/test_support.h"
#include "tests/support/topology_builder.h"

namespace edge {
namespace {

using nlohmann::json;

constexpr std::size_t kCap = 64 * 1024;

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override { start(); }
  void TearDown() override { agent_.stop(); }

  void start() {
    testing::HarnessOptions o;
    o.docker_socket = (dir_.path() / "no-such-docker.sock").string();
    o.catalog["http"].image = "img:1";
    o.max_body_bytes = kCap;
    ASSERT_EQ(agent_.start(o), "");
    client_ = &agent_.client();
    client_->set_read_timeout(10, 0);
  }
  void stop() { agent_.stop(); }

  httplib::Result post(const std::string& path, const std::string& body) {
    return agent_.post(path, body);
  }
  static std::string apply_body(const json& hydrated) {
    return testing::AgentHarness::apply_body(hydrated);
  }

  static std::string detail(const httplib::Result& r) {
    return json::parse(r->body).at("detail").get<std::string>();
  }

  testing::TempDir dir_;
  testing::AgentHarness agent_{dir_.path()};
  httplib::Client* client_ = nullptr;
};

TEST_F(ApiTest, HealthAnswersOk) {
  auto r = client_->Get("/health");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(json::parse(r->body), json({{"status", "ok"}}));
}

TEST_F(ApiTest, StateWithNothingAppliedIsAllNullAndReportsDockerAsObservedError) {
  auto r = client_->Get("/topology/state");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  auto s = json::parse(r->body);
  EXPECT_TRUE(s["topology_id"].is_null());
  EXPECT_TRUE(s["applied_version_hash"].is_null());
  EXPECT_TRUE(s["applied_at"].is_null());
  EXPECT_TRUE(s["last_error"].is_null());
  EXPECT_TRUE(s["observed"].contains("error"));
  EXPECT_TRUE(s.contains("drift"));
}

TEST_F(ApiTest, AHashMismatchIs400NamingBothHashesAndWritesNothing) {
  json t = testing::make_topology({});
  std::string body = R"({"hydrated":)" + t.dump() + R"(,"version_hash":"abc123"})";
  auto r = post("/topology/apply", body);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  std::string want = canonical_hash(t.dump()).text;
  EXPECT_EQ(detail(r),
            "master hash 'abc123' does not match agent hash '" + want + "' — refusing to apply");
  EXPECT_TRUE(json::parse(client_->Get("/topology/state")->body)["topology_id"].is_null());
}

TEST_F(ApiTest, AnInvalidTopologyIs400ListingEveryErrorCode) {
  json t = testing::make_topology({});
  t["lans"][0]["is_dmz"] = false;
  t["deckies"][1]["services"] = {"telnet"};
  auto r = post("/topology/apply", apply_body(t));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  std::string d = detail(r);
  EXPECT_NE(d.find("[DMZ_MISSING]"), std::string::npos) << d;
  EXPECT_NE(d.find("[UNKNOWN_SERVICE]"), std::string::npos) << d;
  EXPECT_EQ(d.rfind("2 topology validation error(s): ", 0), 0u) << d;
}

TEST_F(ApiTest, WrongShapesAre422WithADetailSayingWhatIsExpected) {
  for (const std::string body : {R"([])", R"({})", R"({"hydrated":[],"version_hash":"x"})",
                                 R"({"hydrated":{}})", R"({"hydrated":{},"version_hash":5})"}) {
    auto r = post("/topology/apply", body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 422) << body;
    EXPECT_NE(detail(r).find("hydrated"), std::string::npos) << body;
  }
}

TEST_F(ApiTest, MalformedJsonInvalidUtf8AndNulBytesAre422) {
  static const char kNul[] = "{\"hydrated\":{\"a\":\"\0\"},\"version_hash\":\"x\"}";
  const std::string bodies[] = {"{\"hydrated\": {", "not json",
                                "{\"hydrated\":{\"a\":\"\xff\xfe\"},\"version_hash\":\"x\"}",
                                std::string(kNul, sizeof kNul - 1), "{\"hydrated\":{}} trailing"};
  for (const auto& body : bodies) {
    auto r = post("/topology/apply", body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 422) << body;
    EXPECT_NE(detail(r).find("not valid JSON"), std::string::npos) << detail(r);
  }
}

TEST_F(ApiTest, DeepNestingIsRejectedWithoutCrashing) {
  std::string deep = "{\"hydrated\":" + std::string(30000, '[') + std::string(30000, ']') +
                     ",\"version_hash\":\"x\"}";
  auto r = post("/topology/apply", deep);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 422);
  EXPECT_NE(detail(r).find("nesting deeper than 64 levels"), std::string::npos) << detail(r);
  EXPECT_EQ(client_->Get("/health")->status, 200);
}

TEST_F(ApiTest, ABodyOverTheCapIs413WithContentLength) {
  std::string big = "{\"hydrated\":\"" + std::string(kCap, 'a') + "\",\"version_hash\":\"x\"}";
  auto r = post("/topology/apply", big);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
}

TEST_F(ApiTest, AChunkedBodyOverTheCapIs413Too) {
  auto r = client_->Post(
      "/topology/apply",
      [](size_t offset, httplib::DataSink& sink) {
        if (offset > 4 * kCap) {
          sink.done();
          return true;
        }
        std::string chunk(8192, 'a');
        return sink.write(chunk.data(), chunk.size());
      },
      "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
}

TEST_F(ApiTest, ApplyWithDockerUnreachableIs500AfterRecordingTheErrorMarker) {
  json t = testing::make_topology({});
  auto r = post("/topology/apply", apply_body(t));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_NE(detail(r).find("apply of topology '" + t["topology"]["id"].get<std::string>()),
            std::string::npos);
  auto s = json::parse(client_->Get("/topology/state")->body);
  EXPECT_EQ(s["topology_id"], t["topology"]["id"]);
  EXPECT_EQ(s["applied_version_hash"], "");  // the marker: the master sees drift
  EXPECT_EQ(s["applied_at"], 0);
  EXPECT_TRUE(s["last_error"].is_string());
  EXPECT_EQ(s["drift"]["in_sync"], false);
}

TEST_F(ApiTest, ADifferentTopologyThatCannotSupersedeThePinnedOneIs409) {
  json first = testing::make_topology({});
  // Pin a topology straight in the store, as a previous run would have.
  stop();
  {
    auto opened = store::TopologyStore::open(dir_.path());
    ASSERT_TRUE(opened.status.ok());
    ASSERT_TRUE(opened.store->put(first["topology"]["id"], "h", first.dump(), 1).ok());
  }
  start();
  testing::TopologyShape other;
  other.id = "feedface-0000-4000-8000-000000000000";
  auto r = post("/topology/apply", apply_body(testing::make_topology(other)));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 409);
  EXPECT_EQ(
      detail(r).rfind("agent already has topology '" + first["topology"]["id"].get<std::string>() +
                          "'; cannot apply '" + other.id + "'",
                      0),
      0u)
      << detail(r);
  auto s = json::parse(client_->Get("/topology/state")->body);
  EXPECT_EQ(s["topology_id"], first["topology"]["id"]);
}

TEST_F(ApiTest, TeardownWithABadShapeIs422) {
  for (const std::string body : {R"({})", R"({"topology_id":5})", R"({"topology_id":"../x"})"}) {
    auto r = post("/topology/teardown", body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 422) << body;
  }
}

TEST_F(ApiTest, TeardownWithDockerUnreachableIs500) {
  auto r = post("/topology/teardown", R"({"topology_id":"abc"})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_NE(detail(r).find("teardown of topology 'abc' failed"), std::string::npos);
}

TEST_F(ApiTest, UnknownRoutesAre404WithADetail) {
  auto r = client_->Get("/nope");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(detail(r), "Not Found");
}

TEST_F(ApiTest, FortyIdleConnectionsDoNotStarveHealth) {
  std::vector<int> idle;
  for (int i = 0; i < 40; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(agent_.port()));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    idle.push_back(fd);
  }
  httplib::Client fresh("127.0.0.1", agent_.port());
  fresh.set_read_timeout(1, 0);  // "at once": well under the idle peers' timeouts
  auto r = fresh.Get("/health");
  for (int fd : idle) ::close(fd);
  ASSERT_TRUE(r) << "health did not answer while 40 idle connections were open";
  EXPECT_EQ(r->status, 200);
}

TEST_F(ApiTest, GetsNeverWriteTheStore) {
  auto before = std::filesystem::last_write_time(dir_.path() / "topology.db");
  for (int i = 0; i < 20; ++i) client_->Get("/topology/state");
  EXPECT_EQ(std::filesystem::last_write_time(dir_.path() / "topology.db"), before);
}

}  // namespace
}  // namespace edge
