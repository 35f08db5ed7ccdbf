// The proof log's size and freshness for operators (issue #8, the status
// page and GET /api/v1/status): how many entries it holds and when the
// last signed checkpoint was written (entries after it are not yet
// covered by a signature).
//
// Store thread only, inside a unit of work; SQLite backend only
// (FailedPrecondition otherwise).
#pragma once

#include <cstdint>
#include <optional>

#include "core/clock.h"
#include "core/status.h"
#include "store/store.h"

namespace consentd::store {

struct ProofLogStatus {
  std::uint64_t entries = 0;                      // tree size
  std::uint64_t checkpointed_entries = 0;         // tree size of the last checkpoint
  std::optional<TimestampMs> last_checkpoint_at;  // nullopt: none written yet
};

Result<ProofLogStatus> GetProofLogStatus(Transaction& txn);

}  // namespace consentd::store
