#include "agent/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/thread.h"
#include "tests/support/test_support.h"

namespace {

using edge::Metrics;
using edge::testing::read_file;
using edge::testing::TempDir;
using edge::testing::write_file;

// The value of the one sample line whose series (name plus labels) is
// exactly `series`, or "<absent>".
std::string sample(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  std::string found = "<absent>";
  int hits = 0;
  while (std::getline(in, line)) {
    if (line.rfind(series + " ", 0) == 0) {
      found = line.substr(series.size() + 1);
      ++hits;
    }
  }
  return hits > 1 ? "<duplicate>" : found;
}

int count_lines_starting_with(const std::string& text, const std::string& prefix) {
  std::istringstream in(text);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) n += line.rfind(prefix, 0) == 0 ? 1 : 0;
  return n;
}

struct FakeClock {
  std::chrono::steady_clock::time_point now{};
  Metrics::Clock fn() {
    return [this] { return now; };
  }
};

TEST(Metrics, BuildInfoCarriesVersionAndGitRevisionWithValueOne) {
  Metrics m("1.2.3", "abc1234");
  const std::string out = m.render();
  EXPECT_EQ(sample(out, R"(edge_agent_build_info{version="1.2.3",git_rev="abc1234"})"), "1");
  EXPECT_NE(out.find("# TYPE edge_agent_build_info gauge\n"), std::string::npos);
}

TEST(Metrics, UptimeIsMeasuredFromConstructionWithTheInjectedClock) {
  FakeClock clock;
  Metrics m("1", "r", clock.fn());
  EXPECT_EQ(sample(m.render(), "edge_agent_uptime_seconds"), "0");
  clock.now += std::chrono::milliseconds(90500);
  EXPECT_EQ(sample(m.render(), "edge_agent_uptime_seconds"), "90.5");
}

TEST(Metrics, HttpRequestsAreCountedPerRouteAndCode) {
  Metrics m("1", "r");
  m.http_request("/health", 200);
  m.http_request("/health", 200);
  m.http_request("/health", 200);
  m.http_request("/topology/apply", 400);
  const std::string out = m.render();
  EXPECT_EQ(sample(out, R"(edge_agent_http_requests_total{route="/health",code="200"})"), "3");
  EXPECT_EQ(sample(out, R"(edge_agent_http_requests_total{route="/topology/apply",code="400"})"),
            "1");
  EXPECT_EQ(count_lines_starting_with(out, "edge_agent_http_requests_total{"), 2);
}

TEST(Metrics, KnownOperationAndHeartbeatSeriesStartAtZero) {
  Metrics m("1", "r");
  const std::string out = m.render();
  for (const char* op : {"apply", "teardown"}) {
    for (const char* outcome : {"ok", "error", "rejected"}) {
      EXPECT_EQ(sample(out, std::string("edge_agent_operations_total{op=\"") + op +
                                "\",outcome=\"" + outcome + "\"}"),
                "0");
    }
    EXPECT_EQ(
        sample(out, std::string("edge_agent_operation_duration_seconds_count{op=\"") + op + "\"}"),
        "0");
  }
  EXPECT_EQ(sample(out, R"(edge_agent_heartbeats_total{outcome="ok"})"), "0");
  EXPECT_EQ(sample(out, R"(edge_agent_heartbeats_total{outcome="error"})"), "0");
  EXPECT_EQ(sample(out, "edge_agent_store_errors_total"), "0");
  EXPECT_EQ(sample(out, "edge_agent_drift"), "0");
}

