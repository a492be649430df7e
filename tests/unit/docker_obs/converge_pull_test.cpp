// converge/teardown paths the real engine cannot be made to take on a host
// without a registry: a pull that works, a pull that fails inside a 200
// stream, a network someone else is still attached to. Scripted engine.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "docker_obs/converge.h"
#include "tests/support/model.h"
#include "tests/support/test_support.h"
#include "tests/unit/docker_obs/fake_engine.h"

namespace edge::docker {
namespace {

using edge::testing::FakeEngine;
using edge::testing::FakeRequest;
using nlohmann::json;

constexpr const char* kId = "0badcafe-1111-4222-8333-444455556666";
constexpr const char* kImage = "registry.example/base:7";
constexpr const char* kOwner = edge::testing::kTestOwner;

// One DMZ, three deckies on it, no services.
Plan three_deckies() {
  json t = {
      {"topology", {{"id", kId}}},
      {"lans", {{{"id", "l0"}, {"name", "dmz"}, {"subnet", "10.5.0.0/24"}, {"is_dmz", true}}}},
      {"deckies", json::array()},
      {"edges", json::array()}};
  for (int i = 0; i < 3; ++i) {
    t["deckies"].push_back(
        {{"uuid", "d" + std::to_string(i)},
         {"name", "d" + std::to_string(i)},
         {"services", json::array()},
         {"decky_config", {{"ips_by_lan", {{"dmz", "10.5.0." + std::to_string(10 + i)}}}}}});
    t["edges"].push_back({{"decky_uuid", "d" + std::to_string(i)}, {"lan_id", "l0"}});
  }
  return edge::testing::to_plan(t, {}, kImage, kOwner);
}

class ConvergeScripted : public ::testing::Test {
 protected:
  void SetUp() override {
    fake_.on("GET /_ping", [](int fd, const FakeRequest&) {
      FakeEngine::reply(fd, 200, "OK", "Api-Version: 1.41\r\n");
    });
    fake_.on("GET /version", [](int fd, const FakeRequest&) {
      FakeEngine::reply(fd, 200, R"({"Version":"20.10.24","ApiVersion":"1.41"})");
    });
    fake_.on("GET /containers/json",
             [](int fd, const FakeRequest&) { FakeEngine::reply(fd, 200, "[]"); });
    fake_.on("GET /networks", [](int fd, const FakeRequest&) { FakeEngine::reply(fd, 200, "[]"); });
    fake_.on("POST /networks/create",
             [](int fd, const FakeRequest&) { FakeEngine::reply(fd, 201, R"({"Id":"n1"})"); });
    // Creates miss the image until a pull has succeeded. A miss is answered
    // only once all three creates have arrived, so the three misses are
    // concurrent and "pull once" is really put to the test.
    fake_.on("POST /containers/create", [this](int fd, const FakeRequest&) {
      if (pulled_) {
        FakeEngine::reply(fd, 201, R"({"Id":"c1"})");
        return;
      }
      ++misses_;
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      while (misses_ < 3 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      FakeEngine::reply(fd, 404, std::string(R"({"message":"No such image: )") + kImage + "\"}");
    });
    for (int i = 0; i < 3; ++i) {
      fake_.on("POST /containers/decnet_t_0badcafe_d" + std::to_string(i) + "/start",
               [](int fd, const FakeRequest&) { FakeEngine::reply(fd, 204, ""); });
    }
  }

  edge::testing::TempDir dir_;
  FakeEngine fake_{(dir_.path() / "d.sock").string()};
  DockerEngine engine_{[this] {
    EngineOptions o;
    o.socket_path = (dir_.path() / "d.sock").string();
    return o;
  }()};
  std::atomic<bool> pulled_{false};
  std::atomic<int> misses_{0};
};

TEST_F(ConvergeScripted, AMissingImageIsPulledOnceAndEveryCreateRetried) {
  fake_.on("POST /images/create", [this](int fd, const FakeRequest&) {
    pulled_ = true;
    FakeEngine::reply(
        fd, 200,
        "{\"status\":\"Pulling from base\",\"id\":\"7\"}\n"
        "{\"status\":\"Digest: sha256:00\"}\n"
        "{\"status\":\"Status: Downloaded newer image for registry.example/base:7\"}\n");
  });
  Status st = converge(engine_, three_deckies(), 8);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(fake_.count("POST /images/create"), 1);
  for (const FakeRequest& r : fake_.requests()) {
    if (FakeEngine::route_of(r) == "POST /images/create") {
      EXPECT_EQ(r.target.substr(r.target.find('?')), "?fromImage=registry.example%2Fbase&tag=7");
    }
  }
  EXPECT_EQ(fake_.count("POST /containers/create"), 6);  // three misses, three retries
  EXPECT_EQ(fake_.count("POST /containers/decnet_t_0badcafe_d2/start"), 1);
}

TEST_F(ConvergeScripted, AnErrorInsideTheSuccessfulPullStreamFailsNamingTheImage) {
  fake_.on("POST /images/create", [](int fd, const FakeRequest&) {
    FakeEngine::reply(fd, 200,
                      "{\"status\":\"Pulling from base\"}\n"
                      "{\"errorDetail\":{\"message\":\"manifest unknown\"},\"error\":\"manifest "
                      "unknown\"}\n");
  });
  Status st = converge(engine_, three_deckies(), 8);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message().substr(0, st.message().find(';')),
            "creating container decnet_t_0badcafe_d0: pulling image registry.example/base:7 "
            "failed: manifest unknown");
  EXPECT_EQ(fake_.count("POST /images/create"), 1);
  EXPECT_EQ(fake_.count("POST /containers/decnet_t_0badcafe_d0/start"), 0);
}

TEST_F(ConvergeScripted, APullThatStreamsForLongerThanTheCallTimeoutSucceeds) {
  fake_.on("POST /images/create", [this](int fd, const FakeRequest&) {
    FakeEngine::start_chunked(fd);
    FakeEngine::send_chunk(fd, "{\"status\":\"Pulling from base\",\"id\":\"7\"}\n");
    for (int i = 0; i <= 10 && !fake_.stopping(); ++i) {
      FakeEngine::send_chunk(fd, "{\"status\":\"Downloading\",\"progressDetail\":{\"current\":" +
                                     std::to_string(i * 100) +
                                     ",\"total\":1000},\"id\":\"aaaa\"}\n");
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    FakeEngine::send_chunk(fd, "{\"status\":\"Pull complete\",\"id\":\"aaaa\"}\n");
    pulled_ = true;
    FakeEngine::end_chunked(fd);
  });
  EngineOptions o;
  o.socket_path = (dir_.path() / "d.sock").string();
  o.call_timeout = std::chrono::milliseconds(400);  // the pull takes about 1.1 s
  o.pull_idle_timeout = std::chrono::milliseconds(1000);
  DockerEngine engine(o);
  const auto start = std::chrono::steady_clock::now();
  Status st = converge(engine, three_deckies(), 8);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_GT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(1000));
  EXPECT_EQ(fake_.count("POST /images/create"), 1);
  EXPECT_EQ(fake_.count("POST /containers/decnet_t_0badcafe_d2/start"), 1);
}

TEST_F(ConvergeScripted, APullThatGoesIdleFailsNamingTheImageAndTheIdleTimeout) {
  fake_.on("POST /images/create", [this](int fd, const FakeRequest&) {
    FakeEngine::start_chunked(fd);
    FakeEngine::send_chunk(fd, "{\"status\":\"Pulling from base\",\"id\":\"7\"}\n");
    fake_.hold(std::chrono::seconds(10));
  });
  EngineOptions o;
  o.socket_path = (dir_.path() / "d.sock").string();
  o.pull_idle_timeout = std::chrono::milliseconds(300);
  DockerEngine engine(o);
  Status st = converge(engine, three_deckies(), 8);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message().substr(0, st.message().find(';')),
            "creating container decnet_t_0badcafe_d0: pulling image registry.example/base:7 "
            "failed: the Docker engine at " +
                o.socket_path + " sent nothing on POST /images/create for 300 ms (idle timeout)");
  EXPECT_EQ(fake_.count("POST /images/create"), 1);
}

TEST_F(ConvergeScripted, ARefusedPullFailsOnceForEveryContainerNeedingTheImage) {
  fake_.on("POST /images/create", [](int fd, const FakeRequest&) {
    FakeEngine::reply(fd, 404, R"({"message":"pull access denied for registry.example/base"})");
  });
  Status st = converge(engine_, three_deckies(), 3);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(
      st.message(),
      "creating container decnet_t_0badcafe_d0: pulling image registry.example/base:7 failed: "
      "pull access denied for registry.example/base (HTTP 404 Not Found); "
      "creating container decnet_t_0badcafe_d1: pulling image registry.example/base:7 failed: "
      "pull access denied for registry.example/base (HTTP 404 Not Found); "
      "creating container decnet_t_0badcafe_d2: pulling image registry.example/base:7 failed: "
      "pull access denied for registry.example/base (HTTP 404 Not Found)");
  EXPECT_EQ(fake_.count("POST /images/create"), 1);
}

TEST_F(ConvergeScripted, TeardownNeverDetachesAForeignContainerAndNamesIt) {
  fake_.on("GET /networks", [](int fd, const FakeRequest&) {
    FakeEngine::reply(
        fd, 200,
        std::string(
            R"([{"Id":"n1","Name":"decnet_t_0badcafe_dmz","Labels":{"decnet.topology.id":")") +
            kId + R"(","decnet.topology.role":"lan"}}])");
  });
  std::atomic<bool> detached{false};
  fake_.on("DELETE /networks/n1", [&detached](int fd, const FakeRequest&) {
    if (detached) {
      FakeEngine::reply(fd, 204, "");
    } else {
      FakeEngine::reply(
          fd, 403,
          R"({"message":"error while removing network: network decnet_t_0badcafe_dmz id n1 has active endpoints"})");
    }
  });
  fake_.on("GET /networks/n1", [](int fd, const FakeRequest&) {
    FakeEngine::reply(fd, 200, R"({"Id":"n1","Containers":{"debugbox":{"Name":"debug"}}})");
  });
  fake_.on("POST /networks/n1/disconnect", [&detached](int fd, const FakeRequest& r) {
    detached = json::parse(r.body) == json{{"Container", "debugbox"}, {"Force", true}};
    FakeEngine::reply(fd, 200, "");
  });
  Status st = teardown_topology(engine_, kId, kOwner, {kId}, 2);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("containers this agent does not own are attached (debug)"),
            std::string::npos)
      << st.message();
  EXPECT_EQ(fake_.count("DELETE /networks/n1"), 1);
  EXPECT_EQ(fake_.count("POST /networks/n1/disconnect"), 0);
  EXPECT_FALSE(detached);
}

TEST(ConvergeUnreachable, FailsNamingTheSocket) {
  edge::testing::TempDir dir;
  EngineOptions o;
  o.socket_path = (dir.path() / "absent.sock").string();
  DockerEngine engine(o);
  Status st = converge(engine, three_deckies(), 2);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message().rfind("the Docker engine at " + o.socket_path + " is unreachable: ", 0),
            0u)
      << st.message();
  st = teardown_topology(engine, kId, kOwner, {kId}, 2);
  EXPECT_FALSE(st.ok());
}

}  // namespace
}  // namespace edge::docker
