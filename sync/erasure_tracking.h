// The sync engine's side of durable erasure requests
// (store/erasure_requests.h): the request is opened in the unit of work
// of the erasure decision, and each target follows its delivery outcomes
// in the unit of work that records them. Internal to sync/; store thread
// only.
#pragma once

#include <string_view>

#include "connectors/common/connector.h"
#include "core/change.h"
#include "core/reconciler.h"
#include "mapping/spec.h"
#include "store/store.h"

namespace consentd::sync {

// Opens the request of the erasure decided as `d` for change `c`: id = the
// change's source event id, one target per system of `spec`: the source
// itself done (it erased first), or pending when `source_has_others` (a row
// erases the person's other records there), a system the decision writes
// the erasure to pending (in its configured mode), any other system
// unsupported (the mapping sends it nothing: erase it by hand). Deadline
// one month after the request (its capture time, or `now` if that lies
// ahead).
Status OpenErasureRequest(store::Transaction& txn, const mapping::MappingSpec& spec,
                          const Change& c, const Decision& d, TimestampMs now,
                          bool source_has_others = false);

// The erasure target of outbox `row` (an erasure of subject row.key at
// `target`) after its delivery: done / already_done when `result` is OK,
// failed (unsupported when the target refused it: blocked_by_target) when `dead`, with
// `reason`. A retry changes nothing (the target stays sent).
Status TrackErasureDelivery(store::Transaction& txn, std::string_view target,
                            const store::OutboxRow& row, const connectors::DeliveryResult& result,
                            bool dead, std::string_view reason, TimestampMs now);

}  // namespace consentd::sync
