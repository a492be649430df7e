#include "docker_obs/engine.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "tests/support/test_support.h"
#include "tests/unit/docker_obs/fake_engine.h"

namespace edge::docker {
namespace {

using edge::testing::FakeEngine;
using edge::testing::FakeRequest;
using edge::testing::TempDir;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

EngineResponse response(long status, std::string body, std::string transport = "") {
  EngineResponse r;
  r.status = status;
  r.body = std::move(body);
  r.transport_error = std::move(transport);
  return r;
}

double elapsed_s(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// A fake engine that answers the negotiation like dockerd 20.10.
void speak_api(FakeEngine& fake, const std::string& api) {
  fake.on("GET /_ping", [api](int fd, const FakeRequest&) {
    FakeEngine::reply(fd, 200, "OK", "Api-Version: " + api + "\r\n");
  });
  fake.on("GET /version", [api](int fd, const FakeRequest&) {
    FakeEngine::reply(fd, 200, R"({"Version":"20.10.24","ApiVersion":")" + api + R"("})");
  });
}

TEST(EngineResponseMessage, CarriesTheEnginesMessageAndTheStatus) {
  EXPECT_EQ(response(404, R"({"message":"No such container: web"})").message(),
            "No such container: web (HTTP 404 Not Found)");
  EXPECT_EQ(response(409, R"({"message":"Conflict. The container name \"/a\" is already in use"})")
                .message(),
            "Conflict. The container name \"/a\" is already in use (HTTP 409 Conflict)");
}

TEST(EngineResponseMessage, SaysWhatAnEmpty304Means) {
  EXPECT_EQ(response(304, "").message(),
            "HTTP 304 Not Modified: the object is already in that state");
}

TEST(EngineResponseMessage, QuotesAPlainTextBodyAndNamesABareStatus) {
  EXPECT_EQ(response(500, "boom\n").message(), "HTTP 500 Internal Server Error: boom");
  EXPECT_EQ(response(503, "").message(), "HTTP 503 Service Unavailable");
  EXPECT_EQ(response(418, "").message(), "HTTP 418");
}

TEST(EngineResponseMessage, IsTheTransportErrorWhenNothingWasAnswered) {
  EXPECT_EQ(response(0, "", "cannot reach the Docker engine: x").message(),
            "cannot reach the Docker engine: x");
  EXPECT_EQ(response(0, "").message(), "no answer from the Docker engine");
}

TEST(EngineResponseJson, IsNullForAnEmptyOrNonJsonBody) {
  EXPECT_TRUE(response(200, "").json().is_null());
  EXPECT_TRUE(response(200, "OK").json().is_null());
  EXPECT_EQ(response(200, R"({"a":1})").json(), nlohmann::json({{"a", 1}}));
}

TEST(UrlEncode, KeepsUnreservedCharactersAndEscapesTheRest) {
  EXPECT_EQ(url_encode(R"({"label":["decnet.topology.id=a b"]})"),
            "%7B%22label%22%3A%5B%22decnet.topology.id%3Da%20b%22%5D%7D");
  EXPECT_EQ(url_encode("AZaz09-_.~"), "AZaz09-_.~");
}

TEST(DockerEngineTransport, AMissingSocketFailsAtOnceWithAReadableReason) {
  TempDir dir;
  const std::string sock = (dir.path() / "nothing.sock").string();
  DockerEngine engine(EngineOptions{sock, milliseconds(500), milliseconds(1000), nullptr});
  auto start = Clock::now();
  EngineResponse r = engine.get("/containers/json");
  EXPECT_LT(elapsed_s(start), 0.5);
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.message(), "cannot reach the Docker engine: socket " + sock +
                             " does not exist (is dockerd running?)");
  std::string error;
  EXPECT_FALSE(engine.negotiate(&error));
  EXPECT_EQ(error, r.message());
  EXPECT_EQ(engine.api_version(), "");
}

TEST(DockerEngineTransport, ASocketNobodyListensOnIsConnectionRefused) {
  TempDir dir;
  const std::string sock = (dir.path() / "dead.sock").string();
  { FakeEngine gone(sock); }  // removes its socket on exit: recreate a dead one
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, sock.c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  DockerEngine engine(EngineOptions{sock, milliseconds(500), milliseconds(1000), nullptr});
  EngineResponse r = engine.get("/_ping");
  ::close(fd);
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.message(), "cannot reach the Docker engine: connection refused on " + sock +
                             " (is dockerd running?)");
}

