// Outbox depth per target, for operators (issue #8 "Mission Control": the
// status page and GET /api/v1/status; also the metrics gauges): how many
// rows of each target are pending, inflight and dead, and when the oldest
// pending row was created (its age is the delivery lag). Done rows are not
// counted. Only targets that have at least one pending, inflight or dead
// row appear; callers that know their targets add zero rows for the rest.
// One indexed pass over the outbox per call: cheap, but off the hot path.
//
// Store thread only, inside a unit of work; SQLite backend only
// (FailedPrecondition otherwise).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/status.h"
#include "store/store.h"

namespace consentd::store {

struct TargetOutboxStats {
  std::string target;
  std::int64_t pending = 0, inflight = 0, dead = 0;
  std::optional<TimestampMs> oldest_pending_created_at;
};

// One entry per target with undelivered rows, ordered by target name.
Result<std::vector<TargetOutboxStats>> ListOutboxStats(Transaction& txn);

}  // namespace consentd::store
