#include "connectors/common/rate_limiter.h"

#include <algorithm>

namespace consentd::connectors {

std::int64_t RateLimiter::Window::Wait(int budget, std::int64_t interval_ms, std::int64_t now_ms) {
  if (now_ms < paused_until) return paused_until - now_ms;
  if (budget <= 0) return 0;
  // A call logged at t counts until t + interval, exclusive.
  while (!starts.empty() && starts.front() <= now_ms - interval_ms) starts.pop_front();
  const auto n = static_cast<std::size_t>(budget);
  if (starts.size() < n) return 0;
  // Enough of the oldest must leave the window that one slot is free: the
  // (size - budget)-th oldest is the last of them. (After a reload that
  // lowered the budget, more than one must go.)
  return std::max<std::int64_t>(1, starts[starts.size() - n] + interval_ms - now_ms);
}

std::int64_t RateLimiter::Window::Take(std::int64_t now_ms) {
  // Keep the log sorted even if a caller's clock reading is older than the
  // last one (threads read the steady clock before taking the lock).
  starts.push_back(starts.empty() ? now_ms : std::max(now_ms, starts.back()));
  return starts.back();
}

void RateLimiter::Window::Redate(std::int64_t recorded_ms, std::int64_t finished_ms) {
  auto it = std::lower_bound(starts.begin(), starts.end(), recorded_ms);
  if (it == starts.end() || *it != recorded_ms) return;  // already out of the window
  starts.erase(it);
  const std::int64_t until = finished_ms + kClockTickMs;
  starts.insert(std::upper_bound(starts.begin(), starts.end(), until), until);
}

std::int64_t RateLimiter::TryAcquire(std::int64_t now_ms, CallKind kind, RateGrant* grant) {
  std::lock_guard lock(mu_);
  const bool search = kind == CallKind::kSearch;
  // The longer of the two waits: asking again earlier could only be
  // refused by the other window.
  std::int64_t wait = main_.Wait(limit_.requests, limit_.interval.count(), now_ms);
  if (search) {
    wait = std::max(wait,
                    search_.Wait(limit_.search_requests, limit_.search_interval.count(), now_ms));
  }
  if (wait > 0) return wait;
  if (limit_.max_in_flight > 0 && in_flight_ >= limit_.max_in_flight) return 1;
  RateGrant taken;
  taken.kind = kind;
  if (limit_.requests > 0) taken.recorded = main_.Take(now_ms);
  if (search && limit_.search_requests > 0) taken.search_recorded = search_.Take(now_ms);
  if (grant != nullptr) *grant = taken;
  ++in_flight_;
  return 0;
}

void RateLimiter::Release() {
  {
    std::lock_guard lock(mu_);
    if (in_flight_ > 0) --in_flight_;
    ++generation_;
  }
  changed_.notify_all();
}

void RateLimiter::Release(const RateGrant& grant, std::int64_t finished_ms) {
  {
    std::lock_guard lock(mu_);
    if (in_flight_ > 0) --in_flight_;
    ++generation_;
    if (grant.recorded >= 0) main_.Redate(grant.recorded, finished_ms);
    if (grant.search_recorded >= 0) search_.Redate(grant.search_recorded, finished_ms);
  }
  changed_.notify_all();
}

void RateLimiter::Backoff(std::int64_t now_ms, std::int64_t wait_ms, CallKind kind) {
  std::lock_guard lock(mu_);
  Window& w = kind == CallKind::kSearch && limit_.search_requests > 0 ? search_ : main_;
  w.paused_until = std::max(w.paused_until, now_ms + std::max<std::int64_t>(0, wait_ms));
}

std::uint64_t RateLimiter::Generation() const {
  std::lock_guard lock(mu_);
  return generation_;
}

void RateLimiter::WaitForChange(std::int64_t max_wait_ms, std::uint64_t seen) {
  std::unique_lock lock(mu_);
  changed_.wait_for(lock, std::chrono::milliseconds(std::max<std::int64_t>(0, max_wait_ms)),
                    [&] { return generation_ != seen; });
}

void RateLimiter::Update(RateLimit limit) {
  // The logs are kept: calls already made in the current windows still
  // count against the new budget.
  {
    std::lock_guard lock(mu_);
    limit_ = limit;
    ++generation_;
  }
  changed_.notify_all();
}

RateLimit RateLimiter::limit() const {
  std::lock_guard lock(mu_);
  return limit_;
}

int RateLimiter::in_flight() const {
  std::lock_guard lock(mu_);
  return in_flight_;
}

int RateLimiter::used(std::int64_t now_ms) const {
  std::lock_guard lock(mu_);
  const std::int64_t interval = limit_.interval.count();
  while (!main_.starts.empty() && main_.starts.front() <= now_ms - interval) {
    main_.starts.pop_front();
  }
  return static_cast<int>(std::count_if(main_.starts.begin(), main_.starts.end(),
                                        [now_ms](std::int64_t t) { return t <= now_ms; }));
}

}  // namespace consentd::connectors
