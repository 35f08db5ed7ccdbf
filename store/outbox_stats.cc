#include "store/outbox_stats.h"

#include "store/sqlite_db.h"
#include "store/sqlite_transaction.h"

namespace consentd::store {

Result<std::vector<TargetOutboxStats>> ListOutboxStats(Transaction& txn) {
  Result<Db*> db = SqliteDbOf(txn, "outbox stats");
  if (!db.ok()) return db.status();
  // Grouped by (target, status) so the outbox_due index serves the scan;
  // done rows (the bulk of the table) are skipped.
  Result<Stmt*> st = (*db)->Prepare(
      "SELECT target, status, COUNT(*), MIN(created_at) FROM outbox "
      "WHERE status IN ('pending', 'inflight', 'dead') "
      "GROUP BY target, status ORDER BY target");
  if (!st.ok()) return st.status();
  Stmt& q = **st;
  std::vector<TargetOutboxStats> out;
  Result<bool> row = q.Step();
  for (; row.ok() && *row; row = q.Step()) {
    std::string target = q.Text(0);
    if (out.empty() || out.back().target != target) {
      out.push_back(TargetOutboxStats{});
      out.back().target = std::move(target);
    }
    TargetOutboxStats& t = out.back();
    std::string status = q.Text(1);
    std::int64_t n = q.Int(2);
    if (status == "pending") {
      t.pending = n;
      if (!q.IsNull(3)) t.oldest_pending_created_at = q.Int(3);
    } else if (status == "inflight") {
      t.inflight = n;
    } else {
      t.dead = n;
    }
  }
  q.Reset();
  if (!row.ok()) return row.status();
  return out;
}

}  // namespace consentd::store
