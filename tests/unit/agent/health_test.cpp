#include "agent/health.h"

#include <gtest/gtest.h>

#include "agent/logging.h"

namespace edge {
namespace {

using nlohmann::json;

const json kInSync = {{"in_sync", true}, {"missing", json::array()}};

TEST(DriftLog, DriftAppearingIsOneWarningNamingWhatIsMissingExtraStoppedAndChanged) {
  json drift = {{"in_sync", false},
                {"missing", {"decnet_t_abc_lan0"}},
                {"extra", {"decnet_t_abc_old"}},
                {"stopped", {"decnet_t_abc_d1"}},
                {"changed", {"decnet_t_abc_d2-ssh"}}};
  auto line = drift_transition(kInSync, drift);
  ASSERT_TRUE(line.has_value());
  EXPECT_TRUE(line->warning);
  EXPECT_EQ(line->text,
            "drift: missing [decnet_t_abc_lan0]; extra [decnet_t_abc_old]; stopped "
            "[decnet_t_abc_d1]; changed [decnet_t_abc_d2-ssh]");
}

TEST(DriftLog, DriftClearingIsOneInfoLineSayingWhatItWas) {
  json drift = {{"in_sync", false}, {"stopped", {"d1"}}};
  auto line = drift_transition(drift, kInSync);
  ASSERT_TRUE(line.has_value());
  EXPECT_FALSE(line->warning);
  EXPECT_EQ(line->text,
            "drift cleared: Docker matches the applied topology again (was: stopped [d1])");
}

TEST(DriftLog, NoLineWhileNothingChangesInSyncOrDrifting) {
  json drift = {{"in_sync", false}, {"missing", {"a", "b"}}};
  EXPECT_FALSE(drift_transition(kInSync, kInSync).has_value());
  EXPECT_FALSE(drift_transition(json::object(), json::object()).has_value());
  EXPECT_FALSE(drift_transition(drift, drift).has_value());
}

TEST(DriftLog, ADifferentDriftIsOneChangedLine) {
  auto line = drift_transition(json{{"in_sync", false}, {"missing", {"a"}}},
                               json{{"in_sync", false}, {"missing", {"a", "b"}}});
  ASSERT_TRUE(line.has_value());
  EXPECT_TRUE(line->warning);
  EXPECT_EQ(line->text, "drift changed: missing [a, b]");
}

TEST(DriftLog, LongListsAreCutAfterEightNames) {
  json many = json::array();
  for (int i = 0; i < 12; ++i) many.push_back("c" + std::to_string(i));
  EXPECT_EQ(describe_drift({{"in_sync", false}, {"extra", many}}),
            "extra [c0, c1, c2, c3, c4, c5, c6, c7, and 4 more]");
}

TEST(StatusLine, HealthySaysWhereItServes) {
  HealthFacts f;
  f.serving = "127.0.0.1:8765";
  f.drift = kInSync;
  EXPECT_EQ(status_line(f), "serving on 127.0.0.1:8765");
}

TEST(StatusLine, NamesEverythingThatIsWrongMostUrgentFirst) {
  HealthFacts f;
  f.serving = "127.0.0.1:8765";
  f.docker_reachable = false;
  f.docker_error = "socket /run/docker.sock does not exist";
  f.heartbeat_failing = true;
  f.heartbeat_reason = "HTTP 503";
  f.last_error = "pull of decnet/ssh:1 failed";
  EXPECT_EQ(status_line(f),
            "degraded: Docker unreachable (socket /run/docker.sock does not exist); heartbeat "
            "failing (HTTP 503); last apply failed: pull of decnet/ssh:1 failed");
}

TEST(StatusLine, DriftIsNamedWhenDockerIsReachable) {
  HealthFacts f;
  f.serving = "x";
  f.drift = {{"in_sync", false}, {"missing", {"decnet_t_abc_d0"}}};
  EXPECT_EQ(status_line(f), "degraded: drift: missing [decnet_t_abc_d0]");
}

TEST(JournalPriority, LevelsMapToSdDaemonPriorities) {
  EXPECT_EQ(journal_priority("critical"), 2);
  EXPECT_EQ(journal_priority("error"), 3);
  EXPECT_EQ(journal_priority("warning"), 4);
  EXPECT_EQ(journal_priority("info"), 6);
  EXPECT_EQ(journal_priority("debug"), 7);
}

TEST(LogLevel, AnUnknownLevelIsRefusedByName) {
  Status st = set_log_level("verbose");
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(st.message(),
            "'verbose' is not a log level (trace, debug, info, warn, error, critical)");
}

}  // namespace
}  // namespace edge