TEST(DockerEngineNegotiation, CapsANewerEngineAtTheClientsMaximum) {
  TempDir dir;
  FakeEngine fake((dir.path() / "d.sock").string());
  speak_api(fake, "1.47");
  fake.on("GET /info", [](int fd, const FakeRequest&) { FakeEngine::reply(fd, 200, "{}"); });
  DockerEngine engine(EngineOptions{(dir.path() / "d.sock").string(), milliseconds(500),
                                    milliseconds(2000), nullptr});
  EXPECT_TRUE(engine.get("/info").ok());
  EXPECT_EQ(engine.api_version(), "1.43");
  EXPECT_EQ(engine.engine_version(), "20.10.24");
  EXPECT_EQ(fake.requests().back().target, "/v1.43/info");
}

TEST(DockerEngineNegotiation, UsesAnOlderEnginesVersionAndNegotiatesOnce) {
  TempDir dir;
  FakeEngine fake((dir.path() / "d.sock").string());
  speak_api(fake, "1.41");
  fake.on("GET /info", [](int fd, const FakeRequest&) { FakeEngine::reply(fd, 200, "{}"); });
  DockerEngine engine(EngineOptions{(dir.path() / "d.sock").string(), milliseconds(500),
                                    milliseconds(2000), nullptr});
  engine.get("/info");
  engine.get("/info");
  EXPECT_EQ(engine.api_version(), "1.41");
  EXPECT_EQ(fake.count("GET /_ping"), 1);
  EXPECT_EQ(fake.requests().back().target, "/v1.41/info");
}

TEST(DockerEngineNegotiation, FallsBackToVersionWhenPingHasNoApiHeader) {
  TempDir dir;
  FakeEngine fake((dir.path() / "d.sock").string());
  fake.on("GET /_ping", [](int fd, const FakeRequest&) { FakeEngine::reply(fd, 200, "OK"); });
  fake.on("GET /version", [](int fd, const FakeRequest&) {
    FakeEngine::reply(fd, 200, R"({"Version":"24.0.7","ApiVersion":"1.42"})");
  });
  DockerEngine engine(EngineOptions{(dir.path() / "d.sock").string(), milliseconds(500),
                                    milliseconds(2000), nullptr});
  EXPECT_TRUE(engine.negotiate());
  EXPECT_EQ(engine.api_version(), "1.42");
  EXPECT_EQ(engine.engine_version(), "24.0.7");
}

TEST(DockerEngineNegotiation, RefusesAnEngineOlderThanDocker1903) {
  TempDir dir;
  FakeEngine fake((dir.path() / "d.sock").string());
  speak_api(fake, "1.30");
  const std::string sock = (dir.path() / "d.sock").string();
  DockerEngine engine(EngineOptions{sock, milliseconds(500), milliseconds(2000), nullptr});
  std::string error;
  EXPECT_FALSE(engine.negotiate(&error));
  EXPECT_EQ(error, "the Docker engine at " + sock +
                       " speaks API 1.30; edge-agent needs at least 1.40 (Docker 19.03)");
  EXPECT_EQ(engine.get("/info").message(), error);
}

TEST(DockerEngineCalls, AHungEngineEndsTheCallAtTheCallTimeout) {
  TempDir dir;
  FakeEngine fake((dir.path() / "d.sock").string());
  speak_api(fake, "1.41");
  fake.on("GET /containers/json",
          [&fake](int, const FakeRequest&) { fake.hold(std::chrono::seconds(10)); });
  const std::string sock = (dir.path() / "d.sock").string();
  DockerEngine engine(EngineOptions{sock, milliseconds(500), milliseconds(300), nullptr});
  auto start = Clock::now();
  EngineResponse r = engine.get("/containers/json");
  double took = elapsed_s(start);
  EXPECT_GE(took, 0.3);
  EXPECT_LT(took, 1.5);
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.message(), "the Docker engine at " + sock + " did not answer within 300 ms");
}

