// Group commit on the store thread: many submitters, one transaction per
// batch, failures isolated per submission, bounded queue, clean shutdown.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <latch>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "store_test_util.h"

namespace consentd::store {
namespace {

using testing::Event;
using testing::OpenOrDie;
using testing::TempDir;

// Holds the store thread inside a unit of work until Release(), so that
// later submissions queue up and form one batch, deterministically.
class StoreThreadGate {
 public:
  Work HoldWork() {
    return [this](Transaction&) -> Status {
      entered_.count_down();
      released_.wait();
      return Status::Ok();
    };
  }
  void WaitUntilHeld() { entered_.wait(); }
  void Release() { released_.count_down(); }

 private:
  std::latch entered_{1};
  std::latch released_{1};
};

Work InsertEvent(std::string id) {
  return [id = std::move(id)](Transaction& txn) -> Status {
    Result<bool> fresh = txn.InsertInbox(Event("test", id));
    if (!fresh.ok()) return fresh.status();
    return *fresh ? Status::Ok() : AlreadyExists("duplicate " + id);
  };
}

// Counts inbox rows of source "test" that exist among `ids`.
int CountPresent(Store& store, const std::vector<std::string>& ids) {
  int present = 0;
  Status s = store.Run([&](Transaction& txn) -> Status {
    for (const std::string& id : ids) {
      Result<bool> fresh = txn.InsertInbox(Event("test", id));
      if (!fresh.ok()) return fresh.status();
      if (!*fresh) ++present;
    }
    return FailedPrecondition("probe only: roll back");
  });
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  return present;
}

TEST(StoreGroupCommit, ConcurrentSubmittersAllCommitExactlyTheirWork) {
  TempDir dir;
  auto store = OpenOrDie(dir.File("s.db"));
  ASSERT_NE(store, nullptr);
  constexpr int kThreads = 32;
  constexpr int kPerThread = 150;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        Status s = store->Run(InsertEvent(std::to_string(t) + "-" + std::to_string(i)));
        if (!s.ok()) ++failures;
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  ASSERT_TRUE(store->Close().ok());

  auto reopened = OpenOrDie(dir.File("s.db"));
  std::vector<std::string> ids;
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPerThread; ++i) ids.push_back(std::to_string(t) + "-" + std::to_string(i));
  }
  EXPECT_EQ(CountPresent(*reopened, ids), kThreads * kPerThread);
}

TEST(StoreGroupCommit, QueuedSubmissionsShareOneCommit) {
  TempDir dir;
  auto store = OpenOrDie(dir.File("s.db"));
  StoreThreadGate gate;
  std::future<Status> held = store->Submit(gate.HoldWork());
  gate.WaitUntilHeld();
  std::vector<std::future<Status>> queued;
  for (int i = 0; i < 100; ++i) queued.push_back(store->Submit(InsertEvent(std::to_string(i))));
  EXPECT_EQ(store->stats().queued, 100u);
  gate.Release();
  EXPECT_TRUE(held.get().ok());
  for (auto& f : queued) EXPECT_TRUE(f.get().ok());
  StoreStats stats = store->stats();
  EXPECT_EQ(stats.batches, 2u);  // the held one, then all 100 together
  EXPECT_EQ(stats.submissions, 101u);
}

