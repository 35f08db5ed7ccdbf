// What the status page shows about the sync (issue #8 "Mission Control",
// GET /api/v1/status): per connector activity the sync component records
// as it works, and the snapshot it hands to the admin API.
//
// Nothing here holds personal data: decision lines are masked
// (core/redact.h) before they are kept.
//
// Thread-safety: LinkActivity, MinuteCounter and RecentDecisions are
// touched on the io thread only (the sync component's scheduling thread);
// SyncStatus is a plain value.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "store/outbox_stats.h"
#include "store/proof_log_status.h"

namespace consentd::daemon {

// Events per minute: 60 one-second buckets, so "the last minute" is exact
// to the second and costs O(1) per event.
class MinuteCounter {
 public:
  void Add(TimestampMs now, std::int64_t n = 1);
  // Events in the 60 s up to `now`.
  std::int64_t LastMinute(TimestampMs now) const;

 private:
  std::array<std::int64_t, 60> count_{};
  std::array<std::int64_t, 60> second_{};  // which second each bucket holds
};

// A delivery target's health, derived from consecutive failed deliveries
// (there is no circuit breaker: every due row is tried, with backoff).
inline constexpr int kFailingAfter = 5;
const char* DeliveryHealth(int consecutive_failures);  // "healthy" | "degraded" | "failing"

struct LinkActivity {
  std::optional<TimestampMs> last_poll_ok;
  std::int64_t webhooks_received = 0;  // accepted (stored) webhook requests
  std::int64_t webhooks_refused = 0;   // bad signature, malformed, or not stored
  std::optional<TimestampMs> last_webhook;
  int consecutive_delivery_failures = 0;
  std::int64_t deliveries_done = 0;
  std::int64_t deliveries_failed = 0;
  MinuteCounter deliveries;
  // (time, requests sent so far), sampled every few seconds, the last
  // minute's worth: the budget used over the last minute is the difference.
  std::deque<std::pair<TimestampMs, std::uint64_t>> request_samples;
  void SampleRequests(TimestampMs now, std::uint64_t requests_total);
  // Requests sent since the oldest sample within the last minute, and the
  // span that covers (0 when there is no sample yet).
  std::pair<std::uint64_t, TimestampMs> RequestsInLastMinute(TimestampMs now,
                                                             std::uint64_t requests_total) const;
};

struct RecentDecision {
  std::uint64_t number = 0;  // counts decisions since start (not the proof-log sequence)
  TimestampMs at = 0;
  std::string text;  // FormatNote's line, addresses masked
};

// The last kCapacity decision lines, newest last.
class RecentDecisions {
 public:
  static constexpr std::size_t kCapacity = 50;
  void Add(TimestampMs at, const std::string& line);
  // Counts `n` decisions in total() without keeping their lines (ones a
  // later Add would push out anyway).
  void CountUnkept(std::uint64_t n) { next_ += n; }
  const std::deque<RecentDecision>& items() const { return items_; }
  std::uint64_t total() const { return next_ - 1; }

 private:
  std::deque<RecentDecision> items_;
  std::uint64_t next_ = 1;
};

struct ConnectorStatus {
  std::string name, kind, role;  // role "crm" | "journey" | "" (not in the mapping)
  bool ready = false;
  std::string check_message;  // "ok" or why the last Check() failed
  bool polling = false;       // poll_interval > 0
  std::optional<TimestampMs> last_poll_ok;
  bool poll_caught_up = false;
  std::int64_t webhooks_received = 0, webhooks_refused = 0;
  std::optional<TimestampMs> last_webhook;
  std::uint64_t requests_sent = 0, budget_waits = 0, rate_limited = 0;
  std::uint64_t requests_last_minute = 0;
  TimestampMs requests_window_ms = 0;          // span requests_last_minute covers
  std::optional<double> budget_used_fraction;  // of the rate limit over that span; unset: unlimited
  int consecutive_delivery_failures = 0;
  std::string delivery_health;
  std::int64_t deliveries_done = 0, deliveries_failed = 0, deliveries_last_minute = 0;
};

struct SyncStatus {
  TimestampMs now = 0;
  TimestampMs started_at = 0;  // of this consentd: poll lag before a first poll
  std::vector<ConnectorStatus> connectors;
  std::vector<store::TargetOutboxStats> outbox;  // one per connector, zeros included
  store::ProofLogStatus proof_log;
  std::int64_t decisions_total = 0, decisions_last_minute = 0;
  std::vector<RecentDecision> recent;  // newest first
};

}  // namespace consentd::daemon