TEST(DockerEngineCalls, PostsJsonAndReportsEveryCallUnderItsRouteTemplate) {
  TempDir dir;
  FakeEngine fake((dir.path() / "d.sock").string());
  speak_api(fake, "1.41");
  fake.on("POST /containers/create",
          [](int fd, const FakeRequest&) { FakeEngine::reply(fd, 201, R"({"Id":"abc"})"); });
  fake.on("DELETE /containers/abc", [](int fd, const FakeRequest&) {
    FakeEngine::reply(fd, 404, R"({"message":"No such container: abc"})");
  });
  std::mutex mu;
  std::vector<std::pair<std::string, bool>> calls;
  EngineOptions o{(dir.path() / "d.sock").string(), milliseconds(500), milliseconds(2000),
                  [&](const std::string& route, bool ok, double seconds) {
                    std::lock_guard<std::mutex> lock(mu);
                    calls.emplace_back(route, ok);
                    EXPECT_GE(seconds, 0.0);
                  }};
  DockerEngine engine(o);
  EngineResponse created = engine.post("/containers/create?name=x", {{"Image", "busybox"}});
  EngineResponse removed = engine.del("/containers/abc?force=1");
  EXPECT_EQ(created.status, 201);
  EXPECT_EQ(created.json()["Id"], "abc");
  EXPECT_EQ(removed.message(), "No such container: abc (HTTP 404 Not Found)");
  auto reqs = fake.requests();
  ASSERT_EQ(reqs.size(), 4u);
  EXPECT_EQ(reqs[2].target, "/v1.41/containers/create?name=x");
  EXPECT_EQ(reqs[2].body, R"({"Image":"busybox"})");
  std::vector<std::pair<std::string, bool>> expected = {{"GET /_ping", true},
                                                        {"GET /version", true},
                                                        {"POST /containers/create", true},
                                                        {"DELETE /containers/{id}", false}};
  EXPECT_EQ(calls, expected);
}

// Negotiation answered like speak_api, but on connections that stay open.
void speak_api_keep_alive(FakeEngine& fake) {
  fake.on("GET /_ping", [](int fd, const FakeRequest&) {
    FakeEngine::reply_keep_alive(fd, 200, "OK", "Api-Version: 1.41\r\n");
  });
  fake.on("GET /version", [](int fd, const FakeRequest&) {
    FakeEngine::reply_keep_alive(fd, 200, R"({"Version":"20.10.24","ApiVersion":"1.41"})");
  });
}

TEST(DockerEngineConnections, ManySequentialCallsReuseOneConnection) {
  TempDir dir;
  FakeEngine fake((dir.path() / "d.sock").string());
  speak_api_keep_alive(fake);
  fake.on("GET /containers/json",
          [](int fd, const FakeRequest&) { FakeEngine::reply_keep_alive(fd, 200, "[]"); });
  DockerEngine engine(EngineOptions{(dir.path() / "d.sock").string(), milliseconds(500),
                                    milliseconds(2000), nullptr});
  for (int i = 0; i < 200; ++i) {
    EngineResponse r = engine.get("/containers/json");
    ASSERT_EQ(r.status, 200) << "call " << i << ": " << r.message();
  }
  EXPECT_EQ(fake.count("GET /containers/json"), 200);
  EXPECT_EQ(fake.accepts(), 1);  // /_ping, /version and 200 calls on one connection
  EXPECT_EQ(engine.pooled_connections(), 1u);
}

TEST(DockerEngineConnections, ParallelCallsBorrowAtMostOneConnectionPerConcurrentCall) {
  TempDir dir;
  FakeEngine fake((dir.path() / "d.sock").string());
  speak_api_keep_alive(fake);
  fake.on("GET /containers/json",
          [](int fd, const FakeRequest&) { FakeEngine::reply_keep_alive(fd, 200, "[]"); });
  DockerEngine engine(EngineOptions{(dir.path() / "d.sock").string(), milliseconds(500),
                                    milliseconds(2000), nullptr});
  ASSERT_TRUE(engine.negotiate());
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) failures += engine.get("/containers/json").ok() ? 0 : 1;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(fake.count("GET /containers/json"), 200);
  EXPECT_LE(fake.accepts(), 4);
  EXPECT_GE(engine.pooled_connections(), 1u);
  EXPECT_LE(engine.pooled_connections(), 4u);
}

