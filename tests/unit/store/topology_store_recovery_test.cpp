// What happens when things go wrong around the store: a corrupt file, a second agent on the
// same state dir, and a process killed in the middle of a write.

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "store/topology_store.h"
#include "tests/support/test_support.h"

namespace edge::store {
namespace {

namespace fs = std::filesystem;
using edge::testing::read_file;
using edge::testing::TempDir;
using edge::testing::write_file;

// Routes spdlog's default logger into a string for the lifetime of the object.
class CapturedLog {
 public:
  CapturedLog() : previous_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    sink->set_pattern("%l|%v");
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("captured", sink));
  }
  ~CapturedLog() { spdlog::set_default_logger(previous_); }
  std::string text() const { return out_.str(); }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> previous_;
};

// A fresh directory on tmpfs when the host has one, else under $TMPDIR. The crash test wants
// tmpfs: there fsync costs nothing, so the kills land in SQLite's page writes instead of
// nearly always inside fsync, and a store that could tear a row is caught within a few kills
// (checked by building the store with journal_mode=OFF: it fails at once on tmpfs, and
// passes by luck on ext4).
class FastTempDir {
 public:
  FastTempDir() {
    std::error_code ec;
    if (fs::is_directory("/dev/shm", ec) && access("/dev/shm", W_OK) == 0) {
      std::string templ = "/dev/shm/edge-store-test-XXXXXX";
      if (mkdtemp(templ.data()) != nullptr) path_ = templ;
    }
    if (path_.empty()) {
      fallback_ = std::make_unique<TempDir>();
      path_ = fallback_->path();
    }
  }
  ~FastTempDir() {
    if (fallback_ == nullptr) {
      std::error_code ec;
      fs::remove_all(path_, ec);
    }
  }
  FastTempDir(const FastTempDir&) = delete;
  FastTempDir& operator=(const FastTempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
  std::unique_ptr<TempDir> fallback_;
};

std::set<std::string> names_in(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.insert(e.path().filename().string());
  return names;
}

// topology.db.corrupt-YYYYmmddTHHMMSSZ (std::regex trips a GCC 12 warning under ASan).
bool is_corrupt_name(const std::string& name) {
  const std::string prefix = "topology.db.corrupt-";
  if (!name.starts_with(prefix)) return false;
  const std::string stamp = name.substr(prefix.size());
  const std::string shape = "99999999T999999Z";  // 9: any digit
  if (stamp.size() != shape.size()) return false;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    const bool fits = shape[i] == '9' ? std::isdigit(static_cast<unsigned char>(stamp[i])) != 0
                                      : stamp[i] == shape[i];
    if (!fits) return false;
  }
  return true;
}

void expect_moved_aside_and_empty(const fs::path& state, const std::string& original_bytes) {
  CapturedLog log;
  OpenResult r = TopologyStore::open(state, OpenMode::kDaemon);
  ASSERT_TRUE(r.status.ok()) << r.status.message;
  ASSERT_NE(r.store, nullptr);
  ASSERT_TRUE(r.moved_aside.has_value());
  const fs::path aside = *r.moved_aside;
  EXPECT_EQ(aside.parent_path(), state);
  EXPECT_TRUE(is_corrupt_name(aside.filename().string())) << aside;
  EXPECT_EQ(read_file(aside), original_bytes);

  StoreStatus st;
  EXPECT_EQ(r.store->current(&st), std::nullopt);
  EXPECT_TRUE(st.ok()) << st.message;
  EXPECT_TRUE(r.store->put("t-new", "h", "{}", 1).ok());

  const std::string logged = log.text();
  EXPECT_NE(logged.find("critical|"), std::string::npos) << logged;
  EXPECT_NE(logged.find(aside.string()), std::string::npos) << logged;
}

TEST(TopologyStoreRecovery, AGarbageFileIsMovedAsideWithItsWalAndTheStoreStartsEmptyLoudly) {
  TempDir dir;
  std::string garbage;
  for (int i = 0; i < 8192; ++i) garbage.push_back(static_cast<char>((i * 131 + 7) % 251));
  const std::string wal_garbage(1000, 'w');
  write_file(dir.path() / "topology.db", garbage);
  write_file(dir.path() / "topology.db-wal", wal_garbage);

  expect_moved_aside_and_empty(dir.path(), garbage);

  std::string aside_wal;
  for (const auto& name : names_in(dir.path())) {
    if (name.find(".corrupt-") != std::string::npos && name.ends_with("-wal")) aside_wal = name;
  }
  ASSERT_FALSE(aside_wal.empty());
  EXPECT_EQ(read_file(dir.path() / aside_wal), wal_garbage);
}

