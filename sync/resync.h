// Full reconciliation ("resync", DESIGN.md §3): reads a system's whole
// snapshot through its connector (Poll from "", page by page, until the
// connector says there is no more) and decides every record again against
// the canonical state, so drift in either direction is found and repaired:
//
//   in step          the system holds what consentd holds (duplicate, echo)
//   consentd behind  the system knew something newer: consentd applied it
//                    (and propagates it to the other systems as usual)
//   system behind    the system holds an older state: a repair write of the
//                    canonical state is enqueued for it (reconciler's
//                    superseded branch)
//   refused          unmapped, invalid, or about an erased identity
//
// Records the snapshot leaves out. A record deleted for good in the system
// (Mailchimp's delete-permanent, a HubSpot GDPR delete) is absent from its
// snapshot, and if its webhook was lost, nothing else tells consentd. So
// every page marks the linked records it returned (store/resync_marks.h),
// and after a complete real run the records linked before the run began
// and not found are read through the connector (Read), which maps "no
// longer there" to a deletion:
//   - a record gone whose person has another record in that system that
//     the run found is retired (no longer written to), the person is not
//     deleted: most often an address change whose webhook was lost
//     (Mailchimp's member id is the hash of the address), or one of two
//     members after a CRM merge deleted;
//   - another record gone is decided like a hint's read, always as
//     kTargetDeleted, never as an erasure (even where the mapping makes a
//     permanent delete a request to be forgotten): an absence cannot tell
//     a deletion from an address change whose webhook was lost, and an
//     erasure cannot be undone;
//   - a record the read finds is decided as a snapshot record and marked
//     found.
// With more missing records than `missing_read_limit`, or more than
// `missing_read_max_share` of the system's linked records (and more than
// kMissingAlwaysRead), none is read: so many usually means the connector
// points at another account or audience. The report says so; an operator
// who has checked runs `consentctl resync --missing-limit N`. A read that
// fails ends the looking (the report names the error), not the run.
//
// Each page is decided in ONE store unit of work through SyncEngine::Ingest
// without event-id dedupe (a snapshot must be compared again even if the
// same event ids were seen before). The connector's stored poll cursor is
// neither read nor moved: resync does not disturb the poller. Memory is
// bounded by one page. A dry run decides each page in the same unit of
// work and then rolls it back: nothing is stored or enqueued, and the
// report says what a real run would have done.
//
// Thread-safety: RunResync blocks (connector calls, Store::Run) and must
// NOT be called on the store thread (from a Work or Done). It may run on
// any other thread, e.g. a worker pool thread of the daemon or the CLI's
// main thread. `engine` is only touched inside units of work (on the store
// thread), so it may be the daemon's own engine. `connector` must not be
// used by another resync at the same time (its Poll is otherwise
// thread-safe).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "connectors/common/connector.h"
#include "core/reconciler.h"
#include "core/status.h"
#include "store/store.h"
#include "sync/sync_engine.h"

