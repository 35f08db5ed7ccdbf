#include "connectors/common/rate_limiter.h"

#include <algorithm>
#include <limits>

namespace consentd::connectors {

void RateLimiter::Window::Prune(std::int64_t interval_ms, std::int64_t now_ms) {
  // A call logged at t counts until t + interval, exclusive.
  while (!starts.empty() && starts.front() <= now_ms - interval_ms) {
    auto in_flight = open.find(starts.front());
    if (in_flight != open.end()) {
      open.erase(in_flight);
      ++overdue;
    }
    starts.pop_front();
  }
}

std::int64_t RateLimiter::Window::Wait(int budget, std::int64_t interval_ms, std::int64_t now_ms,
                                       bool* until_release) {
  if (now_ms < paused_until) return paused_until - now_ms;
  if (budget <= 0) return 0;
  Prune(interval_ms, now_ms);
  const auto n = static_cast<std::size_t>(budget);
  const auto count = static_cast<std::size_t>(Count());
  if (count < n) return 0;
  // Enough of the oldest must leave the window that one slot is free: the
  // (count - budget)-th oldest is the last of them. (After a reload that
  // lowered the budget, more than one must go.) When the overdue calls
  // alone fill the budget, only a Release frees a slot.
  const std::size_t last_to_leave = count - n;
  if (last_to_leave >= starts.size()) {
    if (until_release != nullptr) *until_release = true;
    return 1;
  }
  return std::max<std::int64_t>(1, starts[last_to_leave] + interval_ms - now_ms);
}

std::int64_t RateLimiter::Window::Take(std::int64_t now_ms, bool in_flight) {
  // Keep the log sorted even if a caller's clock reading is older than the
  // last one (threads read the steady clock before taking the lock).
  starts.push_back(starts.empty() ? now_ms : std::max(now_ms, starts.back()));
  if (in_flight) open.insert(starts.back());
  return starts.back();
}

void RateLimiter::Window::Redate(std::int64_t recorded_ms, std::int64_t finished_ms) {
  auto in_flight = open.find(recorded_ms);
  if (in_flight != open.end()) {
    open.erase(in_flight);
    auto it = std::lower_bound(starts.begin(), starts.end(), recorded_ms);
    if (it != starts.end() && *it == recorded_ms) starts.erase(it);
  } else if (overdue > 0) {
    --overdue;  // its start had left the log while it was in flight
  } else {
    return;  // not one of ours (taken before an Update, say)
  }
  const std::int64_t until = finished_ms + kClockTickMs;
  starts.insert(std::upper_bound(starts.begin(), starts.end(), until), until);
}

std::int64_t RateLimiter::TryAcquire(std::int64_t now_ms, CallKind kind, RateGrant* grant,
                                     CallPriority priority, bool* until_release) {
  std::lock_guard lock(mu_);
  if (until_release != nullptr) *until_release = false;
  const bool search = kind == CallKind::kSearch;
  // The longer of the two waits: asking again earlier could only be
  // refused by the other window.
  bool for_release = false;
  std::int64_t wait = main_.Wait(Budget(now_ms), limit_.interval.count(), now_ms, &for_release);
  if (search) {
    wait = std::max(wait, search_.Wait(limit_.search_requests, limit_.search_interval.count(),
                                       now_ms, &for_release));
  }
  if (wait > 0) {
    if (until_release != nullptr) *until_release = for_release && wait == 1;
    return wait;
  }
  const bool background = priority == CallPriority::kBackground;
  if ((limit_.max_in_flight > 0 && in_flight_ >= limit_.max_in_flight) ||
      (background && limit_.max_in_flight > 0 && foreground_waiting_ > 0 &&
       background_in_flight_ >= std::max(1, limit_.max_in_flight / 2))) {
    if (until_release != nullptr) *until_release = true;
    return 1;
  }
  RateGrant taken;
  taken.kind = kind;
  taken.priority = priority;
  // Without a grant the caller cannot re-date the call: its slot stays
  // dated from the start and is not tracked as in flight.
  const bool tracked = grant != nullptr;
  if (limit_.requests > 0) taken.recorded = main_.Take(now_ms, tracked);
  if (search && limit_.search_requests > 0) taken.search_recorded = search_.Take(now_ms, tracked);
  if (grant != nullptr) *grant = taken;
  ++in_flight_;
  if (background) ++background_in_flight_;
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
    if (grant.priority == CallPriority::kBackground && background_in_flight_ > 0) {
      --background_in_flight_;
    }
    ++generation_;
    if (grant.recorded >= 0) main_.Redate(grant.recorded, finished_ms);
    if (grant.search_recorded >= 0) search_.Redate(grant.search_recorded, finished_ms);
  }
  changed_.notify_all();
}

