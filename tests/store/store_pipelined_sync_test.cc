// Pipelined durability (store/sqlite_store.h): the store thread commits
// without waiting for the disk and the sync thread completes batches after
// the WAL's fdatasync. Done callbacks must still come in commit order,
// Close must complete everything committed, and both modes behave alike.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <future>
#include <mutex>
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
  std::mutex mu;
  std::vector<int> order;
  std::promise<void> all_done;
  for (int i = 0; i < kUnits; ++i) {
    store->Submit(
        [i](Transaction& txn) -> Status {
          Result<bool> r = txn.InsertInbox(testing::Event("test", "e" + std::to_string(i)));
          return r.ok() ? Status::Ok() : r.status();
        },
        [&, i](const Status& s) {
          EXPECT_TRUE(s.ok()) << s.ToString();
          std::lock_guard lock(mu);
          order.push_back(i);
          if (order.size() == kUnits) all_done.set_value();
        },
        // Every third unit need not be durable: it rides with the others.
        SubmitOptions{.durable = i % 3 != 0});
  }
  all_done.get_future().wait();
  std::vector<int> expected(kUnits);
  for (int i = 0; i < kUnits; ++i) expected[static_cast<std::size_t>(i)] = i;
  EXPECT_EQ(order, expected);
  EXPECT_GT(store->stats().batches, 1u) << "the units should have spanned several batches";
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
  // The fault was transient, yet nothing runs any more: a restart is needed.
  bool ran = false;
  Status later = store->Run([&](Transaction&) {
    ran = true;
    return Status::Ok();
  });
  EXPECT_EQ(later.code(), StatusCode::kUnavailable) << later.ToString();
  EXPECT_NE(later.message().find("restart"), std::string::npos) << later.ToString();
  EXPECT_FALSE(ran);
  EXPECT_TRUE(store->Close().ok());
}

INSTANTIATE_TEST_SUITE_P(Modes, StorePipelinedSync, ::testing::Bool(), [](const auto& param_info) {
  return param_info.param ? "Pipelined" : "FullSync";
});

}  // namespace
}  // namespace consentd::store
