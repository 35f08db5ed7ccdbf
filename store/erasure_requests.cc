#include "store/erasure_requests.h"

#include <algorithm>
#include <array>
#include <utility>

#include "core/json_string.h"
#include "core/legal_deadline.h"
#include "core/redact.h"
#include "store/sqlite_db.h"
#include "store/sqlite_transaction.h"

namespace consentd::store {
namespace {

constexpr std::string_view kWhat = "erasure requests";

constexpr std::array<std::pair<ErasureTargetState, std::string_view>, 7> kStateNames = {{
    {ErasureTargetState::kPending, "pending"},
    {ErasureTargetState::kSent, "sent"},
    {ErasureTargetState::kDone, "done"},
    {ErasureTargetState::kAlreadyDone, "already_done"},
    {ErasureTargetState::kUnsupported, "unsupported"},
    {ErasureTargetState::kFailed, "failed"},
    {ErasureTargetState::kManual, "manual"},
}};

// Runs a prepared statement to completion with `args` bound.
template <typename... Args>
Status Exec(Db& db, std::string_view sql, const Args&... args) {
  Result<Stmt*> st = db.Prepare(sql);
  if (!st.ok()) return st.status();
  (*st)->BindAll(args...);
  Status s = (*st)->Run();
  (*st)->Reset();
  return s;
}

// closed_at follows the targets: set (once) when every target is settled,
// cleared when one is not (a replay after an operator settled the rest).
Status RefreshClosed(Db& db, std::string_view request_id, TimestampMs now) {
  return Exec(db, R"sql(
UPDATE erasure_requests SET closed_at = CASE
  WHEN EXISTS (SELECT 1 FROM erasure_targets
               WHERE request_id = ?1 AND state NOT IN ('done', 'already_done', 'manual'))
  THEN NULL ELSE coalesce(closed_at, ?2) END
WHERE id = ?1)sql",
              request_id, now);
}

struct TargetRef {
  std::string request_id;
  ErasureTargetState state = ErasureTargetState::kPending;
};

// The target row of the request that erased `subject` (a subject is erased
// at most once: erasure is terminal).
Result<std::optional<TargetRef>> FindTargetOfSubject(Db& db, std::string_view subject,
                                                     std::string_view target) {
  Result<Stmt*> st = db.Prepare(
      "SELECT t.request_id, t.state FROM erasure_targets t "
      "JOIN erasure_requests r ON r.id = t.request_id "
      "WHERE r.subject_id = ? AND t.target = ? ORDER BY r.requested_at DESC LIMIT 1");
  if (!st.ok()) return st.status();
  Stmt& q = **st;
  q.BindAll(subject, target);
  Result<bool> row = q.Step();
  std::optional<TargetRef> out;
  if (row.ok() && *row) {
    out = TargetRef{q.Text(0),
                    ParseErasureTargetState(q.Text(1)).value_or(ErasureTargetState::kPending)};
  }
  q.Reset();
  if (!row.ok()) return row.status();
  return out;
}

// Once the person is erased at `target`, the outbox rows that carried their
// state there (the address among it) go: delivered ones, superseded ones
// and dead letters, which the erasure made moot. The proof log keeps what
// was sent when ("outbox:<id>" entries), without the address. An unsettled
// target keeps its rows: a dead erasure row is what `dlq replay` retries.
// So does the target's own erasure row while it waits for a retry, once the
// target is settled otherwise (an operator marked it erased by hand): an
// erasure row is retried until the system answers for good, so left there
// it would go on asking, address and all.
Status ForgetOutboxRowsOnceErased(Db& db, std::string_view request_id, std::string_view target) {
  db.NoteErasedRowsRemoved();  // the WAL still holds them: truncated after the batch
  return Exec(db,
              "DELETE FROM outbox WHERE target = ?2 AND ("
              "(status IN ('done', 'dead') "
              "AND key = (SELECT subject_id FROM erasure_requests WHERE id = ?1)) OR "
              "(status = 'pending' AND id = (SELECT outbox_id FROM erasure_targets "
              "WHERE request_id = ?1 AND target = ?2 AND outbox_id IS NOT NULL)))",
              request_id, target);
}

Status SetTargetState(Db& db, std::string_view request_id, std::string_view target,
                      ErasureTargetState state, std::string_view reason, TimestampMs now) {
  CONSENTD_RETURN_IF_ERROR(Exec(db,
                                "UPDATE erasure_targets SET state = ?, reason = ?, updated_at = ? "
                                "WHERE request_id = ? AND target = ?",
                                // Kept after the erasure: often a vendor's
                                // error, which may quote the person.
                                ErasureTargetStateName(state), RedactIdentifiersInText(reason), now,
                                request_id, target));
  if (IsSettled(state)) {
    CONSENTD_RETURN_IF_ERROR(ForgetOutboxRowsOnceErased(db, request_id, target));
  }
  return RefreshClosed(db, request_id, now);
}

constexpr std::string_view kSelectRequest =
    "SELECT id, subject_id, source, requested_by, legal_ground, requested_at, deadline "
    "FROM erasure_requests ";

ErasureRequestRecord RequestFromRow(const Stmt& q) {
  ErasureRequestRecord r;
  r.id = q.Text(0);
  r.subject = q.Text(1);
  r.source = q.Text(2);
  r.requested_by = q.Text(3);
  r.legal_ground = q.Text(4);
  r.requested_at = q.Int(5);
  r.deadline = q.Int(6);
  return r;
}

Status LoadTargets(Db& db, ErasureRequestRecord& r) {
  Result<Stmt*> st = db.Prepare(
      "SELECT target, state, mode, retained, reason, coalesce(outbox_id, 0), updated_at "
      "FROM erasure_targets WHERE request_id = ? ORDER BY target");
  if (!st.ok()) return st.status();
  Stmt& q = **st;
  q.BindAll(r.id);
  r.targets.clear();
  for (;;) {
    Result<bool> row = q.Step();
    if (!row.ok()) {
      q.Reset();
      return row.status();
    }
    if (!*row) break;
    ErasureTarget t;
    t.target = q.Text(0);
    t.state = ParseErasureTargetState(q.Text(1)).value_or(ErasureTargetState::kPending);
    t.mode = q.Text(2);
    t.retained = q.Text(3);
    t.reason = q.Text(4);
    t.outbox_id = q.Int(5);
    t.updated_at = q.Int(6);
    r.targets.push_back(std::move(t));
  }
  q.Reset();
  return Status::Ok();
}

// Requests selected by `sql` (kSelectRequest + a condition) with `args`,
// targets loaded after the scan (one prepared statement at a time).
template <typename... Args>
Result<std::vector<ErasureRequestRecord>> SelectRequests(Db& db, const std::string& sql,
                                                         const Args&... args) {
  Result<Stmt*> st = db.Prepare(sql);
  if (!st.ok()) return st.status();
  Stmt& q = **st;
  q.BindAll(args...);
  std::vector<ErasureRequestRecord> out;
  for (;;) {
    Result<bool> row = q.Step();
    if (!row.ok()) {
      q.Reset();
      return row.status();
    }
    if (!*row) break;
    out.push_back(RequestFromRow(q));
  }
  q.Reset();
  for (ErasureRequestRecord& r : out) CONSENTD_RETURN_IF_ERROR(LoadTargets(db, r));
  return out;
}

}  // namespace

