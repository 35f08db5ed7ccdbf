// Records a system failed on their own (connectors::InboundRecord::
// not_read: HubSpot answering a batch read for the others and failing one
// input) are not decided, and their reads are not remembered as decided:
// each becomes a hint of consentd's own, stored in the unit that decides
// the rest of its page or round, and read again on its own after a
// backoff (daemon/sync_component.cc defers it). So one record the system
// keeps failing holds up no other record, no poll cursor and no other
// hint, and its change is not lost: the hint stays in the inbox until a
// read answers for it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "connectors/common/connector.h"
#include "core/clock.h"
#include "core/status.h"
#include "store/store.h"

namespace consentd::sync {

// Event ids of these hints (under kRereadEventPrefix: a record read for
// one is decided whatever its version, sync/version_memory.h).
inline constexpr std::string_view kNotReadEventPrefix = "consentd:reread:unread:";

// Moves the records marked not_read out of `records`; the others keep
// their order.
std::vector<connectors::InboundRecord> TakeNotRead(std::vector<connectors::InboundRecord>& records);

// What a record's failed reads are counted under, in memory only: its
// system id, else its address.
std::string ReadAgainKey(const connectors::InboundRecord& rec);

// Stores `ref` (its event id set) as an unprocessed hint of consentd's own
// in the inbox of `source`, received `now`: false if a hint of that event
// id is there already. (Also the delivery's and the engine's own "read
// this record again" hints.)
Result<bool> StoreOwnHint(store::Transaction& txn, std::string_view source,
                          const connectors::RecordRef& ref, TimestampMs now);

// Stores one hint per record of `not_read` in the inbox of `source`.
// Event id: kNotReadEventPrefix + the record's system id + ":" + the
// read's time; for a record known by its address only, "address-" and a
// random nonce stand for the id (event ids reach the proof log, which
// outlives an erasure: no address, nor a digest anyone could match one
// against). Returns the event id of each record's hint, in order; a hint
// already stored (the same read of a record reported twice) is not stored
// again.
Result<std::vector<std::string>> QueueReadsAgain(
    store::Transaction& txn, std::string_view source,
    const std::vector<connectors::InboundRecord>& not_read, TimestampMs now);

}  // namespace consentd::sync
