// Outbox depth per target (store/outbox_stats.h) on a real SQLite store:
// pending, inflight and dead rows are counted per target, done rows are
// not, and the oldest pending row's creation time gives the delivery lag.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "store/outbox_stats.h"
#include "store_test_util.h"

namespace consentd::store {
namespace {

using testing::OpenOrDie;
using testing::TempDir;

class StoreOutboxStatsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = OpenOrDie(dir_.File("store.db"));
    ASSERT_NE(store_, nullptr);
  }
  static OutboxRow Row(std::string target, std::string key, TimestampMs at) {
    OutboxRow r;
    r.target = std::move(target);
    r.key = key;
    r.desired_json = R"({"status":"granted"})";
    r.idempotency_key = r.target + "/" + key;
    r.next_attempt_at = at;
    r.created_at = at;
    return r;
  }
  std::vector<TargetOutboxStats> Stats() {
    std::vector<TargetOutboxStats> out;
    Status s = store_->Run([&](Transaction& txn) -> Status {
      Result<std::vector<TargetOutboxStats>> r = ListOutboxStats(txn);
      if (!r.ok()) return r.status();
      out = std::move(*r);
      return Status::Ok();
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out;
  }

  TempDir dir_;
  std::unique_ptr<SqliteStore> store_;
};

TEST_F(StoreOutboxStatsTest, EmptyOutboxHasNoTargets) { EXPECT_TRUE(Stats().empty()); }

TEST_F(StoreOutboxStatsTest, CountsUndeliveredRowsPerTargetAndIgnoresDoneRows) {
  Status s = store_->Run([](Transaction& txn) -> Status {
    // mailchimp: a (pending, created 300), b (pending, created 200),
    // c (claimed -> inflight), d (dead), e (done).
    for (auto [key, at] : std::vector<std::pair<std::string, TimestampMs>>{
             {"c", 100}, {"d", 110}, {"e", 120}, {"b", 200}, {"a", 300}}) {
      Result<std::int64_t> id = txn.Enqueue(Row("mailchimp", key, at));
      if (!id.ok()) return id.status();
    }
    // Claim the three oldest due rows (c, d, e) at t=150.
    Result<std::vector<OutboxRow>> claimed = txn.ClaimOutbox("mailchimp", 150, 3, 10'000);
    if (!claimed.ok()) return claimed.status();
    if (claimed->size() != 3) return Internal("expected 3 claimed rows");
    CONSENTD_RETURN_IF_ERROR(txn.MarkDead((*claimed)[1].id, "400 invalid", 160));
    CONSENTD_RETURN_IF_ERROR(txn.MarkDone((*claimed)[2].id, 160));
    // hubspot: one pending row.
    Result<std::int64_t> id = txn.Enqueue(Row("hubspot", "x", 400));
    return id.ok() ? Status::Ok() : id.status();
  });
  ASSERT_TRUE(s.ok()) << s.ToString();

  std::vector<TargetOutboxStats> stats = Stats();
  ASSERT_EQ(stats.size(), 2u);
  EXPECT_EQ(stats[0].target, "hubspot");
  EXPECT_EQ(stats[0].pending, 1);
  EXPECT_EQ(stats[0].oldest_pending_created_at, 400);
  EXPECT_EQ(stats[1].target, "mailchimp");
  EXPECT_EQ(stats[1].pending, 2);
  EXPECT_EQ(stats[1].inflight, 1);
  EXPECT_EQ(stats[1].dead, 1);
  EXPECT_EQ(stats[1].oldest_pending_created_at, 200);
}

TEST_F(StoreOutboxStatsTest, TargetWithOnlyDeadRowsHasNoOldestPending) {
  Status s = store_->Run([](Transaction& txn) -> Status {
    Result<std::int64_t> id = txn.Enqueue(Row("mailchimp", "a", 100));
    if (!id.ok()) return id.status();
    return txn.MarkDead(*id, "permanent", 200);
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  std::vector<TargetOutboxStats> stats = Stats();
  ASSERT_EQ(stats.size(), 1u);
  EXPECT_EQ(stats[0].dead, 1);
  EXPECT_EQ(stats[0].pending, 0);
  EXPECT_FALSE(stats[0].oldest_pending_created_at.has_value());
}

}  // namespace
}  // namespace consentd::store
