// The store port: the only way the rest of consentd reaches durable state.
//
// Core, mapping and connectors never see SQL. The daemon's sync engine
// submits units of work (a callable run against a Transaction); a backend
// (SQLite today, PostgreSQL later) runs them atomically and reports when
// they are durable. Row types are plain structs with JSON payloads kept as
// strings: the sync engine translates them to and from the canonical model.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "core/status.h"

namespace consentd::store {

// Inbox: one row per (source, event_id) ever accepted, kept until the
// retention horizon so that the sender's retries are recognised.
struct InboxRow {
  std::string source;    // connector instance name, e.g. "hubspot"
  std::string event_id;  // the sender's id for this delivery
  TimestampMs received_at = 0;
  std::string payload;  // optional raw or normalised payload (may be empty)
  // Set: the row is inserted as already processed then (a remembered
  // record version, not a hint waiting to be read).
  std::optional<TimestampMs> processed_at = std::nullopt;
};

// Canonical consent state for one key (subject, topic, channel[, address]).
struct ConsentKey {
  std::string subject_id;
  std::string topic;
  std::string channel;
  std::string address;  // empty when the consent is not address-specific

  bool operator==(const ConsentKey&) const = default;
};

struct ConsentRow {
  ConsentKey key;
  std::string status;             // not_asked | pending | granted | withdrawn | refused
  TimestampMs occurred_at = 0;    // capture time of the change that set it
  TimestampMs updated_at = 0;     // when consentd recorded it
  std::string state_json = "{}";  // the canonical state, as the engine writes it
};

// A block ("Sperre") on a subject for a scope such as "all", "channel:email".
// A lifted block keeps its row (active = false) so that ordering by
// occurred_at still works for late events.
struct BlockRow {
  std::string subject_id;
  std::string scope;
  bool active = true;
  std::string reason;
  std::string source;
  TimestampMs occurred_at = 0;
  TimestampMs updated_at = 0;
  std::string detail_json = "{}";
};

// One id of a subject in one system (e.g. "hubspot" → contact id).
struct IdentityLink {
  std::string subject_id;
  std::string system;
  std::string system_id;
  TimestampMs linked_at = 0;
  // The normalised address of that record as last seen or written; empty
  // when not known (links from before schema v13, records without one) or
  // when the record no longer exists on its own (RetireSystemId).
  std::string address;
  // The address a retired record had (RetireSystemId), so that nothing is
  // written there again; empty while the record lives (a report of it with
  // its address makes it live again) and for records retired before schema
  // v16. Set by the store only: LinkSystemId ignores it.
  std::string retired_address = {};
  // As of when the record was retired (known gone: the start of the read
  // that showed it, or its deletion's reported time), so that a report read
  // before then (a poll page or read-back on its way while the record was
  // retired) does not make it live again; 0 while it lives and for records
  // retired before schema v17. Set by the store only: LinkSystemId ignores it.
  TimestampMs retired_at = 0;
  // LinkSystemId: `address` only fills in an address the link does not know
  // yet; a known one stays (an answer that says nothing about the record's
  // address now, such as the id a write was given back).
  bool keep_known_address = false;
  // LinkSystemId: a retired record stays retired (an answer to a write sent
  // before it was retired says nothing about its life now; only a report
  // of the record makes it live again).
  bool keep_retired = false;
};

enum class OutboxStatus { kPending, kInflight, kDone, kDead };
std::string_view OutboxStatusName(OutboxStatus s);

// How long delivered and superseded outbox rows are kept (the daemon's
// housekeeping prunes them after this).
inline constexpr TimestampMs kDoneOutboxRowsKeptMs = 24LL * 3600 * 1000;

// A desired absolute state for one key in one target (DESIGN §2 rule 6).
struct OutboxRow {
  std::int64_t id = 0;          // assigned by Enqueue
  std::string target;           // connector instance that must apply it
  std::string key;              // target-side key, e.g. "<subject>/<topic>/<channel>"
  std::string desired_json;     // absolute desired state
  std::string idempotency_key;  // stable; unique per (target, key)
  // Which of the key's records at the target the row writes (sync: the
  // e-mail address it is sent to). A person can hold several records in one
  // system (after a merge): a row for one never replaces a row for another.
  // Empty: the whole key (an erasure, or a record known by id only); such a
  // row replaces, and is replaced by, rows for any address.
  std::string address;
  int attempts = 0;
  TimestampMs next_attempt_at = 0;  // pending: due time; inflight: lease expiry
  OutboxStatus status = OutboxStatus::kPending;
  std::string reason;  // last error, supersession, dead reason
  TimestampMs created_at = 0;
  TimestampMs updated_at = 0;
};

// What consentd wrote to a system, so that its echo is recognised (rule 5).
// "The record of `system` at `address` (Mailchimp keeps a member per
// address) showed `key` off, by its own date first at `seen_at`, in a read
// begun at `read_at`" (table shown_off). `key` is the consent key without
// its subject ("topic|channel|address"); `subject` is the person whose
// report it was (erasure, export).
struct ShownOffRow {
  std::string subject;
  std::string system;
  std::string address;
  std::string key;
  TimestampMs seen_at = 0;
  TimestampMs read_at = 0;
  // >0: the record showed the key on instead, decided then (NoteShownOn).
  TimestampMs on_at = 0;

