// An erasure done by hand at a target (`consentctl erasures mark-manual`):
// the target's state becomes `manual` and the proof log records it, in one
// unit of work, so the log shows every system the person was erased from,
// whether consentd or an operator did it (DESIGN.md §4: every propagation
// lands in the proof log).
//
// Store thread only, inside a unit of work; SQLite backend only
// (FailedPrecondition otherwise).
#pragma once

#include <cstdint>
#include <string_view>

#include "core/clock.h"
#include "core/status.h"
#include "store/store.h"

namespace consentd::store {

// Marks `target` of erasure request `id` as erased by hand and appends one
// `propagated` proof entry (source "admin", method "manual") under the
// request's subject. The operator's `note` is kept only as the target's
// reason in the erasure table: the proof log's reason must not carry
// personal data, and a free-text note might. Returns the entry's sequence.
// NotFound for an unknown request or target; FailedPrecondition for a
// target already settled (nothing is written then).
Result<std::uint64_t> RecordManualErasure(Transaction& txn, std::string_view id,
                                          std::string_view target, std::string_view note,
                                          TimestampMs now);

}  // namespace consentd::store
