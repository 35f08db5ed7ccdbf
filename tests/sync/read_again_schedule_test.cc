// When hints of records a system failed on their own are read again
// (sync/read_again_schedule.h), with the clock passed in: the backoff per
// record, due times in steps, the listing's pass-over, the timer's wake-up.
#include "sync/read_again_schedule.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace consentd::sync {
namespace {

using Schedule = ReadAgainSchedule;
using std::chrono::milliseconds;
using TimePoint = Schedule::Clock::time_point;

// Not on a step, so rounding up shows.
const TimePoint kNow = TimePoint(std::chrono::seconds(1000) + milliseconds(17));

connectors::BackoffPolicy Policy(int base_ms, int cap_ms) {
  connectors::BackoffPolicy p;
  p.base = milliseconds(base_ms);
  p.cap = milliseconds(cap_ms);
  return p;
}

// The due time of the one hint deferred so far, as the timer sees it.
TimePoint OnlyDue(Schedule& s) {
  const Schedule::Wake w = s.Next(kNow);
  EXPECT_FALSE(w.any_due);
  EXPECT_TRUE(w.next.has_value());
  return w.next.value_or(kNow);
}

TEST(ReadAgainScheduleTest, ARecordIsCountedOnceHoweverManyOfItsHintsAndTheyComeDueTogether) {
  Schedule s;
  std::mt19937_64 rng(7);
  const Schedule::Deferral d =
      s.Defer({{"h1", "101"}, {"h2", "101"}, {"h3", "202"}}, kNow, Policy(1000, 1000), rng);
  EXPECT_EQ(d.records, 2u);
  EXPECT_EQ(s.deferred(), 3u);
  EXPECT_EQ(s.Attempts("101"), 1);
  EXPECT_EQ(s.Attempts("202"), 1);
  EXPECT_GE(d.first_delay, milliseconds(0));
  EXPECT_LE(d.first_delay, milliseconds(1000));

  // h1 and h2 name one record: listed from the same step on (due times
  // are on steps of kStep, so stepping by it finds each one's first).
  auto first_listed = [&s](const std::string& id) {
    for (TimePoint t = kNow;; t += Schedule::kStep) {
      if (!s.PassOver(id, t)) return t;
    }
  };
  EXPECT_EQ(first_listed("h1"), first_listed("h2"));
  EXPECT_EQ(s.deferred(), 1u);  // h3
}

TEST(ReadAgainScheduleTest, DueTimesAreRoundedUpToStepsAndNeverBeforeTheBackoff) {
  for (std::uint64_t seed = 1; seed <= 50; ++seed) {
    Schedule s;
    std::mt19937_64 rng(seed);
    const Schedule::Deferral d = s.Defer({{"h", "101"}}, kNow, Policy(1000, 1000), rng);
    const TimePoint due = OnlyDue(s);
    EXPECT_GE(due, kNow + d.first_delay) << "seed " << seed;
    EXPECT_LT(due, kNow + d.first_delay + Schedule::kStep) << "seed " << seed;
    EXPECT_EQ(due.time_since_epoch() % Schedule::Clock::duration(Schedule::kStep),
              Schedule::Clock::duration(0))
        << "seed " << seed;
  }
}

TEST(ReadAgainScheduleTest, EachFailedReadInARowWidensTheWindowUpToTheCap) {
  // 200 records each failed once: every delay within base (1 s). The same
  // records failed four times more: the window is the 4 s cap, so some
  // wait longer than 1 s, none longer than 4 s.
  Schedule s;
  std::mt19937_64 rng(11);
  const connectors::BackoffPolicy policy = Policy(1000, 4000);
  auto longest_delay = [&](int round) {
    milliseconds longest{0};
    for (int i = 0; i < 200; ++i) {
      const std::string key = std::to_string(i);
      const Schedule::Deferral d =
          s.Defer({{"h" + key + "-" + std::to_string(round), key}}, kNow, policy, rng);
      longest = std::max(longest, d.first_delay);
    }
    return longest;
  };
  EXPECT_LE(longest_delay(1), milliseconds(1000));
  for (int round = 2; round <= 4; ++round) longest_delay(round);
  const milliseconds fifth = longest_delay(5);
  EXPECT_EQ(s.Attempts("0"), 5);
  EXPECT_GT(fifth, milliseconds(1000));
  EXPECT_LE(fifth, milliseconds(4000));
}

TEST(ReadAgainScheduleTest, AListingPassesOverAHintUntilItIsDueThenReadsIt) {
  Schedule s;
  std::mt19937_64 rng(3);
  s.Defer({{"h", "101"}}, kNow, Policy(1000, 1000), rng);
  const TimePoint due = OnlyDue(s);
  EXPECT_FALSE(s.PassOver("another hint", kNow));
  EXPECT_TRUE(s.PassOver("h", kNow));
  EXPECT_TRUE(s.PassOver("h", due - std::chrono::nanoseconds(1)));
  EXPECT_EQ(s.deferred(), 1u);
  EXPECT_FALSE(s.PassOver("h", due));
  EXPECT_EQ(s.deferred(), 0u);  // read now; a failure defers it again
  EXPECT_FALSE(s.PassOver("h", kNow));
  // The record's count is kept until a read answers for it.
  EXPECT_EQ(s.Attempts("101"), 1);
}

TEST(ReadAgainScheduleTest, TheTimerWakesForTheEarliestDueTimeStillAheadAndListsThoseDue) {
  Schedule s;
  EXPECT_FALSE(s.Next(kNow).any_due);
  EXPECT_FALSE(s.Next(kNow).next.has_value());

  std::mt19937_64 rng(5);
  s.Defer({{"soon", "1"}}, kNow, Policy(1000, 1000), rng);
  const TimePoint soon = OnlyDue(s);
  // Another record failed 10 s later: due after the first.
  s.Defer({{"late", "2"}}, kNow + std::chrono::seconds(10), Policy(1000, 1000), rng);
  EXPECT_EQ(s.Next(kNow).next, soon);

  // Between the two: one is due (list now), the timer waits for the other.
  const Schedule::Wake between = s.Next(soon);
  EXPECT_TRUE(between.any_due);
  ASSERT_TRUE(between.next.has_value());
  const TimePoint late = *between.next;
  EXPECT_GE(late, kNow + std::chrono::seconds(10));
  // Both past: listed now, no timer (a due time past would fire at once,
  // for ever).
  const Schedule::Wake after = s.Next(late);
  EXPECT_TRUE(after.any_due);
  EXPECT_FALSE(after.next.has_value());
}

TEST(ReadAgainScheduleTest, AHintLeftUnlistedAnHourPastItsTimeIsForgotten) {
  Schedule s;
  std::mt19937_64 rng(9);
  s.Defer({{"h", "101"}}, kNow, Policy(1000, 1000), rng);
  const TimePoint due = OnlyDue(s);
  s.Next(due + Schedule::kForgetAfter);
  EXPECT_EQ(s.deferred(), 1u);
  const Schedule::Wake w = s.Next(due + Schedule::kForgetAfter + milliseconds(1));
  EXPECT_EQ(s.deferred(), 0u);
  EXPECT_FALSE(w.any_due);
  EXPECT_FALSE(w.next.has_value());
}

TEST(ReadAgainScheduleTest, ARecordReadAgainStartsItsBackoffAfresh) {
  Schedule s;
  std::mt19937_64 rng(1);
  for (int i = 0; i < 3; ++i) {
    s.Defer({{"a" + std::to_string(i), "101"}, {"b" + std::to_string(i), "address:b@example.org"}},
            kNow, Policy(1000, 1000), rng);
  }
  EXPECT_EQ(s.Attempts("101"), 3);
  EXPECT_EQ(s.Attempts("address:b@example.org"), 3);
  connectors::InboundRecord by_id;
  by_id.system_id = "101";
  connectors::InboundRecord by_address;
  by_address.email = "b@example.org";
  s.Forget({by_id, by_address});
  EXPECT_EQ(s.Attempts("101"), 0);
  EXPECT_EQ(s.Attempts("address:b@example.org"), 0);
}

TEST(ReadAgainScheduleTest, CountsAreBoundedButNoHintIsDropped) {
  Schedule s;
  std::mt19937_64 rng(2);
  const std::size_t n = Schedule::kMaxCountedRecords + 1;
  char key[16];
  for (std::size_t i = 0; i < n; ++i) {
    std::snprintf(key, sizeof key, "r%05zu", i);
    s.Defer({{std::string("h") + key, key}}, kNow, Policy(1000, 1000), rng);
  }
  EXPECT_EQ(s.deferred(), n);
  EXPECT_EQ(s.Attempts("r00000"), 0);  // one count forgotten for the newest
  EXPECT_EQ(s.Attempts("r00001"), 1);
  std::snprintf(key, sizeof key, "r%05zu", n - 1);
  EXPECT_EQ(s.Attempts(key), 1);
}

}  // namespace
}  // namespace consentd::sync
