#include "core/legal_deadline.h"

#include <chrono>

namespace consentd {

TimestampMs OneMonthAfter(TimestampMs received_at) {
  using namespace std::chrono;
  const sys_time<milliseconds> t{milliseconds(received_at)};
  const sys_days day = floor<days>(t);
  const milliseconds time_of_day = t - day;
  year_month_day ymd{day};
  year_month_day next = ymd + months(1);
  if (!next.ok()) next = year_month_day_last(next.year(), month_day_last(next.month()));
  return (sys_days(next) + time_of_day).time_since_epoch().count();
}

}  // namespace consentd
