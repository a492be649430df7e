#include "store/topology_store.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace edge::store {
namespace {

namespace fs = std::filesystem;

constexpr int kBusyTimeoutMs = 5000;
constexpr const char* kDbName = "topology.db";
constexpr const char* kLockName = "edge-agent.lock";
constexpr const char* kTable = "applied_topology";
constexpr const char* kCreateTable =
    "CREATE TABLE IF NOT EXISTS applied_topology("
    "topology_id TEXT PRIMARY KEY, "
    "applied_version_hash TEXT NOT NULL, "
    "hydrated_blob_json TEXT NOT NULL, "
    "applied_at INTEGER NOT NULL, "
    "last_error TEXT)";
// SQLite files live with these companions; they travel with the main file when it is moved.
constexpr std::string_view kCompanions[] = {"-wal", "-shm", "-journal"};

#ifndef EDGE_AGENT_VERSION
#define EDGE_AGENT_VERSION "unknown"
#endif

StoreStatus ok() { return {}; }

StoreStatus fail(StoreCode code, std::string message) { return {code, std::move(message)}; }

std::string errno_text(int err) { return std::error_code(err, std::generic_category()).message(); }

// A library exception turned into a reason a person can act on: which file, which step, and
// what SQLite said.
StoreStatus io_error(const fs::path& path, std::string_view step, const std::exception& e) {
  if (const auto* se = dynamic_cast<const SQLite::Exception*>(&e)) {
    return fail(StoreCode::kIo,
                fmt::format("topology store {}: {} failed: {} (sqlite code {})", path.string(),
                            step, se->what(), se->getExtendedErrorCode()));
  }
  return fail(StoreCode::kIo,
              fmt::format("topology store {}: {} failed: {}", path.string(), step, e.what()));
}

bool is_corruption(const SQLite::Exception& e) {
  const int primary = e.getErrorCode() & 0xff;
  return primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB;
}

// "" when PRAGMA integrity_check says ok, else its first complaints.
std::string integrity_problem(SQLite::Database& db) {
  SQLite::Statement q(db, "PRAGMA integrity_check");
  std::vector<std::string> lines;
  while (q.executeStep()) lines.push_back(q.getColumn(0).getString());
  if (lines.size() == 1 && lines[0] == "ok") return "";
  std::string joined;
  for (std::size_t i = 0; i < lines.size() && i < 3; ++i) {
    if (!joined.empty()) joined += "; ";
    joined += lines[i];
  }
  return "integrity_check: " + (joined.empty() ? std::string("no result") : joined);
}

// "" when the table has every column we read and write (extra columns are tolerated, so a
// table created by the master's own agent is adopted as is).
std::string missing_columns(SQLite::Database& db) {
  SQLite::Statement q(db, "PRAGMA table_info(applied_topology)");
  std::vector<std::string> have;
  while (q.executeStep()) have.push_back(q.getColumn(1).getString());
  std::string missing;
  for (const char* want :
       {"topology_id", "applied_version_hash", "hydrated_blob_json", "applied_at", "last_error"}) {
    bool found = false;
    for (const auto& h : have) found = found || h == want;
    if (!found) missing += missing.empty() ? want : std::string(", ") + want;
  }
  return missing.empty() ? "" : "table applied_topology lacks column(s) " + missing;
}

// Non-empty when the file holds tables but not ours: another program's
// database at our path (DESIGN §4: moved aside like a corrupt one).
std::string foreign_tables(SQLite::Database& db) {
  if (db.tableExists(kTable)) return "";
  SQLite::Statement q(db,
                      "SELECT name FROM sqlite_master WHERE type IN ('table','view') AND name NOT "
                      "LIKE 'sqlite_%' ORDER BY name LIMIT 6");
  std::string names;
  int n = 0;
  while (q.executeStep()) {
    if (++n > 5) {
      names += ", ...";
      break;
    }
    names += (names.empty() ? "'" : ", '") + q.getColumn(0).getString() + "'";
  }
  if (n == 0) return "";
  return "a SQLite database that is not an edge-agent store: it has " + names + " but no " +
         kTable + " table";
}

std::string schema_too_new_message(const fs::path& path, int version) {
  return fmt::format(
      "topology store {} has schema version {}, but this edge-agent ({}) understands schema "
      "version {} at most; run an edge-agent release that supports schema {} (a newer one), "
      "or move the file away to start empty. The file was not modified.",
      path.string(), version, EDGE_AGENT_VERSION, TopologyStore::kSchemaVersion, version);
}

std::string utc_stamp() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

void fsync_dir(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;  // best effort: the rename itself already happened
  ::fsync(fd);
  ::close(fd);
}

// Owns the state-dir lock fd until handed to the store.
class LockFd {
 public:
  LockFd() = default;
  explicit LockFd(int fd) : fd_(fd) {}
  ~LockFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  LockFd(const LockFd&) = delete;
  LockFd& operator=(const LockFd&) = delete;
  void reset(int fd) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_ = -1;
};

// flock() rather than fcntl() locks: they belong to the open file description, so a second
// open in this same process conflicts too, and closing an unrelated fd cannot drop them.
StoreStatus take_lock(const fs::path& state_dir, LockFd* out) {
  const fs::path lock_path = state_dir / kLockName;
  int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return fail(StoreCode::kIo,
                fmt::format("cannot open lock file {}: {}", lock_path.string(), errno_text(errno)));
  }
  LockFd guard(fd);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    if (err != EWOULDBLOCK) {
      return fail(StoreCode::kIo,
                  fmt::format("cannot lock {}: {}", lock_path.string(), errno_text(err)));
    }
    char buf[32] = {};
    const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    std::string holder = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "";
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
    if (holder.empty()) holder = "unknown";
    return fail(StoreCode::kLocked,
                fmt::format("state dir {} is in use by another edge-agent (pid {}, lock {}); "
                            "stop that agent or give this one a different state dir",
                            state_dir.string(), holder, lock_path.string()));
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 ||
      ::pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    // The lock itself is held; the pid is only a courtesy for the next agent's message.
    spdlog::warn("could not write pid into {}: {}", lock_path.string(), errno_text(errno));
  }
  out->reset(guard.release());
  return ok();
}