TEST(StoreGroupCommit, FailingSubmissionIsRolledBackAloneWithinItsBatch) {
  TempDir dir;
  auto store = OpenOrDie(dir.File("s.db"));
  StoreThreadGate gate;
  std::future<Status> held = store->Submit(gate.HoldWork());
  gate.WaitUntilHeld();

  std::future<Status> before = store->Submit(InsertEvent("before"));
  std::future<Status> failing = store->Submit([](Transaction& txn) -> Status {
    Result<bool> r = txn.InsertInbox(Event("test", "failing"));
    if (!r.ok()) return r.status();
    return InvalidArgument("rejected after writing");
  });
  std::future<Status> throwing = store->Submit([](Transaction& txn) -> Status {
    Result<bool> r = txn.InsertInbox(Event("test", "throwing"));
    if (!r.ok()) return r.status();
    throw std::runtime_error("bug in a unit of work");
  });
  std::future<Status> after = store->Submit(InsertEvent("after"));
  gate.Release();

  EXPECT_TRUE(held.get().ok());
  EXPECT_TRUE(before.get().ok());
  EXPECT_EQ(failing.get().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(throwing.get().code(), StatusCode::kInternal);
  EXPECT_TRUE(after.get().ok());
  EXPECT_EQ(store->stats().batches, 2u) << "all four ran in one transaction";
  EXPECT_EQ(CountPresent(*store, {"before", "after"}), 2);
  EXPECT_EQ(CountPresent(*store, {"failing", "throwing"}), 0);
}

TEST(StoreGroupCommit, FailedCommitFailsEverySubmissionOfTheBatchRetryably) {
  TempDir dir;
  { OpenOrDie(dir.File("s.db")); }  // migrate without faults
  // COMMIT #1 is the held batch's; #2, the batch of queued work, fails.
  FailAtCall fault(2, 10 /* SQLITE_IOERR */, FailAtCall::Mode::kTransient, "COMMIT",
                   SqliteOp::kStep);
  SqliteStoreOptions options;
  options.path = dir.File("s.db");
  options.faults = &fault;
  auto store = OpenOrDie(options);
  StoreThreadGate gate;
  std::future<Status> held = store->Submit(gate.HoldWork());
  gate.WaitUntilHeld();
  std::vector<std::future<Status>> queued;
  std::vector<std::string> ids;
  for (int i = 0; i < 20; ++i) {
    ids.push_back("q" + std::to_string(i));
    queued.push_back(store->Submit(InsertEvent(ids.back())));
  }
  gate.Release();
  EXPECT_TRUE(held.get().ok());
  for (auto& f : queued) {
    Status s = f.get();
    EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
    EXPECT_TRUE(s.IsRetryable());
  }
  EXPECT_EQ(fault.failures(), 1);
  EXPECT_EQ(CountPresent(*store, ids), 0);
  // The sender retries: now it commits.
  for (const std::string& id : ids) EXPECT_TRUE(store->Run(InsertEvent(id)).ok());
  EXPECT_EQ(CountPresent(*store, ids), 20);
}

TEST(StoreGroupCommit, FullQueueAnswersOverloaded) {
  TempDir dir;
  SqliteStoreOptions options;
  options.path = dir.File("s.db");
  options.queue_capacity = 4;
  auto store = OpenOrDie(options);
  StoreThreadGate gate;
  std::future<Status> held = store->Submit(gate.HoldWork());
  gate.WaitUntilHeld();
  std::vector<std::future<Status>> queued;
  for (int i = 0; i < 4; ++i) queued.push_back(store->Submit(InsertEvent(std::to_string(i))));
  Status overloaded = store->Submit(InsertEvent("one too many")).get();
  EXPECT_EQ(overloaded.code(), StatusCode::kResourceExhausted);
  EXPECT_TRUE(overloaded.IsRetryable());
  gate.Release();
  EXPECT_TRUE(held.get().ok());
  for (auto& f : queued) EXPECT_TRUE(f.get().ok());
}

TEST(StoreGroupCommit, CloseDrainsQueuedWorkCommitsAndThenRefuses) {
  TempDir dir;
  auto store = OpenOrDie(dir.File("s.db"));
  EXPECT_TRUE(store->IsOpen());
  StoreThreadGate gate;
  std::future<Status> held = store->Submit(gate.HoldWork());
  gate.WaitUntilHeld();
  std::vector<std::future<Status>> queued;
  std::vector<std::string> ids;
  for (int i = 0; i < 50; ++i) {
    ids.push_back(std::to_string(i));
    queued.push_back(store->Submit(InsertEvent(ids.back())));
  }
  std::future<Status> closed = std::async(std::launch::async, [&] { return store->Close(); });
  gate.Release();
  EXPECT_TRUE(closed.get().ok());
  for (auto& f : queued) EXPECT_TRUE(f.get().ok());
  EXPECT_FALSE(store->IsOpen());
  EXPECT_EQ(store->Run(InsertEvent("late")).code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(store->Close().ok()) << "Close is idempotent";

  auto reopened = OpenOrDie(dir.File("s.db"));
  EXPECT_EQ(CountPresent(*reopened, ids), 50);
}

TEST(StoreGroupCommit, NonDurableWorkCommitsToo) {
  TempDir dir;
  auto store = OpenOrDie(dir.File("s.db"));
  EXPECT_TRUE(store->Run(InsertEvent("relaxed"), SubmitOptions{.durable = false}).ok());
  EXPECT_TRUE(store->Run(InsertEvent("durable")).ok());
  ASSERT_TRUE(store->Close().ok());
  auto reopened = OpenOrDie(dir.File("s.db"));
  EXPECT_EQ(CountPresent(*reopened, {"relaxed", "durable"}), 2);
}

TEST(StoreGroupCommit, HeartbeatGrowsWhileIdleAndStopsWhileTheStoreThreadIsStuck) {
  TempDir dir;
  SqliteStoreOptions options;
  options.path = dir.File("s.db");
  options.heartbeat_interval = std::chrono::milliseconds(5);
  auto store = OpenOrDie(options);
  const std::uint64_t start = store->Heartbeat();
  while (store->Heartbeat() == start) std::this_thread::sleep_for(std::chrono::milliseconds(1));

  StoreThreadGate gate;
  std::future<Status> held = store->Submit(gate.HoldWork());
  gate.WaitUntilHeld();
  const std::uint64_t stuck = store->Heartbeat();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // ten idle ticks' worth
  EXPECT_EQ(store->Heartbeat(), stuck);
  gate.Release();
  EXPECT_TRUE(held.get().ok());
}

}  // namespace
}  // namespace consentd::store
