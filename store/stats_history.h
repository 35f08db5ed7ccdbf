// Consent counts over time (issue #8, GET /api/v1/stats/history): snapshots
// of the per-topic counts (the "topics" array of GET /api/v1/stats, as JSON
// text) taken periodically by the daemon and kept durably, so an operator
// sees how coverage changed, not only where it is now.
//
// Retention keeps the table small whatever the uptime: every snapshot of
// the last `recent` (default 48 h, i.e. 192 at one per 15 min), then one
// per `thin_to` (the first of each hour) up to `keep` (default 30 days);
// older ones are deleted. At most ~912 rows of a few KiB.
//
// Store thread only, inside a unit of work; SQLite backend only
// (FailedPrecondition otherwise). No personal data: counts only.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/status.h"
#include "store/store.h"

namespace consentd::store {

struct StatsSnapshot {
  TimestampMs taken_at = 0;
  std::string topics_json;  // as given to RecordStatsSnapshot
};

struct StatsHistoryRetention {
  std::chrono::milliseconds recent{std::chrono::hours(48)};
  std::chrono::milliseconds thin_to{std::chrono::hours(1)};
  std::chrono::milliseconds keep{std::chrono::hours(24 * 30)};
};

// Stores a snapshot taken at `taken_at` (replacing one with the same time)
// and applies `retention` relative to `taken_at`.
Status RecordStatsSnapshot(Transaction& txn, TimestampMs taken_at, std::string_view topics_json,
                           const StatsHistoryRetention& retention = {});

// The time of the newest snapshot, if any.
Result<std::optional<TimestampMs>> LatestStatsSnapshotTime(Transaction& txn);

// Snapshots taken at or after `since`, oldest first, at most `limit` (the
// newest `limit` of them when there are more).
Result<std::vector<StatsSnapshot>> ListStatsSnapshots(Transaction& txn, TimestampMs since,
                                                      int limit);

}  // namespace consentd::store