void set_checkpoint_on_close(SQLite::Database& db, bool on) {
  const int rc =
      sqlite3_db_config(db.getHandle(), SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, on ? 0 : 1, nullptr);
  if (rc != SQLITE_OK) throw SQLite::Exception(db.getHandle(), rc);
}

struct DbAttempt {
  std::unique_ptr<SQLite::Database> db;
  StoreStatus status;
  std::string corrupt;  // non-empty: the file cannot be used, and why
};

// Opens (creating if needed) the daemon's read-write connection. The schema version is checked
// before anything is written, so a file from a newer binary is left byte-for-byte untouched.
DbAttempt open_read_write(const fs::path& path) {
  DbAttempt a;
  std::string step = "open";
  try {
    auto db = std::make_unique<SQLite::Database>(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE,
                                                 kBusyTimeoutMs);
    // Until the file is known good, closing must not checkpoint a WAL into it (or delete that
    // WAL): a file we move aside keeps all of its bytes.
    set_checkpoint_on_close(*db, false);
    step = "reading the schema version";
    const int version = db->execAndGet("PRAGMA user_version").getInt();
    if (version > TopologyStore::kSchemaVersion) {
      a.status = fail(StoreCode::kSchemaTooNew, schema_too_new_message(path, version));
      return a;
    }
    if (version < 0) {
      a.corrupt = fmt::format("unknown schema version {}", version);
      return a;
    }
    step = "integrity check";
    if (a.corrupt = integrity_problem(*db); !a.corrupt.empty()) return a;
    if (a.corrupt = foreign_tables(*db); !a.corrupt.empty()) return a;
    if (db->tableExists(kTable)) {
      // user_version 0 with the table is the master's own (Python) agent's file: adopted.
      if (a.corrupt = missing_columns(*db); !a.corrupt.empty()) return a;
    }
    step = "switching to WAL";
    const std::string journal = db->execAndGet("PRAGMA journal_mode=WAL").getString();
    if (journal != "wal") {
      a.status = fail(StoreCode::kIo,
                      fmt::format("topology store {}: SQLite refused WAL journal mode (got '{}'); "
                                  "put the state dir on a local file system",
                                  path.string(), journal));
      return a;
    }
    // FULL: every commit is fsynced, so an applied topology survives a power cut too.
    db->exec("PRAGMA synchronous=FULL");
    step = "creating the schema";
    SQLite::Transaction tx(*db, SQLite::TransactionBehavior::IMMEDIATE);
    db->exec(kCreateTable);
    db->exec(fmt::format("PRAGMA user_version = {}", TopologyStore::kSchemaVersion));
    tx.commit();
    step = "counting rows";
    const int rows = db->execAndGet("SELECT COUNT(*) FROM applied_topology").getInt();
    if (rows > 1) {
      spdlog::warn(
          "topology store {} holds {} rows (expected at most one); the next "
          "record_error or clear restores the invariant",
          path.string(), rows);
    }
    set_checkpoint_on_close(*db, true);
    a.db = std::move(db);
  } catch (const SQLite::Exception& e) {
    if (is_corruption(e)) {
      a.corrupt = fmt::format("{} (sqlite code {})", e.what(), e.getExtendedErrorCode());
    } else {
      a.status = io_error(path, step, e);
    }
  } catch (const std::exception& e) {
    a.status = io_error(path, step, e);
  }
  return a;
}