TEST(DockerEngineConnections, AnEngineThatClosesEachConnectionStillAnswersEveryCall) {
  TempDir dir;
  FakeEngine fake((dir.path() / "d.sock").string());
  speak_api(fake, "1.41");
  fake.on("GET /containers/json",
          [](int fd, const FakeRequest&) { FakeEngine::reply(fd, 200, "[]"); });
  DockerEngine engine(EngineOptions{(dir.path() / "d.sock").string(), milliseconds(500),
                                    milliseconds(2000), nullptr});
  for (int i = 0; i < 20; ++i) {
    EngineResponse r = engine.get("/containers/json");
    ASSERT_EQ(r.status, 200) << "call " << i << ": " << r.message();
  }
  EXPECT_EQ(fake.accepts(), 22);               // /_ping, /version, then one per call
  EXPECT_EQ(engine.pooled_connections(), 0u);  // "Connection: close" answers are not kept
}

TEST(DockerEnginePull, AStreamThatKeepsSendingOutlivesTheCallTimeout) {
  TempDir dir;
  FakeEngine fake((dir.path() / "d.sock").string());
  speak_api(fake, "1.41");
  fake.on("POST /images/create", [&fake](int fd, const FakeRequest&) {
    FakeEngine::start_chunked(fd);
    for (int i = 0; i < 8 && !fake.stopping(); ++i) {
      FakeEngine::send_chunk(
          fd, "{\"status\":\"Downloading\",\"id\":\"l" + std::to_string(i) + "\"}\n");
      std::this_thread::sleep_for(milliseconds(150));
    }
    FakeEngine::end_chunked(fd);
  });
  // call_timeout 300 ms: a buffered call would have failed after two lines.
  DockerEngine engine(EngineOptions{(dir.path() / "d.sock").string(), milliseconds(500),
                                    milliseconds(300), nullptr});
  ASSERT_TRUE(engine.negotiate());
  EXPECT_EQ(engine.progress().active, 0);
  std::vector<std::string> lines;
  std::vector<int> active_during;
  std::atomic<bool> stop{false};
  auto start = Clock::now();
  EngineResponse r = engine.stream_post(
      "/images/create?fromImage=x",
      [&](std::string_view l) {
        lines.emplace_back(l);
        active_during.push_back(engine.progress().active);
        EXPECT_LT(elapsed_s(engine.progress().last_bytes), 0.1);
      },
      milliseconds(1000), stop);
  EXPECT_GT(elapsed_s(start), 1.0);
  EXPECT_EQ(r.status, 200) << r.message();
  EXPECT_EQ(r.transport_error, "");
  ASSERT_EQ(lines.size(), 8u);
  EXPECT_EQ(lines[7], R"({"status":"Downloading","id":"l7"})");
  EXPECT_EQ(active_during, std::vector<int>(8, 1));
  EXPECT_EQ(engine.progress().active, 0);
}

TEST(DockerEnginePull, AStreamThatGoesIdleFailsAtTheIdleTimeoutWithAClearMessage) {
  TempDir dir;
  const std::string sock = (dir.path() / "d.sock").string();
  FakeEngine fake(sock);
  speak_api(fake, "1.41");
  fake.on("POST /images/create", [&fake](int fd, const FakeRequest&) {
    FakeEngine::start_chunked(fd);
    FakeEngine::send_chunk(fd, "{\"status\":\"Pulling fs layer\",\"id\":\"l0\"}\n");
    fake.hold(std::chrono::seconds(10));
  });
  DockerEngine engine(EngineOptions{sock, milliseconds(500), milliseconds(5000), nullptr});
  std::atomic<bool> stop{false};
  int lines = 0;
  auto start = Clock::now();
  EngineResponse r = engine.stream_post(
      "/images/create?fromImage=x", [&](std::string_view) { ++lines; }, milliseconds(400), stop);
  double took = elapsed_s(start);
  EXPECT_GT(took, 0.4);
  EXPECT_LT(took, 1.5);
  EXPECT_EQ(lines, 1);
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.message(), "the Docker engine at " + sock +
                             " sent nothing on POST /images/create for 400 ms (idle timeout)");
  EXPECT_EQ(engine.progress().active, 0);
}

