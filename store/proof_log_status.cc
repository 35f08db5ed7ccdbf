#include "store/proof_log_status.h"

#include "store/proof_log_store.h"
#include "store/sqlite_db.h"
#include "store/sqlite_transaction.h"

namespace consentd::store {

Result<ProofLogStatus> GetProofLogStatus(Transaction& txn) {
  ProofLogStatus out;
  Result<std::uint64_t> size = ProofTreeSize(txn);
  if (!size.ok()) return size.status();
  out.entries = *size;
  Result<Db*> db = SqliteDbOf(txn, "proof log status");
  if (!db.ok()) return db.status();
  Result<Stmt*> st = (*db)->Prepare(
      "SELECT tree_size, created_at FROM proof_checkpoints ORDER BY tree_size DESC LIMIT 1");
  if (!st.ok()) return st.status();
  Stmt& q = **st;
  Result<bool> row = q.Step();
  if (row.ok() && *row) {
    out.checkpointed_entries = static_cast<std::uint64_t>(q.Int(0));
    out.last_checkpoint_at = q.Int(1);
  }
  q.Reset();
  if (!row.ok()) return row.status();
  return out;
}

}  // namespace consentd::store
