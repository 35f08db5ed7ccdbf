// Per-connector request budget (issue #5): at most `requests` calls in any
// window of `interval` (a sliding log, so a vendor's rolling window is
// never tripped, yet the whole budget is usable), and at most
// `max_in_flight` calls at once.
//
// Time is passed in (steady milliseconds), so tests drive it. Thread-safe
// (one mutex); cheap.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>

namespace consentd::connectors {

struct RateLimit {
  int requests = 0;                          // 0 = no rate limit
  std::chrono::milliseconds interval{1000};  // the window
  int max_in_flight = 0;                     // 0 = unlimited
};

class RateLimiter {
 public:
  explicit RateLimiter(RateLimit limit) : limit_(limit) {}

  // Takes one request slot at `now_ms` if the budget allows: returns 0 and
  // counts the request as started (and in flight). Otherwise returns how
  // many ms to wait before asking again (> 0); nothing is taken. When only
  // the in-flight cap blocks, returns 1 (ask again after a Release).
  // `recorded` (optional) receives the time the start was logged at, for
  // the Release below.
  std::int64_t TryAcquire(std::int64_t now_ms, std::int64_t* recorded = nullptr);
  // One acquired request finished (success or not).
  void Release();
  // The same, and the request's slot is re-dated to `finished_ms`: the
  // vendor counts a request when it receives it, somewhere between our
  // start and our finish, so counting from the finish can never trip its
  // window, even when the request queued for a while on the way.
  void Release(std::int64_t recorded_ms, std::int64_t finished_ms);
  // The target said 429: take no new request before now_ms + wait_ms.
  void Backoff(std::int64_t now_ms, std::int64_t wait_ms);

  void Update(RateLimit limit);  // on reload
  RateLimit limit() const;
  int in_flight() const;
  // Requests started in the window ending at now_ms (for budget metrics).
  int used(std::int64_t now_ms) const;

 private:
  mutable std::mutex mu_;
  RateLimit limit_;
  mutable std::deque<std::int64_t> starts_;
  int in_flight_ = 0;
  std::int64_t paused_until_ = 0;
};

}  // namespace consentd::connectors
