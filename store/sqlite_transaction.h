// Transaction on the SQLite store: the SQL behind each Transaction call.
// Internal to the SQLite backend; see store/store.h for the contract.
#pragma once

#include <string>
#include <string_view>

#include "store/erasure_ledger.h"
#include "store/inbox_keys.h"
#include "store/sqlite_db.h"
#include "store/store.h"
#include "store/tombstone_counter.h"

namespace consentd::store {

// Borrows `db`, on which the store thread has opened a transaction (and a
// savepoint for this unit of work), and `inbox_keys`, the connection's
// recent inbox keys, Refresh()ed in that transaction. Lives only for one
// unit of work.
class SqliteTransaction final : public Transaction {
 public:
  SqliteTransaction(Db& db, InboxKeys& inbox_keys, TombstoneCounter& tombstones)
      : db_(db), inbox_keys_(inbox_keys), tombstones_(tombstones) {}

  // The connection, inside this unit's savepoint: for store-internal
  // extensions of the SQLite backend (the proof log), never for callers.
  Db& db() { return db_; }

  // Where MarkSubjectErased and AddTombstone note their erasure ledger
  // records (store/erasure_ledger.h); none noted while unset.
  void CollectLedgerRecords(std::vector<LedgerRecord>* out) { ledger_ = out; }

  Result<bool> InsertInbox(const InboxRow& row) override;
  Result<bool> PutInboxState(const InboxRow& row) override;
  Result<std::int64_t> PruneInbox(TimestampMs before) override;
  Result<std::vector<InboxRow>> ListUnprocessedInbox(std::string_view source, int limit) override;
  Status MarkInboxProcessed(std::string_view source, std::string_view event_id,
                            TimestampMs now) override;

  Status Upsert(const ConsentRow& row) override;
  Result<std::optional<ConsentRow>> GetConsent(const ConsentKey& key) override;
  Result<std::vector<ConsentRow>> ListConsents(std::string_view subject_id) override;
  Result<std::vector<ConsentRow>> ScanConsents(const ConsentKey& after, int limit) override;

  Status UpsertBlock(const BlockRow& row) override;
  Result<std::vector<BlockRow>> ListBlocks(std::string_view subject_id) override;

  Status LinkSystemId(const IdentityLink& link) override;
  Status RetireSystemId(std::string_view system, std::string_view system_id,
                        TimestampMs retired_at) override;
  Status SupersedeQueuedRowsOfRecord(std::string_view system, std::string_view system_id,
                                     TimestampMs now) override;
  Status SupersedeQueuedWritesAfterDeletion(std::string_view system, std::string_view subject_id,
                                            TimestampMs now) override;
  Result<std::optional<std::string>> FindSubjectBySystemId(std::string_view system,
                                                           std::string_view system_id) override;
  Status LinkEmailHash(std::string_view subject_id, std::string_view email_hash,
                       TimestampMs linked_at) override;
  Result<std::optional<std::string>> FindSubjectByEmailHash(std::string_view email_hash) override;
  Result<bool> HoldsKeyedHashes() override;
  Result<std::vector<std::string>> SampleLinkedAddresses(int limit) override;
  Result<std::vector<IdentityLink>> ListSystemIds(std::string_view subject_id) override;
  Status MoveIdentities(std::string_view from, std::string_view to) override;
  Status EraseSubject(std::string_view subject_id) override;
  Status RecordMerge(std::string_view from, std::string_view into, TimestampMs at) override;
  Result<std::vector<std::string>> ListMergedInto(std::string_view into) override;
  Result<std::optional<std::string>> FindMergedInto(std::string_view subject) override;
  Status MarkSubjectErased(std::string_view subject_id, TimestampMs erased_at) override;
  Result<std::optional<TimestampMs>> FindSubjectErased(std::string_view subject_id) override;
  Status RecordTargetDeletion(std::string_view subject_id, std::string_view system, TimestampMs at,
                              TimestampMs recorded_at) override;
  Result<std::vector<std::pair<std::string, TimestampMs>>> ListTargetDeletions(
      std::string_view subject_id) override;
  Result<std::optional<TimestampMs>> TargetDeletionRecordedAt(std::string_view subject_id,
                                                              std::string_view system) override;
  Status ForgetTargetDeletion(std::string_view subject_id, std::string_view system) override;

