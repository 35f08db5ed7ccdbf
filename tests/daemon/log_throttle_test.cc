// LogThrottle (daemon/log_throttle.h): the first event of a spell is
// logged, the rest of the period is held back and counted, and the next
// line logged says how many were.
#include "daemon/log_throttle.h"

#include <gtest/gtest.h>

#include <chrono>

namespace consentd::daemon {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(LogThrottleTest, OneLinePerPeriodSayingHowManyWereHeldBack) {
  LogThrottle log(seconds(10));
  const LogThrottle::Clock::time_point t0{seconds(1000)};
  EXPECT_EQ(log.Allow(t0), 0u);  // the first at once
  EXPECT_FALSE(log.Allow(t0).has_value());
  EXPECT_FALSE(log.Allow(t0 + seconds(5)).has_value());
  EXPECT_FALSE(log.Allow(t0 + seconds(10) - milliseconds(1)).has_value());
  EXPECT_EQ(log.Allow(t0 + seconds(10)), 3u);  // the period counts from the last line
  EXPECT_FALSE(log.Allow(t0 + seconds(19)).has_value());
  EXPECT_EQ(log.Allow(t0 + seconds(60)), 1u);
  EXPECT_EQ(log.Allow(t0 + seconds(120)), 0u);  // a quiet period: nothing held back
}

}  // namespace
}  // namespace consentd::daemon