  bool operator==(const ShownOffRow&) const = default;
};

struct EchoRow {
  std::string system;
  std::string key;
  std::string value;
  TimestampMs written_at = 0;
};

// An erased identity, matched by keyed hash of its identifiers (rule 4).
struct TombstoneRow {
  std::string identity_hash;
  TimestampMs erased_at = 0;
};

// One unit of work's view of the store. Every call takes part in the same
// atomic unit: it all becomes durable together or not at all.
//
// Thread-safety: a Transaction is only valid inside the callable it was
// passed to, on the store thread; never keep a reference to it.
// Errors: each call returns a Status; a unit of work that returns a non-OK
// Status has all its changes rolled back (its neighbours are unaffected).
// The payload of a contested version slot (Transaction::PutInboxState):
// one no state holds (sync/version_memory.h: a state never holds '#').
inline constexpr std::string_view kContestedInboxPayload = "#";

class Transaction {
 public:
  virtual ~Transaction() = default;

  // --- inbox ---
  // True if the row is new, false if (source, event_id) was already seen.
  virtual Result<bool> InsertInbox(const InboxRow& row) = 0;
  // A record version remembered in its slot (sync/version_memory.h): `row`
  // (event_id: the slot, payload: the state) is inserted as processed, as
  // InsertInbox does. If (source, event_id) is a processed row holding
  // another payload, the slot is contested from then on: its payload
  // becomes kContestedInboxPayload and its received_at `row`'s (kept for
  // the retention after its last put). True if the row is new or contested
  // (every put of a contested slot is news); false if it held this very
  // payload, or if it is a hint still waiting to be read (left as it is).
  // Each put that finds another payload moves TombstoneGeneration on: a
  // state held in memory for that slot is stale now.
  virtual Result<bool> PutInboxState(const InboxRow& row) = 0;
  // Deletes processed inbox rows received before `before` (hints not yet
  // processed are kept whatever their age); returns how many.
  virtual Result<std::int64_t> PruneInbox(TimestampMs before) = 0;
  // Up to `limit` rows of `source` not yet marked processed, oldest first
  // (webhook hints waiting for their records to be read).
  virtual Result<std::vector<InboxRow>> ListUnprocessedInbox(std::string_view source,
                                                             int limit) = 0;
  // Marks (source, event_id) processed at `now`; a missing or already
  // processed row is left as it is (idempotent).
  virtual Status MarkInboxProcessed(std::string_view source, std::string_view event_id,
                                    TimestampMs now) = 0;

