// The SQLite backend of the store port (store/store.h).
//
// One connection, used by one store worker at a time (DESIGN §5: the
// store thread, below), in WAL mode. The worker group-commits: it takes
// every queued submission (up to max_batch), runs each in its own
// SAVEPOINT inside one transaction and commits once. A submission whose
// work fails is rolled back alone; a failed COMMIT fails the whole batch
// with a retryable Unavailable. Batches run one after the other, in
// submission order.
//
// Durability is pipelined, and the SQL and the fsync of a batch run on
// the same thread: a small pool of store workers (sync_threads of them)
// shares the one connection, one worker at a time. A worker takes the
// queued submissions, runs them and commits with synchronous=NORMAL (the
// commit is in the WAL, not yet on disk), hands the connection back, and
// then fdatasyncs the WAL itself through its own descriptor; the batch's
// submissions are completed after that, in commit order. Meanwhile
// another worker already runs the next batch, so the fsync does not
// serialise with the SQL work, and a batch committed while an fsync is in
// flight gets its own fsync at once instead of waiting for that one to end
// (on this kind of disk concurrent fdatasyncs overlap). One fsync covers
// every batch committed before it started. Why one thread for both: a
// store thread that handed each commit to a separate sync thread paid a
// thread wake-up per batch on the acknowledgement's path (issue #5: ~65 us
// on an idle machine, 160-500 us on two busy cores).
// Each worker has its own descriptor of the WAL, so a write-back error is
// reported to each of them (the kernel reports it once per open file): no
// fsync reports OK for pages another one saw fail. This is what
// synchronous=FULL guarantees (the WAL is on disk before Done reports OK).
// If an fsync fails, every batch that no successful fsync covered yet is
// reported Unavailable and the store stops (fail-stop): the kernel may have
// dropped the dirty pages while SQLite took them as written, so later
// reads could see, and later acknowledgements cover, data that is not on
// disk.
// Every later submission fails with Unavailable and IsOpen() turns false
// (/readyz); a restart recovers from what is on disk, so a stopped store
// checkpoints no more, not even when it closes. If the WAL file cannot be
// opened for this, one worker commits with synchronous=FULL, and a COMMIT
// whose fsync fails stops the store the same way.
//
// Checkpoints (pipelined only) run on a checkpoint thread with its own
// connection: after a commit leaves wal_autocheckpoint_pages or more in the
// WAL, the committing worker only wakes it. SQLite's own autocheckpoint
// copies the WAL into the database and fsyncs both inside that COMMIT, so
// every acknowledgement queued behind it waited. A
// PASSIVE checkpoint does not block the writer; once it has copied
// everything, the next transaction starts the WAL over (fdatasync then
// overwrites pages instead of growing the file). Should the WAL still reach
// four times the threshold, the committing worker checkpoints itself.
// A checkpoint I/O error stops the store like a failed fsync.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "store/erasure_ledger.h"
#include "store/inbox_keys.h"
#include "store/sqlite_db.h"
#include "store/store.h"
#include "store/tombstone_counter.h"