TEST(Metrics, OperationMovesItsCounterAndCumulativeHistogram) {
  Metrics m("1", "r");
  // Binary-exact durations, so the expected _sum is exact too.
  m.operation("apply", "ok", 0.0625);
  m.operation("apply", "ok", 3);
  m.operation("apply", "rejected", 0.03125);
  const std::string out = m.render();
  EXPECT_EQ(sample(out, R"(edge_agent_operations_total{op="apply",outcome="ok"})"), "2");
  EXPECT_EQ(sample(out, R"(edge_agent_operations_total{op="apply",outcome="rejected"})"), "1");
  EXPECT_EQ(sample(out, R"(edge_agent_operations_total{op="teardown",outcome="ok"})"), "0");
  const std::string b = "edge_agent_operation_duration_seconds_bucket{op=\"apply\",le=";
  EXPECT_EQ(sample(out, b + "\"0.05\"}"), "1");  // 0.03125
  EXPECT_EQ(sample(out, b + "\"0.1\"}"), "2");   // + 0.0625
  EXPECT_EQ(sample(out, b + "\"2.5\"}"), "2");
  EXPECT_EQ(sample(out, b + "\"5\"}"), "3");  // + 3
  EXPECT_EQ(sample(out, b + "\"300\"}"), "3");
  EXPECT_EQ(sample(out, b + "\"+Inf\"}"), "3");
  EXPECT_EQ(sample(out, R"(edge_agent_operation_duration_seconds_sum{op="apply"})"), "3.09375");
  EXPECT_EQ(sample(out, R"(edge_agent_operation_duration_seconds_count{op="apply"})"), "3");
  EXPECT_EQ(count_lines_starting_with(out, b),
            static_cast<int>(Metrics::operation_buckets().size()) + 1);
}

TEST(Metrics, AnObservationEqualToABucketBoundCountsInThatBucket) {
  Metrics m("1", "r");
  m.docker_call("containers/create", true, 0.25);
  const std::string out = m.render();
  const std::string b =
      "edge_agent_docker_call_duration_seconds_bucket{call=\"containers/create\",le=";
  EXPECT_EQ(sample(out, b + "\"0.1\"}"), "0");
  EXPECT_EQ(sample(out, b + "\"0.25\"}"), "1");
}

TEST(Metrics, OverlongDurationsLandOnlyInTheInfBucket) {
  Metrics m("1", "r");
  m.operation("teardown", "error", 1000);
  const std::string out = m.render();
  const std::string b = "edge_agent_operation_duration_seconds_bucket{op=\"teardown\",le=";
  EXPECT_EQ(sample(out, b + "\"300\"}"), "0");
  EXPECT_EQ(sample(out, b + "\"+Inf\"}"), "1");
  EXPECT_EQ(sample(out, R"(edge_agent_operation_duration_seconds_sum{op="teardown"})"), "1000");
}

TEST(Metrics, NegativeAndNanDurationsAreRecordedAsZero) {
  Metrics m("1", "r");
  m.docker_call("ping", true, -1.0);
  m.docker_call("ping", true, std::nan(""));
  const std::string out = m.render();
  EXPECT_EQ(sample(out, R"(edge_agent_docker_call_duration_seconds_sum{call="ping"})"), "0");
  EXPECT_EQ(sample(out, R"(edge_agent_docker_call_duration_seconds_count{call="ping"})"), "2");
  EXPECT_EQ(
      sample(out, R"(edge_agent_docker_call_duration_seconds_bucket{call="ping",le="0.001"})"),
      "2");
}

TEST(Metrics, DockerCallsAreCountedByCallAndOutcome) {
  Metrics m("1", "r");
  m.docker_call("networks/create", true, 0.01);
  m.docker_call("networks/create", false, 0.02);
  m.docker_call("networks/create", false, 0.02);
  const std::string out = m.render();
  EXPECT_EQ(sample(out, R"(edge_agent_docker_calls_total{call="networks/create",outcome="ok"})"),
            "1");
  EXPECT_EQ(sample(out, R"(edge_agent_docker_calls_total{call="networks/create",outcome="error"})"),
            "2");
  EXPECT_EQ(sample(out, R"(edge_agent_docker_call_duration_seconds_count{call="networks/create"})"),
            "3");
}

