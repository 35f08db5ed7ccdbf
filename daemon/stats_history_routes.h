// Consent counts over time (issue #8, docs/admin-api.md):
//
//   GET /api/v1/stats/history[?since_ms=N][&limit=N]
//       {"points":[{"at_ms":N,"topics":[...]}]}, oldest first; "topics"
//       has the shape of GET /api/v1/stats. Snapshots are taken every
//       kStatsSnapshotEvery by the sync component's housekeeping and kept
//       as store/stats_history.h says (48 h in full, then hourly, 30 days).
//       limit defaults to 1000 (and is capped there); 400 on a bad number.
//
// The store-thread halves live here too, so that the sync component only
// wires them in. Thread-safety: the Snapshot/Json functions run inside a
// unit of work (store thread); routes are added once, before the HTTP
// component starts, and their handlers run on the io thread.
#pragma once

#include <chrono>
#include <string>

#include "core/clock.h"
#include "core/status.h"
#include "daemon/admin_api.h"
#include "daemon/router.h"
#include "mapping/spec.h"
#include "store/store.h"

namespace consentd::daemon {

class SyncComponent;

inline constexpr std::chrono::minutes kStatsSnapshotEvery{15};
inline constexpr int kStatsHistoryMaxPoints = 1000;

// Takes a snapshot of the consent counts when the newest one is at least
// `every` old (or there is none); true when it took one.
Result<bool> SnapshotConsentStatsIfDue(store::Transaction& txn, const mapping::MappingSpec& mapping,
                                       TimestampMs now,
                                       std::chrono::milliseconds every = kStatsSnapshotEvery);

// The answer of GET /api/v1/stats/history.
Result<std::string> StatsHistoryJson(store::Transaction& txn, TimestampMs since, int limit);

void AddStatsHistoryRoutes(Router& router, const AdminComponent& admin, SyncComponent& sync);

}  // namespace consentd::daemon
