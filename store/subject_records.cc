#include "store/subject_records.h"

#include "store/sql_fragments.h"
#include "store/sqlite_db.h"
#include "store/sqlite_transaction.h"

namespace consentd::store {

Result<std::vector<OutboxRow>> ListOutboxOfSubject(Transaction& txn, std::string_view subject) {
  Result<Db*> db = SqliteDbOf(txn, "access export");
  if (!db.ok()) return db.status();
  Result<Stmt*> st = (*db)->Prepare(
      FirstsThroughIndex("outbox", "target") +
      "SELECT id FROM outbox WHERE target IN (SELECT name FROM firsts) AND key = ? ORDER BY id");
  if (!st.ok()) return st.status();
  Stmt& q = **st;
  q.BindAll(subject);
  std::vector<std::int64_t> ids;
  Result<bool> row = q.Step();
  for (; row.ok() && *row; row = q.Step()) ids.push_back(q.Int(0));
  q.Reset();
  if (!row.ok()) return row.status();
  std::vector<OutboxRow> out;
  for (std::int64_t id : ids) {
    Result<std::optional<OutboxRow>> r = txn.GetOutbox(id);
    if (!r.ok()) return r.status();
    if (r->has_value()) out.push_back(std::move(**r));
  }
  return out;
}

Result<std::vector<EchoRow>> ListEchoWritesOfSubject(Transaction& txn, std::string_view subject) {
  Result<Db*> db = SqliteDbOf(txn, "access export");
  if (!db.ok()) return db.status();
  Result<Stmt*> st = (*db)->Prepare(FirstsThroughIndex("echo_writes", "system") +
                                    "SELECT system, key, value, written_at FROM echo_writes "
                                    "WHERE system IN (SELECT name FROM firsts) AND " +
                                    std::string(kSubjectEchoKeys) + " ORDER BY system, key, value");
  if (!st.ok()) return st.status();
  Stmt& q = **st;
  q.BindAll(subject);
  std::vector<EchoRow> out;
  Result<bool> row = q.Step();
  for (; row.ok() && *row; row = q.Step()) {
    out.push_back(EchoRow{q.Text(0), q.Text(1), q.Text(2), q.Int(3)});
  }
  q.Reset();
  if (!row.ok()) return row.status();
  return out;
}

Result<std::vector<ShownOffRow>> ListShownOffOfSubject(Transaction& txn, std::string_view subject) {
  Result<Db*> db = SqliteDbOf(txn, "access export");
  if (!db.ok()) return db.status();
  Result<Stmt*> st = (*db)->Prepare(
      "SELECT subject_id, system, record, key, seen_at, read_at, on_at FROM shown_off "
      "WHERE subject_id = ? ORDER BY system, record, key");
  if (!st.ok()) return st.status();
  Stmt& q = **st;
  q.BindAll(subject);
  std::vector<ShownOffRow> out;
  Result<bool> row = q.Step();
  for (; row.ok() && *row; row = q.Step()) {
    out.push_back(
        ShownOffRow{q.Text(0), q.Text(1), q.Text(2), q.Text(3), q.Int(4), q.Int(5), q.Int(6)});
  }
  q.Reset();
  if (!row.ok()) return row.status();
  return out;
}

}  // namespace consentd::store
