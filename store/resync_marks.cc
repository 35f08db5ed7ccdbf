#include "store/resync_marks.h"

#include "store/sqlite_db.h"
#include "store/sqlite_transaction.h"

namespace consentd::store {
namespace {

// The links of ?1 not found by the resync that started at ?2 (see
// ListMissingAfterResync). Walks the primary key (system, system_id).
constexpr std::string_view kMissingWhere =
    "FROM identity_links l WHERE l.system = ?1 AND l.resync_seen_at < ?2 AND l.linked_at < ?2 "
    "AND l.address <> '' AND NOT EXISTS (SELECT 1 FROM target_deletions d "
    "WHERE d.subject_id = l.subject_id AND d.system = l.system)";

// 1 if the link's subject has another record of ?1 that the run found.
constexpr std::string_view kLiveSibling =
    "EXISTS (SELECT 1 FROM identity_links o WHERE o.subject_id = l.subject_id "
    "AND o.system = l.system AND o.resync_seen_at >= ?2)";

// The single integer `sql` answers with `args` bound (a count).
template <typename... Args>
Result<std::int64_t> QueryCount(Transaction& txn, const std::string& sql, const Args&... args) {
  Result<Db*> db = SqliteDbOf(txn, "resync");
  if (!db.ok()) return db.status();
  Result<Stmt*> st = (*db)->Prepare(sql);
  if (!st.ok()) return st.status();
  Stmt& q = **st;
  q.BindAll(args...);
  Result<bool> row = q.Step();
  const std::int64_t n = row.ok() && *row ? q.Int(0) : 0;
  q.Reset();
  if (!row.ok()) return row.status();
  return n;
}

}  // namespace

Status MarkFoundByResync(Transaction& txn, std::string_view system,
                         const std::vector<std::string>& system_ids, TimestampMs run_started) {
  Result<Db*> db = SqliteDbOf(txn, "resync");
  if (!db.ok()) return db.status();
  Result<Stmt*> st = (*db)->Prepare(
      // max(): a run that started earlier and ends later (the daemon's and
      // consentctl's at once) does not unmark what the later run found.
      "UPDATE identity_links SET resync_seen_at = max(resync_seen_at, ?3) "
      "WHERE system = ?1 AND system_id = ?2");
  if (!st.ok()) return st.status();
  for (const std::string& id : system_ids) {
    if (id.empty()) continue;
    (*st)->Reset();  // bindings are refused until a finished statement is reset
    (*st)->BindAll(system, id, run_started);
    CONSENTD_RETURN_IF_ERROR((*st)->Run());
  }
  return Status::Ok();
}

Result<std::vector<MissingRecord>> ListMissingAfterResync(Transaction& txn, std::string_view system,
                                                          TimestampMs run_started,
                                                          std::string_view after, int limit) {
  Result<Db*> db = SqliteDbOf(txn, "resync");
  if (!db.ok()) return db.status();
  Result<Stmt*> st = (*db)->Prepare("SELECT l.system_id, l.address, " + std::string(kLiveSibling) +
                                    " " + std::string(kMissingWhere) +
                                    " AND l.system_id > ?3 ORDER BY l.system_id LIMIT ?4");
  if (!st.ok()) return st.status();
  Stmt& q = **st;
  q.BindAll(system, run_started, after, limit);
  std::vector<MissingRecord> out;
  Result<bool> row = q.Step();
  for (; row.ok() && *row; row = q.Step()) {
    out.push_back(MissingRecord{q.Text(0), q.Text(1), q.Int(2) != 0});
  }
  q.Reset();
  if (!row.ok()) return row.status();
  return out;
}

Result<std::int64_t> CountMissingAfterResync(Transaction& txn, std::string_view system,
                                             TimestampMs run_started) {
  return QueryCount(txn, "SELECT count(*) " + std::string(kMissingWhere), system, run_started);
}

Result<std::int64_t> CountLinkedRecords(Transaction& txn, std::string_view system) {
  return QueryCount(txn, "SELECT count(*) FROM identity_links WHERE system = ?1 AND address <> ''",
                    system);
}

}  // namespace consentd::store
