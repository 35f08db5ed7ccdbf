// Replaying dead letters (outbox rows that failed for good) from the admin
// API (issue #8, POST /api/v1/dead-letters/replay), with the rule of
// `consentctl dlq replay`: a dead letter carries an absolute state, so it is
// sent again only while that state is still the canonical one: no newer
// outbox row for its (target, key, address), and (but for an erasure) its
// person still known under its key and unchanged since the row was made,
// and (where the target keeps a record per address) its address not only
// a retired record's.
//
// Store thread only, inside a unit of work; SQLite backend only
// (FailedPrecondition otherwise).
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/status.h"
#include "store/store.h"

namespace consentd::store {

struct DeadLetterReplay {
  std::vector<OutboxRow> replayed;       // now pending, due at `now`
  std::vector<std::int64_t> superseded;  // kept dead: stale (see above)
  // Kept dead: refused by their target for good (blocked_by_target: a
  // forgotten, cleaned or GDPR-deleted address, a compliance state). Sent
  // again, each would be refused again, with one more proof entry.
  std::vector<std::int64_t> refused;
};

// The targets known NOT to keep a record per address (mapping::SystemSpec::
// KeepsRecordPerAddress is false: HubSpot, generic). Elsewhere (Mailchimp,
// and any target the caller does not know: the safe side, which refuses a
// replay that `consentctl resync` can still do) a dead letter at an address
// that only a retired record had is stale: sent, it would create that
// record again. In the targets named here a retired record's address stays
// on the survivor and a write there is still valid.
using AddressSharingTargets = std::set<std::string, std::less<>>;

// `id` set: that dead letter (NotFound if no such row, FailedPrecondition
// if it is not dead, is stale or its target refused it for good, saying
// why). `id` unset: every dead letter, stale ones kept and listed as
// superseded, refused ones kept and listed as refused.
Result<DeadLetterReplay> ReplayDeadLetters(Transaction& txn, std::optional<std::int64_t> id,
                                           TimestampMs now,
                                           const AddressSharingTargets& address_sharing);

}  // namespace consentd::store