TEST(Metrics, HeartbeatsDriftAndStoreErrorsMove) {
  Metrics m("1", "r");
  m.heartbeat("ok");
  m.heartbeat("ok");
  m.heartbeat("error");
  m.store_error();
  m.set_drift(true);
  std::string out = m.render();
  EXPECT_EQ(sample(out, R"(edge_agent_heartbeats_total{outcome="ok"})"), "2");
  EXPECT_EQ(sample(out, R"(edge_agent_heartbeats_total{outcome="error"})"), "1");
  EXPECT_EQ(sample(out, "edge_agent_store_errors_total"), "1");
  EXPECT_EQ(sample(out, "edge_agent_drift"), "1");
  m.set_drift(false);
  out = m.render();
  EXPECT_EQ(sample(out, "edge_agent_drift"), "0");
}

TEST(Metrics, LabelValuesAreEscapedPerTheTextFormat) {
  Metrics m("1", "r");
  m.http_request("a\"b\\c\nd", 404);
  EXPECT_EQ(sample(m.render(), R"(edge_agent_http_requests_total{route="a\"b\\c\nd",code="404"})"),
            "1");
}

TEST(Metrics, InvalidUtf8InALabelValueBecomesTheReplacementCharacter) {
  Metrics m("1", "r");
  m.http_request(std::string("/x\xff") + "\xC3\xA9", 404);  // bad byte, then a valid é
  EXPECT_EQ(sample(m.render(),
                   "edge_agent_http_requests_total{route=\"/x\xEF\xBF\xBD\xC3\xA9\","
                   "code=\"404\"}"),
            "1");
}

TEST(Metrics, NewLabelSetsBeyondTheCapAreFoldedIntoOther) {
  Metrics m("1", "r");
  const int extra = 44;
  for (int i = 0; i < static_cast<int>(Metrics::kMaxSeriesPerFamily) + extra; ++i) {
    m.http_request("/probe/" + std::to_string(i), 404);
  }
  m.http_request("/probe/0", 404);  // an existing series still counts as itself
  const std::string out = m.render();
  EXPECT_EQ(count_lines_starting_with(out, "edge_agent_http_requests_total{"),
            static_cast<int>(Metrics::kMaxSeriesPerFamily) + 1);
  EXPECT_EQ(sample(out, R"(edge_agent_http_requests_total{route="other",code="other"})"),
            std::to_string(extra));
  EXPECT_EQ(sample(out, R"(edge_agent_http_requests_total{route="/probe/0",code="404"})"), "2");
}

TEST(Metrics, ConcurrentRecordingLosesNoIncrement) {
  Metrics m("1", "r");
  constexpr int kThreads = 4, kEach = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&m] {
      for (int i = 0; i < kEach; ++i) {
        m.http_request("/health", 200);
        m.docker_call("ping", true, 0.001);
        if (i % 1000 == 0) (void)m.render();
      }
    });
  }
  for (auto& t : threads) t.join();
  const std::string out = m.render();
  const std::string total = std::to_string(kThreads * kEach);
  EXPECT_EQ(sample(out, R"(edge_agent_http_requests_total{route="/health",code="200"})"), total);
  EXPECT_EQ(sample(out, R"(edge_agent_docker_call_duration_seconds_count{call="ping"})"), total);
}

// The real Prometheus text parser (python3-prometheus-client, a Debian
// package) reads the exposition, and the checks a scraper relies on hold:
// every family typed and documented, buckets cumulative, +Inf == _count.
constexpr const char* kParserScript = R"PY(
import math, sys
from prometheus_client.parser import text_string_to_metric_families
text = open(sys.argv[1], encoding="utf-8").read()
families = {f.name: f for f in text_string_to_metric_families(text)}
for f in families.values():
    assert f.type in ("counter", "gauge", "histogram"), (f.name, f.type)
    assert f.documentation, f.name
    if f.type == "histogram":
        by_series = {}
        for s in f.samples:
            key = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
            by_series.setdefault(key, []).append(s)
        for key, samples in by_series.items():
            buckets = [s for s in samples if s.name.endswith("_bucket")]
            bounds = [float(s.labels["le"]) for s in buckets]
            assert bounds == sorted(bounds) and math.isinf(bounds[-1]), (f.name, key)
            values = [s.value for s in buckets]
            assert values == sorted(values), (f.name, key, values)
            count = [s.value for s in samples if s.name.endswith("_count")]
            assert count == [values[-1]], (f.name, key)