// Renames the file and its companions to <file>.corrupt-<UTC stamp>[-N]; the bytes are kept.
StoreStatus move_aside(const fs::path& path, fs::path* aside) {
  const std::string base = path.string() + ".corrupt-" + utc_stamp();
  fs::path target = base;
  std::error_code ec;
  for (int n = 2; fs::exists(target, ec) || fs::exists(target.string() + "-wal", ec); ++n) {
    target = base + "-" + std::to_string(n);
  }
  if (::rename(path.c_str(), target.c_str()) != 0) {
    return fail(StoreCode::kIo,
                fmt::format("topology store {} is corrupt and could not be moved aside to {}: {}",
                            path.string(), target.string(), errno_text(errno)));
  }
  for (std::string_view suffix : kCompanions) {
    const std::string from = path.string() + std::string(suffix);
    const std::string to = target.string() + std::string(suffix);
    if (::rename(from.c_str(), to.c_str()) != 0 && errno != ENOENT) {
      return fail(StoreCode::kIo,
                  fmt::format("could not move {} aside to {}: {}", from, to, errno_text(errno)));
    }
  }
  fsync_dir(path.parent_path());
  *aside = target;
  return ok();
}

// The read-only connection for `edge-agent state`: no lock, no creation, no repair. A missing
// file or table leaves db null, which the store reads as "no row".
DbAttempt open_read_only(const fs::path& path) {
  DbAttempt a;
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    if (ec) {
      a.status = fail(StoreCode::kIo, fmt::format("cannot stat topology store {}: {}",
                                                  path.string(), ec.message()));
    }
    return a;
  }
  std::string step = "open read-only";
  try {
    auto db = std::make_unique<SQLite::Database>(path, SQLite::OPEN_READONLY, kBusyTimeoutMs);
    step = "reading the schema version";
    const int version = db->execAndGet("PRAGMA user_version").getInt();
    if (version > TopologyStore::kSchemaVersion) {
      a.status = fail(StoreCode::kSchemaTooNew, schema_too_new_message(path, version));
      return a;
    }
    step = "integrity check";
    std::string problem = integrity_problem(*db);
    if (problem.empty()) problem = foreign_tables(*db);
    if (problem.empty() && db->tableExists(kTable)) problem = missing_columns(*db);
    if (!problem.empty()) {
      a.status = fail(StoreCode::kIo,
                      fmt::format("topology store {} is corrupt ({}); the daemon moves it aside "
                                  "and starts empty when it next starts",
                                  path.string(), problem));
      return a;
    }
    if (db->tableExists(kTable)) a.db = std::move(db);
  } catch (const SQLite::Exception& e) {
    a.status = io_error(path, step, e);
    if (is_corruption(e)) {
      a.status.message += "; the file is corrupt: the daemon moves it aside and starts empty";
    }
  } catch (const std::exception& e) {
    a.status = io_error(path, step, e);
  }
  return a;
}

