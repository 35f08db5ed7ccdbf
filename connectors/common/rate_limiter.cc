#include "connectors/common/rate_limiter.h"

#include <algorithm>

namespace consentd::connectors {
namespace {

// Forgets the starts that left the window (now_ms - interval, now_ms]: a
// request started at t counts until t + interval, exclusive.
void Prune(std::deque<std::int64_t>& starts, std::int64_t interval_ms, std::int64_t now_ms) {
  while (!starts.empty() && starts.front() <= now_ms - interval_ms) starts.pop_front();
}

}  // namespace

std::int64_t RateLimiter::TryAcquire(std::int64_t now_ms, std::int64_t* recorded) {
  std::lock_guard lock(mu_);
  if (now_ms < paused_until_) return paused_until_ - now_ms;
  if (limit_.requests > 0) {
    const std::int64_t interval = limit_.interval.count();
    Prune(starts_, interval, now_ms);
    const auto budget = static_cast<std::size_t>(limit_.requests);
    if (starts_.size() >= budget) {
      // Enough of the oldest starts must leave the window that one slot is
      // free: the (size - budget)-th oldest is the last of them. (After a
      // reload that lowered the budget, more than one must go.)
      const std::int64_t frees_at = starts_[starts_.size() - budget] + interval;
      return std::max<std::int64_t>(1, frees_at - now_ms);
    }
  }
  if (limit_.max_in_flight > 0 && in_flight_ >= limit_.max_in_flight) return 1;
  if (limit_.requests > 0) {
    // Keep the log sorted even if a caller's clock reading is older than
    // the last one (threads read the steady clock before taking the lock).
    starts_.push_back(starts_.empty() ? now_ms : std::max(now_ms, starts_.back()));
    if (recorded != nullptr) *recorded = starts_.back();
  }
  ++in_flight_;
  return 0;
}

void RateLimiter::Release() {
  std::lock_guard lock(mu_);
  if (in_flight_ > 0) --in_flight_;
}

void RateLimiter::Release(std::int64_t recorded_ms, std::int64_t finished_ms) {
  std::lock_guard lock(mu_);
  if (in_flight_ > 0) --in_flight_;
  if (limit_.requests <= 0) return;
  auto it = std::lower_bound(starts_.begin(), starts_.end(), recorded_ms);
  if (it == starts_.end() || *it != recorded_ms) return;  // already out of the window
  starts_.erase(it);
  starts_.insert(std::upper_bound(starts_.begin(), starts_.end(), finished_ms), finished_ms);
}

void RateLimiter::Backoff(std::int64_t now_ms, std::int64_t wait_ms) {
  std::lock_guard lock(mu_);
  paused_until_ = std::max(paused_until_, now_ms + std::max<std::int64_t>(0, wait_ms));
}

void RateLimiter::Update(RateLimit limit) {
  // The log of starts is kept: requests already made in the current window
  // still count against the new budget.
  std::lock_guard lock(mu_);
  limit_ = limit;
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
  Prune(starts_, limit_.interval.count(), now_ms);
  return static_cast<int>(std::count_if(starts_.begin(), starts_.end(),
                                        [now_ms](std::int64_t t) { return t <= now_ms; }));
}

}  // namespace consentd::connectors