for name in sorted(families):
    f = families[name]
    for s in f.samples:
        labels = ",".join("%s=%s" % kv for kv in sorted(s.labels.items()))
        print("%s %s {%s} %r" % (f.type, s.name, labels, s.value))
)PY";

TEST(Metrics, RenderIsAcceptedByThePrometheusReferenceParser) {
  Metrics m("0.1.0", "deadbee");
  m.http_request("/topology/apply", 200);
  m.http_request("we\"ird\\ro\nute", 500);
  m.operation("apply", "ok", 1.5);
  m.operation("teardown", "error", 0.2);
  m.docker_call("containers/create", true, 0.03);
  m.heartbeat("ok");
  m.set_drift(true);
  m.store_error();

  TempDir dir;
  write_file(dir.path() / "metrics.txt", m.render());
  write_file(dir.path() / "check.py", kParserScript);
  const std::string cmd = "/usr/bin/python3 " + (dir.path() / "check.py").string() + " " +
                          (dir.path() / "metrics.txt").string() + " > " +
                          (dir.path() / "parsed.txt").string() + " 2> " +
                          (dir.path() / "err.txt").string();
  const int rc = std::system(cmd.c_str());
  ASSERT_EQ(rc, 0) << "the parser rejected the exposition (is python3-prometheus-client "
                      "installed?):\n"
                   << read_file(dir.path() / "err.txt") << "\n--- exposition ---\n"
                   << m.render();

  const std::string parsed = read_file(dir.path() / "parsed.txt");
  const auto has = [&](const std::string& line) {
    return parsed.find(line + "\n") != std::string::npos;
  };
  EXPECT_TRUE(has("counter edge_agent_http_requests_total {code=200,route=/topology/apply} 1.0"))
      << parsed;
  EXPECT_TRUE(has("counter edge_agent_http_requests_total {code=500,route=we\"ird\\ro\nute} 1.0"))
      << parsed;
  EXPECT_TRUE(has("histogram edge_agent_operation_duration_seconds_sum {op=apply} 1.5")) << parsed;
  EXPECT_TRUE(
      has("histogram edge_agent_operation_duration_seconds_bucket {le=+Inf,op=teardown} "
          "1.0"))
      << parsed;
  EXPECT_TRUE(has("gauge edge_agent_build_info {git_rev=deadbee,version=0.1.0} 1.0")) << parsed;
  EXPECT_TRUE(has("gauge edge_agent_drift {} 1.0")) << parsed;
  EXPECT_TRUE(has("counter edge_agent_store_errors_total {} 1.0")) << parsed;
  EXPECT_TRUE(has("counter edge_agent_heartbeats_total {outcome=ok} 1.0")) << parsed;
}

}  // namespace

namespace {

TEST(Metrics, AThreadThatDiesOnAnExceptionIsCountedUnderItsName) {
  Metrics m("1", "r");
  EXPECT_NE(m.render().find("# TYPE edge_agent_thread_failures_total counter\n"),
            std::string::npos);
  const std::string series = R"(edge_agent_thread_failures_total{thread="metrics-unit"})";
  EXPECT_EQ(sample(m.render(), series), "<absent>");
  edge::OwnedThread t("metrics-unit", [] { throw std::runtime_error("boom"); });
  ASSERT_TRUE(t.join_for(std::chrono::seconds(10)));
  EXPECT_EQ(sample(m.render(), series), "1");
}

}  // namespace
