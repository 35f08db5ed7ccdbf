// The SQLite backend of the store port (store/store.h).
//
// One connection, owned by one store thread (DESIGN §5), in WAL mode. The
// store thread group-commits: it takes every queued submission (up to
// max_batch), runs each in its own SAVEPOINT inside one transaction and
// commits once. A submission whose work fails is rolled back alone; a
// failed COMMIT fails the whole batch with a retryable Unavailable.
//
// Durability is pipelined: the store thread commits with
// synchronous=NORMAL (the commit is in the WAL, not yet on disk) and hands
// the batch to the sync thread, which fdatasyncs the WAL file and only
// then completes the batch's submissions, in commit order. Meanwhile the
// store thread already runs the next batch, so the fsync no longer
// serialises with the SQL work; one fsync covers every batch committed
// before it started. This is what synchronous=FULL guarantees (the WAL is
// on disk before Done reports OK). If the fsync itself fails, the batch is
// reported Unavailable and the store stops (fail-stop): the kernel may have
// dropped the dirty pages while SQLite took them as written, so later reads
// could see, and later acknowledgements cover, data that is not on disk.
// Every later submission fails with Unavailable and IsOpen() turns false
// (/readyz); a restart recovers from what is on disk. If the WAL file
// cannot be opened for this, commits fall back to synchronous=FULL on the
// store thread.
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
  // Pipelined durability (above); false: synchronous=FULL commits, each
  // batch completed by the store thread after its own fsync.
  bool pipelined_sync = true;
  SqliteFaults* faults = nullptr;  // borrowed, may be null: fault injection in tests
  const Clock* clock = nullptr;    // borrowed, may be null (system clock): applied_at
};

class SqliteStore final : public Store {
 public:
  // Opens the database, sets WAL, migrates to the latest schema and starts
  // the store thread (and the sync thread). Errors: Unavailable (cannot open,
  // I/O), FailedPrecondition (schema newer than this binary, WAL refused),
  // DataLoss (not a database).
  static Result<std::unique_ptr<SqliteStore>> Open(SqliteStoreOptions options);
  ~SqliteStore() override;  // Close()s

  Status Close() override;
  bool IsOpen() const override { return open_.load(); }
  std::uint64_t Heartbeat() const override { return heartbeat_.load(); }

  StoreStats stats() const override;

  // True when durable commits are pipelined (the WAL file could be opened
  // for the sync thread); false: synchronous=FULL on the store thread.
  bool pipelined_sync() const { return sync_thread_.joinable(); }

 private:
  struct Submission {
    Work work;
    Done done;
    bool durable;
  };

  // A committed (or failed) batch on its way to its Done callbacks.
  struct Committed {
    std::vector<Submission> batch;
    std::vector<Status> results;
    bool needs_sync;  // committed durable work: fdatasync the WAL first
  };

  void DoSubmit(Work work, Done done, SubmitOptions options) override;

  SqliteStore(SqliteStoreOptions options, std::unique_ptr<Db> db);
  void Loop();
  void RunBatch(std::vector<Submission>& batch);
  // Runs one submission in its own savepoint. Sets *broken when the
  // enclosing transaction can no longer be trusted.
  Status RunOne(Submission& sub, bool* broken);
  Status RunSql(std::string_view sql);
  // The sync thread: fdatasync the WAL, then complete, batch after batch.
  void SyncLoop();
  static void Complete(Committed& c, const Status& synced);

  const SqliteStoreOptions options_;
  std::unique_ptr<Db> db_;  // store thread only (after Open)
  bool sync_full_ = true;   // store thread only

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Submission> queue_;  // guarded by mu_
  bool closing_ = false;           // guarded by mu_
  bool waiting_ = false;           // guarded by mu_
  StoreStats stats_;               // guarded by mu_

  int wal_fd_ = -1;  // the WAL file when pipelined; owned, closed after both threads
  std::mutex sync_mu_;
  std::condition_variable sync_cv_;
  std::vector<Committed> committed_;  // guarded by sync_mu_, in commit order
  bool sync_closing_ = false;         // guarded by sync_mu_
  std::thread sync_thread_;

  std::mutex close_mu_;  // serialises Close()
  std::atomic<bool> open_{false};
  // Set by the sync thread when an fdatasync of the WAL failed: from then on
  // every batch is refused (fail-stop; a restart recovers from the disk).
  std::atomic<bool> sync_failed_{false};
  std::atomic<std::uint64_t> heartbeat_{0};
  std::thread thread_;
};

}  // namespace consentd::store