// SQLite's page cache starts every cache (the main file's, and the temp
// database PRAGMA integrity_check opens) with one bulk allocation of 20
// pages, ~87 KiB each, resident for the life of the connection though the
// store's file is a handful of pages. Without it pages are allocated one by
// one as they are read; the cache size (and so an apply's caching) is
// unchanged: idle daemon RssAnon -148 KiB. Process-wide, and only possible
// before SQLite initialises; if something opened SQLite first, the call is
// refused (SQLITE_MISUSE) and nothing else changes.
void skip_page_cache_bulk_allocation() {
  static const int rc = sqlite3_config(SQLITE_CONFIG_PAGECACHE, nullptr, 0, 0);
  (void)rc;
}

}  // namespace

OpenResult TopologyStore::open(const fs::path& state_dir, OpenMode mode) {
  skip_page_cache_bulk_allocation();
  const fs::path path = state_dir / kDbName;
  OpenResult result;
  if (mode == OpenMode::kReadOnly) {
    DbAttempt attempt = open_read_only(path);
    if (!attempt.status.ok()) {
      result.status = attempt.status;
      return result;
    }
    result.store.reset(new TopologyStore(path, std::move(attempt.db), -1));
    return result;
  }

  std::error_code ec;
  fs::create_directories(state_dir, ec);
  if (ec) {
    result.status = fail(StoreCode::kIo, fmt::format("cannot create state dir {}: {}",
                                                     state_dir.string(), ec.message()));
    return result;
  }
  LockFd lock;
  if (result.status = take_lock(state_dir, &lock); !result.status.ok()) return result;

  DbAttempt attempt = open_read_write(path);
  if (!attempt.corrupt.empty()) {
    fs::path aside;
    if (result.status = move_aside(path, &aside); !result.status.ok()) {
      spdlog::critical("{} ({})", result.status.message, attempt.corrupt);
      return result;
    }
    spdlog::critical(
        "topology store {} is corrupt or unreadable ({}); moved it aside to {} and starting "
        "with an EMPTY store. The master will see no applied topology and re-push it; keep {} "
        "for diagnosis.",
        path.string(), attempt.corrupt, aside.string(), aside.string());
    result.moved_aside = aside;
    attempt = open_read_write(path);
    if (!attempt.corrupt.empty()) {
      result.status =
          fail(StoreCode::kIo, fmt::format("topology store {}: a fresh file is unusable too: {}",
                                           path.string(), attempt.corrupt));
      return result;
    }
  }
  if (!attempt.status.ok()) {
    result.status = attempt.status;
    return result;
  }
  result.store.reset(new TopologyStore(path, std::move(attempt.db), lock.release()));
  return result;
}

TopologyStore::TopologyStore(fs::path path, std::unique_ptr<SQLite::Database> db, int lock_fd)
    : path_(std::move(path)), db_(std::move(db)), lock_fd_(lock_fd) {}

