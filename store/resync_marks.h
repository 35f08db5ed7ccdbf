// Which linked records a full reconciliation found, so that it can look for
// the ones it did not (sync/resync.h). A system's snapshot lists the records
// it has; a record deleted there for good (Mailchimp's delete-permanent, a
// HubSpot GDPR delete) is simply absent, and if its webhook was lost nothing
// else tells consentd. Each page of a resync marks the records it returned
// (identity_links.resync_seen_at = the run's start); after a complete run
// the links of that system still marked earlier are the missing ones.
//
// Store thread only, inside a unit of work; SQLite backend only
// (FailedPrecondition otherwise).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/status.h"
#include "store/store.h"

namespace consentd::store {

// Marks the links (system, id) for each id in `system_ids` as found by the
// resync that started at `run_started`. Ids without a link are ignored.
Status MarkFoundByResync(Transaction& txn, std::string_view system,
                         const std::vector<std::string>& system_ids, TimestampMs run_started);

// A linked record of `system` that the resync started at `run_started` did
// not find, although it was linked before that run began.
struct MissingRecord {
  std::string system_id;
  std::string address;
  // The person has another record in the system that the run did find.
  bool live_sibling = false;
};

// The missing records with system_id > `after`, by system_id, at most
// `limit`. Left out: links made during the run, retired links and links
// without a known address (RetireSystemId, links from before schema v13:
// nothing is written to those), and subjects `system` already reported
// deleted (target_deletions).
Result<std::vector<MissingRecord>> ListMissingAfterResync(Transaction& txn, std::string_view system,
                                                          TimestampMs run_started,
                                                          std::string_view after, int limit);

// How many records ListMissingAfterResync would list in all.
Result<std::int64_t> CountMissingAfterResync(Transaction& txn, std::string_view system,
                                             TimestampMs run_started);

// Records of `system` linked with a known address (the base the share of
// missing records is taken of).
Result<std::int64_t> CountLinkedRecords(Transaction& txn, std::string_view system);

}  // namespace consentd::store