namespace consentd::store {

struct SqliteStoreOptions {
  std::string path;                                    // database file; created if missing
  std::size_t queue_capacity = 65536;                  // beyond it Submit answers ResourceExhausted
  std::size_t max_batch = 4096;                        // submissions per transaction at most
  int busy_timeout_ms = 5000;                          // wait this long for another process's lock
  std::chrono::milliseconds heartbeat_interval{1000};  // idle tick of Heartbeat()
  // WAL pages after which a checkpoint copies the WAL into the database
  // file (on the checkpoint thread when pipelined, else in the commit).
  // Larger than SQLite's 1000: hot pages are copied once per checkpoint,
  // not once per batch (WAL up to ~40 MiB).
  int wal_autocheckpoint_pages = 10000;
  // Pipelined durability (above); false: synchronous=FULL commits, each
  // batch completed by its worker after its own fsync.
  bool pipelined_sync = true;
  // Store workers, i.e. fdatasyncs of the WAL that may be in flight at
  // once (pipelined only; otherwise one).
  int sync_threads = 4;
  // Checkpoints on their own thread (above; pipelined only).
  bool background_checkpoints = true;
  // Inbox rows held in memory (store/inbox_keys.h) before a store worker
  // merges them into inbox_keys; it also merges after a heartbeat_interval
  // without work. A merge writes up to every page of inbox_keys once and
  // holds up the batches behind it (measured at 256 connections, ~550,000
  // keys: 15-90 ms for 16,384 rows, 70-200 ms for 65,536), so larger means
  // fewer page writes per event but longer stalls.
  std::size_t inbox_merge_rows = 16384;
  // A merge runs in up to this many key-range slices, each its own
  // transaction, with a batch let through between two slices
  // (store/inbox_keys.h): the batches behind a merge wait for one slice.
  std::size_t inbox_merge_slices = 4;
  // Called once, on a store thread, when the store stops itself after a
  // failed fsync of the WAL or a failed checkpoint (nothing is durable any
  // more until a restart): the daemon exits so that systemd restarts it.
  std::function<void(const Status&)> on_fail_stop;
  // The erasure ledger (store/erasure_ledger.h): the subjects marked erased
  // and the tombstones added by a transaction are appended to this file
  // once it has committed. Empty: none kept (tests, read-only tools).
  std::string erasure_ledger_path;
  // Called on a store thread with the error when an append to that ledger
  // fails (also counted: Stats::erasure_ledger_failures), so that the
  // daemon can say which file and why.
  std::function<void(const Status&)> on_ledger_failure;
  // For tools that only read (consentctl status, verify, explain, ...)
  // beside a running consentd: a store at an older schema is refused, not
  // migrated (the consentd that runs on it may not know the new one);
  // every unit runs in a deferred transaction, a read snapshot of the WAL
  // that never takes the write lock, so consentd keeps committing while a
  // long audit reads; and PRAGMA query_only makes any write an error.
  bool read_only = false;
  // False for tools that write beside a running consentd (consentctl dlq
  // replay, erasures mark-manual, export, resync): a store at another
  // schema is refused, as for read_only, instead of migrated under the
  // consentd that may still run on it after an upgrade.
  bool migrate = true;
  SqliteFaults* faults = nullptr;  // borrowed, may be null: fault injection in tests
  const Clock* clock = nullptr;    // borrowed, may be null (system clock): applied_at
};

class SqliteStore final : public Store {
 public:
  // Opens the database, sets WAL, migrates to the latest schema and starts
  // the store workers. Errors: Unavailable (cannot open,
  // I/O), FailedPrecondition (schema newer than this binary, WAL refused),
  // DataLoss (not a database).
  static Result<std::unique_ptr<SqliteStore>> Open(SqliteStoreOptions options);
  ~SqliteStore() override;  // Close()s

  Status Close() override;
  bool IsOpen() const override { return open_.load(); }
  std::uint64_t Heartbeat() const override { return heartbeat_.load(); }
  std::uint64_t ForeignCommitsSeen() const override { return foreign_commits_.load(); }
  std::chrono::steady_clock::time_point LastHeartbeatAt() const override {
    return std::chrono::steady_clock::time_point(
        std::chrono::steady_clock::duration(heartbeat_at_.load()));
  }

  StoreStats stats() const override;

  // True when durable commits are pipelined (the WAL file could be opened
  // for the workers); false: synchronous=FULL commits.
  bool pipelined_sync() const { return !wal_fds_.empty(); }

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
    bool needs_sync;        // committed durable work: fdatasync the WAL first
    std::uint64_t seq = 0;  // commit order, from 1
  };

  void DoSubmit(Work work, Done done, SubmitOptions options) override;

  SqliteStore(SqliteStoreOptions options, std::unique_ptr<Db> db);
  // A store worker; `fd` is its descriptor of the WAL (-1: synchronous=FULL).
  // Worker 0 also ticks the heartbeat and merges inbox keys when idle.
  void WorkerLoop(std::size_t index, int fd);
  // Runs a batch and commits it (connection held). The returned batch has
  // its results; needs_sync tells whether it committed durable work.
  Committed RunBatch(std::vector<Submission>& batch);
  // Runs one submission in its own savepoint. Sets *broken when the
  // enclosing transaction can no longer be trusted.
  // Runs one submission in its savepoint; the erasure ledger records it
  // made are added to `ledger` only if it succeeded.
  Status RunOne(Submission& sub, bool* broken, std::vector<LedgerRecord>& ledger);
  Status RunSql(std::string_view sql);
  // One slice of moving the recent inbox keys into inbox_keys
  // (store/inbox_keys.h); false if it did not run or failed.
  bool MergeInboxKeys();
  // After a commit (connection still held): queues `c` in commit order and
  // says up to which batch this worker must fdatasync the WAL (0: none).
  std::uint64_t Enqueue(Committed c);
  // fdatasync the WAL through `fd` to cover every batch up to `upto`.
  void SyncUpto(int fd, std::uint64_t upto);
  // Tells options_.on_fail_stop, once (call without sync_mu_ held).
  void ReportFailStop();
  // After a failed COMMIT: stops the store (fail-stop) if it was SQLite's
  // own fsync that failed.
  void StopIfCommitSyncFailed(const Status& commit);
  Status SyncWal(int fd);
  // Completes the batches at the front of committed_ that are durable (or
  // failed), in commit order.
  void CompleteReady();
  static void Complete(Committed& c, const Status& synced);
  // SQLite's WAL hook, on the committing worker after each commit.
  static int OnWalCommit(void* self, sqlite3* db, const char* name, int frames);
  // Runs a checkpoint in `mode` (SQLITE_CHECKPOINT_*; 0: passive) on `db`
  // unless the store has stopped, and returns its result code; an I/O
  // error or a full disk stops the store (fail-stop, as after a failed
  // fsync).
  int Checkpoint(sqlite3* db, const char* schema, int mode = 0);
  // After a batch that erased someone or removed what was left of them
  // (RunBatch): the WAL is checkpointed and truncated.
  void TruncateWalAfterErasure();
  // A TRUNCATE checkpoint on `db` that does not wait for readers.
  int TruncatingCheckpoint(Db& db);
  // The checkpoint thread, on its own connection.
  void CheckpointLoop(Db& db);

