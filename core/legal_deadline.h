// The legal deadline of a data-subject request: GDPR Art. 12(3) gives one
// month from receipt (Swiss nDSG: 30 days, which one calendar month always
// covers or equals except in February, where the month is shorter). A month is
// counted as a calendar month in UTC: the same day and time one month
// later, or the last day of that month when it has no such day (a request
// of 31 January is due on 28 or 29 February). Pure.
#pragma once

#include "core/clock.h"

namespace consentd {

TimestampMs OneMonthAfter(TimestampMs received_at);

// True if `deadline` has passed at `now`.
inline bool IsOverdue(TimestampMs deadline, TimestampMs now) { return now > deadline; }

}  // namespace consentd
