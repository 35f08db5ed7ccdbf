#include "store/stats_history.h"

#include "store/sqlite_db.h"
#include "store/sqlite_transaction.h"

namespace consentd::store {
namespace {

constexpr std::string_view kWhat = "stats history";

// Runs a statement with int64 bindings that returns no rows.
Status Exec(Db& db, std::string_view sql, std::initializer_list<std::int64_t> args) {
  Result<Stmt*> st = db.Prepare(sql);
  if (!st.ok()) return st.status();
  int i = 0;
  for (std::int64_t a : args) (*st)->Bind(++i, a);
  Status s = (*st)->Run();
  (*st)->Reset();
  return s;
}

}  // namespace

Status RecordStatsSnapshot(Transaction& txn, TimestampMs taken_at, std::string_view topics_json,
                           const StatsHistoryRetention& retention) {
  Result<Db*> db = SqliteDbOf(txn, kWhat);
  if (!db.ok()) return db.status();
  Result<Stmt*> st =
      (*db)->Prepare("INSERT OR REPLACE INTO stats_history (taken_at, topics) VALUES (?, ?)");
  if (!st.ok()) return st.status();
  (*st)->BindAll(taken_at, topics_json);
  Status s = (*st)->Run();
  (*st)->Reset();
  if (!s.ok()) return s;
  CONSENTD_RETURN_IF_ERROR(Exec(**db, "DELETE FROM stats_history WHERE taken_at < ?",
                                {taken_at - retention.keep.count()}));
  // Past `recent`, only the first snapshot of each `thin_to` slot stays.
  const std::int64_t slot = std::max<std::int64_t>(1, retention.thin_to.count());
  return Exec(**db,
              "DELETE FROM stats_history WHERE taken_at < ? AND taken_at NOT IN "
              "(SELECT min(taken_at) FROM stats_history GROUP BY taken_at / ?)",
              {taken_at - retention.recent.count(), slot});
}

Result<std::optional<TimestampMs>> LatestStatsSnapshotTime(Transaction& txn) {
  Result<Db*> db = SqliteDbOf(txn, kWhat);
  if (!db.ok()) return db.status();
  Result<Stmt*> st = (*db)->Prepare("SELECT max(taken_at) FROM stats_history");
  if (!st.ok()) return st.status();
  Stmt& q = **st;
  Result<bool> row = q.Step();
  std::optional<TimestampMs> out;
  if (row.ok() && *row && !q.IsNull(0)) out = q.Int(0);
  q.Reset();
  if (!row.ok()) return row.status();
  return out;
}

Result<std::vector<StatsSnapshot>> ListStatsSnapshots(Transaction& txn, TimestampMs since,
                                                      int limit) {
  Result<Db*> db = SqliteDbOf(txn, kWhat);
  if (!db.ok()) return db.status();
  // The newest `limit`, then put back in time order.
  Result<Stmt*> st = (*db)->Prepare(
      "SELECT taken_at, topics FROM (SELECT taken_at, topics FROM stats_history "
      "WHERE taken_at >= ? ORDER BY taken_at DESC LIMIT ?) ORDER BY taken_at");
  if (!st.ok()) return st.status();
  Stmt& q = **st;
  q.BindAll(since, static_cast<std::int64_t>(std::max(0, limit)));
  std::vector<StatsSnapshot> out;
  for (;;) {
    Result<bool> row = q.Step();
    if (!row.ok()) {
      q.Reset();
      return row.status();
    }
    if (!*row) break;
    out.push_back({q.Int(0), q.Text(1)});
  }
  q.Reset();
  return out;
}

}  // namespace consentd::store
