// The sync engine: the store-thread half of DESIGN.md §3 ②. Everything here
// runs inside a store unit of work (store.h `Work`), so a hint, a decision,
// its state change, its proof-log entries, its outbox rows, its echo
// memory and the poll cursor all become durable together or not at all.
//
//   webhook  -> AcceptHints  (inbox dedupe; 2xx after commit)
//   hint     -> PendingHints -> connector Read (worker pool) -> Ingest + MarkHintsDone
//   poll     -> connector Poll -> Ingest + AdvanceCursor, one transaction
//   outbox   -> dispatcher claims rows -> connector Deliver -> RecordDeliveries
//
// Ingest, per record: identity (system id, then keyed hash of the
// normalised e-mail; a new subject is minted otherwise; a merge moves the
// merged ids and combines both histories, the restrictive side winning),
// the subject's state, echo memory and tombstones are loaded, each change
// is decided by the pure reconciler (core/reconciler.h), and the decision
// is applied: state rows, proof-log entries, echo memory, tombstones, and
// ONE outbox row per (target, subject) carrying the subject's whole desired
// state for that target (connectors/common/desired_state.h).
//
// Thread-safety: a SyncEngine is used on the store thread only. SetMapping
// swaps the mapping between units of work (call it from a Work).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "connectors/common/connector.h"
#include "core/policy.h"
#include "core/reconciler.h"
#include "mapping/spec.h"
#include "store/store.h"

namespace consentd::sync {

struct EngineSettings {
  std::shared_ptr<const mapping::MappingSpec> mapping;
  // Secret key of the identifier hashes (>= 16 bytes).
  std::string identity_key;
};

// One decision, for the daemon's log lines and `explain`; no personal data.
struct DecisionNote {
  std::string source;
  std::string subject;
  std::string what;  // "consent newsletter/email", "block all", "erasure"
  Outcome outcome = Outcome::kApplied;
  std::string reason;
  // Targets that refuse the resulting write (rule 7): nothing is sent there.
  std::vector<std::string> blocked_targets;
};

struct IngestSummary {
  std::map<Outcome, int> outcomes;      // decisions by outcome
  std::uint64_t proof_entries = 0;      // appended (ProofLogComponent)
  std::map<std::string, int> enqueued;  // outbox rows by target (wake it)
  // States not queued because the same state's row to that target is a
  // dead letter (it is replayed by the operator, not re-added): those dead
  // rows' ids, by target.
  std::map<std::string, std::set<std::int64_t>> held_dead;
  std::vector<DecisionNote> notes;      // one per decision
  int records = 0;
  int duplicates = 0;  // hints already in the inbox (AcceptHints)
  // Records deleted at their system that belong to no one consentd knows:
  // nothing stored for them (no subject, no proof entry).
  int unknown_deletions = 0;
  // Sources whose inbox got a hint of consentd's own (RecordDeliveries: a
  // record to read again): list their hints.
  std::set<std::string> hinted;
};

// What ApplyNoticeVersions found (issue #7, sync/reconsent.cc).
struct NoticeUpdate {
  // One line per topic whose notice version was recorded, for the log.
  std::vector<std::string> lines;
  // Grants must be (re-)checked against the notice versions: call
  // WalkReconsent until it reports done.
  bool walk_pending = false;
};

// One page of the re-consent walk.
struct ReconsentWalkPage {
  IngestSummary summary;  // proof entries appended, outbox rows by target
  int marked = 0;         // grants now awaiting re-consent
  int cleared = 0;        // grants no longer awaiting it (a lowered version)
  bool done = false;      // the walk is finished (nothing pending)
};

// A stored, not yet processed webhook hint.
struct PendingHint {
  std::string source;
  connectors::RecordRef ref;
  TimestampMs received_at = 0;
};

// The reads a round of hints needs: one per distinct record reference.
// Several events about one record (a HubSpot batch often carries a property
// change per subscription) need one read; references that differ in what
// they say beyond their event id and time (the ids a merge folds in, the
// old address of an address change, a self-contained event) are each kept,
// or that information would be lost. In the order of `pending`.
std::vector<connectors::RecordRef> ReadsForHints(const std::vector<PendingHint>& pending);

class SyncEngine {
 public:
  explicit SyncEngine(EngineSettings settings);

  // Keeps the notice timelines loaded by ApplyNoticeVersions.
  void SetMapping(std::shared_ptr<const mapping::MappingSpec> mapping);
  // The mapping in force (store thread, like SetMapping).
  std::shared_ptr<const mapping::MappingSpec> mapping() const { return settings_.mapping; }

  // Re-consent when terms change (issue #7, docs/model.md). Records a new
  // period for every topic whose notice version in the mapping differs
  // from the one recorded last, effective from the time the mapping in
  // force was recorded (config_changes, store/config_history.h; call it in
  // or after the unit that records the mapping), loads every topic's
  // timeline into the Policy and, when a version changed, (re)starts the
  // walk over the stored grants. Idempotent: the same mapping again
  // records nothing and leaves a finished walk finished.
  Result<NoticeUpdate> ApplyNoticeVersions(store::Transaction& txn, TimestampMs now);

