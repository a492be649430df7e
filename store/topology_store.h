#pragma once
// The one-row SQLite cache of what the agent last applied (DESIGN §4).
//
// The store is a cache, never a source of truth: nothing here re-applies
// anything. Every call is thread-safe (one connection behind a mutex), and
// every failure is a StoreStatus value, never an exception.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace SQLite {
class Database;
}

namespace edge::store {

struct AppliedTopology {
  std::string topology_id;
  std::string version_hash;     // "" on an error marker row
  std::string hydrated_json;    // the blob as stored
  std::int64_t applied_at = 0;  // unix seconds; 0 on an error marker row
  std::optional<std::string> last_error;
};

enum class StoreCode {
  kOk,
  kAlreadyApplied,  // put() with a different id while a row exists
  kIo,              // SQLite or file-system failure; message says which
  kSchemaTooNew,    // the file was written by a newer binary
  kLocked,          // another agent holds the state dir; message names its pid
};

struct StoreStatus {
  StoreCode code = StoreCode::kOk;
  std::string message;
  bool ok() const { return code == StoreCode::kOk; }
};

enum class OpenMode {
  kDaemon,    // create if missing, take the state-dir lock, move a corrupt file aside
  kReadOnly,  // no lock, no creation, no repair: for `edge-agent state`
};

class TopologyStore;

struct OpenResult {
  std::unique_ptr<TopologyStore> store;  // null when !status.ok()
  StoreStatus status;
  // Set when a corrupt or unreadable file was moved aside: the new path.
  std::optional<std::filesystem::path> moved_aside;
};

class TopologyStore {
 public:
  static constexpr int kSchemaVersion = 1;  // PRAGMA user_version we write

  // Opens <state_dir>/topology.db. In kDaemon mode, creates the directory and
  // the table, holds an exclusive lock on <state_dir>/edge-agent.lock for the
  // lifetime of the store (a second daemon gets kLocked naming the holder's
  // pid), and moves a corrupt file aside as topology.db.corrupt-<UTC stamp>.
  // "Corrupt": SQLite says not-a-database/corrupt, integrity_check fails, or the
  // table lacks a column; its -wal/-shm/-journal move with it and it is logged
  // at critical level. A file with user_version 0 and the table (the master's
  // Python agent) is adopted. A newer user_version is kSchemaTooNew, in both
  // modes, and the file is not touched. In kReadOnly mode: no lock, nothing
  // created or repaired (corrupt is kIo), a missing file or table reads as no
  // row, and every write returns kIo.
  static OpenResult open(const std::filesystem::path& state_dir, OpenMode mode = OpenMode::kDaemon);

  ~TopologyStore();
  TopologyStore(const TopologyStore&) = delete;
  TopologyStore& operator=(const TopologyStore&) = delete;

  // The row, or nullopt when none. A read failure is reported in *status.
  std::optional<AppliedTopology> current(StoreStatus* status = nullptr);

  // Upserts and clears last_error. A different id while a row exists is
  // kAlreadyApplied; the check and the write are one transaction.
  StoreStatus put(const std::string& topology_id, const std::string& version_hash,
                  const std::string& hydrated_json, std::int64_t applied_at);

  // No row: inserts a marker (hash "", applied_at 0, blob = hydrated or "{}").
  // A row: sets last_error; replaces the blob only if the stored one is "{}".
  // A row for a *different* id: replaced by this id's marker, in the same transaction. The
  // master's agent upserts by primary key and could end up with two rows; we keep one, because
  // an error for a new id means the old one was being superseded (its teardown already ran),
  // and the new id's marker (empty hash) is what makes the master re-push. Logged as a warning.
  StoreStatus record_error(const std::string& topology_id, const std::string& message,
                           const std::optional<std::string>& hydrated_json = std::nullopt);

  // Deletes the row with this id; a missing id is a no-op.
  StoreStatus clear(const std::string& topology_id);

  const std::filesystem::path& path() const { return path_; }

 private:
  TopologyStore(std::filesystem::path path, std::unique_ptr<SQLite::Database> db, int lock_fd);

  std::filesystem::path path_;
  std::mutex mu_;  // guards db_
  std::unique_ptr<SQLite::Database> db_;
  int lock_fd_ = -1;
};

}  // namespace edge::store
