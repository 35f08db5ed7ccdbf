// Faults injected through the SQLite port at call N, transient and
// persistent (STYLE habit 10): a unit of work is all or nothing, the error
// is retryable, and the store recovers once the fault is gone.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <optional>
#include <string>

#include "store_test_util.h"

namespace consentd::store {
namespace {

using testing::Event;
using testing::OpenOrDie;
using testing::TempDir;

// One webhook's unit of work: inbox + state + outbox + cursor.
Work IngestUnit(const std::string& id) {
  return [id](Transaction& txn) -> Status {
    Result<bool> fresh = txn.InsertInbox(Event("hubspot", id));
    if (!fresh.ok()) return fresh.status();
    if (!*fresh) return Status::Ok();  // duplicate: acknowledged, nothing to do
    ConsentRow row;
    row.key = {"subject-" + id, "newsletter", "email", ""};
    row.status = "granted";
    row.occurred_at = 10;
    row.updated_at = 11;
    CONSENTD_RETURN_IF_ERROR(txn.Upsert(row));
    OutboxRow out;
    out.target = "mailchimp";
    out.key = row.key.subject_id;
    out.desired_json = R"({"status":"subscribed"})";
    out.idempotency_key = "idem-" + id;
    out.next_attempt_at = 10;
    out.created_at = 10;
    Result<std::int64_t> enq = txn.Enqueue(out);
    if (!enq.ok()) return enq.status();
    return txn.AdvanceCursor("hubspot", "after-" + id, 10);
  };
}

struct Effects {
  bool inbox = false, state = false, cursor = false;
  std::int64_t outbox = 0;
};

Effects Observe(Store& store, const std::string& id) {
  Effects e;
  Status s = store.Run([&](Transaction& txn) -> Status {
    Result<bool> fresh = txn.InsertInbox(Event("hubspot", id));
    if (!fresh.ok()) return fresh.status();
    e.inbox = !*fresh;
    Result<std::optional<ConsentRow>> c =
        txn.GetConsent({"subject-" + id, "newsletter", "email", ""});
    if (!c.ok()) return c.status();
    e.state = c->has_value();
    Result<std::int64_t> n = txn.CountOutbox(OutboxStatus::kPending);
    if (!n.ok()) return n.status();
    e.outbox = *n;
    Result<std::optional<std::string>> cur = txn.GetCursor("hubspot");
    if (!cur.ok()) return cur.status();
    e.cursor = *cur == std::optional<std::string>("after-" + id);
    return FailedPrecondition("probe only: roll back");
  });
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  return e;
}

void ExpectAll(const Effects& e) {
  EXPECT_TRUE(e.inbox && e.state && e.cursor);
  EXPECT_EQ(e.outbox, 1);
}
void ExpectNone(const Effects& e) {
  EXPECT_FALSE(e.inbox || e.state || e.cursor);
  EXPECT_EQ(e.outbox, 0);
}

TEST(StoreFaults, TransientStepFailureFailsOnlyThatSubmission) {
  TempDir dir;
  { OpenOrDie(dir.File("s.db")); }
  FailAtCall fault(3, SQLITE_IOERR, FailAtCall::Mode::kTransient, "INSERT INTO inbox",
                   SqliteOp::kStep);
  SqliteStoreOptions options;
  options.path = dir.File("s.db");
  options.faults = &fault;
  auto store = OpenOrDie(options);
  for (int i = 1; i <= 5; ++i) {
    Status s = store->Run(IngestUnit(std::to_string(i)));
    if (i == 3) {
      EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
    } else {
      EXPECT_TRUE(s.ok()) << i << ": " << s.ToString();
    }
  }
  EXPECT_FALSE(Observe(*store, "3").state);
  EXPECT_TRUE(Observe(*store, "4").state);
  EXPECT_TRUE(store->Run(IngestUnit("3")).ok()) << "a retry succeeds";
  EXPECT_TRUE(Observe(*store, "3").state);
}

TEST(StoreFaults, BusyDatabaseIsARetryableError) {
  TempDir dir;
  { OpenOrDie(dir.File("s.db")); }
  FailAtCall fault(1, SQLITE_BUSY, FailAtCall::Mode::kTransient, "BEGIN", SqliteOp::kStep);
  SqliteStoreOptions options;
  options.path = dir.File("s.db");
  options.faults = &fault;
  auto store = OpenOrDie(options);
  Status first = store->Run(IngestUnit("a"));
  EXPECT_EQ(first.code(), StatusCode::kUnavailable) << first.ToString();
  EXPECT_TRUE(first.IsRetryable());
  ExpectNone(Observe(*store, "a"));
  EXPECT_TRUE(store->Run(IngestUnit("a")).ok());
  ExpectAll(Observe(*store, "a"));
}

TEST(StoreFaults, PersistentIoErrorFailsEveryCommitUntilTheDiskRecovers) {
  TempDir dir;
  { OpenOrDie(dir.File("s.db")); }
  FailAtCall fault(1, SQLITE_IOERR, FailAtCall::Mode::kPersistent, "COMMIT", SqliteOp::kStep);
  SqliteStoreOptions options;
  options.path = dir.File("s.db");
  options.faults = &fault;
  options.heartbeat_interval = std::chrono::milliseconds(5);
  auto store = OpenOrDie(options);
  for (int i = 0; i < 5; ++i) {
    Status s = store->Run(IngestUnit("p" + std::to_string(i)));
    EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
  }
  EXPECT_TRUE(store->IsOpen());
  fault.Disarm();
  ExpectNone(Observe(*store, "p0"));
  EXPECT_TRUE(store->Run(IngestUnit("p0")).ok());
  ExpectAll(Observe(*store, "p0"));
}

// The SQLite way: run the same unit with a fault at call 1, 2, 3, ... until
// the unit makes fewer calls than N. Whatever call fails, the unit is all
// or nothing, the failure is reported, and the store still works after.
class FaultAtEveryCall : public ::testing::TestWithParam<FailAtCall::Mode> {};

TEST_P(FaultAtEveryCall, UnitOfWorkIsAllOrNothing) {
  for (std::int64_t n = 1;; ++n) {
    SCOPED_TRACE("fault at call " + std::to_string(n));
    TempDir dir;
    FailAtCall fault(n, SQLITE_IOERR, GetParam());
    SqliteStoreOptions options;
    options.path = dir.File("s.db");
    options.faults = &fault;
    Result<std::unique_ptr<SqliteStore>> opened = SqliteStore::Open(options);
    Status s = opened.ok() ? (*opened)->Run(IngestUnit("x")) : opened.status();
    if (opened.ok()) {
      ASSERT_TRUE((*opened)->Close().ok());
    }
    const bool fault_fired = fault.failures() > 0;
    EXPECT_EQ(s.ok(), !fault_fired) << s.ToString();
    if (!s.ok()) {
      EXPECT_TRUE(s.IsRetryable()) << s.ToString();
    }

    auto store = OpenOrDie(dir.File("s.db"));  // the fault is gone
    ASSERT_NE(store, nullptr);
    Effects e = Observe(*store, "x");
    if (s.ok()) {
      ExpectAll(e);
    } else if (fault.first_failure_was_wal_sync()) {
      // The commit reached the WAL, but its fdatasync failed: it was not
      // acknowledged and may or may not be on disk; still all or nothing,
      // and the sender's retry is recognised (or stored) either way.
      EXPECT_TRUE((e.inbox && e.state && e.cursor && e.outbox == 1) ||
                  (!e.inbox && !e.state && !e.cursor && e.outbox == 0));
      EXPECT_TRUE(store->Run(IngestUnit("x")).ok());
      ExpectAll(Observe(*store, "x"));
    } else {
      ExpectNone(e);
      EXPECT_TRUE(store->Run(IngestUnit("x")).ok());
      ExpectAll(Observe(*store, "x"));
    }
    if (!fault_fired) {  // the unit needed fewer than n calls: all covered
      RecordProperty("calls_covered", static_cast<int>(n - 1));
      EXPECT_GT(n, 20) << "suspiciously few SQLite calls: is the port wired in?";
      break;
    }
    ASSERT_LT(n, 500) << "runaway";
  }
}

INSTANTIATE_TEST_SUITE_P(StoreFaults, FaultAtEveryCall,
                         ::testing::Values(FailAtCall::Mode::kTransient,
                                           FailAtCall::Mode::kPersistent),
                         [](const auto& param_info) {
                           return param_info.param == FailAtCall::Mode::kTransient ? "Transient"
                                                                                   : "Persistent";
                         });

}  // namespace
}  // namespace consentd::store