  // --- canonical consent state ---
  virtual Status Upsert(const ConsentRow& row) = 0;
  virtual Result<std::optional<ConsentRow>> GetConsent(const ConsentKey& key) = 0;
  virtual Result<std::vector<ConsentRow>> ListConsents(std::string_view subject_id) = 0;
  // Up to `limit` rows with key > `after`, in key order (subject, topic,
  // channel, address): pages through all state in bounded memory (full
  // reconciliation, export). Start with a default ConsentKey.
  virtual Result<std::vector<ConsentRow>> ScanConsents(const ConsentKey& after, int limit) = 0;

  // --- blocks ---
  virtual Status UpsertBlock(const BlockRow& row) = 0;
  virtual Result<std::vector<BlockRow>> ListBlocks(std::string_view subject_id) = 0;

  // --- identities ---
  // Links (system, system_id) to subject_id, replacing an earlier link. An
  // empty `address` keeps the address the link had.
  virtual Status LinkSystemId(const IdentityLink& link) = 0;
  // The record (system, system_id) was merged into another one, or is gone
  // while the person lives on under another: its link stays (late reports
  // about it still find the subject), its address moves to
  // `retired_address`, so nothing is written to it any more. `retired_at`:
  // as of when (IdentityLink::retired_at); a record retired already keeps
  // the later of its two times (it was known gone at both).
  virtual Status RetireSystemId(std::string_view system, std::string_view system_id,
                                TimestampMs retired_at) = 0;
  // The person's queued (pending) rows to `system` for the address of the
  // live record (system, system_id) are superseded at `now` (done,
  // "superseded: record retired"), unless another live record of the
  // person there has the same address. Called before RetireSystemId where
  // the system keeps a record per address: no newer state of the person
  // goes to that address, so nothing newer would replace them.
  virtual Status SupersedeQueuedRowsOfRecord(std::string_view system, std::string_view system_id,
                                             TimestampMs now) = 0;
  // The person's queued (pending) writes to `system` are superseded at
  // `now` (done, "superseded: record permanently deleted at <system>"):
  // the record is gone for good there and a write would create it again
  // (rule 7). Erasure rows stay: their requests wait for their answers.
  virtual Status SupersedeQueuedWritesAfterDeletion(std::string_view system,
                                                    std::string_view subject_id,
                                                    TimestampMs now) = 0;
  virtual Result<std::optional<std::string>> FindSubjectBySystemId(std::string_view system,
                                                                   std::string_view system_id) = 0;
  // email_hash: keyed hash of the normalised e-mail (never the address).
  virtual Status LinkEmailHash(std::string_view subject_id, std::string_view email_hash,
                               TimestampMs linked_at) = 0;
  virtual Result<std::optional<std::string>> FindSubjectByEmailHash(
      std::string_view email_hash) = 0;
  // True if any keyed hash is stored (an e-mail hash or a tombstone): the
  // store then depends on the identity key that made them.
  virtual Result<bool> HoldsKeyedHashes() = 0;
  // Up to `limit` normalised addresses of live linked records (the
  // address of IdentityLink), any subjects: what an identity key can be
  // checked against where the store holds no key check (sync::OpenIdentityKey).
  virtual Result<std::vector<std::string>> SampleLinkedAddresses(int limit) = 0;
  virtual Result<std::vector<IdentityLink>> ListSystemIds(std::string_view subject_id) = 0;
  // Moves every system id and e-mail hash of `from` to `to` (CRM merge).
  virtual Status MoveIdentities(std::string_view from, std::string_view to) = 0;
  // Deletes state, blocks, identity links, target deletions and the echo
  // memory of a subject (erasure, or a merged subject's leftovers).
  virtual Status EraseSubject(std::string_view subject_id) = 0;
  // `from` was merged into `into` at `at`; subjects merged into `from`
  // before now count as merged into `into`.
  virtual Status RecordMerge(std::string_view from, std::string_view into, TimestampMs at) = 0;
  // The subjects merged into `into`, directly or through a chain.
  virtual Result<std::vector<std::string>> ListMergedInto(std::string_view into) = 0;
  // The subject `subject` was merged into (the last survivor of a chain), or
  // nullopt if it was not merged away.
  virtual Result<std::optional<std::string>> FindMergedInto(std::string_view subject) = 0;
  // "The subject was erased at `erased_at`": kept after EraseSubject so a
  // change naming the erased subject id is recognised (DESIGN §2 rule 4).
  virtual Status MarkSubjectErased(std::string_view subject_id, TimestampMs erased_at) = 0;
  virtual Result<std::optional<TimestampMs>> FindSubjectErased(std::string_view subject_id) = 0;
  // `system` reports the subject's record permanently deleted at `at`
  // (the earliest report is kept), decided at `recorded_at` (consentd's
  // clock, after the read that showed it; the earliest is kept).
  virtual Status RecordTargetDeletion(std::string_view subject_id, std::string_view system,
                                      TimestampMs at, TimestampMs recorded_at) = 0;
  virtual Result<std::vector<std::pair<std::string, TimestampMs>>> ListTargetDeletions(
      std::string_view subject_id) = 0;
  // When the deletion at `system` was decided (RecordTargetDeletion's
  // `recorded_at`; its `at` for a deletion recorded before schema v20),
  // or nothing when none is recorded.
  virtual Result<std::optional<TimestampMs>> TargetDeletionRecordedAt(std::string_view subject_id,
                                                                      std::string_view system) = 0;
  // The subject's record at `system` is no longer the one that was deleted
  // (a merge gave the person a live one there): the deletion goes.
  virtual Status ForgetTargetDeletion(std::string_view subject_id, std::string_view system) = 0;