TopologyStore::~TopologyStore() {
  db_.reset();  // close SQLite (and checkpoint the WAL) before another agent may take over
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

namespace {

// Writes need a read-write connection: a read-only store (or one without a file) refuses them.
bool writable(SQLite::Database* db) {
  return db != nullptr && sqlite3_db_readonly(db->getHandle(), "main") == 0;
}

StoreStatus read_only_error(const fs::path& path) {
  return fail(StoreCode::kIo,
              fmt::format("topology store {} was opened read-only; only the daemon writes it",
                          path.string()));
}

}  // namespace

std::optional<AppliedTopology> TopologyStore::current(StoreStatus* status) {
  std::lock_guard<std::mutex> lock(mu_);
  if (status != nullptr) *status = ok();
  if (db_ == nullptr) return std::nullopt;
  try {
    SQLite::Statement q(*db_,
                        "SELECT topology_id, applied_version_hash, hydrated_blob_json, applied_at, "
                        "last_error FROM applied_topology LIMIT 1");
    if (!q.executeStep()) return std::nullopt;
    AppliedTopology row;
    row.topology_id = q.getColumn(0).getString();
    row.version_hash = q.getColumn(1).getString();
    row.hydrated_json = q.getColumn(2).getString();
    row.applied_at = q.getColumn(3).getInt64();
    if (!q.getColumn(4).isNull()) row.last_error = q.getColumn(4).getString();
    return row;
  } catch (const std::exception& e) {
    if (status != nullptr) *status = io_error(path_, "reading the applied topology", e);
    return std::nullopt;
  }
}

StoreStatus TopologyStore::put(const std::string& topology_id, const std::string& version_hash,
                               const std::string& hydrated_json, std::int64_t applied_at) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!writable(db_.get())) return read_only_error(path_);
  try {
    // IMMEDIATE takes the write lock up front, so nobody can slip a row in between the check
    // and the write.
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement other(*db_,
                            "SELECT topology_id FROM applied_topology WHERE topology_id <> ? "
                            "LIMIT 1");
    other.bind(1, topology_id);
    if (other.executeStep()) {
      return fail(StoreCode::kAlreadyApplied,
                  fmt::format("agent already has topology '{}'; cannot apply '{}'",
                              other.getColumn(0).getString(), topology_id));
    }
    SQLite::Statement upsert(
        *db_,
        "INSERT INTO applied_topology(topology_id, applied_version_hash, hydrated_blob_json, "
        "applied_at, last_error) VALUES(?, ?, ?, ?, NULL) "
        "ON CONFLICT(topology_id) DO UPDATE SET "
        "applied_version_hash = excluded.applied_version_hash, "
        "hydrated_blob_json = excluded.hydrated_blob_json, "
        "applied_at = excluded.applied_at, last_error = NULL");
    upsert.bindNoCopy(1, topology_id);
    upsert.bindNoCopy(2, version_hash);
    upsert.bindNoCopy(3, hydrated_json);
    upsert.bind(4, static_cast<int64_t>(applied_at));
    upsert.exec();
    tx.commit();
    return ok();
  } catch (const std::exception& e) {
    return io_error(path_, fmt::format("put('{}')", topology_id), e);
  }
}

StoreStatus TopologyStore::record_error(const std::string& topology_id, const std::string& message,
                                        const std::optional<std::string>& hydrated_json) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!writable(db_.get())) return read_only_error(path_);
  try {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    // One row, always: an error for a new id means the old one was being superseded (its
    // teardown already ran or failed), so the new id's marker replaces the old row.
    SQLite::Statement others(*db_,
                             "SELECT topology_id FROM applied_topology WHERE topology_id <> ?");
    others.bind(1, topology_id);
    while (others.executeStep()) {
      spdlog::warn("record_error for topology '{}' replaces the stored row of topology '{}'",
                   topology_id, others.getColumn(0).getString());
    }
    SQLite::Statement drop(*db_, "DELETE FROM applied_topology WHERE topology_id <> ?");
    drop.bind(1, topology_id);
    drop.exec();

    SQLite::Statement update(*db_,
                             "UPDATE applied_topology SET last_error = ?1, hydrated_blob_json = "
                             "CASE WHEN hydrated_blob_json = '{}' AND ?2 IS NOT NULL THEN ?2 "
                             "ELSE hydrated_blob_json END WHERE topology_id = ?3");
    update.bindNoCopy(1, message);
    if (hydrated_json) {
      update.bindNoCopy(2, *hydrated_json);
    } else {
      update.bind(2);
    }
    update.bindNoCopy(3, topology_id);
    if (update.exec() == 0) {
      // A marker: empty hash and applied_at 0, so the master sees drift and re-pushes.
      SQLite::Statement insert(*db_,
                               "INSERT INTO applied_topology(topology_id, applied_version_hash, "
                               "hydrated_blob_json, applied_at, last_error) "
                               "VALUES(?, '', ?, 0, ?)");
      insert.bindNoCopy(1, topology_id);
      insert.bind(2, hydrated_json ? *hydrated_json : std::string("{}"));
      insert.bindNoCopy(3, message);
      insert.exec();
    }
    tx.commit();
    return ok();
  } catch (const std::exception& e) {
    return io_error(path_, fmt::format("record_error('{}')", topology_id), e);
  }
}

StoreStatus TopologyStore::clear(const std::string& topology_id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!writable(db_.get())) return read_only_error(path_);
  try {
    SQLite::Statement del(*db_, "DELETE FROM applied_topology WHERE topology_id = ?");
    del.bind(1, topology_id);
    del.exec();
    return ok();
  } catch (const std::exception& e) {
    return io_error(path_, fmt::format("clear('{}')", topology_id), e);
  }
}

}  // namespace edge::store
