#include "store/sqlite_store.h"

#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <utility>

#include "store/sqlite_migrations.h"
#include "store/sqlite_transaction.h"

namespace consentd::store {
namespace {

// Runs caller code without letting an exception escape onto the store thread.
Status InvokeWork(const Work& work, Transaction& txn) {
  try {
    return work(txn);
  } catch (const std::exception& e) {
    return Internal(std::string("unit of work threw: ") + e.what());
  } catch (...) {
    return Internal("unit of work threw a non-standard exception");
  }
}

void InvokeDone(const Done& done, const Status& s) {
  if (!done) return;
  try {
    done(s);
  } catch (...) {
    // A completion must not take the store thread down; its owner has
    // already been told what it needed (s), so there is nothing to redo.
  }
}

}  // namespace

Result<std::unique_ptr<SqliteStore>> SqliteStore::Open(SqliteStoreOptions options) {
  if (options.path.empty()) return InvalidArgument("store path is empty");
  if (options.max_batch == 0 || options.queue_capacity == 0) {
    return InvalidArgument("store max_batch and queue_capacity must be positive");
  }
  Result<std::unique_ptr<Db>> db = Db::Open(options.path, options.faults);
  if (!db.ok()) return db.status();
  sqlite3_busy_timeout((*db)->raw(), options.busy_timeout_ms);

  // A reader takes the file as it is (a backup copy need not be in WAL
  // mode; switching it would write to it).
  Result<std::string> mode =
      (*db)->QueryText(options.read_only ? "PRAGMA journal_mode" : "PRAGMA journal_mode = WAL");
  if (!mode.ok()) return mode.status().WithContext("set WAL mode on " + options.path);
  if (*mode != "wal" && !options.read_only) {
    return FailedPrecondition("store " + options.path + " refused WAL mode (got " + *mode + ")");
  }
  // FULL: a commit is on disk before it is acknowledged (WAL + NORMAL could
  // lose the last commits on power failure). 16 MiB page cache: the hot
  // indexes stay in memory under load. temp_store MEMORY: the savepoint of
  // each submission journals pages it re-dirties in memory, not in a file.
  // secure_delete ON: deleted rows are overwritten with zeros, so a shredded
  // subject key or an erased identity does not linger in free pages.
  CONSENTD_RETURN_IF_ERROR(
      (*db)->Exec("PRAGMA synchronous = FULL; PRAGMA cache_size = -16384; "
                  "PRAGMA temp_store = MEMORY; PRAGMA secure_delete = ON;"));

  CONSENTD_RETURN_IF_ERROR((*db)->Exec("PRAGMA wal_autocheckpoint = " +
                                       std::to_string(options.wal_autocheckpoint_pages)));

  if (options.read_only || !options.migrate) {
    Result<int> version = SchemaVersion(**db);
    if (!version.ok()) return version.status().WithContext(options.path);
    if (*version != LatestSchemaVersion()) {
      const bool older = *version < LatestSchemaVersion();
      return FailedPrecondition(
          "store " + options.path + " is at schema version " + std::to_string(*version) +
          "; this binary reads version " + std::to_string(LatestSchemaVersion()) +
          (older ? std::string(". ") + (options.read_only ? "A reading command" : "This command") +
                       " does not migrate it: start the new consentd once (it migrates the "
                       "store), then run this again"
                 : ". Use the consentctl of the consentd that wrote it"));
    }
  }
  if (options.read_only) {
    CONSENTD_RETURN_IF_ERROR((*db)->Exec("PRAGMA query_only = ON"));
    // Nothing is written: no WAL descriptors to sync, no checkpoints.
    options.pipelined_sync = false;
    options.background_checkpoints = false;
  } else {
    SystemClock system_clock;
    const Clock& clock = options.clock ? *options.clock : system_clock;
    if (options.migrate) {
      CONSENTD_RETURN_IF_ERROR(
          MigrateTo(**db, LatestSchemaVersion(), clock.NowMs()).WithContext(options.path));
    }
    // An erasure's commit is followed by a truncation of the WAL (its old
    // page images hold the erased rows); a crash between the two would
    // leave them in the file, and the pending truncation is only known in
    // memory. So each start for writing truncates the WAL, after SQLite's
    // recovery has taken its commits. Best effort: a reader in the WAL (a
    // backup copying) makes it give up at once rather than hold the start.
    // PASSIVE first (copies without the writer lock, beside a running
    // consentd when this is a consentctl command), then TRUNCATE, which
    // then holds that lock only briefly. A disk that fails here fails the
    // start, as a failed checkpoint stops a running store.
    sqlite3_busy_timeout((*db)->raw(), 0);
    int rc = SQLITE_OK;
    for (int checkpoint : {SQLITE_CHECKPOINT_PASSIVE, SQLITE_CHECKPOINT_TRUNCATE}) {
      rc = sqlite3_wal_checkpoint_v2((*db)->raw(), nullptr, checkpoint, nullptr, nullptr);
      if (rc != SQLITE_OK) break;
    }
    sqlite3_busy_timeout((*db)->raw(), options.busy_timeout_ms);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY && rc != SQLITE_LOCKED) {
      return Unavailable("store " + options.path +
                         ": checkpoint at start failed: " + sqlite3_errstr(rc));
    }
  }

