#include "connectors/common/retry_policy.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <ctime>
#include <limits>

namespace consentd::connectors {
namespace {

using std::chrono::milliseconds;

// min(cap, base * 2^(attempt-1)) without overflowing.
std::int64_t WindowMs(const BackoffPolicy& policy, int attempt) {
  const std::int64_t cap = std::max<std::int64_t>(0, policy.cap.count());
  std::int64_t window = std::max<std::int64_t>(0, policy.base.count());
  for (int i = 1; i < attempt && window < cap; ++i) {
    window = window > cap / 2 ? cap : window * 2;
  }
  return std::min(window, cap);
}

std::int64_t Uniform(std::int64_t lo, std::int64_t hi, std::mt19937_64& rng) {
  return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
}

// A tiny cursor over a header value for the fixed-layout HTTP-date forms.
class Scanner {
 public:
  explicit Scanner(std::string_view s) : s_(s) {}

  bool Literal(std::string_view lit) {
    if (!s_.starts_with(lit)) return false;
    s_.remove_prefix(lit.size());
    return true;
  }
  // Exactly `n` ASCII digits.
  bool Digits(int n, int* out) {
    if (s_.size() < static_cast<std::size_t>(n)) return false;
    int v = 0;
    for (int i = 0; i < n; ++i) {
      const char c = s_[static_cast<std::size_t>(i)];
      if (c < '0' || c > '9') return false;
      v = v * 10 + (c - '0');
    }
    s_.remove_prefix(static_cast<std::size_t>(n));
    *out = v;
    return true;
  }
  // A run of ASCII letters (possibly empty).
  std::string_view Letters() {
    std::size_t n = 0;
    while (n < s_.size() && ((s_[n] >= 'A' && s_[n] <= 'Z') || (s_[n] >= 'a' && s_[n] <= 'z'))) {
      ++n;
    }
    std::string_view word = s_.substr(0, n);
    s_.remove_prefix(n);
    return word;
  }
  bool AtEnd() const { return s_.empty(); }
  char Peek() const { return s_.empty() ? '\0' : s_.front(); }

