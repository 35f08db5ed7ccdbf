// What the erasure ledger (store/erasure_ledger.h) lists that the database
// does not hold: after a restore from a backup, the erasures made since.
//
// Erasure is terminal (DESIGN.md §2 rule 4) also across a restore. At
// start, in one unit of work queued before any other (SyncComponent::
// ReplayErasureLedger), the daemon erases again every subject the ledger
// names that the database still holds alive (state, identifiers, queued
// writes, evidence key), as an operator's erasure dated when the ledger
// says it happened, which also asks the systems again (they answer that
// the record is gone); then it adds back every tombstone the database
// still lacks, so that the identifiers of people the backup never knew are
// refused again too. In that order: an erasure finding its own tombstones
// already there would take the person as erased and leave their state.
// Store thread only, inside the caller's unit of work.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "store/erasure_ledger.h"
#include "store/store.h"

namespace consentd::sync {

struct LedgerReplay {
  struct Subject {
    std::string subject;    // the pseudonym the ledger names
    std::string email;      // its latest linked address in the database
    TimestampMs erased_at;  // when the ledger says it was erased
  };
  std::vector<Subject> to_erase;  // known to the database, not erased there
  // Known and not erased, but with no address linked: the erasure request
  // needs one, so an operator erases these in the systems by hand.
  std::vector<std::string> without_address;
};

// The subjects of `records` to erase again (reads only).
Result<LedgerReplay> FindErasuresToReapply(store::Transaction& txn,
                                           const std::vector<store::LedgerRecord>& records);

// Adds every tombstone of `records` that the store lacks; the number added.
Result<int> RestoreTombstones(store::Transaction& txn,
                              const std::vector<store::LedgerRecord>& records);

}  // namespace consentd::sync
