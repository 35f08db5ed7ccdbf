#include "daemon/watchdog.h"

#include <gtest/gtest.h>

namespace consentd::daemon {
namespace {

using namespace std::chrono_literals;
using TimePoint = WatchdogGate::TimePoint;

TEST(WatchdogGate, PingsWhileTheStoreHeartbeatGrows) {
  const TimePoint t0{};
  WatchdogGate gate(10s, 1, t0);
  EXPECT_TRUE(gate.MayPing(1, t0 + 5s));
  EXPECT_TRUE(gate.MayPing(2, t0 + 12s));
  EXPECT_TRUE(gate.MayPing(3, t0 + 24s));
}

TEST(WatchdogGate, WithholdsOnceTheStoreIsStuckLongerThanOneInterval) {
  const TimePoint t0{};
  WatchdogGate gate(10s, 7, t0);
  EXPECT_TRUE(gate.MayPing(7, t0 + 10s));   // not yet longer than the interval
  EXPECT_FALSE(gate.MayPing(7, t0 + 11s));  // stuck
  EXPECT_EQ(gate.StalledFor(t0 + 11s), 11s);
  EXPECT_FALSE(gate.MayPing(7, t0 + 30s));
  EXPECT_TRUE(gate.MayPing(8, t0 + 31s));  // progress again
}

}  // namespace
}  // namespace consentd::daemon