 private:
  std::string_view s_;
};

constexpr std::array<std::string_view, 7> kShortDays = {"Mon", "Tue", "Wed", "Thu",
                                                        "Fri", "Sat", "Sun"};
constexpr std::array<std::string_view, 7> kLongDays = {
    "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"};
constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

template <std::size_t N>
bool OneOf(std::string_view word, const std::array<std::string_view, N>& names) {
  return std::find(names.begin(), names.end(), word) != names.end();
}

bool Month(Scanner& in, int* month) {
  const std::string_view word = in.Letters();
  const auto it = std::find(kMonths.begin(), kMonths.end(), word);
  if (it == kMonths.end()) return false;
  *month = static_cast<int>(it - kMonths.begin());
  return true;
}

bool TimeOfDay(Scanner& in, std::tm* tm) {
  return in.Digits(2, &tm->tm_hour) && in.Literal(":") && in.Digits(2, &tm->tm_min) &&
         in.Literal(":") && in.Digits(2, &tm->tm_sec);
}

int DaysInMonth(int year, int month0) {
  static constexpr std::array<int, 12> kDays = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month0 == 1 && leap ? 29 : kDays[static_cast<std::size_t>(month0)];
}

std::string_view TrimSpace(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::optional<std::int64_t> ParseHttpDate(std::string_view value, TimestampMs now) {
  Scanner in(value);
  std::tm tm{};
  int year = 0;
  const std::string_view day_name = in.Letters();
  if (in.Literal(", ")) {
    if (OneOf(day_name, kShortDays)) {
      // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
      if (!(in.Digits(2, &tm.tm_mday) && in.Literal(" ") && Month(in, &tm.tm_mon) &&
            in.Literal(" ") && in.Digits(4, &year) && in.Literal(" ") && TimeOfDay(in, &tm) &&
            in.Literal(" GMT"))) {
        return std::nullopt;
      }
    } else if (OneOf(day_name, kLongDays)) {
      // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT". A two-digit year more
      // than 50 years ahead of now means the most recent such past year.
      int yy = 0;
      if (!(in.Digits(2, &tm.tm_mday) && in.Literal("-") && Month(in, &tm.tm_mon) &&
            in.Literal("-") && in.Digits(2, &yy) && in.Literal(" ") && TimeOfDay(in, &tm) &&
            in.Literal(" GMT"))) {
        return std::nullopt;
      }
      const std::time_t now_s = static_cast<std::time_t>(now / 1000);
      std::tm now_tm{};
      if (gmtime_r(&now_s, &now_tm) == nullptr) return std::nullopt;
      const int now_year = now_tm.tm_year + 1900;
      year = now_year - now_year % 100 + yy;
      if (year > now_year + 50) year -= 100;
    } else {
      return std::nullopt;
    }
  } else if (OneOf(day_name, kShortDays) && in.Literal(" ")) {
    // asctime: "Sun Nov  6 08:49:37 1994" (day padded with a space)
    if (!(Month(in, &tm.tm_mon) && in.Literal(" "))) return std::nullopt;
    if (in.Peek() == ' ') {
      if (!(in.Literal(" ") && in.Digits(1, &tm.tm_mday))) return std::nullopt;
    } else if (!in.Digits(2, &tm.tm_mday)) {
      return std::nullopt;
    }
    if (!(in.Literal(" ") && TimeOfDay(in, &tm) && in.Literal(" ") && in.Digits(4, &year))) {
      return std::nullopt;
    }
  } else {
    return std::nullopt;
  }
  if (!in.AtEnd()) return std::nullopt;
  // Field ranges (timegm would silently normalise "31 Feb"); 60 s allows a
  // leap second.
  if (tm.tm_mday < 1 || tm.tm_mday > DaysInMonth(year, tm.tm_mon) || tm.tm_hour > 23 ||
      tm.tm_min > 59 || tm.tm_sec > 60) {
    return std::nullopt;
  }
  tm.tm_year = year - 1900;
  return static_cast<std::int64_t>(timegm(&tm));
}

milliseconds NextDelay(const BackoffPolicy& policy, int attempt,
                       std::optional<milliseconds> retry_after, std::mt19937_64& rng) {
  std::int64_t delay = Uniform(0, WindowMs(policy, std::max(attempt, 1)), rng);
  if (retry_after) {
    const std::int64_t floor = std::max<std::int64_t>(0, retry_after->count());
    if (delay < floor) {
      // Spread over [floor, floor + 10 %] so that all clients told the same
      // Retry-After do not return in the same millisecond.
      const std::int64_t spread = floor / 10;
      delay = Uniform(floor, floor + spread, rng);
    }
  }
  return milliseconds(delay);
}

std::optional<milliseconds> ParseRetryAfter(std::string_view value, TimestampMs now) {
  value = TrimSpace(value);
  if (value.empty()) return std::nullopt;
  const std::int64_t cap = kMaxRetryAfter.count();
  if (value.front() >= '0' && value.front() <= '9') {
    std::int64_t seconds = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    if (end != value.data() + value.size()) return std::nullopt;
    // More seconds than 64 bits hold still means "wait": the longest wait.
    if (ec == std::errc::result_out_of_range) return kMaxRetryAfter;
    if (ec != std::errc()) return std::nullopt;
    return milliseconds(seconds >= cap / 1000 ? cap : seconds * 1000);
  }
  const auto date_s = ParseHttpDate(value, now);
  if (!date_s) return std::nullopt;
  if (*date_s >= (now + cap) / 1000 + 1) return kMaxRetryAfter;
  const std::int64_t delta = *date_s * 1000 - now;
  return milliseconds(std::clamp<std::int64_t>(delta, 0, cap));
}

std::optional<milliseconds> RetryAfterOfAnswer(std::optional<std::string_view> retry_after,
                                               std::optional<std::string_view> date,
                                               TimestampMs now) {
  if (!retry_after) return std::nullopt;
  TimestampMs reference = now;
  if (date) {
    if (const auto sent_s = ParseHttpDate(*date, now)) reference = *sent_s * 1000;
  }
  return ParseRetryAfter(*retry_after, reference);
}

}  // namespace consentd::connectors