void RateLimiter::ForegroundWaiting(int delta) {
  {
    std::lock_guard lock(mu_);
    const bool was_waiting = foreground_waiting_ > 0;
    foreground_waiting_ = std::max(0, foreground_waiting_ + delta);
    // Only the last waiter's leaving can let a background call go (one
    // more waiter, or one of several leaving, frees nothing).
    if (!was_waiting || foreground_waiting_ > 0) return;
    ++generation_;
  }
  changed_.notify_all();
}

void RateLimiter::Backoff(std::int64_t now_ms, std::int64_t wait_ms, CallKind kind) {
  std::lock_guard lock(mu_);
  const bool search = kind == CallKind::kSearch && limit_.search_requests > 0;
  Window& w = search ? search_ : main_;
  w.paused_until = std::max(w.paused_until, now_ms + std::max<std::int64_t>(0, wait_ms));
  if (search || limit_.requests <= 0) return;
  // The window holds the refused call too: the vendor accepted the others.
  const std::int64_t interval = limit_.interval.count();
  main_.Prune(interval, now_ms);
  const int accepted = std::max(1, main_.Count() - 1);
  const int before = Budget(now_ms);
  if (now_ms - last_trip_at_ > kForgetAfterSpells * kLastSpell * interval) {
    spell_ = kFirstSpell;  // a 429 long after the last: start over
  } else if (raised_) {
    spell_ = std::min(kLastSpell, spell_ * 2);  // the raise was too far
  }
  raised_ = false;
  last_trip_at_ = now_ms;
  learnt_ = std::min(before, accepted);
  if (learnt_ >= limit_.requests) learnt_ = limit_.requests - 1;
  learnt_ = std::max(1, learnt_);
  // The spell counts from the end of the pause.
  raise_at_ = w.paused_until + static_cast<std::int64_t>(spell_) * interval;
}

int RateLimiter::Budget(std::int64_t now_ms) {
  if (learnt_ == 0 || limit_.requests <= 0) return limit_.requests;
  const std::int64_t interval = limit_.interval.count();
  if (now_ms >= raise_at_) {
    // One step per clean window from here on.
    const int step = std::max(1, limit_.requests / 10);
    const std::int64_t windows = 1 + (now_ms - raise_at_) / std::max<std::int64_t>(1, interval);
    const std::int64_t raised = learnt_ + windows * step;
    raise_at_ += windows * interval;
    raised_ = true;
    if (raised >= limit_.requests) {
      learnt_ = 0;  // back to the configured budget (a 429 now still doubles the spell)
      return limit_.requests;
    }
    learnt_ = static_cast<int>(raised);
  }
  return learnt_;
}

int RateLimiter::budget() const {
  std::lock_guard lock(mu_);
  return learnt_ > 0 && limit_.requests > 0 ? learnt_ : limit_.requests;
}

int RateLimiter::budget_at(std::int64_t now_ms) const {
  std::lock_guard lock(mu_);
  if (learnt_ == 0 || limit_.requests <= 0) return limit_.requests;
  if (now_ms < raise_at_) return learnt_;
  const int step = std::max(1, limit_.requests / 10);
  const std::int64_t windows =
      1 + (now_ms - raise_at_) / std::max<std::int64_t>(1, limit_.interval.count());
  return static_cast<int>(std::min<std::int64_t>(limit_.requests, learnt_ + windows * step));
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
    learnt_ = 0;
    raised_ = false;
    spell_ = kFirstSpell;
    last_trip_at_ = std::numeric_limits<std::int64_t>::min() / 2;
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
  main_.Prune(limit_.interval.count(), now_ms);
  return main_.overdue +
         static_cast<int>(std::count_if(main_.starts.begin(), main_.starts.end(),
                                        [now_ms](std::int64_t t) { return t <= now_ms; }));
}

}  // namespace consentd::connectors