  // Pipelined durability (sqlite_store.h): our own descriptors of the WAL
  // file SQLite writes (it exists after the migration's reads and writes,
  // and SQLite keeps it while this connection is open), one per sync
  // thread. Without any, every durable commit syncs on the store thread.
  std::vector<int> wal_fds;
  if (options.pipelined_sync) {
    for (int i = 0; i < std::max(1, options.sync_threads); ++i) {
      const int fd = ::open((options.path + "-wal").c_str(), O_RDWR | O_CLOEXEC);
      if (fd < 0) break;
      wal_fds.push_back(fd);
    }
    if (!wal_fds.empty()) {
      if (Status s = (*db)->Exec("PRAGMA synchronous = NORMAL"); !s.ok()) {
        for (int fd : wal_fds) ::close(fd);
        return s;
      }
    }
  }
  // The checkpoint thread's connection (sqlite_store.h). No fault port:
  // the tests count the store thread's calls.
  std::unique_ptr<Db> ckpt_db;
  if (!wal_fds.empty() && options.background_checkpoints) {
    Result<std::unique_ptr<Db>> second = Db::Open(options.path, nullptr);
    if (second.ok()) {
      sqlite3_busy_timeout((*second)->raw(), options.busy_timeout_ms);
      if ((*second)->Exec("PRAGMA synchronous = NORMAL").ok()) ckpt_db = std::move(*second);
    }
  }
  std::unique_ptr<SqliteStore> store(new SqliteStore(std::move(options), std::move(*db)));
  store->open_.store(true);
  // Replaces the autocheckpoint hook set by PRAGMA wal_autocheckpoint,
  // which drops a checkpoint's I/O errors (Checkpoint() stops the store).
  sqlite3_wal_hook(store->db_->raw(), &SqliteStore::OnWalCommit, store.get());
  if (ckpt_db != nullptr) {
    store->ckpt_db_ = std::move(ckpt_db);
    store->ckpt_thread_ = std::thread([s = store.get()] { s->CheckpointLoop(*s->ckpt_db_); });
  }
  if (!wal_fds.empty()) {
    store->wal_fds_ = std::move(wal_fds);
    store->sync_full_ = false;
  }
  if (store->wal_fds_.empty()) {
    store->workers_.emplace_back([s = store.get()] { s->WorkerLoop(0, -1); });
  }
  for (std::size_t i = 0; i < store->wal_fds_.size(); ++i) {
    store->workers_.emplace_back([s = store.get(), i] { s->WorkerLoop(i, s->wal_fds_[i]); });
  }
  return store;
}

SqliteStore::SqliteStore(SqliteStoreOptions options, std::unique_ptr<Db> db)
    : options_(std::move(options)), db_(std::move(db)) {}

SqliteStore::~SqliteStore() { (void)Close(); }

void SqliteStore::DoSubmit(Work work, Done done, SubmitOptions options) {
  Status refused;
  {
    std::lock_guard lock(mu_);
    if (closing_) {
      refused = FailedPrecondition("store is closed");
    } else if (queue_.size() >= options_.queue_capacity) {
      refused = ResourceExhausted("store overloaded: " + std::to_string(queue_.size()) +
                                  " submissions queued");
    } else {
      queue_.push_back({std::move(work), std::move(done), options.durable});
      // The worker holding the connection looks at the queue when it
      // hands the connection back; an idle one is woken only if it is free.
      if (!db_busy_ && queue_.size() == 1) cv_.notify_one();
      return;
    }
  }
  InvokeDone(done, refused);
}