TEST(TopologyStoreRecovery, ATruncatedDatabaseIsMovedAsideAndTheStoreStartsEmpty) {
  TempDir dir;
  {
    auto r = TopologyStore::open(dir.path(), OpenMode::kDaemon);
    ASSERT_TRUE(r.status.ok()) << r.status.message;
    ASSERT_TRUE(r.store->put("t-1", "h1", std::string(200 * 1024, 'x'), 1).ok());
  }
  ASSERT_FALSE(fs::exists(dir.path() / "topology.db-wal")) << "a clean close checkpoints the WAL";
  const fs::path db = dir.path() / "topology.db";
  const std::string whole = read_file(db);
  ASSERT_GT(whole.size(), 200u * 1024u);
  const std::string truncated = whole.substr(0, whole.size() / 2);
  write_file(db, truncated);

  expect_moved_aside_and_empty(dir.path(), truncated);
}

TEST(TopologyStoreRecovery, ATableMissingColumnsIsMovedAsideRatherThanFailingEveryCall) {
  TempDir dir;
  {
    SQLite::Database raw(dir.path() / "topology.db", SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    raw.exec("CREATE TABLE applied_topology(topology_id TEXT PRIMARY KEY)");
  }
  const std::string bytes = read_file(dir.path() / "topology.db");
  expect_moved_aside_and_empty(dir.path(), bytes);
}

TEST(TopologyStoreRecovery, AValidSqliteFileThatIsNotOursIsMovedAsideAndTheStoreStartsEmpty) {
  TempDir dir;
  {
    SQLite::Database raw(dir.path() / "topology.db", SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    raw.exec("CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT)");
    raw.exec("INSERT INTO users(name) VALUES ('alice')");
  }
  const std::string bytes = read_file(dir.path() / "topology.db");
  expect_moved_aside_and_empty(dir.path(), bytes);
}

TEST(TopologyStoreRecovery, ReadOnlyModeNamesTheForeignTablesOfAFileThatIsNotOurs) {
  TempDir dir;
  {
    SQLite::Database raw(dir.path() / "topology.db", SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    raw.exec("CREATE TABLE users(id INTEGER PRIMARY KEY)");
  }
  OpenResult r = TopologyStore::open(dir.path(), OpenMode::kReadOnly);
  EXPECT_EQ(r.status.code, StoreCode::kIo);
  EXPECT_EQ(r.store, nullptr);
  EXPECT_NE(
      r.status.message.find("not an edge-agent store: it has 'users' but no applied_topology"),
      std::string::npos)
      << r.status.message;
}

TEST(TopologyStoreRecovery, ReadOnlyModeReportsACorruptFileAsIoAndChangesNothing) {
  TempDir dir;
  const std::string garbage(4096, 'g');
  write_file(dir.path() / "topology.db", garbage);
  const std::set<std::string> before = names_in(dir.path());

  OpenResult r = TopologyStore::open(dir.path(), OpenMode::kReadOnly);
  EXPECT_EQ(r.status.code, StoreCode::kIo);
  EXPECT_EQ(r.store, nullptr);
  EXPECT_EQ(r.moved_aside, std::nullopt);
  EXPECT_NE(r.status.message.find((dir.path() / "topology.db").string()), std::string::npos)
      << r.status.message;
  EXPECT_NE(r.status.message.find("file is not a database"), std::string::npos) << r.status.message;
  EXPECT_EQ(names_in(dir.path()), before);
  EXPECT_EQ(read_file(dir.path() / "topology.db"), garbage);
}

TEST(TopologyStoreRecovery, TheDaemonLockFileHoldsThePidAndIsReleasedByTheDestructor) {
  TempDir dir;
  {
    OpenResult first = TopologyStore::open(dir.path(), OpenMode::kDaemon);
    ASSERT_TRUE(first.status.ok()) << first.status.message;
    EXPECT_EQ(read_file(dir.path() / "edge-agent.lock"), std::to_string(getpid()) + "\n");

    // flock() locks belong to the open file: a second open in this process is refused too.
    OpenResult second = TopologyStore::open(dir.path(), OpenMode::kDaemon);
    EXPECT_EQ(second.status.code, StoreCode::kLocked);
    EXPECT_EQ(second.store, nullptr);
  }
  OpenResult again = TopologyStore::open(dir.path(), OpenMode::kDaemon);
  EXPECT_TRUE(again.status.ok()) << again.status.message;
}

TEST(TopologyStoreRecovery, ASecondAgentProcessOnTheSameStateDirIsRefusedNamingTheFirstPid) {
  TempDir dir;
  int ready[2];
  int quit[2];
  ASSERT_EQ(pipe(ready), 0);
  ASSERT_EQ(pipe(quit), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(ready[0]);
    close(quit[1]);
    OpenResult r = TopologyStore::open(dir.path(), OpenMode::kDaemon);
    const char ok = r.status.ok() ? '1' : '0';
    if (write(ready[1], &ok, 1) != 1) _exit(3);
    char c;
    while (read(quit[0], &c, 1) > 0) {
    }
    r.store.reset();
    _exit(0);
  }
  close(ready[1]);
  close(quit[0]);
  char child_ok = 0;
  ASSERT_EQ(read(ready[0], &child_ok, 1), 1);
  ASSERT_EQ(child_ok, '1');

  OpenResult second = TopologyStore::open(dir.path(), OpenMode::kDaemon);
  EXPECT_EQ(second.status.code, StoreCode::kLocked);
  EXPECT_EQ(second.store, nullptr);
  EXPECT_NE(second.status.message.find("pid " + std::to_string(child)), std::string::npos)
      << second.status.message;
  EXPECT_NE(second.status.message.find(dir.path().string()), std::string::npos)
      << second.status.message;
  EXPECT_EQ(read_file(dir.path() / "edge-agent.lock"), std::to_string(child) + "\n");

  // A read-only reader never waits for or takes the lock.
  OpenResult reader = TopologyStore::open(dir.path(), OpenMode::kReadOnly);
  EXPECT_TRUE(reader.status.ok()) << reader.status.message;

  close(quit[1]);
  int wstatus = 0;
  ASSERT_EQ(waitpid(child, &wstatus, 0), child);
  ASSERT_TRUE(WIFEXITED(wstatus));
  EXPECT_EQ(WEXITSTATUS(wstatus), 0);
  close(ready[0]);

  OpenResult after = TopologyStore::open(dir.path(), OpenMode::kDaemon);
  EXPECT_TRUE(after.status.ok()) << after.status.message;
}

// A process SIGKILLed at a random instant while it rewrites the row must leave either the
// previous row or the new one, whole: never a mix, never a damaged file.
TEST(TopologyStoreRecovery, AProcessKilledMidWriteLeavesExactlyTheOldOrTheNewRow) {
  FastTempDir dir;
  SCOPED_TRACE("state dir " + dir.path().string());
  const std::string blob_a(200 * 1024, 'a');
  const std::string blob_b(200 * 1024, 'b');
  {
    OpenResult r = TopologyStore::open(dir.path(), OpenMode::kDaemon);
    ASSERT_TRUE(r.status.ok()) << r.status.message;
    ASSERT_TRUE(r.store->put("t-crash", "ha", blob_a, 1).ok());
  }

  const unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> delay_ms(1, 30);
  constexpr int kIterations = 200;
  int saw_a = 0;
  int saw_b = 0;
  const auto started = std::chrono::steady_clock::now();

  for (int i = 0; i < kIterations; ++i) {
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      OpenResult r = TopologyStore::open(dir.path(), OpenMode::kDaemon);
      if (!r.status.ok() || r.moved_aside) _exit(3);
      for (std::int64_t n = 2;; ++n) {
        const bool b = n % 2 == 0;
        if (!r.store->put("t-crash", b ? "hb" : "ha", b ? blob_b : blob_a, n).ok()) _exit(4);
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
    ASSERT_EQ(kill(child, SIGKILL), 0);
    int wstatus = 0;
    ASSERT_EQ(waitpid(child, &wstatus, 0), child);
    ASSERT_TRUE(WIFSIGNALED(wstatus)) << "iteration " << i << ": child exited with status "
                                      << WEXITSTATUS(wstatus) << " before it was killed";

    SQLite::Database raw(dir.path() / "topology.db", SQLite::OPEN_READWRITE);
    ASSERT_EQ(raw.execAndGet("PRAGMA integrity_check").getString(), "ok") << "iteration " << i;
    ASSERT_EQ(raw.execAndGet("SELECT COUNT(*) FROM applied_topology").getInt(), 1);
    SQLite::Statement q(raw,
                        "SELECT topology_id, applied_version_hash, hydrated_blob_json "
                        "FROM applied_topology");
    ASSERT_TRUE(q.executeStep());
    const std::string id = q.getColumn(0).getString();
    const std::string hash = q.getColumn(1).getString();
    const std::string blob = q.getColumn(2).getString();
    ASSERT_EQ(id, "t-crash");
    if (hash == "ha") {
      ASSERT_TRUE(blob == blob_a) << "iteration " << i << ": hash ha with a torn blob";
      ++saw_a;
    } else {
      ASSERT_EQ(hash, "hb") << "iteration " << i;
      ASSERT_TRUE(blob == blob_b) << "iteration " << i << ": hash hb with a torn blob";
      ++saw_b;
    }
  }

  // Reopening through the store finds nothing to repair.
  OpenResult r = TopologyStore::open(dir.path(), OpenMode::kDaemon);
  ASSERT_TRUE(r.status.ok()) << r.status.message;
  EXPECT_EQ(r.moved_aside, std::nullopt);

  // Both rows must have been seen, or the kills never landed inside the write loop.
  EXPECT_GT(saw_a, 0);
  EXPECT_GT(saw_b, 0);
  const auto elapsed = std::chrono::steady_clock::now() - started;
  std::cout << "[ crash    ] " << kIterations << " kills: " << saw_a << " x A, " << saw_b
            << " x B in " << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()
            << " ms\n";
}

}  // namespace
}  // namespace edge::store
