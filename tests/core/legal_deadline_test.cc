// The one-month deadline of a data-subject request (core/legal_deadline.h).
#include "core/legal_deadline.h"

#include <gtest/gtest.h>

#include <chrono>

namespace consentd {
namespace {

// Milliseconds of a UTC date and time.
TimestampMs At(int y, unsigned m, unsigned d, int hour = 0, int minute = 0) {
  using namespace std::chrono;
  const sys_days date{year(y) / month(m) / day(d)};
  return (date + hours(hour) + minutes(minute)).time_since_epoch() / milliseconds(1);
}

TEST(LegalDeadline, OneCalendarMonthLaterAtTheSameTime) {
  EXPECT_EQ(OneMonthAfter(At(2026, 11, 29, 19, 50)), At(2026, 12, 29, 19, 50));
  EXPECT_EQ(OneMonthAfter(At(2026, 12, 15, 8, 0)), At(2027, 1, 15, 8, 0));  // over the year end
}

TEST(LegalDeadline, AMissingDayIsTheLastDayOfThatMonth) {
  EXPECT_EQ(OneMonthAfter(At(2027, 1, 31, 12, 0)), At(2027, 2, 28, 12, 0));
  EXPECT_EQ(OneMonthAfter(At(2028, 1, 31, 12, 0)), At(2028, 2, 29, 12, 0));  // leap year
  EXPECT_EQ(OneMonthAfter(At(2026, 3, 31)), At(2026, 4, 30));
}

TEST(LegalDeadline, OverdueOnlyAfterTheDeadline) {
  const TimestampMs deadline = OneMonthAfter(At(2026, 11, 29));
  EXPECT_FALSE(IsOverdue(deadline, deadline));
  EXPECT_TRUE(IsOverdue(deadline, deadline + 1));
}

}  // namespace
}  // namespace consentd