std::string_view ErasureTargetStateName(ErasureTargetState s) {
  for (const auto& [state, name] : kStateNames) {
    if (state == s) return name;
  }
  return "pending";
}

std::optional<ErasureTargetState> ParseErasureTargetState(std::string_view name) {
  for (const auto& [state, n] : kStateNames) {
    if (n == name) return state;
  }
  return std::nullopt;
}

bool IsSettled(ErasureTargetState s) {
  return s == ErasureTargetState::kDone || s == ErasureTargetState::kAlreadyDone ||
         s == ErasureTargetState::kManual;
}

bool ErasureTransitionAllowed(ErasureTargetState from, ErasureTargetState to) {
  using S = ErasureTargetState;
  if (from == to || IsSettled(from)) return false;
  switch (to) {
    case S::kPending:  // dlq replay
      return from == S::kFailed || from == S::kUnsupported;
    case S::kSent:
      return from == S::kPending;
    case S::kDone:
    case S::kAlreadyDone:
    case S::kFailed:
    case S::kUnsupported:
      return from == S::kPending || from == S::kSent;
    case S::kManual:
      return true;  // from any unsettled state
  }
  return false;
}

bool ErasureRequestRecord::open() const {
  return std::any_of(targets.begin(), targets.end(),
                     [](const ErasureTarget& t) { return !IsSettled(t.state); });
}