  // One page (at most `page_size` consent rows, in key order, from where
  // the last page stopped: the position is durable with the page) of the
  // walk: every grant whose re-consent state differs from what the notice
  // timelines say is updated, gets one notice_reconsent_required proof
  // entry, and the targets that show re-consent markers get an outbox row.
  Result<ReconsentWalkPage> WalkReconsent(store::Transaction& txn, TimestampMs now,
                                          int page_size = 256);
  const std::string& mapping_hash() const { return mapping_hash_; }

  // Stores webhook hints from `source` in the inbox, unprocessed; a hint
  // whose (source, event_id) is already there is a duplicate (counted,
  // nothing stored).
  Result<IngestSummary> AcceptHints(store::Transaction& txn, std::string_view source,
                                    const std::vector<connectors::RecordRef>& refs,
                                    TimestampMs now);

  // Up to `limit` unprocessed hints of `source`, oldest first.
  Result<std::vector<PendingHint>> PendingHints(store::Transaction& txn, std::string_view source,
                                                int limit);

  // Marks hints processed (after their records were ingested, or when the
  // connector could not resolve them: then `reason` is logged).
  Status MarkHintsDone(store::Transaction& txn, std::string_view source,
                       const std::vector<std::string>& event_ids, TimestampMs now);

  // Decides and applies records read from `source`. Records read again
  // (a poll's overlap window, the read-back of a hint) are filtered before
  // this by version (sync/version_memory.h).
  Result<IngestSummary> Ingest(store::Transaction& txn, std::string_view source,
                               const std::vector<connectors::InboundRecord>& records,
                               TimestampMs now);

  // Applies delivery outcomes of claimed rows of `target`: done (and the
  // target's system id linked, a `propagated` proof entry, or `superseded`
  // when the target kept every value out: DeliveryResult::nothing_written), retry at
  // `retry_at[i]`, dead (reason kept, `rejected` entry) or
  // blocked_by_target (terminal, `blocked_by_target` entry). `rows` and
  // `results` are matched by outbox id; `retry_at` by outbox id too.
  Result<IngestSummary> RecordDeliveries(store::Transaction& txn, std::string_view target,
                                         const std::vector<store::OutboxRow>& rows,
                                         const std::vector<connectors::DeliveryResult>& results,
                                         const std::map<std::int64_t, TimestampMs>& retry_at,
                                         int max_attempts, TimestampMs now);

 private:
  // policy_ from the mapping plus notices_ (a topic without a version in
  // the mapping gets no timeline).
  void RebuildPolicy();
  // Loads the recorded notice timelines once, for an engine whose owner
  // never called ApplyNoticeVersions (consentctl resync, tests): a grant
  // read again must still be judged by the version it was captured under.
  Status EnsureNoticesLoaded(store::Transaction& txn);

  EngineSettings settings_;
  std::map<std::string, NoticeTimeline> notices_;  // topic -> recorded timeline
  bool notices_loaded_ = false;
  Policy policy_;
  std::string mapping_hash_;
};

// Loads the identity key from `path`, creating 32 random bytes (mode 0600)
// if the file does not exist. Errors name the path.
Result<std::string> LoadOrCreateIdentityKey(const std::string& path);
// Loads an existing identity key (tools that must not create one);
// NotFound if the file does not exist.
Result<std::string> LoadIdentityKey(const std::string& path);

// Which identity key a store belongs with. Every keyed hash in the store
// (e-mail hashes, tombstones) was made with one key; under another,
// consentd would recognise no one it knows, not even the people erased.
// So the store keeps a check value of its key (the cursor
// kIdentityKeyCheckCursor: an HMAC of a fixed text under the key, which
// tells nothing about the key) and a key that does not match is refused.
inline constexpr std::string_view kIdentityKeyCheckCursor = "identity-key-check";
// The check value of `key` (hex, 32 characters).
Result<std::string> IdentityKeyCheck(std::string_view key);

enum class IdentityKeyUse {
  kRead,           // load and compare; never write the check or a key
  kBind,           // also store the check when the store has none yet
  kCreateAndBind,  // also create the key when it is missing and may be
};
// The identity key at `path`, for the store of `txn` (in the caller's unit
// of work). The key file present: loaded, and FailedPrecondition if the
// store's check names another key. The key file missing: FailedPrecondition
// if the store holds a check or keyed hashes (restore the key, never make
// a new one); else created under kCreateAndBind, NotFound otherwise.
// Under kBind and kCreateAndBind a store without a check gets this key's.
// A store from before the check, with hashes, is bound to the key it is
// given: nothing could tell a wrong one then.
Result<std::string> OpenIdentityKey(store::Transaction& txn, const std::string& path,
                                    IdentityKeyUse use, TimestampMs now);

// The subject whose linked addresses include `email` (normalised first,
// then looked up by its keyed hash), or nullopt. InvalidArgument if the
// address does not normalise. Inside the caller's unit of work.
Result<std::optional<std::string>> FindSubjectByEmail(store::Transaction& txn,
                                                      std::string_view identity_key,
                                                      std::string_view email);

}  // namespace consentd::sync