  using Transaction::Enqueue;
  Result<std::int64_t> Enqueue(const OutboxRow& row, bool& added) override;
  void NoteErasedDataRemoved() override { db_.NoteErasedRowsRemoved(); }
  using Transaction::ClaimOutbox;
  Result<std::vector<OutboxRow>> ClaimOutbox(std::string_view target, TimestampMs now, int limit,
                                             TimestampMs lease_until,
                                             const std::set<std::int64_t>& skip) override;
  Status MarkDone(std::int64_t id, TimestampMs now) override;
  Status MarkSuperseded(std::int64_t id, std::string_view reason, TimestampMs now) override;
  Status MarkRetry(std::int64_t id, TimestampMs next_attempt_at, std::string_view reason,
                   TimestampMs now) override;
  Status MarkDead(std::int64_t id, std::string_view reason, TimestampMs now) override;
  Status ForgetRowsOfErasedSubject(std::string_view key) override;
  Result<std::vector<std::string>> SupersedeQueuedRowsOfMergedSubject(std::string_view from,
                                                                      std::string_view into,
                                                                      TimestampMs now) override;
  Status DeleteOutboxRow(std::int64_t id) override;
  Status Replay(std::int64_t id, TimestampMs now) override;
  Result<std::optional<OutboxRow>> GetOutbox(std::int64_t id) override;
  Result<std::vector<OutboxRow>> ListOutbox(OutboxStatus status, std::int64_t after_id,
                                            int limit) override;
  Result<std::int64_t> CountOutbox(OutboxStatus status) override;
  Result<std::int64_t> PruneOutboxDone(TimestampMs before) override;
  Result<bool> HasOpenOutbox(std::string_view target, std::string_view key) override;
  Result<bool> HasLiveRowSince(std::string_view target, std::string_view key, TimestampMs since,
                               std::int64_t except_id) override;
  Result<std::optional<OutboxRow>> FindNewestOutboxRow(std::string_view target,
                                                       std::string_view key,
                                                       std::string_view address) override;
  Result<std::optional<OutboxRow>> FindNewestDeliveredRow(std::string_view target,
                                                          std::string_view key,
                                                          std::string_view address) override;
  Result<std::vector<OutboxRow>> ListDeliveredRows(std::string_view target, std::string_view key,
                                                   std::string_view address, int limit) override;

  Result<std::optional<std::string>> GetCursor(std::string_view poller) override;
  Status AdvanceCursor(std::string_view poller, std::string_view value, TimestampMs now) override;

  Status RememberWrite(const EchoRow& row) override;
  Result<std::optional<TimestampMs>> FindWrite(std::string_view system, std::string_view key,
                                               std::string_view value) override;
  Result<std::int64_t> PruneWrites(TimestampMs before) override;
  Result<std::optional<EchoRow>> FindLatestWrite(std::string_view system,
                                                 std::string_view key) override;
  Status ForgetWrites(std::string_view system, std::string_view key) override;

  Status RememberShownOff(const ShownOffRow& row) override;
  Result<std::optional<ShownOffRow>> FindStandingShownOff(std::string_view system,
                                                          std::string_view address,
                                                          std::string_view key) override;
  Status NoteShownOn(std::string_view subject, std::string_view system, std::string_view address,
                     std::string_view key, TimestampMs at) override;
  Status ForgetShownOffOfRecord(std::string_view system, std::string_view address) override;
  Status NoteMayShowOn(std::string_view subject, std::string_view system, std::string_view address,
                       TimestampMs at) override;
  Result<std::int64_t> PruneShownOff(TimestampMs before) override;

  Status AddTombstone(const TombstoneRow& row) override;
  Result<std::vector<TombstoneRow>> ListTombstones() override;
  Result<std::vector<std::pair<std::string, TimestampMs>>> ListErasedSubjects() override;
  Result<std::optional<TombstoneRow>> FindTombstone(std::string_view identity_hash) override;
  std::int64_t TombstoneGeneration() const override { return tombstones_.value(); }

 private:
  // Inserts `row`, whose (source, event_id) has dedupe key `key` and is
  // not in the inbox yet.
  Status InsertNewInbox(const InboxRow& row, std::int64_t key);
  // Sets `status` of row `id` if it is in one of the states `from_sql`.
  Status SetOutboxStatus(std::int64_t id, const char* sql, std::string_view reason,
                         TimestampMs now);
  Db& db_;
  InboxKeys& inbox_keys_;
  TombstoneCounter& tombstones_;
  std::vector<LedgerRecord>* ledger_ = nullptr;
};

// The SQLite connection behind `txn`, for the store-internal extensions of
// the SQLite backend (proof log, config history, consent counts);
// FailedPrecondition naming `what` for any other backend.
inline Result<Db*> SqliteDbOf(Transaction& txn, std::string_view what) {
  auto* sqlite = dynamic_cast<SqliteTransaction*>(&txn);
  if (sqlite == nullptr) {
    return FailedPrecondition(std::string(what) + ": needs the SQLite store backend");
  }
  return &sqlite->db();
}

}  // namespace consentd::store