  // --- outbox ---
  // Adds a pending row and returns its id. Older pending rows for the same
  // (target, key, address) are superseded (status done, reason "superseded
  // by #id"): the new row carries the absolute state. Rows for another
  // address are kept: they write another record (an empty address matches
  // every address, see OutboxRow::address). A state already queued for the
  // same (target, key) (same idempotency key, row pending, in flight or
  // dead) is not added again: the existing id is returned and `added` is
  // false. A state that was delivered (row done) is added again under a
  // key derived from the done row's: the target has changed since (a
  // repair after a lost tie, or drift found by a resync), so it must be
  // written again, and a target that honours idempotency keys must not
  // take the new request for the old one.
  virtual Result<std::int64_t> Enqueue(const OutboxRow& row, bool& added) = 0;
  Result<std::int64_t> Enqueue(const OutboxRow& row) {
    bool added = false;
    return Enqueue(row, added);
  }
  // This unit removes what was left of an erased person (rows, a hint's
  // payload): the store also clears the copies its write-ahead log keeps
  // once the batch commits (SQLite backend; a no-op elsewhere).
  virtual void NoteErasedDataRemoved() {}

  // Claims up to `limit` due rows of `target` (pending or lease-expired
  // inflight, next_attempt_at <= now), marks them inflight with
  // next_attempt_at = lease_until and attempts + 1. A key whose older row is
  // still pending or inflight is not claimed, so one key is never written
  // twice at once. Returned in due order. Rows in `skip` (those the caller
  // is still delivering: a call can outlast its lease) are not claimed,
  // so their attempts are not counted again.
  virtual Result<std::vector<OutboxRow>> ClaimOutbox(std::string_view target, TimestampMs now,
                                                     int limit, TimestampMs lease_until,
                                                     const std::set<std::int64_t>& skip) = 0;
  Result<std::vector<OutboxRow>> ClaimOutbox(std::string_view target, TimestampMs now, int limit,
                                             TimestampMs lease_until) {
    return ClaimOutbox(target, now, limit, lease_until, {});
  }
  virtual Status MarkDone(std::int64_t id, TimestampMs now) = 0;
  // An in-flight row that is not to be retried (it went stale while on its
  // way): done, with `reason` saying why. FailedPrecondition if not in flight.
  virtual Status MarkSuperseded(std::int64_t id, std::string_view reason, TimestampMs now) = 0;
  // Back to pending, due at next_attempt_at, with the reason of the failure.
  virtual Status MarkRetry(std::int64_t id, TimestampMs next_attempt_at, std::string_view reason,
                           TimestampMs now) = 0;
  virtual Status MarkDead(std::int64_t id, std::string_view reason, TimestampMs now) = 0;
  // Deletes every row of `key` in every target that is not in flight:
  // queued writes (an erasure makes them moot, the source's included),
  // delivered and superseded ones, and dead letters. Each carries the
  // person's address and state, and none is needed once they are erased
  // (the erasure's own rows are queued after this).
  virtual Status ForgetRowsOfErasedSubject(std::string_view key) = 0;
  // `from` was merged into `into`: its queued (pending) rows, which carry
  // its state from before the merge under its own key, are superseded
  // (done, reason "superseded: merged into <into>", with the failure they
  // waited on). Returns the targets they were for, each once: the caller
  // queues the combined state there. Rows in flight finish; dead letters
  // stay (`dlq replay` refuses them: their key names no one now).
  virtual Result<std::vector<std::string>> SupersedeQueuedRowsOfMergedSubject(std::string_view from,
                                                                              std::string_view into,
                                                                              TimestampMs now) = 0;
  // Deletes one row whatever its status (a finished write of a person who
  // has been erased meanwhile: nothing of it is kept).
  virtual Status DeleteOutboxRow(std::int64_t id) = 0;
  // A dead row back to pending, due now, attempts reset (dlq replay).
  virtual Status Replay(std::int64_t id, TimestampMs now) = 0;
  virtual Result<std::optional<OutboxRow>> GetOutbox(std::int64_t id) = 0;
  // Rows with the given status and id > after_id, by id, at most limit.
  virtual Result<std::vector<OutboxRow>> ListOutbox(OutboxStatus status, std::int64_t after_id,
                                                    int limit) = 0;
  virtual Result<std::int64_t> CountOutbox(OutboxStatus status) = 0;
  // Deletes done rows last updated before `before`.
  virtual Result<std::int64_t> PruneOutboxDone(TimestampMs before) = 0;
  // True if (target, key) has a row pending or in flight.
  virtual Result<bool> HasOpenOutbox(std::string_view target, std::string_view key) = 0;
  // True if (target, key) has a row other than `except_id`, created at
  // `since` or later, that is to be written or was delivered (pending, in
  // flight, or done without a reason; not dead, not superseded): a row
  // queued with it (another record of the person) or after it, which will
  // write, or wrote, what it carries.
  virtual Result<bool> HasLiveRowSince(std::string_view target, std::string_view key,
                                       TimestampMs since, std::int64_t except_id) = 0;
  // The newest row of (target, key) that writes to `address` (rows for
  // every address included; an empty `address` matches every row), whatever
  // its status; nullopt if there is none.
  virtual Result<std::optional<OutboxRow>> FindNewestOutboxRow(std::string_view target,
                                                               std::string_view key,
                                                               std::string_view address) = 0;
  // The newest row of (target, key) for `address` (as above) that was
  // delivered (done, not superseded), or nullopt. Done rows are pruned
  // after kDoneOutboxRowsKeptMs.
  virtual Result<std::optional<OutboxRow>> FindNewestDeliveredRow(std::string_view target,
                                                                  std::string_view key,
                                                                  std::string_view address) = 0;
  // The same rows, newest first, at most `limit`.
  virtual Result<std::vector<OutboxRow>> ListDeliveredRows(std::string_view target,
                                                           std::string_view key,
                                                           std::string_view address, int limit) = 0;

