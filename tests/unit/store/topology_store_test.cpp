// The store's contract (DESIGN §4) as the master's own agent behaves, plus what a production
// daemon adds: WAL, schema versioning, adoption of the Python agent's file, read-only mode.

#include "store/topology_store.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "tests/support/test_support.h"

namespace edge::store {
namespace {

namespace fs = std::filesystem;
using edge::testing::TempDir;

constexpr const char* kExpectedTableSql =
    "CREATE TABLE applied_topology(topology_id TEXT PRIMARY KEY, applied_version_hash TEXT NOT "
    "NULL, hydrated_blob_json TEXT NOT NULL, applied_at INTEGER NOT NULL, last_error TEXT)";

std::unique_ptr<TopologyStore> open_daemon(const fs::path& dir) {
  OpenResult r = TopologyStore::open(dir, OpenMode::kDaemon);
  EXPECT_TRUE(r.status.ok()) << r.status.message;
  EXPECT_FALSE(r.moved_aside.has_value());
  return std::move(r.store);
}

AppliedTopology read_row(TopologyStore& store) {
  StoreStatus st;
  std::optional<AppliedTopology> row = store.current(&st);
  EXPECT_TRUE(st.ok()) << st.message;
  EXPECT_TRUE(row.has_value());
  return row.value_or(AppliedTopology{});
}

TEST(TopologyStore, AFreshStoreHasNoRow) {
  TempDir dir;
  auto store = open_daemon(dir.path());
  ASSERT_NE(store, nullptr);
  StoreStatus st{StoreCode::kIo, "unset"};
  EXPECT_EQ(store->current(&st), std::nullopt);
  EXPECT_TRUE(st.ok());
  EXPECT_EQ(store->path(), dir.path() / "topology.db");
  EXPECT_TRUE(fs::exists(dir.path() / "topology.db"));
}

TEST(TopologyStore, PutThenCurrentReturnsExactlyWhatWasPut) {
  TempDir dir;
  auto store = open_daemon(dir.path());
  ASSERT_TRUE(store->put("t-1", "abc123", R"({"lans":[]})", 1700000000).ok());
  AppliedTopology row = read_row(*store);
  EXPECT_EQ(row.topology_id, "t-1");
  EXPECT_EQ(row.version_hash, "abc123");
  EXPECT_EQ(row.hydrated_json, R"({"lans":[]})");
  EXPECT_EQ(row.applied_at, 1700000000);
  EXPECT_EQ(row.last_error, std::nullopt);
}

TEST(TopologyStore, PutWithTheSameIdReplacesHashBlobTimeAndClearsTheError) {
  TempDir dir;
  auto store = open_daemon(dir.path());
  ASSERT_TRUE(store->put("t-1", "h1", R"({"v":1})", 100).ok());
  ASSERT_TRUE(store->record_error("t-1", "docker said no").ok());
  ASSERT_EQ(read_row(*store).last_error, "docker said no");

  ASSERT_TRUE(store->put("t-1", "h2", R"({"v":2})", 200).ok());
  AppliedTopology row = read_row(*store);
  EXPECT_EQ(row.topology_id, "t-1");
  EXPECT_EQ(row.version_hash, "h2");
  EXPECT_EQ(row.hydrated_json, R"({"v":2})");
  EXPECT_EQ(row.applied_at, 200);
  EXPECT_EQ(row.last_error, std::nullopt);
}

TEST(TopologyStore, PutWithADifferentIdIsRejectedNamingBothIdsAndLeavesTheRowUnchanged) {
  TempDir dir;
  auto store = open_daemon(dir.path());
  ASSERT_TRUE(store->put("old-id", "h1", R"({"v":1})", 100).ok());

  StoreStatus st = store->put("new-id", "h2", R"({"v":2})", 200);
  EXPECT_EQ(st.code, StoreCode::kAlreadyApplied);
  EXPECT_EQ(st.message, "agent already has topology 'old-id'; cannot apply 'new-id'");

  AppliedTopology row = read_row(*store);
  EXPECT_EQ(row.topology_id, "old-id");
  EXPECT_EQ(row.version_hash, "h1");
  EXPECT_EQ(row.hydrated_json, R"({"v":1})");
  EXPECT_EQ(row.applied_at, 100);
}

TEST(TopologyStore, RecordErrorWithoutARowInsertsAMarkerSoTheMasterSeesDrift) {
  TempDir dir;
  auto store = open_daemon(dir.path());
  ASSERT_TRUE(store->record_error("t-1", "pull failed: busybox").ok());
  AppliedTopology row = read_row(*store);
  EXPECT_EQ(row.topology_id, "t-1");
  EXPECT_EQ(row.version_hash, "");
  EXPECT_EQ(row.hydrated_json, "{}");
  EXPECT_EQ(row.applied_at, 0);
  EXPECT_EQ(row.last_error, "pull failed: busybox");
}

TEST(TopologyStore, RecordErrorWithoutARowKeepsTheGivenHydratedBlobInTheMarker) {
  TempDir dir;
  auto store = open_daemon(dir.path());
  ASSERT_TRUE(store->record_error("t-1", "boom", std::string(R"({"lans":[1]})")).ok());
  AppliedTopology row = read_row(*store);
  EXPECT_EQ(row.version_hash, "");
  EXPECT_EQ(row.hydrated_json, R"({"lans":[1]})");
  EXPECT_EQ(row.applied_at, 0);
  EXPECT_EQ(row.last_error, "boom");
}

TEST(TopologyStore, PutAfterAMarkerForTheSameIdReplacesTheMarker) {
  TempDir dir;
  auto store = open_daemon(dir.path());
  ASSERT_TRUE(store->record_error("t-1", "first try failed").ok());
  ASSERT_TRUE(store->put("t-1", "h1", R"({"v":1})", 300).ok());
  AppliedTopology row = read_row(*store);
  EXPECT_EQ(row.topology_id, "t-1");
  EXPECT_EQ(row.version_hash, "h1");
  EXPECT_EQ(row.hydrated_json, R"({"v":1})");
  EXPECT_EQ(row.applied_at, 300);
  EXPECT_EQ(row.last_error, std::nullopt);
}

TEST(TopologyStore, RecordErrorOnAnExistingRowSetsTheErrorAndKeepsItsBlobAndHash) {
  TempDir dir;
  auto store = open_daemon(dir.path());
  ASSERT_TRUE(store->put("t-1", "h1", R"({"v":1})", 100).ok());
  ASSERT_TRUE(store->record_error("t-1", "converge failed", std::string(R"({"v":2})")).ok());
  AppliedTopology row = read_row(*store);
  EXPECT_EQ(row.version_hash, "h1");
  EXPECT_EQ(row.hydrated_json, R"({"v":1})");
  EXPECT_EQ(row.applied_at, 100);
  EXPECT_EQ(row.last_error, "converge failed");
}

TEST(TopologyStore, RecordErrorReplacesAStoredBlobThatIsOnlyAnEmptyObject) {
  TempDir dir;
  auto store = open_daemon(dir.path());
  ASSERT_TRUE(store->record_error("t-1", "first").ok());
  ASSERT_TRUE(store->record_error("t-1", "second", std::string(R"({"v":2})")).ok());
  AppliedTopology row = read_row(*store);
  EXPECT_EQ(row.hydrated_json, R"({"v":2})");
  EXPECT_EQ(row.last_error, "second");

  // Once a real blob is stored, a later error without one keeps it.
  ASSERT_TRUE(store->record_error("t-1", "third").ok());
  row = read_row(*store);
  EXPECT_EQ(row.hydrated_json, R"({"v":2})");
  EXPECT_EQ(row.last_error, "third");
}

TEST(TopologyStore, RecordErrorForAnotherIdReplacesTheOldRowWithTheNewIdsMarker) {
  TempDir dir;
  auto store = open_daemon(dir.path());
  ASSERT_TRUE(store->put("old-id", "h1", R"({"v":1})", 100).ok());
  ASSERT_TRUE(store->record_error("new-id", "apply failed", std::string(R"({"v":2})")).ok());
  AppliedTopology row = read_row(*store);
  EXPECT_EQ(row.topology_id, "new-id");
  EXPECT_EQ(row.version_hash, "");
  EXPECT_EQ(row.hydrated_json, R"({"v":2})");
  EXPECT_EQ(row.applied_at, 0);
  EXPECT_EQ(row.last_error, "apply failed");

  SQLite::Database raw(dir.path() / "topology.db", SQLite::OPEN_READONLY);
  EXPECT_EQ(raw.execAndGet("SELECT COUNT(*) FROM applied_topology").getInt(), 1);
}

TEST(TopologyStore, ClearDeletesTheRowAndIsANoOpForAMissingId) {
  TempDir dir;
  auto store = open_daemon(dir.path());
  ASSERT_TRUE(store->put("t-1", "h1", "{}", 100).ok());

  EXPECT_TRUE(store->clear("other-id").ok());
  EXPECT_EQ(read_row(*store).topology_id, "t-1");

  EXPECT_TRUE(store->clear("t-1").ok());
  EXPECT_EQ(store->current(), std::nullopt);
  EXPECT_TRUE(store->clear("t-1").ok());
  EXPECT_EQ(store->current(), std::nullopt);

  // After a clear, a different id may be applied.
  EXPECT_TRUE(store->put("t-2", "h2", "{}", 200).ok());
  EXPECT_EQ(read_row(*store).topology_id, "t-2");
}

TEST(TopologyStore, TheRowSurvivesClosingAndReopening) {
  TempDir dir;
  {
    auto store = open_daemon(dir.path());
    ASSERT_TRUE(store->put("t-1", "h1", R"({"v":1})", 100).ok());
    ASSERT_TRUE(store->record_error("t-1", "kept across restarts").ok());
  }
  auto store = open_daemon(dir.path());
  AppliedTopology row = read_row(*store);
  EXPECT_EQ(row.topology_id, "t-1");
  EXPECT_EQ(row.version_hash, "h1");
  EXPECT_EQ(row.hydrated_json, R"({"v":1})");
  EXPECT_EQ(row.applied_at, 100);
  EXPECT_EQ(row.last_error, "kept across restarts");
}

TEST(TopologyStore, TheFileIsInWalModeWithTheExactTableAndTheSchemaVersion) {
  TempDir dir;
  auto store = open_daemon(dir.path());
  ASSERT_TRUE(store->put("t-1", "h1", "{}", 1).ok());
  SQLite::Database raw(dir.path() / "topology.db", SQLite::OPEN_READONLY);
  EXPECT_EQ(raw.execAndGet("PRAGMA journal_mode").getString(), "wal");
  EXPECT_EQ(raw.execAndGet("PRAGMA user_version").getInt(), TopologyStore::kSchemaVersion);
  EXPECT_EQ(
      raw.execAndGet("SELECT sql FROM sqlite_master WHERE name = 'applied_topology'").getString(),
      kExpectedTableSql);
}

TEST(TopologyStore, ASchemaNewerThanTheBinaryIsRefusedAndTheFileIsNotModified) {
  TempDir dir;
  const fs::path db_path = dir.path() / "topology.db";
  {
    SQLite::Database raw(db_path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    raw.exec(kExpectedTableSql);
    raw.exec("INSERT INTO applied_topology VALUES('t-9', 'h9', '{}', 9, NULL)");
    raw.exec("PRAGMA user_version = 2");
  }
  const std::string before = edge::testing::read_file(db_path);
  const auto mtime_before = fs::last_write_time(db_path);

  for (OpenMode mode : {OpenMode::kDaemon, OpenMode::kReadOnly}) {
    OpenResult r = TopologyStore::open(dir.path(), mode);
    EXPECT_EQ(r.status.code, StoreCode::kSchemaTooNew);
    EXPECT_EQ(r.store, nullptr);
    EXPECT_EQ(r.moved_aside, std::nullopt);
    EXPECT_NE(r.status.message.find("schema version 2"), std::string::npos) << r.status.message;
    EXPECT_NE(r.status.message.find("understands schema version 1"), std::string::npos)
        << r.status.message;
    EXPECT_NE(r.status.message.find(db_path.string()), std::string::npos) << r.status.message;
  }
  EXPECT_EQ(edge::testing::read_file(db_path), before);
  EXPECT_EQ(fs::last_write_time(db_path), mtime_before);
  EXPECT_FALSE(fs::exists(dir.path() / "topology.db-wal"));
}

TEST(TopologyStore, TheMasterAgentsDatabaseWithoutAVersionIsAdoptedWithItsRow) {
  TempDir dir;
  const fs::path db_path = dir.path() / "topology.db";
  {
    // As the Python agent leaves it: rollback journal, user_version 0.
    SQLite::Database raw(db_path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    raw.exec(kExpectedTableSql);
    raw.exec("INSERT INTO applied_topology VALUES('py-id', 'pyhash', '{\"a\":1}', 42, 'old')");
  }
  {
    auto store = open_daemon(dir.path());
    ASSERT_NE(store, nullptr);
    AppliedTopology row = read_row(*store);
    EXPECT_EQ(row.topology_id, "py-id");
    EXPECT_EQ(row.version_hash, "pyhash");
    EXPECT_EQ(row.hydrated_json, R"({"a":1})");
    EXPECT_EQ(row.applied_at, 42);
    EXPECT_EQ(row.last_error, "old");
  }
  SQLite::Database raw(db_path, SQLite::OPEN_READONLY);
  EXPECT_EQ(raw.execAndGet("PRAGMA user_version").getInt(), TopologyStore::kSchemaVersion);
  EXPECT_EQ(raw.execAndGet("PRAGMA journal_mode").getString(), "wal");
}

TEST(TopologyStore, ReadOnlyModeOnAMissingFileHasNoRowAndCreatesNothing) {
  TempDir dir;
  const fs::path state = dir.path() / "never-started";
  OpenResult r = TopologyStore::open(state, OpenMode::kReadOnly);
  ASSERT_TRUE(r.status.ok()) << r.status.message;
  ASSERT_NE(r.store, nullptr);
  StoreStatus st{StoreCode::kIo, "unset"};
  EXPECT_EQ(r.store->current(&st), std::nullopt);
  EXPECT_TRUE(st.ok());
  EXPECT_FALSE(fs::exists(state));
}

TEST(TopologyStore, ReadOnlyModeReadsTheDaemonsRowWithoutTakingTheLockAndRefusesWrites) {
  TempDir dir;
  auto daemon = open_daemon(dir.path());
  ASSERT_TRUE(daemon->put("t-1", "h1", R"({"v":1})", 100).ok());

  OpenResult r = TopologyStore::open(dir.path(), OpenMode::kReadOnly);
  ASSERT_TRUE(r.status.ok()) << r.status.message;
  AppliedTopology row = read_row(*r.store);
  EXPECT_EQ(row.topology_id, "t-1");
  EXPECT_EQ(row.version_hash, "h1");

  StoreStatus st = r.store->put("t-1", "h2", "{}", 200);
  EXPECT_EQ(st.code, StoreCode::kIo);
  EXPECT_NE(st.message.find("read-only"), std::string::npos) << st.message;
  EXPECT_EQ(r.store->record_error("t-1", "x").code, StoreCode::kIo);
  EXPECT_EQ(r.store->clear("t-1").code, StoreCode::kIo);
  EXPECT_EQ(read_row(*daemon).version_hash, "h1");
}

TEST(TopologyStore, AnSqliteFailureIsAnIoErrorNamingTheFileAndTheSqliteMessage) {
  TempDir dir;
  auto store = open_daemon(dir.path());
  {
    SQLite::Database raw(dir.path() / "topology.db", SQLite::OPEN_READWRITE);
    raw.exec("DROP TABLE applied_topology");
  }
  StoreStatus st;
  EXPECT_EQ(store->current(&st), std::nullopt);
  EXPECT_EQ(st.code, StoreCode::kIo);
  EXPECT_NE(st.message.find((dir.path() / "topology.db").string()), std::string::npos)
      << st.message;
  EXPECT_NE(st.message.find("no such table: applied_topology"), std::string::npos) << st.message;

  StoreStatus put = store->put("t-1", "h", "{}", 1);
  EXPECT_EQ(put.code, StoreCode::kIo);
  EXPECT_NE(put.message.find("no such table: applied_topology"), std::string::npos) << put.message;
}

TEST(TopologyStore, ConcurrentCallersOnOneStoreAllSucceedAndLeaveOneWholeRow) {
  TempDir dir;
  auto store = open_daemon(dir.path());
  constexpr int kThreads = 4;
  constexpr int kRounds = 50;
  std::vector<std::thread> threads;
  std::vector<int> failures(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string blob(1000, static_cast<char>('a' + t));
      for (int i = 0; i < kRounds; ++i) {
        if (!store->put("t-1", std::string(1, static_cast<char>('a' + t)), blob, t).ok()) {
          ++failures[t];
        }
        StoreStatus st;
        if (!store->current(&st) || !st.ok()) ++failures[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(failures[t], 0) << "thread " << t;
  AppliedTopology row = read_row(*store);
  ASSERT_EQ(row.version_hash.size(), 1u);
  EXPECT_EQ(row.hydrated_json, std::string(1000, row.version_hash[0]));
  EXPECT_EQ(row.applied_at, row.version_hash[0] - 'a');
}

}  // namespace
}  // namespace edge::store