Status SqliteStore::Close() {
  std::lock_guard close_lock(close_mu_);
  std::vector<const std::thread*> threads{&ckpt_thread_};
  for (const std::thread& t : workers_) threads.push_back(&t);
  for (const std::thread* t : threads) {
    if (t->joinable() && t->get_id() == std::this_thread::get_id()) {
      return FailedPrecondition("Close() called from a store thread");
    }
  }
  // The checkpoint connection closes first, so that the workers'
  // connection is the last one and checkpoints the WAL when it closes.
  {
    std::lock_guard lock(ckpt_mu_);
    ckpt_closing_ = true;
    ckpt_cv_.notify_one();
  }
  if (ckpt_thread_.joinable()) ckpt_thread_.join();
  ckpt_db_.reset();
  {
    std::lock_guard lock(mu_);
    closing_ = true;
    cv_.notify_all();
  }
  // Each worker drains the queue with the others, completes (or has the
  // fsync that covers it complete) its last batch, then stops.
  for (std::thread& t : workers_) {
    if (t.joinable()) t.join();
  }
  // The workers have stopped: the ledger's waiting records get a last try.
  if (!ledger_backlog_.empty() && !options_.erasure_ledger_path.empty()) AppendLedgerBacklog({});
  if (!workers_.empty()) {
    open_.store(false);
    if (db_ != nullptr && sync_failed_.load()) {  // (not closed already)
      // After a failed fsync the WAL's pages in memory may not be what is
      // on disk, and a checkpoint copies them without checking their
      // checksums: leave the WAL for the next start, whose recovery does.
      (void)sqlite3_db_config(db_->raw(), SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
    }
    db_.reset();  // closing the last connection checkpoints the WAL
  }
  for (int& fd : wal_fds_) {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  return Status::Ok();
}

void SqliteStore::AppendLedgerBacklog(std::vector<LedgerRecord> added) {
  const std::size_t failed_before = ledger_backlog_.size();
  ledger_backlog_.insert(ledger_backlog_.end(), std::make_move_iterator(added.begin()),
                         std::make_move_iterator(added.end()));
  // A record appended twice (a write that landed before its fdatasync
  // failed) is harmless: the ledger is read as a set.
  Status appended = AppendToLedger(options_.erasure_ledger_path, ledger_backlog_);
  if (appended.ok()) ledger_backlog_.clear();
  ledger_retry_at_ = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  {
    std::lock_guard lock(mu_);
    if (!appended.ok() && !added.empty()) ++stats_.erasure_ledger_failures;
    stats_.erasure_ledger_backlog = ledger_backlog_.size();
  }
  if (!appended.ok() && options_.on_ledger_failure) {
    options_.on_ledger_failure(
        appended.WithContext(std::to_string(ledger_backlog_.size()) + " record(s) waiting, " +
                             std::to_string(failed_before) + " of them from earlier batches"));
  }
}

StoreStats SqliteStore::stats() const {
  StoreStats out;
  {
    std::lock_guard lock(mu_);
    out = stats_;
    out.queued = queue_.size();
  }
  std::lock_guard lock(sync_mu_);
  out.wal_syncs = wal_syncs_;
  out.wal_sync_seconds = wal_sync_seconds_;
  return out;
}

void SqliteStore::WorkerLoop(std::size_t index, int fd) {
  // Named so that per-thread CPU (bench/webhook_ingest.sh, top -H) can be
  // told apart from the io thread and the checkpoint thread.
  pthread_setname_np(pthread_self(), "store-worker");
  std::vector<Submission> batch;
  for (;;) {
    bool merge = false;
    {
      std::unique_lock lock(mu_);
      for (;;) {
        // Between two slices of a merge, a queued batch goes first.
        if (!db_busy_ && merge_due_ && (!merge_yield_ || queue_.empty())) {
          merge = true;
          merge_due_ = false;
          break;
        }
        if (!db_busy_ && !queue_.empty()) break;
        if (closing_ && queue_.empty()) return;  // the holder (if any) ends its own batch
        if (index != 0) {
          cv_.wait(lock);
          continue;
        }
        // Worker 0 ticks the heartbeat while the connection is free, so a
        // unit of work that hangs stops it (the watchdog), and merges the
        // recent inbox keys after a heartbeat without work.
        const bool timed_out =
            cv_.wait_for(lock, options_.heartbeat_interval) == std::cv_status::timeout;
        if (timed_out && !db_busy_) {
          Beat();
          if (queue_.empty() && !closing_ && keys_pending_ > 0) merge_due_ = true;
        }
      }
      db_busy_ = true;
      if (!merge) {
        if (queue_.size() <= options_.max_batch) {
          batch.swap(queue_);
        } else {
          auto end = queue_.begin() + static_cast<std::ptrdiff_t>(options_.max_batch);
          batch.assign(std::make_move_iterator(queue_.begin()), std::make_move_iterator(end));
          queue_.erase(queue_.begin(), end);
        }
      }
    }
    std::uint64_t sync_upto = 0;
    Committed done{};
    bool more_slices = false;
    if (merge) {
      more_slices = MergeInboxKeys() && inbox_keys_.merging();
    } else {
      done = RunBatch(batch);
      batch.clear();
      // In commit order: queued while the connection is still held.
      if (fd >= 0) sync_upto = Enqueue(std::move(done));
    }
    {
      std::lock_guard lock(mu_);
      db_busy_ = false;
      merge_yield_ = merge;
      keys_pending_ = inbox_keys_.pending();
      // After a merge slice only its successful continuation is due (a
      // failed one waits for the next batch or idle tick: no spinning).
      if (merge ? more_slices
                : keys_pending_ >= options_.inbox_merge_rows || inbox_keys_.merging()) {
        merge_due_ = true;
      }
      if (closing_) {
        cv_.notify_all();
      } else if (!queue_.empty() || merge_due_) {
        cv_.notify_one();  // another worker takes it while this one syncs
      }
    }
    Beat();
    if (merge) continue;
    if (fd < 0) {
      Complete(done, Status::Ok());  // synchronous=FULL: already on disk
      continue;
    }
    if (sync_upto > 0) SyncUpto(fd, sync_upto);
    CompleteReady();
  }
}

Status SqliteStore::RunSql(std::string_view sql) {
  Result<Stmt*> st = db_->Prepare(sql);
  if (!st.ok()) return st.status();
  Status s = (*st)->Run();
  (*st)->Reset();
  return s;
}

bool SqliteStore::MergeInboxKeys() {
  // Stopped, or a failed ROLLBACK left a transaction open (the next batch
  // ends it).
  if (sync_failed_.load() || db_->InTransaction()) return false;
  // Not durable by itself: the next durable batch's fsync covers it, and a
  // merge lost in a crash is redone (the rows after the mark are reloaded).
  // A failure leaves the keys in memory; the next merge retries.
  Status merged = inbox_keys_.MergeSlice(*db_, options_.inbox_merge_slices);
  if (!merged.ok()) StopIfCommitSyncFailed(merged);  // its COMMIT may fsync
  return merged.ok();
}

Status SqliteStore::RunOne(Submission& sub, bool* broken, std::vector<LedgerRecord>& ledger) {
  if (Status s = RunSql("SAVEPOINT unit"); !s.ok()) {
    *broken = true;
    return Unavailable("store savepoint failed: " + s.ToString());
  }
  SqliteTransaction txn(*db_, inbox_keys_, tombstones_);
  std::vector<LedgerRecord> noted;
  txn.CollectLedgerRecords(&noted);  // erasures: for the ledger, and the WAL's truncation
  Status result = InvokeWork(sub.work, txn);
  Status end = result.ok() ? RunSql("RELEASE unit") : RunSql("ROLLBACK TO unit");
  if (end.ok() && !result.ok()) end = RunSql("RELEASE unit");
  if (!end.ok() || !db_->InTransaction()) {
    // SQLite may have rolled back the whole transaction on its own (I/O
    // error, disk full): nothing in this batch can be trusted any more.
    *broken = true;
    if (result.ok()) result = Unavailable("store transaction lost: " + end.ToString());
  }
  if (result.ok()) ledger.insert(ledger.end(), noted.begin(), noted.end());
  return result;
}

SqliteStore::Committed SqliteStore::RunBatch(std::vector<Submission>& batch) {
  bool durable = false;
  for (const Submission& s : batch) durable = durable || s.durable;

  std::vector<Status> results(batch.size());
  Status batch_status;
  if (db_->InTransaction()) {
    // A failed ROLLBACK left the last batch's transaction open: end it
    // before anything else, or every later BEGIN would fail.
    batch_status = RunSql("ROLLBACK");
  }
  if (sync_failed_.load()) {
    // fsync-gate: after a failed fdatasync the kernel may have dropped the
    // dirty pages while SQLite believes them written, so nothing read or
    // written through this connection can be trusted. Refuse everything;
    // a restart recovers from what is really on disk.
    batch_status =
        Unavailable("store stopped: an fsync or a checkpoint failed earlier; restart consentd");
  }
  if (batch_status.ok() && wal_fds_.empty() && durable != sync_full_) {
    batch_status = RunSql(durable ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
    if (batch_status.ok()) sync_full_ = durable;
  }
  // A reader's deferred transaction is a WAL snapshot: it never waits for
  // nor holds up the writer.
  if (batch_status.ok()) batch_status = RunSql(options_.read_only ? "BEGIN" : "BEGIN IMMEDIATE");
  // The rows another connection (consentctl) may have added since.
  if (batch_status.ok()) {
    Result<std::int64_t> version = db_->QueryInt("PRAGMA data_version");
    if (version.ok() && *version != data_version_) {
      if (data_version_ >= 0) foreign_commits_.fetch_add(1, std::memory_order_relaxed);
      data_version_ = *version;
    }
    batch_status = version.ok() ? inbox_keys_.Refresh(*db_, *version) : version.status();
    if (batch_status.ok()) tombstones_.Refresh(*version);
    if (!batch_status.ok() && db_->InTransaction()) (void)RunSql("ROLLBACK");
  }
  std::vector<LedgerRecord> ledger;
  if (batch_status.ok()) {
    for (std::size_t i = 0; i < batch.size(); ++i) {
      bool broken = false;
      results[i] = RunOne(batch[i], &broken, ledger);
      if (broken) {
        batch_status = Unavailable("transaction aborted at submission " + std::to_string(i));
        break;
      }
    }
    if (batch_status.ok()) {
      batch_status = RunSql("COMMIT");
      if (!batch_status.ok()) StopIfCommitSyncFailed(batch_status);
    }
    // Erasures are rare: the append (and its fdatasync) costs a batch that
    // has one, none other. After the commit, so the ledger never lists an
    // erasure the database rolled back; a crash between the two loses the
    // ledger's copy of that one only (the database holds it).
    if (batch_status.ok() && !options_.erasure_ledger_path.empty() &&
        (!ledger.empty() ||
         (!ledger_backlog_.empty() && std::chrono::steady_clock::now() >= ledger_retry_at_))) {
      AppendLedgerBacklog(ledger);
    }
    // The WAL still holds the pages as they were before the erasure (the
    // person's rows, an address) until later writes overwrite them, which
    // on a quiet install can take days: copy it into the database file
    // (whose freed pages secure_delete has zeroed) and truncate it.
    const bool erased_rows_removed = db_->TakeErasedRowsRemoved();
    if (batch_status.ok() && (!ledger.empty() || erased_rows_removed)) TruncateWalAfterErasure();
    if (!batch_status.ok() && db_->InTransaction()) (void)RunSql("ROLLBACK");
  }
  if (!batch_status.ok()) {
    // Nothing of this batch is durable: every submission that did not fail
    // on its own gets a retryable error (the ingress answers 503).
    const Status failed = Unavailable("store commit failed: " + batch_status.ToString());
    for (Status& r : results) {
      if (r.ok()) r = failed;
    }
  }
  {
    std::lock_guard lock(mu_);
    ++stats_.batches;
    stats_.submissions += batch.size();
    if (!batch_status.ok()) ++stats_.failed_batches;
    stats_.last_batch_failed = !batch_status.ok();
  }
  Committed committed{std::move(batch), std::move(results), durable && batch_status.ok()};
  return committed;
}

std::uint64_t SqliteStore::Enqueue(Committed c) {
  std::lock_guard lock(sync_mu_);
  c.seq = ++last_seq_;
  const bool needs_sync = c.needs_sync;
  committed_.push_back(std::move(c));
  if (!needs_sync) return 0;
  // Cover everything committed so far; a batch committed from now on gets
  // its own fsync from its own worker.
  return last_seq_;
}

void SqliteStore::SyncUpto(int fd, std::uint64_t upto) {
  const auto started = std::chrono::steady_clock::now();
  Status synced = SyncWal(fd);
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - started;
  {
    std::lock_guard lock(sync_mu_);
    ++wal_syncs_;
    wal_sync_seconds_ += took.count();
    if (!sync_error_.ok()) {
      // Stopped: an fsync that succeeds after another one failed may not
      // cover the pages that failed (its descriptor may have reported that
      // error earlier), so nothing more counts as durable.
      return;
    }
    if (synced.ok()) {
      synced_upto_ = std::max(synced_upto_, upto);
      return;
    }
    sync_error_ = std::move(synced);
    // Fail-stop (see RunBatch): no later batch runs, and IsOpen() turns
    // false so /readyz reports it.
    sync_failed_.store(true);
    open_.store(false);
  }
  ReportFailStop();
}

void SqliteStore::StopIfCommitSyncFailed(const Status& commit) {
  // SQLite's own fsync inside COMMIT (synchronous=FULL, the mode without
  // the store's pipelined fdatasync) failed: the same fsync-gate as a
  // failed fdatasync of the WAL (SyncUpto).
  const int code = db_->LastFailedCode();
  if (code != SQLITE_IOERR_FSYNC && code != SQLITE_IOERR_DIR_FSYNC) return;
  {
    std::lock_guard lock(sync_mu_);
    if (sync_error_.ok()) sync_error_ = commit;
    sync_failed_.store(true);
    open_.store(false);
  }
  ReportFailStop();
}

void SqliteStore::ReportFailStop() {
  if (fail_stop_reported_.exchange(true) || !options_.on_fail_stop) return;
  Status why;
  {
    std::lock_guard lock(sync_mu_);
    why = sync_error_;
  }
  options_.on_fail_stop(why);
}

Status SqliteStore::SyncWal(int fd) {
  int rc = 0;
  int err = 0;
  if (options_.faults != nullptr &&
      options_.faults->Before(SqliteOp::kWalSync, "fdatasync") != SQLITE_OK) {
    rc = -1;
    err = EIO;  // injected (tests)
  } else {
    do {
      rc = ::fdatasync(fd);
    } while (rc != 0 && errno == EINTR);
    err = errno;
  }
  if (rc == 0) return Status::Ok();
  return Unavailable(std::string("store commit not made durable: fdatasync of the WAL: ") +
                     std::strerror(err) + "; the store stops, restart consentd");
}

void SqliteStore::CompleteReady() {
  // One completer at a time, so Done callbacks keep commit order even when
  // two sync threads finish together.
  std::lock_guard order(complete_mu_);
  std::vector<Committed> ready;
  Status error;
  std::uint64_t synced_upto = 0;
  {
    std::lock_guard lock(sync_mu_);
    error = sync_error_;
    synced_upto = synced_upto_;
    // After a failed fsync nothing waits any more: what no successful fsync
    // covered fails (fail-stop).
    while (!committed_.empty() && (!error.ok() || !committed_.front().needs_sync ||
                                   committed_.front().seq <= synced_upto)) {
      ready.push_back(std::move(committed_.front()));
      committed_.pop_front();
    }
  }
  auto durable = [synced_upto](const Committed& c) {
    return !c.needs_sync || c.seq <= synced_upto;
  };
  // Counted before the Done callbacks run, so that whoever they wake sees it.
  if (const auto failed = std::count_if(ready.begin(), ready.end(),
                                        [&](const Committed& c) { return !durable(c); });
      failed > 0) {
    std::lock_guard lock(mu_);
    stats_.failed_batches += static_cast<std::uint64_t>(failed);
  }
  for (Committed& c : ready) Complete(c, durable(c) ? Status::Ok() : error);
}

int SqliteStore::OnWalCommit(void* self, sqlite3* db, const char* name, int frames) {
  auto* store = static_cast<SqliteStore*>(self);
  const int threshold = store->options_.wal_autocheckpoint_pages;
  if (threshold <= 0 || frames < threshold) return SQLITE_OK;
  if (store->ckpt_db_ == nullptr || frames >= 4 * threshold) {
    // No checkpoint thread, or it has not kept up: copy on this thread, as
    // SQLite's autocheckpoint would.
    store->Checkpoint(db, name);
    return SQLITE_OK;
  }
  std::lock_guard lock(store->ckpt_mu_);
  if (!store->ckpt_wanted_) {
    store->ckpt_wanted_ = true;
    store->ckpt_cv_.notify_one();
  }
  return SQLITE_OK;
}

// A TRUNCATE checkpoint holds the writer lock while it copies, and with a
// busy handler it would also wait there for every reader to leave the WAL
// (a `consentctl backup` reads for as long as it copies): with none, it
// copies what it can and answers SQLITE_BUSY at once instead of stalling
// the store's writes.
int SqliteStore::TruncatingCheckpoint(Db& db) {
  sqlite3_busy_timeout(db.raw(), 0);
  const int rc = Checkpoint(db.raw(), nullptr, SQLITE_CHECKPOINT_TRUNCATE);
  sqlite3_busy_timeout(db.raw(), options_.busy_timeout_ms);
  return rc;
}

void SqliteStore::TruncateWalAfterErasure() {
  if (ckpt_db_ == nullptr) {
    // No checkpoint thread: here, between batches (best effort; a busy
    // reader leaves it to the next erasure or to the close).
    (void)TruncatingCheckpoint(*db_);
    return;
  }
  std::lock_guard lock(ckpt_mu_);
  ckpt_truncate_wanted_ = true;
  ckpt_wanted_ = true;
  ckpt_cv_.notify_one();
}

void SqliteStore::CheckpointLoop(Db& db) {
  pthread_setname_np(pthread_self(), "store-ckpt");
  // A truncation after an erasure that found a reader in the WAL (a backup
  // reads for as long as it copies) is tried again after `retry`, doubled
  // each time up to a minute.
  constexpr auto kFirstRetry = std::chrono::milliseconds(200);
  constexpr auto kLastRetry = std::chrono::milliseconds(60'000);
  bool truncate = false;  // an erasure's truncation not done yet
  auto retry = kFirstRetry;
  for (;;) {
    bool passive = false;
    bool attempt = false;  // a truncation now
    {
      std::unique_lock lock(ckpt_mu_);
      const auto ready = [this] { return ckpt_wanted_ || ckpt_truncate_wanted_ || ckpt_closing_; };
      if (truncate) {
        attempt = !ckpt_cv_.wait_for(lock, retry, ready);  // timed out: retry due
      } else {
        ckpt_cv_.wait(lock, ready);
      }
      if (ckpt_closing_) return;
      passive = ckpt_wanted_;
      ckpt_wanted_ = false;
      if (ckpt_truncate_wanted_) {  // a new erasure: at once
        ckpt_truncate_wanted_ = false;
        truncate = attempt = true;
        retry = kFirstRetry;
      }
    }
    if (sync_failed_.load()) {  // the store has stopped: nothing is copied any more
      truncate = false;
      continue;
    }
    if (attempt) {
      // Copies all a passive checkpoint would, then resets the WAL.
      if (TruncatingCheckpoint(db) == SQLITE_OK) {
        truncate = false;
      } else {
        retry = std::min(kLastRetry, retry * 2);
      }
    } else if (passive) {
      // SQLITE_BUSY (another process checkpointing): the next commit over
      // the threshold asks again.
      Checkpoint(db.raw(), nullptr);
    }
  }
}

int SqliteStore::Checkpoint(sqlite3* db, const char* schema, int mode) {
  // Nothing read through a connection after a failed fsync is trusted
  // (RunBatch), and a checkpoint would copy it into the database file.
  if (sync_failed_.load()) return SQLITE_ERROR;
  const int rc = sqlite3_wal_checkpoint_v2(db, schema, mode, nullptr, nullptr);
  if ((rc & 0xff) != SQLITE_IOERR && (rc & 0xff) != SQLITE_FULL) return rc;
  // The database file's pages may be lost while SQLite took them as
  // written: stop, as after a failed fsync of the WAL.
  {
    std::lock_guard lock(sync_mu_);
    if (sync_error_.ok()) {
      sync_error_ = SqliteStatus(rc, "store checkpoint failed; the store stops, restart consentd",
                                 sqlite3_errmsg(db));
    }
    sync_failed_.store(true);
    open_.store(false);
  }
  ReportFailStop();
  return rc;
}

void SqliteStore::Complete(Committed& c, const Status& synced) {
  for (std::size_t i = 0; i < c.batch.size(); ++i) {
    const bool lost = c.needs_sync && !synced.ok() && c.results[i].ok();
    InvokeDone(c.batch[i].done, lost ? synced : c.results[i]);
  }
}

}  // namespace consentd::store
