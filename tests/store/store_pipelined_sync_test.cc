// Pipelined durability (store/sqlite_store.h): a store worker commits
// without waiting for the disk and completes the batch after its own
// fdatasync of the WAL, while another worker runs the next batch. Done
// callbacks must still come in commit order, Close must complete
// everything committed, and both modes behave alike.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "store_test_util.h"

namespace consentd::store {
namespace {

using testing::OpenOrDie;
using testing::TempDir;

// max_batch 16: a burst of submissions spans several batches (commits).
std::unique_ptr<SqliteStore> OpenStore(const std::string& path, bool pipelined) {
  SqliteStoreOptions options;
  options.path = path;
  options.pipelined_sync = pipelined;
  options.max_batch = 16;
  return OpenOrDie(std::move(options));
}

// Submits `units` inbox inserts (every `lazy_every`th not durable: it rides
// with the others) and returns the order their Done callbacks ran in.
std::vector<int> CompletionOrder(SqliteStore& store, int units, int lazy_every) {
  std::mutex mu;
  std::vector<int> order;
  std::promise<void> all_done;
  for (int i = 0; i < units; ++i) {
    store.Submit(
        [i](Transaction& txn) -> Status {
          Result<bool> r = txn.InsertInbox(testing::Event("test", "e" + std::to_string(i)));
          return r.ok() ? Status::Ok() : r.status();
        },
        [&, i](const Status& s) {
          EXPECT_TRUE(s.ok()) << s.ToString();
          std::lock_guard lock(mu);
          order.push_back(i);
          if (order.size() == static_cast<std::size_t>(units)) all_done.set_value();
        },
        SubmitOptions{.durable = i % lazy_every != 0});
  }
  all_done.get_future().wait();
  return order;
}

std::vector<int> ZeroTo(int n) {
  std::vector<int> out(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) out[static_cast<std::size_t>(i)] = i;
  return out;
}

class StorePipelinedSync : public ::testing::TestWithParam<bool> {};

TEST_P(StorePipelinedSync, ModeIsTheOneAskedForAlsoWhenReopened) {
  TempDir dir;
  for (int open = 0; open < 2; ++open) {  // the second open finds a migrated database
    auto store = OpenStore(dir.File("s.db"), GetParam());
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(store->pipelined_sync(), GetParam()) << "open #" << open + 1;
  }
}

TEST_P(StorePipelinedSync, DoneCallbacksComeInSubmissionOrderAcrossBatches) {
  TempDir dir;
  auto store = OpenStore(dir.File("s.db"), GetParam());
  ASSERT_NE(store, nullptr);
  constexpr int kUnits = 300;
  EXPECT_EQ(CompletionOrder(*store, kUnits, /*lazy_every=*/3), ZeroTo(kUnits));
  EXPECT_GT(store->stats().batches, 1u) << "the units should have spanned several batches";
}

// /metrics shows these (consentd_store_wal_sync*): a durable commit counts
// the store's own fsync and its time; a lazy one rides without one; with
// synchronous=FULL SQLite syncs inside COMMIT and nothing is counted.
TEST_P(StorePipelinedSync, WalSyncsAreCountedAndTimedOnlyWhenTheStoreMakesThem) {
  TempDir dir;
  auto store = OpenStore(dir.File("s.db"), GetParam());
  ASSERT_NE(store, nullptr);
  const StoreStats before = store->stats();
  auto insert = [](std::string id) {
    return [id](Transaction& txn) -> Status {
      Result<bool> r = txn.InsertInbox(testing::Event("test", id));
      return r.ok() ? Status::Ok() : r.status();
    };
  };
  ASSERT_TRUE(store->Run(insert("lazy"), SubmitOptions{.durable = false}).ok());
  const StoreStats lazy = store->stats();
  EXPECT_EQ(lazy.wal_syncs, before.wal_syncs) << "a lazy commit is not fsynced on its own";
  ASSERT_TRUE(store->Run(insert("durable")).ok());
  const StoreStats after = store->stats();
  if (GetParam()) {
    EXPECT_EQ(after.wal_syncs, lazy.wal_syncs + 1);
    EXPECT_GT(after.wal_sync_seconds, lazy.wal_sync_seconds);
  } else {
    EXPECT_EQ(after.wal_syncs, 0u);
    EXPECT_EQ(after.wal_sync_seconds, 0.0);
  }
  EXPECT_EQ(after.batches, before.batches + 2);
  EXPECT_EQ(after.submissions, before.submissions + 2);
  EXPECT_EQ(after.failed_batches, 0u);
}

TEST_P(StorePipelinedSync, CloseCompletesEveryCommittedSubmissionBeforeReturning) {
  TempDir dir;
  constexpr int kUnits = 200;
  int ok = 0;  // Close joins the threads that call Done: no lock needed after it
  {
    auto store = OpenStore(dir.File("s.db"), GetParam());
    ASSERT_NE(store, nullptr);
    for (int i = 0; i < kUnits; ++i) {
      store->Submit(
          [i](Transaction& txn) -> Status {
            Result<bool> r = txn.InsertInbox(testing::Event("test", "c" + std::to_string(i)));
            return r.ok() ? Status::Ok() : r.status();
          },
          [&ok](const Status& s) {
            if (s.ok()) ++ok;
          });
    }
    ASSERT_TRUE(store->Close().ok());
    EXPECT_EQ(ok, kUnits);
  }
  auto store = OpenStore(dir.File("s.db"), GetParam());
  ASSERT_NE(store, nullptr);
  Status s = store->Run([](Transaction& txn) -> Status {
    for (int i = 0; i < kUnits; ++i) {
      Result<bool> fresh = txn.InsertInbox(testing::Event("test", "c" + std::to_string(i)));
      if (!fresh.ok()) return fresh.status();
      EXPECT_FALSE(*fresh) << "acknowledged unit " << i << " is missing";
    }
    return Status::Ok();
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
}

TEST_P(StorePipelinedSync, CloseFromADoneCallbackIsRefusedInsteadOfDeadlocking) {
  TempDir dir;
  auto store = OpenStore(dir.File("s.db"), GetParam());
  ASSERT_NE(store, nullptr);
  std::promise<Status> closed;
  store->Submit([](Transaction&) { return Status::Ok(); },
                [&](const Status&) { closed.set_value(store->Close()); });
  Status s = closed.get_future().get();
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  EXPECT_TRUE(store->Close().ok());
}

// fsync-gate: after a failed fdatasync the kernel may have dropped dirty
// pages that SQLite believes written, so the store must neither report the
// batch durable nor run anything later through the same connection.
TEST(StorePipelinedSyncFailure, AFailedWalSyncFailsTheBatchAndStopsTheStore) {
  TempDir dir;
  FailAtCall fault(1, SQLITE_IOERR, FailAtCall::Mode::kTransient, "", SqliteOp::kWalSync);
  SqliteStoreOptions options;
  options.path = dir.File("s.db");
  options.faults = &fault;
  auto store = OpenOrDie(std::move(options));
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->pipelined_sync());
  Status first = store->Run([](Transaction& txn) -> Status {
    Result<bool> r = txn.InsertInbox(testing::Event("test", "lost"));
    return r.ok() ? Status::Ok() : r.status();
  });
  EXPECT_EQ(first.code(), StatusCode::kUnavailable) << first.ToString();
  EXPECT_EQ(fault.failures(), 1);
  EXPECT_FALSE(store->IsOpen());
  // What /metrics shows (consentd_store_failed_transactions_total): the
  // batch committed but was not made durable.
  EXPECT_EQ(store->stats().failed_batches, 1u);
  EXPECT_EQ(store->stats().wal_syncs, 1u) << "the failed fsync is counted as made";
  // The fault was transient, yet nothing runs any more: a restart is needed.
  bool ran = false;
  Status later = store->Run([&](Transaction&) {
    ran = true;
    return Status::Ok();
  });
  EXPECT_EQ(later.code(), StatusCode::kUnavailable) << later.ToString();
  EXPECT_NE(later.message().find("restart"), std::string::npos) << later.ToString();
  EXPECT_FALSE(ran);
  EXPECT_EQ(store->stats().failed_batches, 2u);
  EXPECT_TRUE(store->Close().ok());
}

// A stopped store closes without the checkpoint SQLite makes when its last
// connection closes: that would copy the WAL's pages as they are in memory,
// unchecked, into the database file. The WAL stays for the next start,
// whose recovery checks it.
TEST(StorePipelinedSyncFailure, AStoppedStoreLeavesItsWalForTheNextStartsRecovery) {
  TempDir dir;
  const std::string path = dir.File("s.db");
  FailAtCall fault(1, SQLITE_IOERR, FailAtCall::Mode::kTransient, "", SqliteOp::kWalSync);
  {
    SqliteStoreOptions options;
    options.path = path;
    options.faults = &fault;
    auto store = OpenOrDie(std::move(options));
    ASSERT_NE(store, nullptr);
    Status first = store->Run([](Transaction& txn) -> Status {
      Result<bool> r = txn.InsertInbox(testing::Event("test", "unsure"));
      return r.ok() ? Status::Ok() : r.status();
    });
    ASSERT_EQ(first.code(), StatusCode::kUnavailable) << first.ToString();
    ASSERT_TRUE(store->Close().ok());
  }
  ASSERT_TRUE(std::filesystem::exists(path + "-wal"))
      << "the WAL was checkpointed and removed on close";
  EXPECT_GT(std::filesystem::file_size(path + "-wal"), 0u);
  auto reopened = OpenOrDie(path);
  ASSERT_NE(reopened, nullptr) << "the next start recovers from the WAL";
  EXPECT_TRUE(reopened->IsOpen());
  EXPECT_TRUE(reopened->Close().ok());
}

// A commit's pages stay in the WAL until a checkpoint; after an erasure the
// store truncates the WAL (the erased rows' old images are there), but a
// crash between the commit and that truncation would leave them in the file
// for good. So every start for writing truncates the WAL (after recovery):
// a store opened from a crash's files holds its data with an empty WAL.
TEST(StoreOpen, AStartForWritingLeavesTheWalEmpty) {
  TempDir dir;
  const std::string path = dir.File("s.db");
  const std::string copy = dir.File("crashed.db");
  auto store = OpenOrDie(path);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store
                  ->Run([](Transaction& txn) -> Status {
                    Result<bool> r = txn.InsertInbox(testing::Event("test", "kept"));
                    return r.ok() ? Status::Ok() : r.status();
                  })
                  .ok());
  ASSERT_GT(std::filesystem::file_size(path + "-wal"), 0u);
  // The files as a crash would leave them (the store still open).
  std::filesystem::copy_file(path, copy);
  std::filesystem::copy_file(path + "-wal", copy + "-wal");
  EXPECT_TRUE(store->Close().ok());

  auto reopened = OpenOrDie(copy);
  ASSERT_NE(reopened, nullptr);
  EXPECT_EQ(std::filesystem::file_size(copy + "-wal"), 0u);
  Result<std::vector<InboxRow>> rows = Internal("not read");
  ASSERT_TRUE(reopened
                  ->Run([&](Transaction& txn) -> Status {
                    rows = txn.ListUnprocessedInbox("test", 10);
                    return rows.status();
                  })
                  .ok());
  ASSERT_EQ(rows->size(), 1u) << "the WAL's commits were kept";
  EXPECT_TRUE(reopened->Close().ok());
}

// Without the store's own fdatasync (pipelined_sync off: synchronous=FULL),
// SQLite fsyncs inside COMMIT; if that fsync fails the store stops as after
// a failed fdatasync, and says so once.
TEST(StoreFullSyncFailure, ACommitWhoseFsyncFailsStopsTheStore) {
  TempDir dir;
  FailAtCall fault(1, SQLITE_IOERR_FSYNC, FailAtCall::Mode::kTransient, "COMMIT", SqliteOp::kStep);
  std::atomic<int> fail_stops{0};
  SqliteStoreOptions options;
  options.path = dir.File("s.db");
  options.pipelined_sync = false;
  options.faults = &fault;
  options.on_fail_stop = [&](const Status&) { fail_stops.fetch_add(1); };
  auto store = OpenOrDie(std::move(options));
  ASSERT_NE(store, nullptr);
  ASSERT_FALSE(store->pipelined_sync());
  Status first = store->Run([](Transaction& txn) -> Status {
    Result<bool> r = txn.InsertInbox(testing::Event("test", "lost"));
    return r.ok() ? Status::Ok() : r.status();
  });
  EXPECT_EQ(first.code(), StatusCode::kUnavailable) << first.ToString();
  ASSERT_EQ(fault.failures(), 1);
  EXPECT_FALSE(store->IsOpen());
  EXPECT_EQ(fail_stops.load(), 1);
  bool ran = false;
  Status later = store->Run([&](Transaction&) {
    ran = true;
    return Status::Ok();
  });
  EXPECT_EQ(later.code(), StatusCode::kUnavailable) << later.ToString();
  EXPECT_FALSE(ran) << "the fault was transient, yet nothing runs any more";
  EXPECT_EQ(fail_stops.load(), 1);
  EXPECT_TRUE(store->Close().ok());
}

// The same for the COMMIT of a merge of recent inbox keys (run between
// batches, through Exec): in this mode it fsyncs too.
// Fails the first Exec of a COMMIT with SQLITE_IOERR_FSYNC once armed (after
// the open: the schema's own statements do not count).
class FailExecCommitWhenArmed final : public SqliteFaults {
 public:
  int Before(SqliteOp op, std::string_view sql) override {
    if (op != SqliteOp::kExec || !armed.load() || sql.find("COMMIT") == std::string_view::npos) {
      return SQLITE_OK;
    }
    return failures.fetch_add(1) == 0 ? SQLITE_IOERR_FSYNC : SQLITE_OK;
  }
  std::atomic<bool> armed{false};
  std::atomic<int> failures{0};
};

TEST(StoreFullSyncFailure, AMergeWhoseCommitFsyncFailsStopsTheStore) {
  TempDir dir;
  FailExecCommitWhenArmed fault;
  std::atomic<int> fail_stops{0};
  SqliteStoreOptions options;
  options.path = dir.File("s.db");
  options.pipelined_sync = false;
  options.inbox_merge_rows = 1;
  options.heartbeat_interval = std::chrono::milliseconds(5);
  options.faults = &fault;
  options.on_fail_stop = [&](const Status&) { fail_stops.fetch_add(1); };
  auto store = OpenOrDie(std::move(options));
  ASSERT_NE(store, nullptr);
  fault.armed.store(true);
  Status first = store->Run([](Transaction& txn) -> Status {
    Result<bool> r = txn.InsertInbox(testing::Event("test", "merged-later"));
    return r.ok() ? Status::Ok() : r.status();
  });
  ASSERT_TRUE(first.ok()) << first.ToString();
  for (int i = 0; i < 400 && fault.failures.load() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_GE(fault.failures.load(), 1) << "no merge ran";
  for (int i = 0; i < 400 && store->IsOpen(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_FALSE(store->IsOpen());
  EXPECT_EQ(fail_stops.load(), 1);
  EXPECT_TRUE(store->Close().ok());
}

// A transient I/O error of another statement fails only its batch: the
// store goes on (StoreFaults), as before.
TEST(StoreFullSyncFailure, ACommitThatFailsForAnotherReasonDoesNotStopTheStore) {
  TempDir dir;
  FailAtCall fault(1, SQLITE_IOERR_WRITE, FailAtCall::Mode::kTransient, "COMMIT", SqliteOp::kStep);
  SqliteStoreOptions options;
  options.path = dir.File("s.db");
  options.pipelined_sync = false;
  options.faults = &fault;
  auto store = OpenOrDie(std::move(options));
  ASSERT_NE(store, nullptr);
  Status first = store->Run([](Transaction&) { return Status::Ok(); });
  EXPECT_EQ(first.code(), StatusCode::kUnavailable) << first.ToString();
  EXPECT_TRUE(store->IsOpen());
  EXPECT_TRUE(store->Run([](Transaction&) { return Status::Ok(); }).ok());
  EXPECT_TRUE(store->Close().ok());
}

// Several sync threads (SqliteStoreOptions::sync_threads): fsyncs overlap,
// yet Done callbacks still come in commit order.
TEST(StoreSeveralSyncThreads, DoneCallbacksKeepCommitOrderWhenFsyncsOverlap) {
  TempDir dir;
  SqliteStoreOptions options;
  options.path = dir.File("s.db");
  options.max_batch = 1;  // one commit per unit: as many batches as possible
  options.sync_threads = 4;
  auto store = OpenOrDie(std::move(options));
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->pipelined_sync());
  constexpr int kUnits = 400;
  EXPECT_EQ(CompletionOrder(*store, kUnits, /*lazy_every=*/5), ZeroTo(kUnits));
}

// fsync-gate with overlapping fsyncs: once one fdatasync failed, no
// submission completed after it is reported durable, even if another sync
// thread's fdatasync succeeds later.
TEST(StoreSeveralSyncThreads, AfterAFailedWalSyncNothingLaterIsReportedDurable) {
  TempDir dir;
  FailAtCall fault(3, SQLITE_IOERR, FailAtCall::Mode::kTransient, "", SqliteOp::kWalSync);
  SqliteStoreOptions options;
  options.path = dir.File("s.db");
  options.max_batch = 1;
  options.sync_threads = 4;
  options.faults = &fault;
  std::atomic<int> fail_stops{0};
  std::string fail_stop_reason;  // written before fail_stops grows
  options.on_fail_stop = [&](const Status& why) {
    fail_stop_reason = why.ToString();
    fail_stops.fetch_add(1);
  };
  auto store = OpenOrDie(std::move(options));
  ASSERT_NE(store, nullptr);
  std::mutex mu;
  std::vector<std::pair<int, Status>> done;  // in Done order
  int next = 0;
  // Bursts until the third fsync has failed (two or three bursts).
  for (int burst = 0; burst < 50 && fault.failures() == 0; ++burst) {
    std::vector<std::future<void>> waits;
    for (int k = 0; k < 50; ++k, ++next) {
      auto p = std::make_shared<std::promise<void>>();
      waits.push_back(p->get_future());
      store->Submit(
          [i = next](Transaction& txn) -> Status {
            Result<bool> r = txn.InsertInbox(testing::Event("test", "f" + std::to_string(i)));
            return r.ok() ? Status::Ok() : r.status();
          },
          [&, i = next, p](const Status& s) {
            {
              std::lock_guard lock(mu);
              done.emplace_back(i, s);
            }
            p->set_value();
          });
    }
    for (auto& w : waits) w.wait();
  }
  ASSERT_EQ(fault.failures(), 1);
  EXPECT_FALSE(store->IsOpen());
  // The sync thread whose fdatasync failed tells the daemon after releasing
  // its lock; another sync thread may report the later units failed (the
  // last Done above) before that. Wait for it, boundedly.
  for (int i = 0; i < 1000 && fail_stops.load() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(fail_stops.load(), 1) << "told once, so that the daemon exits and is restarted";
  if (fail_stops.load() > 0) {
    EXPECT_NE(fail_stop_reason.find("fdatasync"), std::string::npos) << fail_stop_reason;
  }
  ASSERT_EQ(done.size(), static_cast<std::size_t>(next));
  std::size_t first_failed = done.size();
  for (std::size_t k = 0; k < done.size(); ++k) {
    EXPECT_EQ(done[k].first, static_cast<int>(k)) << "Done out of commit order";
    if (!done[k].second.ok() && first_failed == done.size()) first_failed = k;
    if (k > first_failed) {
      EXPECT_FALSE(done[k].second.ok()) << "unit " << k << " reported durable after a failed fsync";
    }
  }
  ASSERT_LT(first_failed, done.size());
  EXPECT_EQ(done[first_failed].second.code(), StatusCode::kUnavailable);
  EXPECT_TRUE(store->Close().ok());
}

// No thread hand-off between the commit and its fsync (issue #5: a wake-up
// per batch on the acknowledgement's path): the worker that ran a batch
// fdatasyncs the WAL and completes it itself. Submitted one at a time, no
// other fsync can cover the batch, so its Done runs on its Work's thread.
TEST(StoreSeveralSyncThreads, ABatchIsSyncedAndCompletedByTheThreadThatCommittedIt) {
  TempDir dir;
  SqliteStoreOptions options;
  options.path = dir.File("s.db");
  options.sync_threads = 4;
  auto store = OpenOrDie(std::move(options));
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->pipelined_sync());
  for (int i = 0; i < 20; ++i) {
    std::thread::id worked;
    std::promise<std::thread::id> completed;
    store->Submit(
        [&worked, i](Transaction& txn) -> Status {
          worked = std::this_thread::get_id();
          Result<bool> r = txn.InsertInbox(testing::Event("test", "t" + std::to_string(i)));
          return r.ok() ? Status::Ok() : r.status();
        },
        [&completed](const Status& s) {
          EXPECT_TRUE(s.ok()) << s.ToString();
          completed.set_value(std::this_thread::get_id());
        });
    EXPECT_EQ(completed.get_future().get(), worked) << "submission " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Modes, StorePipelinedSync, ::testing::Bool(), [](const auto& param_info) {
  return param_info.param ? "Pipelined" : "FullSync";
});

}  // namespace
}  // namespace consentd::store
