// Consent counts over time (store/stats_history.h) on a real SQLite store:
// snapshots come back in time order, survive a reopen, and retention keeps
// every recent one, the first of each hour after that, nothing past a month.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "store/stats_history.h"
#include "store_test_util.h"

namespace consentd::store {
namespace {

using testing::OpenOrDie;
using testing::TempDir;

constexpr TimestampMs kMinute = 60 * 1000;
constexpr TimestampMs kHour = 60 * kMinute;
constexpr TimestampMs kDay = 24 * kHour;

class StoreStatsHistoryTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }
  void Open() {
    store_.reset();
    store_ = OpenOrDie(dir_.File("store.db"));
    ASSERT_NE(store_, nullptr);
  }
  void Record(TimestampMs at, const std::string& json) {
    Status s =
        store_->Run([&](Transaction& txn) -> Status { return RecordStatsSnapshot(txn, at, json); });
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  std::vector<TimestampMs> Times(TimestampMs since = 0, int limit = 10000) {
    std::vector<TimestampMs> out;
    Status s = store_->Run([&](Transaction& txn) -> Status {
      auto r = ListStatsSnapshots(txn, since, limit);
      if (!r.ok()) return r.status();
      for (const auto& p : *r) out.push_back(p.taken_at);
      return Status::Ok();
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out;
  }

  TempDir dir_;
  std::unique_ptr<SqliteStore> store_;
};

TEST_F(StoreStatsHistoryTest, SnapshotsComeBackInTimeOrderAndSurviveAReopen) {
  const TimestampMs t0 = 100 * kDay;
  Record(t0 + 30 * kMinute, R"([{"topic":"b"}])");
  Record(t0, R"([{"topic":"a"}])");
  Open();
  std::vector<StatsSnapshot> got;
  Status s = store_->Run([&](Transaction& txn) -> Status {
    auto r = ListStatsSnapshots(txn, 0, 10);
    if (!r.ok()) return r.status();
    got = *r;
    auto latest = LatestStatsSnapshotTime(txn);
    if (!latest.ok()) return latest.status();
    EXPECT_EQ(*latest, std::optional<TimestampMs>(t0 + 30 * kMinute));
    return Status::Ok();
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].taken_at, t0);
  EXPECT_EQ(got[0].topics_json, R"([{"topic":"a"}])");
  EXPECT_EQ(got[1].topics_json, R"([{"topic":"b"}])");
}

TEST_F(StoreStatsHistoryTest, EmptyHistoryHasNoLatestTime) {
  Status s = store_->Run([&](Transaction& txn) -> Status {
    auto latest = LatestStatsSnapshotTime(txn);
    if (!latest.ok()) return latest.status();
    EXPECT_FALSE(latest->has_value());
    return Status::Ok();
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(Times().empty());
}

TEST_F(StoreStatsHistoryTest, RetentionKeepsRecentThenHourlyThenNothingPastAMonth) {
  // Every 15 minutes for 32 days.
  const TimestampMs start = 1000 * kDay;
  const TimestampMs end = start + 32 * kDay;
  // One transaction (one fsync) for all ~3000 snapshots.
  Status s = store_->Run([&](Transaction& txn) -> Status {
    for (TimestampMs t = start; t <= end; t += 15 * kMinute) {
      CONSENTD_RETURN_IF_ERROR(RecordStatsSnapshot(txn, t, "[]"));
    }
    return Status::Ok();
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  const std::vector<TimestampMs> kept = Times();
  ASSERT_FALSE(kept.empty());
  EXPECT_GE(kept.front(), end - 30 * kDay);  // nothing older than a month
  EXPECT_EQ(kept.back(), end);
  int recent = 0;
  for (TimestampMs t : kept) {
    if (t >= end - 48 * kHour) {
      ++recent;
    } else {
      EXPECT_EQ(t % kHour, 0) << "only the first of each hour stays past 48 h: " << t;
    }
  }
  EXPECT_EQ(recent, 48 * 4 + 1);  // all of them, both ends included
  // 30 days of hourly points at most, plus the recent ones.
  EXPECT_LE(kept.size(), static_cast<std::size_t>(30 * 24 + recent));
  EXPECT_GE(kept.size(), static_cast<std::size_t>(27 * 24 + recent));
}

TEST_F(StoreStatsHistoryTest, ListHonoursSinceAndReturnsTheNewestWithinTheLimit) {
  for (int i = 0; i < 5; ++i) Record(kDay + i * kMinute, "[]");
  EXPECT_EQ(Times(kDay + 2 * kMinute),
            (std::vector<TimestampMs>{kDay + 2 * kMinute, kDay + 3 * kMinute, kDay + 4 * kMinute}));
  EXPECT_EQ(Times(0, 2), (std::vector<TimestampMs>{kDay + 3 * kMinute, kDay + 4 * kMinute}));
}

}  // namespace
}  // namespace consentd::store
