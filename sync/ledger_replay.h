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

#include "connectors/common/connector.h"
#include "core/status.h"
#include "store/erasure_ledger.h"
#include "store/store.h"
#include "sync/sync_engine.h"

namespace consentd::sync {

struct LedgerReplay {
  struct Subject {
    std::string subject;    // the pseudonym the ledger names
    std::string email;      // its latest linked address in the database, if any
    std::string system;     // else a system holding a record of it
    std::string system_id;  // and that record's id there
    TimestampMs erased_at;  // when the ledger says it was erased
  };
  std::vector<Subject> to_erase;  // known to the database, not erased there
};

// The subjects of `records` to erase again (reads only).
Result<LedgerReplay> FindErasuresToReapply(store::Transaction& txn,
                                           const std::vector<store::LedgerRecord>& records);

// Adds every tombstone of `records` that the store lacks; the number added.
Result<int> RestoreTombstones(store::Transaction& txn,
                              const std::vector<store::LedgerRecord>& records);

// The erasure an operator asks for (POST /api/v1/erasures, the erasure
// ledger): one record, source "admin", for the subject with address
// `email`, captured at `occurred_at`; its event id names the subject.
connectors::InboundRecord AdminErasureRecord(const std::string& subject, const std::string& email,
                                             TimestampMs occurred_at,
                                             const std::string& requested_by,
                                             const std::string& mapping_hash, TimestampMs now);

struct LedgerReplayOutcome {
  IngestSummary summary;            // of the erasures made again
  std::vector<std::string> erased;  // their pseudonyms
  int tombstones_restored = 0;
  // Erasures the database holds that the ledger lacked (erasures from
  // before the ledger existed, an append that failed or a crash before
  // it): written to the ledger when this unit commits.
  int backfilled = 0;
};

// Notes, for the ledger, every erased subject and tombstone of the store
// that `records` lack (the store's own MarkSubjectErased/AddTombstone,
// which change nothing that is there, so that their records are appended
// when the unit commits); the number noted.
Result<int> BackfillLedger(store::Transaction& txn,
                           const std::vector<store::LedgerRecord>& records);

// In the caller's unit of work: the ledger's gaps filled (BackfillLedger),
// then every subject of `records` the
// database holds alive erased again through `engine` (by address as an
// operator's request, or, for a subject with no address, as an erasure
// from a system holding its record, which counts that system as done),
// dated at the ledger's time; then the missing tombstones added back.
Result<LedgerReplayOutcome> ReapplyLedger(store::Transaction& txn, SyncEngine& engine,
                                          const std::vector<store::LedgerRecord>& records,
                                          TimestampMs now);

}  // namespace consentd::sync
