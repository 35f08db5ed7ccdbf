// A thin wrapper over one SQLite connection, and the fault port.
//
// Every SQLite call that can fail (open, exec, prepare, step) goes through
// Db/Stmt, which first asks the SqliteFaults port; tests plug in a port that
// fails call N with a transient (SQLITE_BUSY, SQLITE_IOERR) or persistent
// error (STYLE habit 10, after LevelDB's Env / fault_injection_test).
//
// Thread-safety: a Db and its statements belong to one thread at a time.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "core/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace consentd::store {

// kWalSync: the store's own fdatasync of the WAL (pipelined durability,
// sqlite_store.h); `sql` is "fdatasync".
enum class SqliteOp { kOpen, kExec, kPrepare, kStep, kWalSync };

// The fault port. Before() returns SQLITE_OK (0) to let the call run, or an
// SQLite error code that the call then fails with, without running.
// Must be thread-safe if the Db moves between threads.
class SqliteFaults {
 public:
  virtual ~SqliteFaults() = default;
  virtual int Before(SqliteOp op, std::string_view sql) = 0;
};

// Fails the Nth (1-based) matching call with `code`; transient: only that
// call; persistent: that call and every matching call after it. A call
// matches if its SQL contains `match` (any SQL if empty) and its op is `op`
// (any op if unset). Thread-safe.
class FailAtCall final : public SqliteFaults {
 public:
  enum class Mode { kTransient, kPersistent };
  FailAtCall(std::int64_t n, int code, Mode mode, std::string match = "",
             std::optional<SqliteOp> op = std::nullopt)
      : n_(n), code_(code), mode_(mode), match_(std::move(match)), op_(op) {}

  int Before(SqliteOp op, std::string_view sql) override;
  std::int64_t calls() const { return calls_.load(); }
  std::int64_t failures() const { return failures_.load(); }
  // Whether the first injected failure hit the store's own WAL fdatasync.
  bool first_failure_was_wal_sync() const { return first_failure_wal_sync_.load(); }
  void Disarm() { armed_.store(false); }

 private:
  const std::int64_t n_;
  const int code_;
  const Mode mode_;
  const std::string match_;
  const std::optional<SqliteOp> op_;
  std::atomic<bool> armed_{true};
  std::atomic<std::int64_t> calls_{0};
  std::atomic<std::int64_t> failures_{0};
  std::atomic<bool> first_failure_wal_sync_{false};
};

// Maps an SQLite result code to a Status: busy, locked, I/O, full → Unavailable
// (retryable); corrupt, not-a-db → DataLoss; unique/primary key → AlreadyExists;
// other constraints → FailedPrecondition; anything else → Internal.
Status SqliteStatus(int code, std::string_view what, std::string_view detail = {});

class Db;

// A prepared statement. Parameters are 1-based as in SQLite.
class Stmt {
 public:
  Stmt(Db* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  ~Stmt();
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  void Bind(int i, std::int64_t v);
  void Bind(int i, int v) { Bind(i, static_cast<std::int64_t>(v)); }
  void Bind(int i, std::string_view v);
  void Bind(int i, const std::string& v) { Bind(i, std::string_view(v)); }
  void Bind(int i, const char* v) { Bind(i, std::string_view(v)); }
  void BindBlob(int i, std::string_view bytes);  // copied; stored as a BLOB
  template <typename... Args>
  void BindAll(const Args&... args) {
    int i = 0;
    (Bind(++i, args), ...);
  }

  // Ok(true): a row is ready; Ok(false): done.
  Result<bool> Step();
  // Steps to completion, expecting no rows.
  Status Run();
  void Reset();  // resets and clears bindings

  std::int64_t Int(int col) const;
  std::string Text(int col) const;
  // The column's bytes (TEXT or BLOB) without a copy; valid until the next
  // Step() or Reset(). Empty for NULL.
  std::string_view Bytes(int col) const;
  bool IsBlob(int col) const;
  bool IsNull(int col) const;

 private:
  Db* db_;
  sqlite3_stmt* stmt_;
};

class Db {
 public:
  // Opens (creating if missing) the database at `path`. `faults` may be
  // null; it is borrowed and must outlive the Db.
  static Result<std::unique_ptr<Db>> Open(const std::string& path, SqliteFaults* faults);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  // Runs one or more statements without results.
  Status Exec(std::string_view sql);
  // A cached prepared statement for `sql`, reset and ready to bind.
  Result<Stmt*> Prepare(std::string_view sql);
  // Runs a single-row query returning one integer (PRAGMAs, counts).
  Result<std::int64_t> QueryInt(std::string_view sql);
  Result<std::string> QueryText(std::string_view sql);

  std::int64_t Changes() const;
  std::int64_t LastInsertRowid() const;  // of this connection's last INSERT
  bool InTransaction() const;            // false once SQLite rolled back on its own
  sqlite3* raw() const { return db_; }
  SqliteFaults* faults() const { return faults_; }
  std::string LastError() const;
  // The extended result code of the last statement step or Exec that
  // failed (injected or real); SQLITE_OK if none has.
  int LastFailedCode() const { return last_failed_code_; }
  // Set by whatever removes an erased person's remaining rows (the store
  // truncates the WAL after the batch, sqlite_store.cc); read and cleared
  // by the store after each batch.
  void NoteErasedRowsRemoved() { erased_rows_removed_ = true; }
  bool TakeErasedRowsRemoved() { return std::exchange(erased_rows_removed_, false); }

 private:
  Db(sqlite3* db, SqliteFaults* faults) : db_(db), faults_(faults) {}
  int Check(SqliteOp op, std::string_view sql) const;

  sqlite3* db_;
  SqliteFaults* faults_;
  int last_failed_code_ = 0;  // SQLITE_OK; set by Exec and Stmt::Step
  bool erased_rows_removed_ = false;
  std::map<std::string, std::unique_ptr<Stmt>, std::less<>> cache_;

  friend class Stmt;
};

}  // namespace consentd::store