  // --- poller cursors ---
  virtual Result<std::optional<std::string>> GetCursor(std::string_view poller) = 0;
  virtual Status AdvanceCursor(std::string_view poller, std::string_view value,
                               TimestampMs now) = 0;

  // --- echo memory ---
  virtual Status RememberWrite(const EchoRow& row) = 0;
  // The time consentd last wrote exactly this value for (system, key).
  virtual Result<std::optional<TimestampMs>> FindWrite(std::string_view system,
                                                       std::string_view key,
                                                       std::string_view value) = 0;
  // Forgets writes made before `before`, except a member's mark as
  // awaiting its double opt-in's confirmation (value `awaiting_confirmation`,
  // sync/outbound.h): it goes when the system reports the member confirmed
  // or unsubscribed.
  virtual Result<std::int64_t> PruneWrites(TimestampMs before) = 0;
  // The last write to (system, key), whatever its value (the latest
  // written_at), or nullopt.
  virtual Result<std::optional<EchoRow>> FindLatestWrite(std::string_view system,
                                                         std::string_view key) = 0;
  // Forgets every write to (system, key) (the system reported something
  // else since, so a later report of the old value is a real change).
  virtual Status ForgetWrites(std::string_view system, std::string_view key) = 0;

  // --- what a record last showed off (docs/model.md, "The same 'off' again") ---
  // A record is named by its system and address (Mailchimp keeps a member
  // per address, and matches addresses without case), the store keeping
  // lower(address).
  //
  // `row` was reported off by a read begun at `row.read_at` (0: not known:
  // nothing is kept). Added only if that read began after the last write to
  // the record that may have landed (NoteMayShowOn); it replaces a
  // row only where that row no longer holds, so a standing row keeps its
  // first `seen_at`.
  virtual Status RememberShownOff(const ShownOffRow& row) = 0;
  // The row for (system, address, key) if it holds: its read began after
  // every write to the record that may have landed, and no write to the
  // record is in flight (claimed, not answered).
  virtual Result<std::optional<ShownOffRow>> FindStandingShownOff(std::string_view system,
                                                                  std::string_view address,
                                                                  std::string_view key) = 0;
  // The record reported the key on, decided at `at` (`subject`: the
  // reporter): "off" is not remembered any more, and a read begun before
  // `at` (decided later) does not bring it back.
  virtual Status NoteShownOn(std::string_view subject, std::string_view system,
                             std::string_view address, std::string_view key, TimestampMs at) = 0;
  // The record is gone (deleted, retired): nothing is remembered of it.
  virtual Status ForgetShownOffOfRecord(std::string_view system, std::string_view address) = 0;
  // The record may show boxes on from `at` on (nothing seen off there by a
  // read begun earlier holds): a write of `subject`'s landed or may land
  // there until then (an answer other than one showing it changed nothing;
  // ClaimOutbox notes a write whose lease ran out unanswered the same way),
  // or the record was deleted (`subject`: the reporter).
  virtual Status NoteMayShowOn(std::string_view subject, std::string_view system,
                               std::string_view address, TimestampMs at) = 0;
  // Forgets writes that may have landed before `before`, and the rows they
  // made stop holding. Returns the number of writes forgotten.
  virtual Result<std::int64_t> PruneShownOff(TimestampMs before) = 0;