TEST(DockerEnginePull, ARefusedPullReturnsTheEnginesStatusAndMessage) {
  TempDir dir;
  FakeEngine fake((dir.path() / "d.sock").string());
  speak_api(fake, "1.41");
  fake.on("POST /images/create", [](int fd, const FakeRequest&) {
    FakeEngine::reply(fd, 404, R"({"message":"pull access denied for x"})");
  });
  DockerEngine engine(EngineOptions{(dir.path() / "d.sock").string(), milliseconds(500),
                                    milliseconds(2000), nullptr});
  std::atomic<bool> stop{false};
  EngineResponse r = engine.stream_post(
      "/images/create?fromImage=x", [](std::string_view) {}, milliseconds(1000), stop);
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.message(), "pull access denied for x (HTTP 404 Not Found)");
}

TEST(DockerEngineStream, DeliversEachLineEvenWhenSplitAcrossChunks) {
  TempDir dir;
  FakeEngine fake((dir.path() / "d.sock").string());
  speak_api(fake, "1.41");
  fake.on("GET /events", [](int fd, const FakeRequest&) {
    FakeEngine::start_chunked(fd);
    FakeEngine::send_chunk(fd, "{\"a\":1}\n{\"b\"");
    FakeEngine::send_chunk(fd, ":2}\r\n\n{\"c\":3}\n");
    FakeEngine::end_chunked(fd);
  });
  DockerEngine engine(EngineOptions{(dir.path() / "d.sock").string(), milliseconds(500),
                                    milliseconds(2000), nullptr});
  std::vector<std::string> lines;
  std::atomic<bool> stop{false};
  EngineResponse r = engine.stream_lines(
      "/events", [&](std::string_view l) { lines.emplace_back(l); }, stop);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.transport_error, "");
  EXPECT_EQ(lines, (std::vector<std::string>{R"({"a":1})", R"({"b":2})", R"({"c":3})"}));
}

TEST(DockerEngineStream, ReturnsPromptlyWhenStopIsSetOnAnIdleStream) {
  TempDir dir;
  FakeEngine fake((dir.path() / "d.sock").string());
  speak_api(fake, "1.41");
  fake.on("GET /events", [&fake](int fd, const FakeRequest&) {
    FakeEngine::start_chunked(fd);
    fake.hold(std::chrono::seconds(30));
  });
  DockerEngine engine(EngineOptions{(dir.path() / "d.sock").string(), milliseconds(500),
                                    milliseconds(100), nullptr});
  std::atomic<bool> stop{false};
  Clock::time_point stopped_at;
  std::thread stopper([&] {
    std::this_thread::sleep_for(milliseconds(600));  // longer than call_timeout: streams have none
    stopped_at = Clock::now();
    stop = true;
  });
  EngineResponse r = engine.stream_lines(
      "/events", [](std::string_view) {}, stop);
  double lag = elapsed_s(stopped_at);
  stopper.join();
  EXPECT_LT(lag, 0.25);
  EXPECT_EQ(r.status, 200);
}

TEST(DockerEngineStream, AnErrorStatusIsReturnedWithTheEnginesMessage) {
  TempDir dir;
  FakeEngine fake((dir.path() / "d.sock").string());
  speak_api(fake, "1.41");
  fake.on("GET /events", [](int fd, const FakeRequest&) {
    FakeEngine::reply(fd, 400, R"({"message":"invalid filter 'tipe'"})");
  });
  DockerEngine engine(EngineOptions{(dir.path() / "d.sock").string(), milliseconds(500),
                                    milliseconds(2000), nullptr});
  std::atomic<bool> stop{false};
  int lines = 0;
  EngineResponse r = engine.stream_lines(
      "/events", [&](std::string_view) { ++lines; }, stop);
  EXPECT_EQ(lines, 0);
  EXPECT_EQ(r.message(), "invalid filter 'tipe' (HTTP 400 Bad Request)");
}

}  // namespace
}  // namespace edge::docker
