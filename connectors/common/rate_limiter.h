// Per-connector request budget (issue #5), modelled on the vendors' own
// limits so that the whole budget is usable and never tripped:
//  - at most `requests` calls in any window of `interval` (a sliding log,
//    the exact shape of a vendor's rolling window: HubSpot, 100 per 10 s);
//  - search calls also take a second, stricter window (`search_requests`
//    per `search_interval`: HubSpot's 4 searches per second);
//  - at most `max_in_flight` calls at once (Mailchimp's 10 connections);
//    background calls (deliveries) may hold more than half of them only
//    while no foreground call (a read, a poll) waits for one, so each side
//    can use what the other leaves idle, and neither waits long for the
//    other under load: a waiting read takes the next slot a delivery frees
//    beyond its half.
// A slot is dated from when its request finished (plus one clock tick), so
// our window can only close after the vendor's, whatever the transit time;
// until then the call holds its slot, even when it is slower than the
// window.
//
// A 429 on a plain call means the vendor's budget for us is smaller than
// the configured one (another client shares the account, or the setting is
// too generous). The budget is then lowered to what the vendor accepted in
// that window, so the next windows do not trip it again, and raised back
// one step per clean window once a spell of clean windows has passed; each
// 429 after a raise doubles that spell (1, 2, 4, ... 32 windows), so a
// vendor limit below the configured one is tripped ever more rarely while
// its whole budget stays in use (docs/sync.md, "Rate limits").
//
// Time is passed in (steady milliseconds), so tests drive it. Thread-safe
// (one mutex); cheap.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <limits>
#include <mutex>
#include <set>

namespace consentd::connectors {

struct RateLimit {
  int requests = 0;                          // 0 = no rate limit
  std::chrono::milliseconds interval{1000};  // the window
  int max_in_flight = 0;                     // 0 = unlimited
  int search_requests = 0;                   // 0 = searches take no second window
  std::chrono::milliseconds search_interval{1000};

  bool operator==(const RateLimit&) const = default;
};

// Which windows a call takes: every call the main one, a search also the
// search window.
enum class CallKind { kPlain, kSearch };

// Whose call: a read or poll someone waits for (foreground), or a
// delivery, which yields beyond half the in-flight cap (background).
enum class CallPriority { kForeground, kBackground };

// What one acquired call took, for its Release.
struct RateGrant {
  CallKind kind = CallKind::kPlain;
  CallPriority priority = CallPriority::kForeground;
  std::int64_t recorded = -1;         // its entry in the main log (-1: none)
  std::int64_t search_recorded = -1;  // its entry in the search log
};

class RateLimiter {
 public:
  // Both clocks that meet at a window's edge (ours, the vendor's) are read
  // in whole milliseconds: a slot is reused this long after the window has
  // passed since its finish, so a rounding can never make it early.
  static constexpr std::int64_t kClockTickMs = 1;

  explicit RateLimiter(RateLimit limit) : limit_(limit) {}