  const SqliteStoreOptions options_;
  std::unique_ptr<Db> db_;  // the worker holding the connection (db_busy_) only
  // PRAGMA data_version as last read (the connection's holder only), and
  // how often it moved (ForeignCommitsSeen).
  std::int64_t data_version_ = -1;
  std::atomic<std::uint64_t> foreign_commits_{0};
  bool sync_full_ = true;   // connection holder only
  InboxKeys inbox_keys_;    // connection holder only
  TombstoneCounter tombstones_;  // connection holder only
  // Ledger records whose append failed (the connection holder only; Close
  // once the workers stopped): put in front of the next append, and tried
  // again with a later batch at most every 10 s until one succeeds, so that
  // a full disk or a volume back from a hiccup still gets them.
  std::vector<LedgerRecord> ledger_backlog_;
  std::chrono::steady_clock::time_point ledger_retry_at_;
  // Appends ledger_backlog_ plus `added` (the connection holder): reports a
  // failure through the options' callback and the stats.
  void AppendLedgerBacklog(std::vector<LedgerRecord> added);

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Submission> queue_;  // guarded by mu_
  bool closing_ = false;           // guarded by mu_
  bool db_busy_ = false;           // guarded by mu_: a worker holds the connection
  bool merge_due_ = false;         // guarded by mu_: inbox keys to merge next
  bool merge_yield_ = false;       // guarded by mu_: a merge slice ran last, a batch goes first
  std::size_t keys_pending_ = 0;   // guarded by mu_: inbox_keys_.pending() at the last release
  StoreStats stats_;               // guarded by mu_

  // The WAL file, one descriptor per worker when pipelined; owned, closed
  // after the workers.
  std::vector<int> wal_fds_;
  mutable std::mutex sync_mu_;
  std::deque<Committed> committed_;  // guarded by sync_mu_, in commit order
  std::uint64_t wal_syncs_ = 0;      // guarded by sync_mu_ (StoreStats)
  double wal_sync_seconds_ = 0;      // guarded by sync_mu_
  std::uint64_t last_seq_ = 0;       // guarded by sync_mu_: seq of the last committed batch
  std::uint64_t synced_upto_ = 0;    // guarded by sync_mu_: last seq an fsync made durable
  Status sync_error_;                // guarded by sync_mu_: the first failed fsync
  std::mutex complete_mu_;           // held while completing: Done runs in commit order
  std::vector<std::thread> workers_;

  std::unique_ptr<Db> ckpt_db_;  // the checkpoint thread's connection
  std::mutex ckpt_mu_;
  std::condition_variable ckpt_cv_;
  bool ckpt_wanted_ = false;   // guarded by ckpt_mu_
  bool ckpt_closing_ = false;  // guarded by ckpt_mu_
  bool ckpt_truncate_wanted_ = false;  // guarded by ckpt_mu_: after an erasure
  std::thread ckpt_thread_;

  std::mutex close_mu_;  // serialises Close()
  std::atomic<bool> open_{false};
  // Set by a worker when an fdatasync of the WAL failed: from then on
  // every batch is refused (fail-stop; a restart recovers from the disk).
  std::atomic<bool> sync_failed_{false};
  std::atomic<bool> fail_stop_reported_{false};
  std::atomic<std::uint64_t> heartbeat_{0};
  // steady_clock ticks of the last Beat() (or of the open).
  std::atomic<std::chrono::steady_clock::rep> heartbeat_at_{
      std::chrono::steady_clock::now().time_since_epoch().count()};
  void Beat() {
    heartbeat_at_.store(std::chrono::steady_clock::now().time_since_epoch().count());
    heartbeat_.fetch_add(1);
  }
};

}  // namespace consentd::store
