// Replaying dead letters (outbox rows that failed for good) from the admin
// API (issue #8, POST /api/v1/dead-letters/replay), with the rule of
// `consentctl dlq replay`: a dead letter is sent again only if no newer
// outbox row exists for its (target, key), since it carries an absolute
// state and a newer row's state must not be overwritten by an older one.
//
// Store thread only, inside a unit of work; SQLite backend only
// (FailedPrecondition otherwise).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "core/clock.h"
#include "core/status.h"
#include "store/store.h"

namespace consentd::store {

struct DeadLetterReplay {
  std::vector<OutboxRow> replayed;       // now pending, due at `now`
  std::vector<std::int64_t> superseded;  // kept dead: a newer row exists for the key
};

// `id` set: that dead letter (NotFound if no such row, FailedPrecondition
// if it is not dead or a newer row supersedes it). `id` unset: every dead
// letter, superseded ones kept and listed.
Result<DeadLetterReplay> ReplayDeadLetters(Transaction& txn, std::optional<std::int64_t> id,
                                           TimestampMs now);

}  // namespace consentd::store
