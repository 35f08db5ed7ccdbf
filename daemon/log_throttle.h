// LogThrottle: at most one log line per period for something strangers can
// make happen as often as they like (a refused webhook, a wrong admin
// token). The first of a spell is logged at once; later ones wait for the
// period to pass and then say how many were held back meanwhile. Every
// event is still counted wherever it is counted (metrics); only the log is
// spared. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>

namespace consentd::daemon {

class LogThrottle {
 public:
  using Clock = std::chrono::steady_clock;

  explicit LogThrottle(Clock::duration period) : period_(period) {}

  // One more event at `now`. nullopt: do not log it. Otherwise log it,
  // adding how many events were held back since the last line logged.
  std::optional<std::uint64_t> Allow(Clock::time_point now) {
    std::lock_guard lock(mu_);
    if (logged_once_ && now - logged_at_ < period_) {
      ++held_back_;
      return std::nullopt;
    }
    const std::uint64_t held_back = held_back_;
    logged_once_ = true;
    logged_at_ = now;
    held_back_ = 0;
    return held_back;
  }

 private:
  const Clock::duration period_;
  std::mutex mu_;
  bool logged_once_ = false;
  Clock::time_point logged_at_;
  std::uint64_t held_back_ = 0;
};

}  // namespace consentd::daemon