namespace consentd::sync {

struct ResyncOptions {
  // Decide and report, then roll every page back. Each page is then
  // decided without the earlier pages' effects, so a record that appears
  // on two pages (a system merging or changing records while being read)
  // may be counted differently than a real run would count it.
  bool dry_run = false;
  // Checked before every page; when set the run ends early (the report
  // says complete = false). May be null.
  const std::atomic<bool>* stop = nullptr;
  // Safety net against a connector that never says "no more".
  int max_pages = 100000;
  // Called on the calling thread after each page committed (not in a dry
  // run), with that page's summary: the daemon counts proof entries and
  // wakes the dispatcher of the targets that got rows. May be empty.
  std::function<void(const IngestSummary&)> on_page_committed;
  // Run first in every unit of work that stores something (each page's
  // decisions, retiring missing records, recording the run), in the same
  // transaction: a failure rolls that unit back and ends the run with it.
  // consentctl checks there that the mapping it decides by is still the
  // one in force (a reload during its run). May be empty.
  std::function<Status(store::Transaction&)> guard;
  // At most this many missing records, and at most this share of the
  // system's linked records, are read after a complete run (see the file
  // comment); with more, none is (the report's missing_over_limit). Reads
  // go through the connector's rate limit.
  int missing_read_limit = 1000;
  double missing_read_max_share = 0.05;
  // This many are read whatever their share (a small installation).
  static constexpr int kMissingAlwaysRead = 3;
  // Records per Read (and per unit of work) when reading missing records.
  int missing_read_batch = 100;
  // A page whose fetch fails retryably (a 429, a 5xx, a timeout) is
  // fetched again, up to this many attempts in all, waiting
  // page_retry_wait, then twice as long each time (1 + 2 + 4 + 8 s by
  // default): one busy moment of the vendor must not end a run of
  // thousands of pages, which would start again from page one.
  int page_attempts = 5;
  std::chrono::milliseconds page_retry_wait{1000};
};

// What one resync found. Counts only; no personal data.
struct ResyncReport {
  std::string connector;
  bool dry_run = false;
  bool complete = false;  // read the whole snapshot (not stopped early)
  int pages = 0;
  int records = 0;
  // Decisions (one per change of a record) by drift kind.
  int in_step = 0;          // duplicate + echo
  int consentd_behind = 0;  // applied + held_pending
  int superseded = 0;       // the system reported an older state
  int refused = 0;          // rejected_unmapped/invalid, dropped_erased, new_subject_required
  // Repair rows enqueued (or, in a dry run, that would be) for the polled
  // system itself: one per subject whose state there is behind.
  int system_behind = 0;
  // Of those, repairs not queued because the same state to the polled
  // system is a dead letter (`consentctl dlq list`; replayed by the
  // operator, never re-added).
  int held_by_dead_letters = 0;
  // Rows enqueued by target, the polled system's repairs and the
  // propagation of what consentd learned to the other systems.
  std::map<std::string, int> enqueued;
  std::map<Outcome, int> outcomes;
  // Linked records the snapshot did not return; -1 when not looked for (a
  // dry run, whose pages' marks are rolled back, or a run stopped early).
  std::int64_t missing = -1;
  std::int64_t linked = 0;          // the system's linked records (the share's base)
  bool missing_over_limit = false;  // over missing_read_limit or _max_share: none read
  int missing_read = 0;             // of those, read again
  int missing_gone = 0;             // ... and found deleted there
  std::int64_t missing_retired = 0;  // gone, but the person has another record there
  std::string missing_error;         // the read that ended the looking, if one failed
  // Records the system failed on their own (InboundRecord::not_read): not
  // compared, each left to be read again as a hint (sync/read_again.h);
  // counted once however often this run read it (sync::ReadAgainKey).
  int not_read = 0;
  std::set<std::string> not_read_keys;

  // Subjects/decisions out of step: consentd behind + system behind.
  int drift() const { return consentd_behind + system_behind; }
};

// The cursor key (store/poller cursors) under which the time of a
// connector's last complete, committed resync is kept, so that the
// periodic one is due an interval after it across restarts.
std::string LastResyncKey(std::string_view connector);

// When a connector's first periodic resync after a start is due: one
// interval after its last complete run (`last_done`, LastResyncKey), but
// not before `min_wait` from now (the first poll goes first); never run:
// one interval from now.
std::chrono::milliseconds FirstResyncDelay(std::optional<TimestampMs> last_done,
                                           std::chrono::milliseconds interval, TimestampMs now,
                                           std::chrono::milliseconds min_wait);

// One line: "hubspot: 2 pages, 120 records; in step 300, consentd behind 4,
// system behind 2 (repairs enqueued), superseded 2, refused 0; missing 1
// (read 1, gone 1)" plus "(dry run)" / "(stopped early)"; see
// FormatResyncReport in resync.cc for the other forms of the last part.
std::string FormatResyncReport(const ResyncReport& report);

// Reads `connector`'s snapshot and decides it against the canonical state
// (see the file comment). Errors: the first failing Poll (retryable ones
// too: the caller runs resync again later) or unit of work, with the page
// number as context; pages before it stay committed (each page is whole,
// and deciding a page again is idempotent).
Result<ResyncReport> RunResync(store::Store& store, SyncEngine& engine,
                               connectors::Connector& connector, const ResyncOptions& options);

// The daemon's ResyncOptions::guard: the run's connector maps by the
// mapping whose hash is `hash` (taken when the run started); once `engine`
// decides by another (a reload swapped it), the unit is refused with a
// message saying so and `*ended_by_reload` is set, so that the daemon
// runs the resync again soon with the new connector rather than repairing
// by pages the old one mapped. Runs on the store thread, as `engine` is used.
std::function<Status(store::Transaction&)> MappingUnchangedGuard(
    const SyncEngine& engine, std::string hash, std::shared_ptr<std::atomic<bool>> ended_by_reload);

}  // namespace consentd::sync