bool ErasureRequestRecord::overdue(TimestampMs now) const {
  return open() && IsOverdue(deadline, now);
}

Status CreateErasureRequest(Transaction& txn, ErasureRequestRecord request, TimestampMs now) {
  Result<Db*> db = SqliteDbOf(txn, kWhat);
  if (!db.ok()) return db.status();
  if (request.id.empty()) return InvalidArgument("erasure request without an id");
  Result<std::optional<ErasureRequestRecord>> existing = GetErasureRequest(txn, request.id);
  if (!existing.ok()) return existing.status();
  if (existing->has_value()) return AlreadyExists("erasure request " + request.id + " exists");
  if (request.deadline == 0) request.deadline = OneMonthAfter(request.requested_at);
  CONSENTD_RETURN_IF_ERROR(
      Exec(**db,
           "INSERT INTO erasure_requests (id, subject_id, source, requested_by, legal_ground, "
           "requested_at, deadline) VALUES (?, ?, ?, ?, ?, ?, ?)",
           request.id, request.subject, request.source, request.requested_by, request.legal_ground,
           request.requested_at, request.deadline));
  for (const ErasureTarget& t : request.targets) {
    Result<Stmt*> st = (*db)->Prepare(
        "INSERT INTO erasure_targets (request_id, target, state, mode, retained, reason, "
        "outbox_id, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    if (!st.ok()) return st.status();
    Stmt& q = **st;
    q.BindAll(request.id, t.target, ErasureTargetStateName(t.state), t.mode, t.retained, t.reason);
    if (t.outbox_id != 0) q.Bind(7, t.outbox_id);  // else NULL
    q.Bind(8, now);
    Status s = q.Run();
    q.Reset();
    CONSENTD_RETURN_IF_ERROR(s);
    // The source erased first (its target is done from the start).
    if (IsSettled(t.state)) {
      CONSENTD_RETURN_IF_ERROR(ForgetOutboxRowsOnceErased(**db, request.id, t.target));
    }
  }
  return RefreshClosed(**db, request.id, now);
}

Status SetErasureRequestedBy(Transaction& txn, std::string_view id, std::string_view requested_by) {
  Result<Db*> db = SqliteDbOf(txn, kWhat);
  if (!db.ok()) return db.status();
  CONSENTD_RETURN_IF_ERROR(
      Exec(**db, "UPDATE erasure_requests SET requested_by = ? WHERE id = ?", requested_by, id));
  if ((*db)->Changes() == 0) return NotFound("no erasure request " + std::string(id));
  return Status::Ok();
}

Status AttachErasureOutbox(Transaction& txn, std::string_view subject, std::string_view target,
                           std::int64_t outbox_id, TimestampMs now) {
  Result<Db*> db = SqliteDbOf(txn, kWhat);
  if (!db.ok()) return db.status();
  Result<std::optional<TargetRef>> ref = FindTargetOfSubject(**db, subject, target);
  if (!ref.ok()) return ref.status();
  if (!ref->has_value()) return Status::Ok();
  return Exec(**db,
              "UPDATE erasure_targets SET outbox_id = ?, updated_at = ? "
              "WHERE request_id = ? AND target = ?",
              outbox_id, now, (*ref)->request_id, target);
}

Status MarkErasureTargetsSent(Transaction& txn, const std::vector<OutboxRow>& claimed,
                              TimestampMs now) {
  Result<Db*> db = SqliteDbOf(txn, kWhat);
  if (!db.ok()) return db.status();
  for (const OutboxRow& row : claimed) {
    // Only rows that carry an erasure have a target row with their id.
    CONSENTD_RETURN_IF_ERROR(Exec(**db,
                                  "UPDATE erasure_targets SET state = 'sent', updated_at = ? "
                                  "WHERE outbox_id = ? AND state = 'pending'",
                                  now, row.id));
  }
  return Status::Ok();
}

Status RecordErasureOutcome(Transaction& txn, std::string_view subject, std::string_view target,
                            ErasureTargetState state, std::string_view reason, TimestampMs now) {
  Result<Db*> db = SqliteDbOf(txn, kWhat);
  if (!db.ok()) return db.status();
  Result<std::optional<TargetRef>> ref = FindTargetOfSubject(**db, subject, target);
  if (!ref.ok()) return ref.status();
  if (!ref->has_value() || !ErasureTransitionAllowed((*ref)->state, state)) return Status::Ok();
  return SetTargetState(**db, (*ref)->request_id, target, state, reason, now);
}

Result<bool> ErasureSettledAt(Transaction& txn, std::string_view subject, std::string_view target) {
  Result<Db*> db = SqliteDbOf(txn, kWhat);
  if (!db.ok()) return db.status();
  Result<std::optional<TargetRef>> ref = FindTargetOfSubject(**db, subject, target);
  if (!ref.ok()) return ref.status();
  return ref->has_value() && IsSettled((*ref)->state);
}

Status ReopenErasureTarget(Transaction& txn, std::int64_t outbox_id, TimestampMs now) {
  Result<Db*> db = SqliteDbOf(txn, kWhat);
  if (!db.ok()) return db.status();
  Result<Stmt*> st =
      (*db)->Prepare("SELECT request_id, target, state FROM erasure_targets WHERE outbox_id = ?");
  if (!st.ok()) return st.status();
  Stmt& q = **st;
  q.BindAll(outbox_id);
  Result<bool> row = q.Step();
  std::optional<std::pair<std::string, std::string>> found;
  ErasureTargetState from = ErasureTargetState::kPending;
  if (row.ok() && *row) {
    found.emplace(q.Text(0), q.Text(1));
    from = ParseErasureTargetState(q.Text(2)).value_or(ErasureTargetState::kPending);
  }
  q.Reset();
  if (!row.ok()) return row.status();
  if (!found || !ErasureTransitionAllowed(from, ErasureTargetState::kPending)) {
    return Status::Ok();
  }
  return SetTargetState(**db, found->first, found->second, ErasureTargetState::kPending,
                        "replayed from the dead-letter queue", now);
}

Status MarkErasureTargetManual(Transaction& txn, std::string_view id, std::string_view target,
                               std::string_view note, TimestampMs now) {
  Result<Db*> db = SqliteDbOf(txn, kWhat);
  if (!db.ok()) return db.status();
  Result<std::optional<ErasureRequestRecord>> r = GetErasureRequest(txn, id);
  if (!r.ok()) return r.status();
  if (!r->has_value()) return NotFound("no erasure request " + std::string(id));
  const auto& targets = (*r)->targets;
  const auto t = std::find_if(targets.begin(), targets.end(),
                              [&](const ErasureTarget& x) { return x.target == target; });
  if (t == targets.end()) {
    return NotFound("erasure request " + std::string(id) + " has no target " + std::string(target));
  }
  if (!ErasureTransitionAllowed(t->state, ErasureTargetState::kManual)) {
    return FailedPrecondition("target " + std::string(target) + " is already " +
                              std::string(ErasureTargetStateName(t->state)));
  }
  // Kept as text and shown as JSON (the API, the status page): bytes that
  // are not UTF-8 would make every later view of the request fail.
  if (!ValidUtf8(note)) {
    return InvalidArgument("the note is not valid UTF-8 text (byte " +
                           std::to_string(FirstInvalidUtf8(note) + 1) + ")");
  }
  // The note is free text and may name the person, while the request is
  // kept after the erasure: addresses and hashes are taken out of it.
  const std::string reason = note.empty() ? std::string("erased by hand (operator)")
                                          : "by hand: " + RedactIdentifiersInText(note);
  return SetTargetState(**db, id, target, ErasureTargetState::kManual, reason, now);
}

Result<std::optional<ErasureRequestRecord>> GetErasureRequest(Transaction& txn,
                                                              std::string_view id) {
  Result<Db*> db = SqliteDbOf(txn, kWhat);
  if (!db.ok()) return db.status();
  Result<std::vector<ErasureRequestRecord>> r =
      SelectRequests(**db, std::string(kSelectRequest) + "WHERE id = ?", id);
  if (!r.ok()) return r.status();
  if (r->empty()) return std::optional<ErasureRequestRecord>();
  return std::optional<ErasureRequestRecord>(std::move(r->front()));
}

Result<std::optional<ErasureRequestRecord>> FindErasureRequestBySubject(Transaction& txn,
                                                                        std::string_view subject) {
  Result<Db*> db = SqliteDbOf(txn, kWhat);
  if (!db.ok()) return db.status();
  Result<std::vector<ErasureRequestRecord>> r = SelectRequests(
      **db, std::string(kSelectRequest) + "WHERE subject_id = ? ORDER BY requested_at DESC LIMIT 1",
      subject);
  if (!r.ok()) return r.status();
  if (r->empty()) return std::optional<ErasureRequestRecord>();
  return std::optional<ErasureRequestRecord>(std::move(r->front()));
}

Result<std::vector<ErasureRequestRecord>> ListErasureRequests(Transaction& txn, TimestampMs now,
                                                              const ErasureListOptions& options) {
  Result<Db*> db = SqliteDbOf(txn, kWhat);
  if (!db.ok()) return db.status();
  std::string sql(kSelectRequest);
  if (options.overdue_only) {
    sql += "WHERE closed_at IS NULL AND deadline < ?1 ";
  } else if (options.open_only) {
    sql += "WHERE closed_at IS NULL AND ?1 = ?1 ";
  } else {
    sql += "WHERE ?1 = ?1 ";
  }
  sql += "ORDER BY requested_at DESC, id LIMIT ?2";
  return SelectRequests(**db, sql, now, static_cast<std::int64_t>(std::max(0, options.limit)));
}

Result<OpenErasureCounts> CountOpenErasures(Transaction& txn, TimestampMs now) {
  Result<Db*> db = SqliteDbOf(txn, kWhat);
  if (!db.ok()) return db.status();
  Result<Stmt*> st = (*db)->Prepare(
      "SELECT count(*), coalesce(sum(deadline < ?), 0) FROM erasure_requests "
      "WHERE closed_at IS NULL");
  if (!st.ok()) return st.status();
  Stmt& q = **st;
  q.BindAll(now);
  Result<bool> row = q.Step();
  OpenErasureCounts out;
  if (row.ok() && *row) {
    out.open = q.Int(0);
    out.overdue = q.Int(1);
  }
  q.Reset();
  if (!row.ok()) return row.status();
  return out;
}

nlohmann::json ErasureRequestJson(const ErasureRequestRecord& r, TimestampMs now) {
  nlohmann::json targets = nlohmann::json::array();
  for (const ErasureTarget& t : r.targets) {
    targets.push_back({{"target", t.target},
                       {"state", ErasureTargetStateName(t.state)},
                       {"mode", t.mode},
                       {"retained", t.retained},
                       {"reason", t.reason},
                       {"outbox_id", t.outbox_id},
                       {"updated_at_ms", t.updated_at}});
  }
  return {{"id", r.id},
          {"subject", r.subject},
          {"source", r.source},
          {"requested_by", r.requested_by},
          {"legal_ground", r.legal_ground},
          {"requested_at_ms", r.requested_at},
          {"deadline_ms", r.deadline},
          {"overdue", r.overdue(now)},
          {"state", r.open() ? "open" : "done"},
          {"targets", std::move(targets)}};
}

nlohmann::json ErasureRequestsJson(const std::vector<ErasureRequestRecord>& list, TimestampMs now) {
  nlohmann::json out = nlohmann::json::array();
  for (const ErasureRequestRecord& r : list) out.push_back(ErasureRequestJson(r, now));
  return {{"erasures", std::move(out)}};
}

}  // namespace consentd::store
