#include "store/notice_versions.h"

#include "store/sqlite_db.h"
#include "store/sqlite_transaction.h"

namespace consentd::store {

Result<std::map<std::string, NoticeTimeline>> LoadNoticeTimelines(Transaction& txn) {
  Result<Db*> db = SqliteDbOf(txn, "notice versions");
  if (!db.ok()) return db.status();
  Result<Stmt*> st =
      (*db)->Prepare("SELECT topic, version, since FROM notice_versions ORDER BY topic, id");
  if (!st.ok()) return st.status();
  Stmt& q = **st;
  std::map<std::string, NoticeTimeline> out;
  for (;;) {
    Result<bool> row = q.Step();
    if (!row.ok()) {
      q.Reset();
      return row.status();
    }
    if (!*row) break;
    out[q.Text(0)].periods.push_back(NoticePeriod{q.Int(2), q.Text(1)});
  }
  q.Reset();
  return out;
}

Status AppendNoticePeriod(Transaction& txn, std::string_view topic, const NoticePeriod& period,
                          std::uint64_t config_sequence) {
  Result<Db*> db = SqliteDbOf(txn, "notice versions");
  if (!db.ok()) return db.status();
  Result<Stmt*> st = (*db)->Prepare(
      "INSERT INTO notice_versions (topic, version, since, config_sequence) VALUES (?, ?, ?, ?)");
  if (!st.ok()) return st.status();
  (*st)->BindAll(topic, period.version, period.since, static_cast<std::int64_t>(config_sequence));
  Status s = (*st)->Run();
  (*st)->Reset();
  return s;
}

}  // namespace consentd::store
