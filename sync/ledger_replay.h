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

// Adds every tombstone of `records` that the store lacks, or holds with an
// earlier time; the number written.
Result<int> RestoreTombstones(store::Transaction& txn,
                              const std::vector<store::LedgerRecord>& records);

// The erasure an operator asks for (POST /api/v1/erasures, the erasure
// ledger): one record, source "admin", for the subject with address
// `email`, captured at `occurred_at`; its event id names the subject.
connectors::InboundRecord AdminErasureRecord(const std::string& subject, const std::string& email,
                                             TimestampMs occurred_at,
                                             const std::string& requested_by,
                                             const std::string& mapping_hash, TimestampMs now);

// Decides one erasure record `rec` from `source` in the caller's unit of
// work and records `requested_by` on the durable request the engine opened
// for it (none when the engine dropped the change).
Result<IngestSummary> IngestErasure(store::Transaction& txn, SyncEngine& engine,
                                    std::string_view source, const connectors::InboundRecord& rec,
                                    const std::string& requested_by, TimestampMs now);

struct LedgerReplayOutcome {
  IngestSummary summary;            // of the erasures made again
  std::vector<std::string> erased;  // their pseudonyms
  // Erased again, with no address: as the erasure of their record at that
  // system, which is therefore not asked (an operator checks it is gone).
  struct WithoutAddress {
    std::string subject, system, system_id;
  };
  std::vector<WithoutAddress> erased_without_address;
  // Named by the ledger, alive in the database, and still alive after the
  // erasure was made again (the engine refused it): for an operator.
  std::vector<std::string> not_erased;
  int tombstones_restored = 0;  // added, or moved to the ledger's later time
  // Erasures the database holds that the ledger lacks (erasures from
  // before the ledger existed, an append that failed or a crash before
  // it): for the caller to append once the unit has committed.
  std::vector<store::LedgerRecord> missing_from_ledger;
};

// Every erased subject and tombstone of the store that `records` lack.
Result<std::vector<store::LedgerRecord>> MissingFromLedger(
    store::Transaction& txn, const std::vector<store::LedgerRecord>& records);

// In the caller's unit of work: the ledger's gaps found (MissingFromLedger),
// then every subject of `records` the
// database holds alive erased again through `engine` (by address as an
// operator's request, or, for a subject with no address, as an erasure
// from a system holding its record, which counts that system as done),
// dated at the ledger's time; then the missing tombstones added back.
Result<LedgerReplayOutcome> ReapplyLedger(store::Transaction& txn, SyncEngine& engine,
                                          const std::vector<store::LedgerRecord>& records,
                                          TimestampMs now);

}  // namespace consentd::sync