  // --- tombstones ---
  virtual Status AddTombstone(const TombstoneRow& row) = 0;
  virtual Result<std::optional<TombstoneRow>> FindTombstone(std::string_view identity_hash) = 0;
  // Every tombstone and every erased subject (subject, erased_at): what the
  // erasure ledger must hold (sync/ledger_replay.h, at start).
  virtual Result<std::vector<TombstoneRow>> ListTombstones() = 0;
  virtual Result<std::vector<std::pair<std::string, TimestampMs>>> ListErasedSubjects() = 0;
  // A number that changes whenever a tombstone may have been added: by
  // this store (AddTombstone, counted even if its unit rolls back) or by
  // another connection (any commit of it: consentctl). Two units that read
  // the same value had no erasure between them. It also changes when this
  // store puts a state into a slot holding another (PutInboxState), so that
  // the versions held in memory are all looked up again: what they say of
  // that slot is stale (rare: two states of one record within one second).
  // Never repeats a value within one process, and a later value is larger
  // (sync/recent_versions.h keeps the largest it was given).
  virtual std::int64_t TombstoneGeneration() const = 0;
};

// A unit of work. Returning OK commits everything it did (with its batch);
// returning an error rolls back everything it did and nothing else. This is
// STYLE habit 8's `txn.Commit()`: the commit is the return, so a unit of
// work cannot half-commit or forget to. It runs once, on the store thread,
// in submission order; it must not block on anything but the Transaction.
using Work = std::function<Status(Transaction&)>;
// Called once per submission with the outcome: OK means durable.
// Runs on one of the store's own threads, in commit order: keep it short,
// post elsewhere for real work, never block on the store from inside it.
using Done = std::function<void(const Status&)>;

struct SubmitOptions {
  // True: the commit that covers this work is fsynced before Done (use for
  // anything that acknowledges external input). False: may ride a cheaper
  // commit (still atomic, may be lost on power failure, not on a crash).
  bool durable = true;
};

// Counters for /metrics.
struct StoreStats {
  std::uint64_t batches = 0;         // transactions attempted (group commits)
  std::uint64_t submissions = 0;     // submissions run
  std::uint64_t failed_batches = 0;  // transactions that did not commit
  std::uint64_t queued = 0;          // submissions waiting right now
  // The latest transaction did not commit (e.g. another process held the
  // database's lock past busy_timeout); false again after one that did.
  bool last_batch_failed = false;
  // fsyncs of the WAL the store made itself (pipelined durability) and the
  // time spent in them: their ratio is the disk's flush latency, which an
  // acknowledged webhook waits for. 0 with synchronous=FULL (SQLite syncs
  // inside COMMIT then).
  std::uint64_t wal_syncs = 0;
  double wal_sync_seconds = 0;
  // Erasures committed whose records could not be appended to the erasure
  // ledger (store/erasure_ledger.h): a restore from a backup would not
  // re-apply them.
  std::uint64_t erasure_ledger_failures = 0;
  // Records of such erasures still waiting to be appended (tried again with
  // later batches, at most every 10 s, and at Close).
  std::uint64_t erasure_ledger_backlog = 0;
};

// A store backend. Thread-safe: Submit may be called from any thread.
class Store {
 public:
  virtual ~Store() = default;

