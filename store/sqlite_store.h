// The SQLite backend of the store port (store/store.h).
//
// One connection, owned by one store thread (DESIGN §5), in WAL mode with
// synchronous=FULL for durable commits. The store thread group-commits:
// it takes every queued submission (up to max_batch), runs each in its own
// SAVEPOINT inside one transaction, commits once (one fsync) and only then
// completes them. A submission whose work fails is rolled back alone; a
// failed COMMIT fails the whole batch with a retryable Unavailable.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "store/sqlite_db.h"
#include "store/store.h"

namespace consentd::store {

struct SqliteStoreOptions {
  std::string path;                                    // database file; created if missing
  std::size_t queue_capacity = 65536;                  // beyond it Submit answers ResourceExhausted
  std::size_t max_batch = 4096;                        // submissions per transaction at most
  int busy_timeout_ms = 5000;                          // wait this long for another process's lock
  std::chrono::milliseconds heartbeat_interval{1000};  // idle tick of Heartbeat()
  // WAL pages before a commit also checkpoints into the database file.
  // Larger than SQLite's 1000: hot pages are copied once per checkpoint,
  // not once per batch (WAL up to ~40 MiB).
  int wal_autocheckpoint_pages = 10000;
  SqliteFaults* faults = nullptr;  // borrowed, may be null: fault injection in tests
  const Clock* clock = nullptr;    // borrowed, may be null (system clock): applied_at
};

class SqliteStore final : public Store {
 public:
  // Opens the database, sets WAL + synchronous=FULL, migrates to the latest
  // schema and starts the store thread. Errors: Unavailable (cannot open,
  // I/O), FailedPrecondition (schema newer than this binary, WAL refused),
  // DataLoss (not a database).
  static Result<std::unique_ptr<SqliteStore>> Open(SqliteStoreOptions options);
  ~SqliteStore() override;  // Close()s

  Status Close() override;
  bool IsOpen() const override { return open_.load(); }
  std::uint64_t Heartbeat() const override { return heartbeat_.load(); }

  StoreStats stats() const override;

 private:
  struct Submission {
    Work work;
    Done done;
    bool durable;
  };

  void DoSubmit(Work work, Done done, SubmitOptions options) override;

  SqliteStore(SqliteStoreOptions options, std::unique_ptr<Db> db);
  void Loop();
  void RunBatch(std::vector<Submission>& batch);
  // Runs one submission in its own savepoint. Sets *broken when the
  // enclosing transaction can no longer be trusted.
  Status RunOne(Submission& sub, bool* broken);
  Status RunSql(std::string_view sql);

  const SqliteStoreOptions options_;
  std::unique_ptr<Db> db_;  // store thread only (after Open)
  bool sync_full_ = true;   // store thread only

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Submission> queue_;  // guarded by mu_
  bool closing_ = false;           // guarded by mu_
  bool waiting_ = false;           // guarded by mu_
  StoreStats stats_;               // guarded by mu_

  std::mutex close_mu_;  // serialises Close()
  std::atomic<bool> open_{false};
  std::atomic<std::uint64_t> heartbeat_{0};
  std::thread thread_;
};

}  // namespace consentd::store