  // Takes one call slot of `kind` at `now_ms` if the budget allows: returns
  // 0 and counts the call as started (and in flight). Otherwise returns how
  // many ms to wait before asking again (> 0); nothing is taken. When only
  // the in-flight cap blocks, returns 1 (ask again after a Release;
  // WaitForChange wakes then). `grant` (optional) receives what was taken,
  // for the Release below.
  // A background call is also refused (returns 1) while foreground calls
  // wait (ForegroundWaiting) and background calls hold half the in-flight
  // cap or more. `until_release` (optional) is set to whether the refusal
  // is for a slot (the in-flight cap, or priority), which only a Release,
  // an Update or the last foreground waiter's leaving can end, not time.
  std::int64_t TryAcquire(std::int64_t now_ms, CallKind kind = CallKind::kPlain,
                          RateGrant* grant = nullptr,
                          CallPriority priority = CallPriority::kForeground,
                          bool* until_release = nullptr);
  // A foreground caller refused by TryAcquire starts (+1) or stops (-1)
  // waiting for its turn; the last one's leaving wakes WaitForChange.
  void ForegroundWaiting(int delta);
  // One acquired foreground call finished (success or not); its slots stay
  // dated from the start. Only for a call taken without a grant: one taken
  // with a grant counts as in flight until it is released with that grant,
  // exactly once (below).
  void Release();
  // The same, and the call's slots are re-dated to `finished_ms`: the
  // vendor counts a call when it receives it, somewhere between our start
  // and our finish, so counting from the finish can never trip its window,
  // even when the call queued for a while on the way.
  void Release(const RateGrant& grant, std::int64_t finished_ms);
  // The target said 429: take no new call of `kind` before now_ms +
  // wait_ms. A search pause leaves plain calls alone; a plain one pauses
  // every call and lowers the main budget to the calls the window held
  // before the refused one (see above). Call it after the refused call's
  // Release.
  void Backoff(std::int64_t now_ms, std::int64_t wait_ms, CallKind kind = CallKind::kPlain);
  // The main window's budget in force: the configured `requests`, or the
  // lower one learnt from 429s (0: no limit). budget() as last applied;
  // budget_at() with the raises due by `now_ms` (a quiet connector applies
  // them only at its next call), for the gauge.
  int budget() const;
  int budget_at(std::int64_t now_ms) const;
  // A count of the Releases, Updates and last foreground waiters' leaving
  // so far: read it before TryAcquire
  // and pass it to WaitForChange, so that one landing between a refusal and
  // the wait is not missed.
  std::uint64_t Generation() const;
  // Blocks up to `max_wait_ms`, or until a Release or Update has come since
  // Generation() returned `seen` (at once if one already has): in-flight
  // waits end at once rather than on a timer.
  void WaitForChange(std::int64_t max_wait_ms, std::uint64_t seen);

  void Update(RateLimit limit);  // on reload (forgets a learnt budget)
  RateLimit limit() const;
  int in_flight() const;
  // Calls counted in the main window ending at now_ms (budget metrics).
  int used(std::int64_t now_ms) const;

 private:
  // One rolling window: a sorted log of when its calls count from.
  // A call in flight may reach the vendor at any moment until it finishes,
  // so it counts in every window until then, however long it takes (a call
  // slower than the window, e.g. at HubSpot's 10 s timeout): when its start
  // leaves the log it is counted in `overdue` until its Release re-dates it.
  struct Window {
    std::deque<std::int64_t> starts;
    std::multiset<std::int64_t> open;  // starts of calls in flight (taken with a grant)
    int overdue = 0;                   // calls in flight whose start left the log
    std::int64_t paused_until = 0;
    // Drops the starts that no longer count at now_ms.
    void Prune(std::int64_t interval_ms, std::int64_t now_ms);
    int Count() const { return static_cast<int>(starts.size()) + overdue; }
    // 0 if a call may start at now_ms, else the ms to wait; `until_release`
    // is set when only calls in flight fill the budget (no time frees it).
    std::int64_t Wait(int budget, std::int64_t interval_ms, std::int64_t now_ms,
                      bool* until_release);
    std::int64_t Take(std::int64_t now_ms, bool in_flight);
    void Redate(std::int64_t recorded_ms, std::int64_t finished_ms);
  };

  // The budget in force (mu_ held); raises a learnt one when its spell
  // of clean windows has passed.
  int Budget(std::int64_t now_ms);

  // Clean windows before a learnt budget is first raised: doubled by each
  // 429 that follows a raise, up to the last.
  static constexpr int kFirstSpell = 1;
  static constexpr int kLastSpell = 32;
  // A 429 more than this many longest spells after the previous one is
  // news (a transient, or the vendor's budget changed): the spell restarts.
  static constexpr int kForgetAfterSpells = 4;

  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::uint64_t generation_ = 0;  // bumped on every Release / Update
  RateLimit limit_;
  int learnt_ = 0;             // 0: none; else the main budget in force (< requests)
  bool raised_ = false;        // learnt_ was raised since the last 429
  int spell_ = kFirstSpell;    // clean windows before the next raise
  std::int64_t raise_at_ = 0;  // when learnt_ may next be raised
  std::int64_t last_trip_at_ = std::numeric_limits<std::int64_t>::min() / 2;  // the last 429
  mutable Window main_;
  Window search_;
  int in_flight_ = 0;
  int background_in_flight_ = 0;
  int foreground_waiting_ = 0;
};

}  // namespace consentd::connectors