  // Queues `work`. `done` receives: the work's own error if it failed;
  // Unavailable (retryable) if the commit of its batch failed;
  // ResourceExhausted if the queue is full (overloaded; answer 503);
  // FailedPrecondition if the store is closed. `done` may run on the
  // calling thread when the submission is refused immediately.
  void Submit(Work work, Done done, SubmitOptions options = {}) {
    DoSubmit(std::move(work), std::move(done), options);
  }

  // The same, with a future for callers that wait (tests, CLI, pollers).
  std::future<Status> Submit(Work work, SubmitOptions options = {});

  // Submits and waits. Never call from the store thread (from a Work or Done).
  Status Run(Work work, SubmitOptions options = {}) {
    return Submit(std::move(work), options).get();
  }

  // Drains queued work, commits, stops the store thread and closes.
  // Idempotent; later submissions fail with FailedPrecondition.
  virtual Status Close() = 0;

  // True between a successful open and Close (for /readyz).
  virtual bool IsOpen() const = 0;

  // Grows while the store thread makes progress, also when idle (it ticks
  // at least every heartbeat interval). The watchdog pings only if it grew.
  virtual std::uint64_t Heartbeat() const = 0;
  // When it last grew (steady clock; the open, before the first beat), so
  // that a stall is measured from the store's last progress, not from when
  // someone first noticed the count standing still.
  virtual std::chrono::steady_clock::time_point LastHeartbeatAt() const = 0;

  // Cheap (one lock); for /metrics and the benchmark.
  virtual StoreStats stats() const = 0;

  // Commits by another connection (consentctl resync, erase, dlq replay)
  // seen so far, counted as write transactions begin (PRAGMA
  // data_version): when it moves, rows may be there that no caller in this
  // process announced (hints a resync queued, say).
  virtual std::uint64_t ForeignCommitsSeen() const { return 0; }

 protected:
  virtual void DoSubmit(Work work, Done done, SubmitOptions options) = 0;
};

}  // namespace consentd::store
