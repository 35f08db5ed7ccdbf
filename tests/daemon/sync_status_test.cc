// The status page's bookkeeping (daemon/sync_status.h): events per minute
// are counted to the second, delivery health follows consecutive failures,
// the recent-decisions ring keeps the last 50 lines with addresses masked,
// and the rate-limit window covers what was sent since the oldest sample
// within the last minute.
#include "daemon/sync_status.h"

#include <gtest/gtest.h>

namespace consentd::daemon {
namespace {

TEST(SyncStatus, MinuteCounterCountsOnlyTheLastSixtySeconds) {
  MinuteCounter c;
  c.Add(1'000'000);
  c.Add(1'030'500, 2);
  EXPECT_EQ(c.LastMinute(1'030'999), 3);
  EXPECT_EQ(c.LastMinute(1'059'999), 3);
  EXPECT_EQ(c.LastMinute(1'060'000), 2);  // the first event's second left the window
  EXPECT_EQ(c.LastMinute(1'091'000), 0);
  c.Add(1'120'000);  // reuses the first event's bucket, a minute later
  EXPECT_EQ(c.LastMinute(1'120'000), 1);
}

TEST(SyncStatus, DeliveryHealthFollowsConsecutiveFailures) {
  EXPECT_STREQ(DeliveryHealth(0), "healthy");
  EXPECT_STREQ(DeliveryHealth(1), "degraded");
  EXPECT_STREQ(DeliveryHealth(kFailingAfter - 1), "degraded");
  EXPECT_STREQ(DeliveryHealth(kFailingAfter), "failing");
}

TEST(SyncStatus, RecentDecisionsKeepTheLastFiftyWithAddressesMasked) {
  RecentDecisions r;
  for (int i = 0; i < 60; ++i)
    r.Add(i, "hubspot: s-1 consent x/email: applied #" + std::to_string(i));
  r.Add(99, "mailchimp: jane.doe@example.com refused");
  ASSERT_EQ(r.items().size(), RecentDecisions::kCapacity);
  EXPECT_EQ(r.total(), 61u);
  EXPECT_EQ(r.items().back().number, 61u);
  EXPECT_EQ(r.items().back().text.find("jane.doe@example.com"), std::string::npos);
  EXPECT_NE(r.items().back().text.find("@example.com"), std::string::npos);
  EXPECT_EQ(r.items().front().number, 12u);
}

TEST(SyncStatus, UnkeptDecisionsCountInTheTotalAndNumberTheNextOnes) {
  RecentDecisions r;
  r.Add(1, "hubspot: s-1 consent x/email: applied");
  r.CountUnkept(1000);
  r.Add(2, "hubspot: s-2 consent x/email: applied");
  EXPECT_EQ(r.total(), 1002u);
  ASSERT_EQ(r.items().size(), 2u);
  EXPECT_EQ(r.items().front().number, 1u);
  EXPECT_EQ(r.items().back().number, 1002u);
}

TEST(SyncStatus, RequestsInLastMinuteCountFromTheOldestSampleInsideTheWindow) {
  LinkActivity a;
  EXPECT_EQ(a.RequestsInLastMinute(100'000, 5), (std::pair<std::uint64_t, TimestampMs>{0, 0}));
  a.SampleRequests(100'000, 10);
  a.SampleRequests(130'000, 40);
  a.SampleRequests(165'000, 70);
  // At 170 s the 100 s sample is outside the minute: count from 130 s.
  EXPECT_EQ(a.RequestsInLastMinute(170'000, 75),
            (std::pair<std::uint64_t, TimestampMs>{35, 40'000}));
}

}  // namespace
}  // namespace consentd::daemon
