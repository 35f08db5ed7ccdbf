#include "store/sqlite_transaction.h"

#include <algorithm>
#include <set>
#include <string>

#include "core/keyed_hash.h"
#include "store/inbox_key.h"
#include "store/sql_fragments.h"

namespace consentd::store {
namespace {

// A cached statement that is reset when the scope ends, so no statement
// keeps a read open past the call that used it.
class Use {
 public:
  Use(Db& db, std::string_view sql) : stmt_(db.Prepare(sql)) {}
  ~Use() {
    if (stmt_.ok()) (*stmt_)->Reset();
  }
  Use(const Use&) = delete;
  Use& operator=(const Use&) = delete;
  bool ok() const { return stmt_.ok(); }
  const Status& status() const { return stmt_.status(); }
  Stmt* operator->() { return *stmt_; }
  Stmt& operator*() { return **stmt_; }

 private:
  Result<Stmt*> stmt_;
};

#define STORE_USE(var, sql) \
  Use var(db_, sql);        \
  if (!var.ok()) return var.status()

// Rows read by SELECT ... and RETURNING with this column list, in order.
constexpr std::string_view kOutboxColumns =
    "id, target, key, desired_json, idempotency_key, attempts, next_attempt_at, status, "
    "reason, created_at, updated_at, address";

std::optional<OutboxStatus> ParseOutboxStatus(std::string_view s) {
  if (s == "pending") return OutboxStatus::kPending;
  if (s == "inflight") return OutboxStatus::kInflight;
  if (s == "done") return OutboxStatus::kDone;
  if (s == "dead") return OutboxStatus::kDead;
  return std::nullopt;
}

Result<OutboxRow> ReadOutbox(Stmt& st) {
  OutboxRow r;
  r.id = st.Int(0);
  r.target = st.Text(1);
  r.key = st.Text(2);
  r.desired_json = st.Text(3);
  r.idempotency_key = st.Text(4);
  r.attempts = static_cast<int>(st.Int(5));
  r.next_attempt_at = st.Int(6);
  std::optional<OutboxStatus> status = ParseOutboxStatus(st.Text(7));
  if (!status) return DataLoss("outbox row " + std::to_string(r.id) + ": bad status");
  r.status = *status;
  r.reason = st.Text(8);
  r.created_at = st.Int(9);
  r.updated_at = st.Int(10);
  r.address = st.Text(11);
  return r;
}

Result<std::vector<OutboxRow>> ReadOutboxRows(Stmt& st) {
  std::vector<OutboxRow> out;
  for (;;) {
    Result<bool> row = st.Step();
    if (!row.ok()) return row.status();
    if (!*row) return out;
    Result<OutboxRow> r = ReadOutbox(st);
    if (!r.ok()) return r.status();
    out.push_back(std::move(*r));
  }
}

// The first row a query of kOutboxColumns returns, or nullopt.
Result<std::optional<OutboxRow>> ReadFirstOutboxRow(Stmt& st) {
  Result<std::vector<OutboxRow>> rows = ReadOutboxRows(st);
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::optional<OutboxRow>();
  return std::optional<OutboxRow>(std::move(rows->front()));
}

ConsentRow ReadConsent(Stmt& st) {
  ConsentRow r;
  r.key.subject_id = st.Text(0);
  r.key.topic = st.Text(1);
  r.key.channel = st.Text(2);
  r.key.address = st.Text(3);
  r.status = st.Text(4);
  r.occurred_at = st.Int(5);
  r.updated_at = st.Int(6);
  r.state_json = st.Text(7);
  return r;
}

Result<std::vector<ConsentRow>> ReadConsents(Stmt& st) {
  std::vector<ConsentRow> out;
  for (;;) {
    Result<bool> row = st.Step();
    if (!row.ok()) return row.status();
    if (!*row) return out;
    out.push_back(ReadConsent(st));
  }
}

// Runs a statement whose only output is a count of changed rows.
Result<std::int64_t> RunCounting(Db& db, Stmt& st) {
  Status s = st.Run();
  if (!s.ok()) return s;
  return db.Changes();
}

Result<std::optional<std::string>> OptionalText(Stmt& st) {
  Result<bool> row = st.Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<std::string>();
  return std::optional<std::string>(st.Text(0));
}

}  // namespace

std::string_view OutboxStatusName(OutboxStatus s) {
  switch (s) {
    case OutboxStatus::kPending:
      return "pending";
    case OutboxStatus::kInflight:
      return "inflight";
    case OutboxStatus::kDone:
      return "done";
    case OutboxStatus::kDead:
      return "dead";
  }
  return "unknown";
}

// --- inbox ---
// Rows are found by their dedupe key (store/inbox_key.h) through
// inbox_keys and the connection's recent keys (store/inbox_keys.h), then
// compared on source and event id (keys may collide).

Result<bool> SqliteTransaction::InsertInbox(const InboxRow& row) {
  const std::int64_t key = InboxDedupeKey(row.source, row.event_id);
  Result<std::optional<std::int64_t>> seen = inbox_keys_.Find(db_, key, row.source, row.event_id);
  if (!seen.ok()) return seen.status();
  if (seen->has_value()) return false;
  CONSENTD_RETURN_IF_ERROR(InsertNewInbox(row, key));
  return true;
}

Status SqliteTransaction::InsertNewInbox(const InboxRow& row, std::int64_t key) {
  if (row.processed_at) {
    // One INSERT instead of INSERT + UPDATE, and no entry in the
    // unprocessed-hints index to add and remove again.
    STORE_USE(st,
              "INSERT INTO inbox (source, event_id, dedupe_key, received_at, processed_at, "
              "payload) VALUES (?, ?, ?, ?, ?, ?)");
    st->BindAll(row.source, row.event_id, key, row.received_at, *row.processed_at, row.payload);
    CONSENTD_RETURN_IF_ERROR(st->Run());
  } else {
    STORE_USE(st,
              "INSERT INTO inbox (source, event_id, dedupe_key, received_at, payload) "
              "VALUES (?, ?, ?, ?, ?)");
    st->BindAll(row.source, row.event_id, key, row.received_at, row.payload);
    CONSENTD_RETURN_IF_ERROR(st->Run());
  }
  return inbox_keys_.Added(db_, db_.LastInsertRowid(), key);
}

Result<bool> SqliteTransaction::PutInboxState(const InboxRow& row) {
  if (!row.processed_at) return InvalidArgument("PutInboxState: the row must be processed");
  const std::int64_t key = InboxDedupeKey(row.source, row.event_id);
  Result<std::optional<std::int64_t>> seen = inbox_keys_.Find(db_, key, row.source, row.event_id);
  if (!seen.ok()) return seen.status();
  if (!seen->has_value()) {
    CONSENTD_RETURN_IF_ERROR(InsertNewInbox(row, key));
    return true;
  }
  // Contested (or contested again): received_at too, so the slot is kept
  // for the retention after its last put, not its first.
  STORE_USE(st,
            "UPDATE inbox SET payload = ?, received_at = ?, processed_at = ? "
            "WHERE id = ? AND processed_at IS NOT NULL AND payload <> ?");
  st->BindAll(kContestedInboxPayload, row.received_at, *row.processed_at, **seen, row.payload);
  Result<std::int64_t> replaced = RunCounting(db_, *st);
  if (!replaced.ok()) return replaced.status();
  if (*replaced == 0) return false;
  tombstones_.Added();
  return true;
}

Result<std::int64_t> SqliteTransaction::PruneInbox(TimestampMs before) {
  STORE_USE(st, "DELETE FROM inbox WHERE received_at < ? AND processed_at IS NOT NULL");
  st->BindAll(before);
  return RunCounting(db_, *st);
}

Result<std::vector<InboxRow>> SqliteTransaction::ListUnprocessedInbox(std::string_view source,
                                                                      int limit) {
  STORE_USE(st,
            "SELECT source, event_id, received_at, payload FROM inbox INDEXED BY inbox_unprocessed "
            "WHERE source = ? AND processed_at IS NULL ORDER BY received_at, id LIMIT ?");
  st->BindAll(source, limit);
  std::vector<InboxRow> out;
  for (;;) {
    Result<bool> row = st->Step();
    if (!row.ok()) return row.status();
    if (!*row) return out;
    out.push_back({st->Text(0), st->Text(1), st->Int(2), st->Text(3)});
  }
}

Status SqliteTransaction::MarkInboxProcessed(std::string_view source, std::string_view event_id,
                                             TimestampMs now) {
  Result<std::optional<std::int64_t>> id =
      inbox_keys_.Find(db_, InboxDedupeKey(source, event_id), source, event_id);
  if (!id.ok()) return id.status();
  if (!id->has_value()) return Status::Ok();
  // The payload (a hint: the record's ids, for Mailchimp its address) is
  // needed only until the hint is processed; dedupe needs only the event
  // id. Clearing it keeps no personal data for the rest of the retention
  // (secure_delete zeroes the old bytes), erased people's included.
  STORE_USE(
      st, "UPDATE inbox SET processed_at = ?, payload = '' WHERE id = ? AND processed_at IS NULL");
  st->BindAll(now, **id);
  return st->Run();
}

// --- consent state ---

Status SqliteTransaction::Upsert(const ConsentRow& row) {
  STORE_USE(st,
            "INSERT INTO consent_state (subject_id, topic, channel, address, status, "
            "occurred_at, updated_at, state_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (subject_id, topic, channel, address) DO UPDATE SET "
            "status = excluded.status, occurred_at = excluded.occurred_at, "
            "updated_at = excluded.updated_at, state_json = excluded.state_json");
  st->BindAll(row.key.subject_id, row.key.topic, row.key.channel, row.key.address, row.status,
              row.occurred_at, row.updated_at, row.state_json);
  return st->Run();
}

Result<std::optional<ConsentRow>> SqliteTransaction::GetConsent(const ConsentKey& key) {
  STORE_USE(st,
            "SELECT subject_id, topic, channel, address, status, occurred_at, updated_at, "
            "state_json FROM consent_state "
            "WHERE subject_id = ? AND topic = ? AND channel = ? AND address = ?");
  st->BindAll(key.subject_id, key.topic, key.channel, key.address);
  Result<bool> row = st->Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<ConsentRow>();
  return std::optional<ConsentRow>(ReadConsent(*st));
}

Result<std::vector<ConsentRow>> SqliteTransaction::ListConsents(std::string_view subject_id) {
  STORE_USE(st,
            "SELECT subject_id, topic, channel, address, status, occurred_at, updated_at, "
            "state_json FROM consent_state WHERE subject_id = ? "
            "ORDER BY topic, channel, address");
  st->BindAll(subject_id);
  return ReadConsents(*st);
}

Result<std::vector<ConsentRow>> SqliteTransaction::ScanConsents(const ConsentKey& after,
                                                                int limit) {
  STORE_USE(st,
            "SELECT subject_id, topic, channel, address, status, occurred_at, updated_at, "
            "state_json FROM consent_state "
            "WHERE (subject_id, topic, channel, address) > (?, ?, ?, ?) "
            "ORDER BY subject_id, topic, channel, address LIMIT ?");
  st->BindAll(after.subject_id, after.topic, after.channel, after.address, limit);
  return ReadConsents(*st);
}

// --- blocks ---

Status SqliteTransaction::UpsertBlock(const BlockRow& row) {
  STORE_USE(st,
            "INSERT INTO blocks (subject_id, scope, active, reason, source, occurred_at, "
            "updated_at, detail_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (subject_id, scope) DO UPDATE SET active = excluded.active, "
            "reason = excluded.reason, source = excluded.source, "
            "occurred_at = excluded.occurred_at, updated_at = excluded.updated_at, "
            "detail_json = excluded.detail_json");
  st->BindAll(row.subject_id, row.scope, row.active ? 1 : 0, row.reason, row.source,
              row.occurred_at, row.updated_at, row.detail_json);
  return st->Run();
}

Result<std::vector<BlockRow>> SqliteTransaction::ListBlocks(std::string_view subject_id) {
  STORE_USE(st,
            "SELECT subject_id, scope, active, reason, source, occurred_at, updated_at, "
            "detail_json FROM blocks WHERE subject_id = ? ORDER BY scope");
  st->BindAll(subject_id);
  std::vector<BlockRow> out;
  for (;;) {
    Result<bool> row = st->Step();
    if (!row.ok()) return row.status();
    if (!*row) return out;
    BlockRow b;
    b.subject_id = st->Text(0);
    b.scope = st->Text(1);
    b.active = st->Int(2) != 0;
    b.reason = st->Text(3);
    b.source = st->Text(4);
    b.occurred_at = st->Int(5);
    b.updated_at = st->Int(6);
    b.detail_json = st->Text(7);
    out.push_back(std::move(b));
  }
}

// --- identities ---

Status SqliteTransaction::LinkSystemId(const IdentityLink& link) {
  STORE_USE(
      st,
      "INSERT INTO identity_links (system, system_id, subject_id, linked_at, address) "
      "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (system, system_id) DO UPDATE SET "
      "subject_id = excluded.subject_id, linked_at = excluded.linked_at, "
      "address = CASE WHEN excluded.address = '' OR (?6 AND address <> '') "
      "OR (?7 AND (retired_address <> '' OR retired_at > 0)) THEN address ELSE excluded.address "
      "END, "
      "retired_address = CASE WHEN excluded.address = '' OR (?6 AND address <> '') "
      "OR (?7 AND (retired_address <> '' OR retired_at > 0)) THEN retired_address ELSE '' END, "
      "retired_at = CASE WHEN excluded.address = '' OR (?6 AND address <> '') "
      "OR (?7 AND (retired_address <> '' OR retired_at > 0)) THEN retired_at ELSE 0 END");
  st->BindAll(link.system, link.system_id, link.subject_id, link.linked_at, link.address,
              link.keep_known_address ? 1 : 0, link.keep_retired ? 1 : 0);
  return st->Run();
}

Status SqliteTransaction::SupersedeQueuedRowsOfRecord(std::string_view system,
                                                      std::string_view system_id, TimestampMs now) {
  STORE_USE(st,
            "UPDATE outbox SET status = 'done', reason = 'superseded: record retired', "
            "updated_at = ?3 FROM (SELECT subject_id, address FROM identity_links "
            "WHERE system = ?1 AND system_id = ?2 AND address <> '') AS l "
            "WHERE outbox.target = ?1 AND outbox.key = l.subject_id "
            "AND outbox.address = l.address AND outbox.status = 'pending' "
            "AND NOT EXISTS (SELECT 1 FROM identity_links o WHERE o.subject_id = l.subject_id "
            "AND o.system = ?1 AND o.system_id <> ?2 AND o.address = l.address)");
  st->BindAll(system, system_id, now);
  return st->Run();
}

Status SqliteTransaction::SupersedeQueuedWritesAfterDeletion(std::string_view system,
                                                             std::string_view subject_id,
                                                             TimestampMs now) {
  static const std::string kSql =
      "UPDATE outbox SET status = 'done', "
      "reason = 'superseded: record permanently deleted at ' || ?1, updated_at = ?3 "
      "WHERE target = ?1 AND key = ?2 AND status = 'pending' AND " +
      std::string(kNotAnErasureRow);
  STORE_USE(st, kSql);
  st->BindAll(system, subject_id, now);
  return st->Run();
}

Status SqliteTransaction::RetireSystemId(std::string_view system, std::string_view system_id,
                                         TimestampMs retired_at) {
  STORE_USE(st,
            "UPDATE identity_links SET retired_address = CASE WHEN address = '' "
            "THEN retired_address ELSE address END, address = '', "
            "retired_at = CASE WHEN address = '' AND retired_at > ?3 THEN retired_at ELSE ?3 END "
            "WHERE system = ?1 AND system_id = ?2");
  st->BindAll(system, system_id, retired_at);
  return st->Run();
}

Result<std::optional<std::string>> SqliteTransaction::FindSubjectBySystemId(
    std::string_view system, std::string_view system_id) {
  STORE_USE(st, "SELECT subject_id FROM identity_links WHERE system = ? AND system_id = ?");
  st->BindAll(system, system_id);
  return OptionalText(*st);
}

Status SqliteTransaction::LinkEmailHash(std::string_view subject_id, std::string_view email_hash,
                                        TimestampMs linked_at) {
  STORE_USE(st,
            "INSERT INTO email_hashes (email_hash, subject_id, linked_at) VALUES (?, ?, ?) "
            "ON CONFLICT (email_hash) DO UPDATE SET subject_id = excluded.subject_id, "
            "linked_at = excluded.linked_at");
  st->BindAll(email_hash, subject_id, linked_at);
  return st->Run();
}

Result<std::optional<std::string>> SqliteTransaction::FindSubjectByEmailHash(
    std::string_view email_hash) {
  STORE_USE(st, "SELECT subject_id FROM email_hashes WHERE email_hash = ?");
  st->BindAll(email_hash);
  return OptionalText(*st);
}

Result<bool> SqliteTransaction::HoldsKeyedHashes() {
  STORE_USE(st, "SELECT EXISTS (SELECT 1 FROM email_hashes) OR EXISTS (SELECT 1 FROM tombstones)");
  Result<bool> row = st->Step();
  if (!row.ok()) return row.status();
  return *row && st->Int(0) != 0;
}

Result<std::vector<std::string>> SqliteTransaction::SampleLinkedAddresses(int limit) {
  STORE_USE(st, "SELECT DISTINCT address FROM identity_links WHERE address != '' LIMIT ?");
  st->BindAll(static_cast<std::int64_t>(limit));
  std::vector<std::string> out;
  for (;;) {
    Result<bool> row = st->Step();
    if (!row.ok()) return row.status();
    if (!*row) return out;
    out.push_back(st->Text(0));
  }
}

Result<std::vector<IdentityLink>> SqliteTransaction::ListSystemIds(std::string_view subject_id) {
  STORE_USE(st,
            "SELECT subject_id, system, system_id, linked_at, address, retired_address, "
            "retired_at FROM identity_links WHERE subject_id = ? ORDER BY system, system_id");
  st->BindAll(subject_id);
  std::vector<IdentityLink> out;
  for (;;) {
    Result<bool> row = st->Step();
    if (!row.ok()) return row.status();
    if (!*row) return out;
    IdentityLink l{st->Text(0), st->Text(1), st->Text(2), st->Int(3), st->Text(4), st->Text(5)};
    l.retired_at = st->Int(6);
    out.push_back(std::move(l));
  }
}

Status SqliteTransaction::MoveIdentities(std::string_view from, std::string_view to) {
  {
    STORE_USE(st, "UPDATE identity_links SET subject_id = ? WHERE subject_id = ?");
    st->BindAll(to, from);
    CONSENTD_RETURN_IF_ERROR(st->Run());
  }
  STORE_USE(st, "UPDATE email_hashes SET subject_id = ? WHERE subject_id = ?");
  st->BindAll(to, from);
  return st->Run();
}

Status SqliteTransaction::EraseSubject(std::string_view subject_id) {
  for (std::string_view sql :
       {"DELETE FROM consent_state WHERE subject_id = ?", "DELETE FROM blocks WHERE subject_id = ?",
        "DELETE FROM identity_links WHERE subject_id = ?",
        "DELETE FROM email_hashes WHERE subject_id = ?",
        "DELETE FROM target_deletions WHERE subject_id = ?",
        // What the person's records showed, and the writes that may have
        // landed there: of every record the person reported or was written
        // to (a record two people share loses its memory too, which only
        // makes its next "off" a withdrawal).
        "DELETE FROM shown_off WHERE (system, record) IN ("
        " SELECT system, record FROM shown_off WHERE subject_id = ?1"
        " UNION SELECT system, record FROM record_writes WHERE subject_id = ?1)",
        "DELETE FROM record_writes WHERE subject_id = ?"}) {
    STORE_USE(st, sql);
    st->BindAll(subject_id);
    CONSENTD_RETURN_IF_ERROR(st->Run());
  }
  // The echo memory's keys start with the subject ("<subject>|…") and some
  // hold an address (an address block's scope). The table is keyed by
  // (system, key): walk its few systems through the index, then delete the
  // subject's key range in each, rather than scan every row.
  static const std::string kForgetEchoes =
      FirstsThroughIndex("echo_writes", "system") +
      "DELETE FROM echo_writes WHERE system IN (SELECT name FROM firsts) AND " +
      std::string(kSubjectEchoKeys);
  STORE_USE(echo, kForgetEchoes);
  echo->BindAll(subject_id);
  return echo->Run();
}

Status SqliteTransaction::RecordMerge(std::string_view from, std::string_view into,
                                      TimestampMs at) {
  {
    STORE_USE(st, "UPDATE merged_subjects SET into_subject = ?2 WHERE into_subject = ?1");
    st->BindAll(from, into);
    CONSENTD_RETURN_IF_ERROR(st->Run());
  }
  STORE_USE(st,
            "INSERT INTO merged_subjects (subject_id, into_subject, merged_at) VALUES (?, ?, ?) "
            "ON CONFLICT (subject_id) DO UPDATE SET into_subject = excluded.into_subject, "
            "merged_at = excluded.merged_at");
  st->BindAll(from, into, at);
  return st->Run();
}

Result<std::optional<std::string>> SqliteTransaction::FindMergedInto(std::string_view subject) {
  STORE_USE(st, "SELECT into_subject FROM merged_subjects WHERE subject_id = ?");
  st->BindAll(subject);
  return OptionalText(*st);
}

Result<std::vector<std::string>> SqliteTransaction::ListMergedInto(std::string_view into) {
  STORE_USE(st,
            "SELECT subject_id FROM merged_subjects WHERE into_subject = ? ORDER BY subject_id");
  st->BindAll(into);
  std::vector<std::string> out;
  for (;;) {
    Result<bool> row = st->Step();
    if (!row.ok()) return row.status();
    if (!*row) return out;
    out.push_back(st->Text(0));
  }
}

Status SqliteTransaction::MarkSubjectErased(std::string_view subject_id, TimestampMs erased_at) {
  STORE_USE(st,
            "INSERT INTO erased_subjects (subject_id, erased_at) VALUES (?, ?) "
            "ON CONFLICT (subject_id) DO UPDATE SET "
            "erased_at = max(erased_at, excluded.erased_at)");
  st->BindAll(subject_id, erased_at);
  if (ledger_)
    ledger_->push_back({LedgerRecord::Kind::kSubject, std::string(subject_id), erased_at});
  return st->Run();
}

Result<std::optional<TimestampMs>> SqliteTransaction::FindSubjectErased(
    std::string_view subject_id) {
  STORE_USE(st, "SELECT erased_at FROM erased_subjects WHERE subject_id = ?");
  st->BindAll(subject_id);
  Result<bool> row = st->Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<TimestampMs>();
  return std::optional<TimestampMs>(st->Int(0));
}

Status SqliteTransaction::RecordTargetDeletion(std::string_view subject_id, std::string_view system,
                                               TimestampMs at, TimestampMs recorded_at) {
  // recorded_at 0: a row from before schema v20, whose decision time is
  // not known; the new report's is.
  STORE_USE(st,
            "INSERT INTO target_deletions (subject_id, system, deleted_at, recorded_at) "
            "VALUES (?, ?, ?, ?) "
            "ON CONFLICT (subject_id, system) DO UPDATE SET "
            "deleted_at = min(deleted_at, excluded.deleted_at), "
            "recorded_at = CASE WHEN recorded_at = 0 THEN excluded.recorded_at "
            "ELSE min(recorded_at, excluded.recorded_at) END");
  st->BindAll(subject_id, system, at, recorded_at);
  return st->Run();
}

Result<std::optional<TimestampMs>> SqliteTransaction::TargetDeletionRecordedAt(
    std::string_view subject_id, std::string_view system) {
  STORE_USE(st,
            "SELECT CASE WHEN recorded_at > 0 THEN recorded_at ELSE deleted_at END "
            "FROM target_deletions WHERE subject_id = ? AND system = ?");
  st->BindAll(subject_id, system);
  Result<bool> row = st->Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<TimestampMs>();
  return std::optional<TimestampMs>(st->Int(0));
}

Result<std::vector<std::pair<std::string, TimestampMs>>> SqliteTransaction::ListTargetDeletions(
    std::string_view subject_id) {
  STORE_USE(st,
            "SELECT system, deleted_at FROM target_deletions WHERE subject_id = ? ORDER BY system");
  st->BindAll(subject_id);
  std::vector<std::pair<std::string, TimestampMs>> out;
  for (;;) {
    Result<bool> row = st->Step();
    if (!row.ok()) return row.status();
    if (!*row) return out;
    out.emplace_back(st->Text(0), st->Int(1));
  }
}

Status SqliteTransaction::ForgetTargetDeletion(std::string_view subject_id,
                                               std::string_view system) {
  STORE_USE(st, "DELETE FROM target_deletions WHERE subject_id = ? AND system = ?");
  st->BindAll(subject_id, system);
  return st->Run();
}

// --- outbox ---

Result<std::int64_t> SqliteTransaction::Enqueue(const OutboxRow& row, bool& added) {
  added = false;
  std::int64_t id = 0;
  std::string idempotency_key = row.idempotency_key;
  while (id == 0) {
    {
      // Insert first, look up only on a clash: almost every row is new, and
      // the look-up first cost a statement per row (initial sync). No
      // RETURNING: SQLite runs it as a trigger, which gives every insert a
      // statement savepoint (1.5 of 4.7 µs per row); the connection's change
      // count and last rowid say the same, as nothing runs between.
      STORE_USE(st,
                "INSERT INTO outbox (target, key, desired_json, idempotency_key, attempts, "
                "next_attempt_at, status, reason, created_at, updated_at, address) "
                "VALUES (?, ?, ?, ?, 0, ?, 'pending', '', ?, ?, ?) "
                "ON CONFLICT (target, key, idempotency_key) DO NOTHING");
      st->BindAll(row.target, row.key, row.desired_json, idempotency_key, row.next_attempt_at,
                  row.created_at, row.created_at, row.address);
      Result<std::int64_t> inserted = RunCounting(db_, *st);
      if (!inserted.ok()) return inserted.status();
      if (*inserted == 1) {
        id = db_.LastInsertRowid();
        break;
      }
    }
    STORE_USE(st,
              "SELECT id, status FROM outbox WHERE target = ? AND key = ? AND "
              "idempotency_key = ?");
    st->BindAll(row.target, row.key, idempotency_key);
    Result<bool> found = st->Step();
    if (!found.ok()) return found.status();
    if (!*found) return Internal("outbox insert returned no id");
    const std::int64_t existing = st->Int(0);
    // Queued, in flight or dead: the same state is not queued twice (a dead
    // row is replayed by the operator, not re-added by every repeat).
    if (st->Text(1) != "done") return existing;
    // Delivered before: this is a new write of the same state. Its key
    // follows from the delivered row's, so it stays stable, and a chain of
    // such repeats stays unique.
    idempotency_key = Sha256Hex(idempotency_key + "\nafter #" + std::to_string(existing));
  }
  added = true;
  STORE_USE(st,
            "UPDATE outbox SET status = 'done', reason = 'superseded by #' || ?1, "
            "updated_at = ?2 WHERE target = ?3 AND key = ?4 "
            "AND (address = ?5 OR address = '' OR ?5 = '') AND status = 'pending' AND id < ?1");
  st->BindAll(id, row.created_at, row.target, row.key, row.address);
  CONSENTD_RETURN_IF_ERROR(st->Run());
  return id;
}

Result<std::vector<OutboxRow>> SqliteTransaction::ClaimOutbox(std::string_view target,
                                                              TimestampMs now, int limit,
                                                              TimestampMs lease_until,
                                                              const std::set<std::int64_t>& skip) {
  // `skip` goes in as a JSON array (json_each): usually empty, at most the
  // rows of the batches in flight.
  static const std::string kSql =
      "UPDATE outbox SET status = 'inflight', attempts = attempts + 1, next_attempt_at = ?3, "
      "updated_at = ?2 WHERE id IN ("
      " SELECT o.id FROM outbox o WHERE o.target = ?1"
      " AND o.status IN ('pending', 'inflight') AND o.next_attempt_at <= ?2"
      " AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.target = o.target AND p.key = o.key"
      "  AND p.id < o.id AND p.status IN ('pending', 'inflight'))"
      " AND (?5 = '[]' OR o.id NOT IN (SELECT value FROM json_each(?5)))"
      " ORDER BY o.next_attempt_at, o.id LIMIT ?4) RETURNING " +
      std::string(kOutboxColumns);
  std::string skip_json = "[";
  for (std::int64_t id : skip) {
    if (skip_json.size() > 1) skip_json += ',';
    skip_json += std::to_string(id);
  }
  skip_json += ']';
  {
    // A write that was in flight when its person was erased is kept until
    // answered (RecordDeliveries drops the answer). Its lease ran out (a
    // crash meanwhile): sent again it would carry the person's address and
    // state to a system they were erased from, so it goes. Not one this
    // process is still delivering (its lease ran out during a long wait,
    // `skip`): that one's answer is dropped when it comes, and the erasure
    // row behind it waits for it. The range read is the claim's own index
    // (outbox_due); usually empty.
    static const std::string kDropSql =
        "DELETE FROM outbox WHERE target = ?1 AND status = 'inflight' "
        "AND next_attempt_at <= ?2 AND key IN (SELECT subject_id FROM erased_subjects) AND " +
        std::string(kNotAnErasureRow) +
        " AND (?3 = '[]' OR id NOT IN (SELECT value FROM json_each(?3)))";
    // Such a write may have landed: what its record (maybe shared with
    // someone else) was seen showing goes first.
    static const std::string kForgetSql =
        "DELETE FROM shown_off WHERE (system, record) IN (SELECT target, lower(address) FROM "
        "outbox WHERE target = ?1 AND status = 'inflight' AND next_attempt_at <= ?2 "
        "AND key IN (SELECT subject_id FROM erased_subjects) AND " +
        std::string(kNotAnErasureRow) +
        " AND (?3 = '[]' OR id NOT IN (SELECT value FROM json_each(?3))))";
    STORE_USE(forget, kForgetSql);
    forget->BindAll(target, now, skip_json);
    CONSENTD_RETURN_IF_ERROR(forget->Run());
    STORE_USE(drop, kDropSql);
    drop->BindAll(target, now, skip_json);
    Result<std::int64_t> dropped = RunCounting(db_, *drop);
    if (!dropped.ok()) return dropped.status();
    if (*dropped > 0) db_.NoteErasedRowsRemoved();  // and their copies in the WAL
  }
  {
    // A row whose lease ran out unanswered (a crash, a hang) may have landed
    // at its record: as if answered now (RememberShownOff). Not one this
    // process is still delivering (`skip`): its answer says. Not one of an
    // erased person (dropped above): their records' memory went with them.
    static const std::string kLandedSql =
        "INSERT INTO record_writes (system, record, subject_id, landed_at) "
        "SELECT target, lower(address), key, ?2 FROM outbox WHERE target = ?1 "
        "AND status = 'inflight' AND next_attempt_at <= ?2 AND address <> '' "
        "AND key NOT IN (SELECT subject_id FROM erased_subjects) "
        "AND (?3 = '[]' OR id NOT IN (SELECT value FROM json_each(?3))) "
        "ON CONFLICT (system, record) DO UPDATE SET subject_id = excluded.subject_id, "
        "landed_at = max(landed_at, excluded.landed_at)";
    STORE_USE(landed, kLandedSql);
    landed->BindAll(target, now, skip_json);
    CONSENTD_RETURN_IF_ERROR(landed->Run());
  }
  STORE_USE(st, kSql);
  st->BindAll(target, now, lease_until, limit, skip_json);
  Result<std::vector<OutboxRow>> rows = ReadOutboxRows(*st);
  if (!rows.ok()) return rows.status();
  std::sort(rows->begin(), rows->end(),
            [](const OutboxRow& a, const OutboxRow& b) { return a.id < b.id; });
  return rows;
}

Status SqliteTransaction::SetOutboxStatus(std::int64_t id, const char* sql, std::string_view reason,
                                          TimestampMs now) {
  STORE_USE(st, sql);
  st->BindAll(id, reason, now);
  Result<std::int64_t> n = RunCounting(db_, *st);
  if (!n.ok()) return n.status();
  if (*n == 0) {
    return FailedPrecondition("outbox row " + std::to_string(id) +
                              " is missing or not in a state that allows this change");
  }
  return Status::Ok();
}

Status SqliteTransaction::MarkDone(std::int64_t id, TimestampMs now) {
  return SetOutboxStatus(id,
                         "UPDATE outbox SET status = 'done', reason = ?2, updated_at = ?3 "
                         "WHERE id = ?1 AND status = 'inflight'",
                         "", now);
}

Status SqliteTransaction::MarkSuperseded(std::int64_t id, std::string_view reason,
                                         TimestampMs now) {
  return SetOutboxStatus(id,
                         "UPDATE outbox SET status = 'done', reason = ?2, updated_at = ?3 "
                         "WHERE id = ?1 AND status = 'inflight'",
                         reason, now);
}

Status SqliteTransaction::MarkRetry(std::int64_t id, TimestampMs next_attempt_at,
                                    std::string_view reason, TimestampMs now) {
  // A row with a newer state for the same key and address queued behind it
  // is not retried: the newer absolute state replaces it.
  {
    STORE_USE(st,
              "UPDATE outbox SET status = 'done', reason = 'superseded after: ' || ?2, "
              "updated_at = ?3 WHERE id = ?1 AND status = 'inflight' AND EXISTS ("
              "SELECT 1 FROM outbox n WHERE n.target = outbox.target AND n.key = outbox.key "
              "AND (n.address = outbox.address OR n.address = '' OR outbox.address = '') "
              "AND n.id > outbox.id "
              "AND n.status IN ('pending', 'inflight'))");
    st->BindAll(id, reason, now);
    Result<std::int64_t> n = RunCounting(db_, *st);
    if (!n.ok()) return n.status();
    if (*n == 1) return Status::Ok();
  }
  STORE_USE(st,
            "UPDATE outbox SET status = 'pending', next_attempt_at = ?2, reason = ?3, "
            "updated_at = ?4 WHERE id = ?1 AND status = 'inflight'");
  st->BindAll(id, next_attempt_at, reason, now);
  Result<std::int64_t> n = RunCounting(db_, *st);
  if (!n.ok()) return n.status();
  if (*n == 0) return FailedPrecondition("outbox row " + std::to_string(id) + " is not inflight");
  return Status::Ok();
}

Status SqliteTransaction::MarkDead(std::int64_t id, std::string_view reason, TimestampMs now) {
  return SetOutboxStatus(id,
                         "UPDATE outbox SET status = 'dead', reason = ?2, updated_at = ?3 "
                         "WHERE id = ?1 AND status IN ('pending', 'inflight')",
                         reason, now);
}

Status SqliteTransaction::ForgetRowsOfErasedSubject(std::string_view key) {
  // Through the (target, key, …) index, one target at a time.
  static const std::string kForgetRows =
      FirstsThroughIndex("outbox", "target") +
      "DELETE FROM outbox WHERE target IN (SELECT name FROM firsts) AND key = ?1 "
      "AND status IN ('pending', 'done', 'dead')";
  STORE_USE(st, kForgetRows);
  st->BindAll(key);
  return st->Run();
}

Result<std::vector<std::string>> SqliteTransaction::SupersedeQueuedRowsOfMergedSubject(
    std::string_view from, std::string_view into, TimestampMs now) {
  // Through the (target, key, …) index, one target at a time.
  static const std::string kSupersede =
      FirstsThroughIndex("outbox", "target") +
      "UPDATE outbox SET status = 'done', updated_at = ?3, "
      "reason = 'superseded: merged into ' || ?2 || "
      "CASE WHEN reason = '' THEN '' ELSE ' (was: ' || reason || ')' END "
      "WHERE target IN (SELECT name FROM firsts) AND key = ?1 AND status = 'pending' "
      "RETURNING target";
  STORE_USE(st, kSupersede);
  st->BindAll(from, into, now);
  std::set<std::string> targets;
  for (;;) {
    Result<bool> row = st->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    targets.insert(st->Text(0));
  }
  return std::vector<std::string>(targets.begin(), targets.end());
}

Status SqliteTransaction::DeleteOutboxRow(std::int64_t id) {
  STORE_USE(st, "DELETE FROM outbox WHERE id = ?");
  st->BindAll(id);
  return st->Run();
}

Status SqliteTransaction::Replay(std::int64_t id, TimestampMs now) {
  return SetOutboxStatus(id,
                         "UPDATE outbox SET status = 'pending', attempts = 0, "
                         "next_attempt_at = ?3, reason = ?2, updated_at = ?3 "
                         "WHERE id = ?1 AND status = 'dead'",
                         "", now);
}

Result<std::optional<OutboxRow>> SqliteTransaction::GetOutbox(std::int64_t id) {
  static const std::string kSql =
      "SELECT " + std::string(kOutboxColumns) + " FROM outbox WHERE id = ?";
  STORE_USE(st, kSql);
  st->BindAll(id);
  return ReadFirstOutboxRow(*st);
}

Result<std::vector<OutboxRow>> SqliteTransaction::ListOutbox(OutboxStatus status,
                                                             std::int64_t after_id, int limit) {
  static const std::string kSql = "SELECT " + std::string(kOutboxColumns) +
                                  " FROM outbox WHERE status = ? AND id > ? ORDER BY id LIMIT ?";
  STORE_USE(st, kSql);
  st->BindAll(OutboxStatusName(status), after_id, limit);
  return ReadOutboxRows(*st);
}

Result<std::int64_t> SqliteTransaction::CountOutbox(OutboxStatus status) {
  STORE_USE(st, "SELECT count(*) FROM outbox WHERE status = ?");
  st->BindAll(OutboxStatusName(status));
  Result<bool> row = st->Step();
  if (!row.ok()) return row.status();
  return *row ? st->Int(0) : 0;
}

Result<bool> SqliteTransaction::HasOpenOutbox(std::string_view target, std::string_view key) {
  STORE_USE(st,
            "SELECT 1 FROM outbox WHERE target = ? AND key = ? "
            "AND status IN ('pending', 'inflight') LIMIT 1");
  st->BindAll(target, key);
  return st->Step();
}

Result<bool> SqliteTransaction::HasLiveRowSince(std::string_view target, std::string_view key,
                                                TimestampMs since, std::int64_t except_id) {
  STORE_USE(st,
            "SELECT 1 FROM outbox WHERE target = ?1 AND key = ?2 "
            "AND (status IN ('pending', 'inflight') OR (status = 'done' AND reason = '')) "
            "AND created_at >= ?3 AND id <> ?4 LIMIT 1");
  st->BindAll(target, key, since, except_id);
  return st->Step();
}

Result<std::optional<OutboxRow>> SqliteTransaction::FindNewestOutboxRow(std::string_view target,
                                                                        std::string_view key,
                                                                        std::string_view address) {
  static const std::string kSql = "SELECT " + std::string(kOutboxColumns) +
                                  " FROM outbox WHERE target = ?1 AND key = ?2 "
                                  "AND (address = ?3 OR address = '' OR ?3 = '') "
                                  "ORDER BY id DESC LIMIT 1";
  STORE_USE(st, kSql);
  st->BindAll(target, key, address);
  return ReadFirstOutboxRow(*st);
}

Result<std::optional<OutboxRow>> SqliteTransaction::FindNewestDeliveredRow(
    std::string_view target, std::string_view key, std::string_view address) {
  // Delivered rows are done with no reason; superseded ones say so.
  static const std::string kSql = "SELECT " + std::string(kOutboxColumns) +
                                  " FROM outbox WHERE target = ?1 AND key = ?2 "
                                  "AND status = 'done' AND reason = '' "
                                  "AND (address = ?3 OR address = '' OR ?3 = '') "
                                  "ORDER BY id DESC LIMIT 1";
  STORE_USE(st, kSql);
  st->BindAll(target, key, address);
  return ReadFirstOutboxRow(*st);
}

Result<std::vector<OutboxRow>> SqliteTransaction::ListDeliveredRows(std::string_view target,
                                                                    std::string_view key,
                                                                    std::string_view address,
                                                                    int limit) {
  static const std::string kSql = "SELECT " + std::string(kOutboxColumns) +
                                  " FROM outbox WHERE target = ?1 AND key = ?2 "
                                  "AND status = 'done' AND reason = '' "
                                  "AND (address = ?3 OR address = '' OR ?3 = '') "
                                  "ORDER BY id DESC LIMIT ?4";
  STORE_USE(st, kSql);
  st->BindAll(target, key, address, limit);
  return ReadOutboxRows(*st);
}

Result<std::int64_t> SqliteTransaction::PruneOutboxDone(TimestampMs before) {
  STORE_USE(st, "DELETE FROM outbox WHERE status = 'done' AND updated_at < ?");
  st->BindAll(before);
  return RunCounting(db_, *st);
}

// --- cursors ---

Result<std::optional<std::string>> SqliteTransaction::GetCursor(std::string_view poller) {
  STORE_USE(st, "SELECT value FROM cursors WHERE poller = ?");
  st->BindAll(poller);
  return OptionalText(*st);
}

Status SqliteTransaction::AdvanceCursor(std::string_view poller, std::string_view value,
                                        TimestampMs now) {
  STORE_USE(st,
            "INSERT INTO cursors (poller, value, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (poller) DO UPDATE SET value = excluded.value, "
            "updated_at = excluded.updated_at");
  st->BindAll(poller, value, now);
  return st->Run();
}

// --- echo memory ---

Status SqliteTransaction::RememberWrite(const EchoRow& row) {
  STORE_USE(st,
            "INSERT INTO echo_writes (system, key, value, written_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (system, key, value) DO UPDATE SET "
            "written_at = max(written_at, excluded.written_at)");
  st->BindAll(row.system, row.key, row.value, row.written_at);
  return st->Run();
}

Result<std::optional<TimestampMs>> SqliteTransaction::FindWrite(std::string_view system,
                                                                std::string_view key,
                                                                std::string_view value) {
  STORE_USE(st, "SELECT written_at FROM echo_writes WHERE system = ? AND key = ? AND value = ?");
  st->BindAll(system, key, value);
  Result<bool> row = st->Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<TimestampMs>();
  return std::optional<TimestampMs>(st->Int(0));
}

Result<std::int64_t> SqliteTransaction::PruneWrites(TimestampMs before) {
  // A member awaiting its double opt-in's confirmation stays marked until
  // the system reports it confirmed or unsubscribed (sync/outbound.h,
  // AwaitingConfirmationKey; the value is that marker's).
  STORE_USE(st,
            "DELETE FROM echo_writes WHERE written_at < ? AND value <> 'awaiting_confirmation'");
  st->BindAll(before);
  return RunCounting(db_, *st);
}

Result<std::optional<EchoRow>> SqliteTransaction::FindLatestWrite(std::string_view system,
                                                                  std::string_view key) {
  STORE_USE(st,
            "SELECT system, key, value, written_at FROM echo_writes WHERE system = ? AND key = ? "
            "ORDER BY written_at DESC, value LIMIT 1");
  st->BindAll(system, key);
  Result<bool> row = st->Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<EchoRow>();
  return std::optional<EchoRow>(EchoRow{st->Text(0), st->Text(1), st->Text(2), st->Int(3)});
}

Status SqliteTransaction::ForgetWrites(std::string_view system, std::string_view key) {
  STORE_USE(st, "DELETE FROM echo_writes WHERE system = ? AND key = ?");
  st->BindAll(system, key);
  return st->Run();
}

// --- what a record last showed off ---

namespace {
// When a write to the record (?1 system, ?2 address) last may have landed.
constexpr std::string_view kLastLanding =
    "coalesce((SELECT landed_at FROM record_writes WHERE system = ?1 AND record = lower(?2)), 0)";
// A write to that record is in flight (claimed, not answered). The claim's
// index (outbox_due) narrows it to the target's rows in flight, usually few.
constexpr std::string_view kWriteInFlight =
    "SELECT 1 FROM outbox WHERE target = ?1 AND status = 'inflight' "
    "AND lower(address) = lower(?2)";
}  // namespace

Status SqliteTransaction::RememberShownOff(const ShownOffRow& row) {
  // Added or renewed only from a read begun after the record may have shown
  // boxes on and with no write to it in flight; it replaces a row that no
  // longer holds (the key shown on before this read began, or a write that
  // may have landed after the row's read began), so a standing row keeps
  // its first `seen_at`.
  static const std::string kSql =
      "INSERT INTO shown_off (system, record, key, subject_id, seen_at, read_at, on_at) "
      "SELECT ?1, lower(?2), ?3, ?4, ?5, ?6, 0 WHERE ?6 > " +
      std::string(kLastLanding) + " AND NOT EXISTS (" + std::string(kWriteInFlight) + ")" +
      " ON CONFLICT (system, record, key) DO UPDATE SET subject_id = excluded.subject_id, "
      "seen_at = excluded.seen_at, read_at = excluded.read_at, on_at = 0 "
      "WHERE (shown_off.on_at > 0 AND ?6 > shown_off.on_at) OR "
      "(shown_off.on_at = 0 AND shown_off.read_at <= " +
      std::string(kLastLanding) + ")";
  STORE_USE(st, kSql);
  st->BindAll(row.system, row.address, row.key, row.subject, row.seen_at, row.read_at);
  return st->Run();
}

Result<std::optional<ShownOffRow>> SqliteTransaction::FindStandingShownOff(std::string_view system,
                                                                           std::string_view address,
                                                                           std::string_view key) {
  static const std::string kSql =
      "SELECT subject_id, seen_at, read_at FROM shown_off "
      "WHERE system = ?1 AND record = lower(?2) AND key = ?3 AND on_at = 0 AND read_at > " +
      std::string(kLastLanding) + " AND NOT EXISTS (" + std::string(kWriteInFlight) + ")";
  STORE_USE(st, kSql);
  st->BindAll(system, address, key);
  Result<bool> row = st->Step();
  if (!row.ok()) return row.status();
  std::optional<ShownOffRow> out;
  if (*row) {
    out = ShownOffRow{st->Text(0),      std::string(system), std::string(address),
                      std::string(key), st->Int(1),          st->Int(2)};
  }
  st->Reset();
  return out;
}

Status SqliteTransaction::NoteShownOn(std::string_view subject, std::string_view system,
                                      std::string_view address, std::string_view key,
                                      TimestampMs at) {
  STORE_USE(st,
            "INSERT INTO shown_off (system, record, key, subject_id, seen_at, read_at, on_at) "
            "VALUES (?1, lower(?2), ?3, ?4, 0, 0, ?5) ON CONFLICT (system, record, key) DO UPDATE "
            "SET subject_id = excluded.subject_id, on_at = max(on_at, excluded.on_at)");
  st->BindAll(system, address, key, subject, at);
  return st->Run();
}

Status SqliteTransaction::ForgetShownOffOfRecord(std::string_view system,
                                                 std::string_view address) {
  STORE_USE(st, "DELETE FROM shown_off WHERE system = ? AND record = lower(?)");
  st->BindAll(system, address);
  return st->Run();
}

Status SqliteTransaction::NoteMayShowOn(std::string_view subject, std::string_view system,
                                        std::string_view address, TimestampMs at) {
  STORE_USE(st,
            "INSERT INTO record_writes (system, record, subject_id, landed_at) "
            "VALUES (?1, lower(?2), ?3, ?4) ON CONFLICT (system, record) DO UPDATE SET "
            "subject_id = excluded.subject_id, landed_at = max(landed_at, excluded.landed_at)");
  st->BindAll(system, address, subject, at);
  return st->Run();
}

Result<std::int64_t> SqliteTransaction::PruneShownOff(TimestampMs before) {
  {
    // The rows those writes made stop holding go first: they must not hold
    // again once the write is forgotten. So do old marks of a key shown on.
    // Both run every housekeeping tick: each reads only through an index
    // the range of old entries (usually none), never the whole table.
    STORE_USE(st,
              "DELETE FROM shown_off WHERE (system, record) IN (SELECT system, record FROM "
              "record_writes WHERE landed_at < ?1) AND read_at <= (SELECT w.landed_at FROM "
              "record_writes w WHERE w.system = shown_off.system AND w.record = shown_off.record)");
    st->BindAll(before);
    CONSENTD_RETURN_IF_ERROR(st->Run());
  }
  {
    STORE_USE(st, "DELETE FROM shown_off WHERE on_at > 0 AND on_at < ?");
    st->BindAll(before);
    CONSENTD_RETURN_IF_ERROR(st->Run());
  }
  STORE_USE(st, "DELETE FROM record_writes WHERE landed_at < ?");
  st->BindAll(before);
  return RunCounting(db_, *st);
}

// --- tombstones ---

Status SqliteTransaction::AddTombstone(const TombstoneRow& row) {
  tombstones_.Added();  // before the write: a failed one may still have counted
  STORE_USE(st,
            "INSERT INTO tombstones (identity_hash, erased_at) VALUES (?, ?) "
            "ON CONFLICT (identity_hash) DO UPDATE SET "
            "erased_at = max(erased_at, excluded.erased_at)");
  st->BindAll(row.identity_hash, row.erased_at);
  if (ledger_)
    ledger_->push_back({LedgerRecord::Kind::kTombstone, row.identity_hash, row.erased_at});
  return st->Run();
}

Result<std::optional<TombstoneRow>> SqliteTransaction::FindTombstone(
    std::string_view identity_hash) {
  STORE_USE(st, "SELECT identity_hash, erased_at FROM tombstones WHERE identity_hash = ?");
  st->BindAll(identity_hash);
  Result<bool> row = st->Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<TombstoneRow>();
  return std::optional<TombstoneRow>(TombstoneRow{st->Text(0), st->Int(1)});
}

Result<std::vector<TombstoneRow>> SqliteTransaction::ListTombstones() {
  STORE_USE(st,
            "SELECT identity_hash, erased_at FROM tombstones ORDER BY erased_at, identity_hash");
  std::vector<TombstoneRow> out;
  for (;;) {
    Result<bool> row = st->Step();
    if (!row.ok()) return row.status();
    if (!*row) return out;
    out.push_back({st->Text(0), st->Int(1)});
  }
}

Result<std::vector<std::pair<std::string, TimestampMs>>> SqliteTransaction::ListErasedSubjects() {
  STORE_USE(st, "SELECT subject_id, erased_at FROM erased_subjects ORDER BY erased_at, subject_id");
  std::vector<std::pair<std::string, TimestampMs>> out;
  for (;;) {
    Result<bool> row = st->Step();
    if (!row.ok()) return row.status();
    if (!*row) return out;
    out.emplace_back(st->Text(0), st->Int(1));
  }
}

}  // namespace consentd::store
