#include "store/config_history.h"

#include "core/proof_entry.h"
#include "store/proof_log_store.h"
#include "store/sqlite_db.h"
#include "store/sqlite_transaction.h"

namespace consentd::store {
namespace {

// The proof entry's reason: the lines joined, bounded so a huge diff
// cannot bloat the log (the mapping hash identifies the full mapping).
std::string Reason(std::string_view previous_hash, const std::vector<std::string>& lines) {
  constexpr std::size_t kMaxReason = 2000;
  std::string reason = previous_hash.empty()
                           ? std::string("first mapping recorded")
                           : "mapping changed from " + std::string(previous_hash.substr(0, 12));
  for (std::size_t i = 0; i < lines.size(); ++i) {
    reason += i == 0 ? ": " : "; ";
    reason += lines[i];
    if (reason.size() > kMaxReason) {
      reason.resize(kMaxReason);
      reason += " ...";
      break;
    }
  }
  return reason;
}

}  // namespace

Result<std::optional<ConfigChange>> LatestConfigChange(Transaction& txn) {
  Result<Db*> db = SqliteDbOf(txn, "config history");
  if (!db.ok()) return db.status();
  Result<Stmt*> st = (*db)->Prepare(
      "SELECT sequence, mapping_hash, recorded_at FROM config_changes "
      "ORDER BY sequence DESC LIMIT 1");
  if (!st.ok()) return st.status();
  Stmt& q = **st;
  Result<bool> row = q.Step();
  std::optional<ConfigChange> out;
  if (row.ok() && *row) {
    out = ConfigChange{static_cast<std::uint64_t>(q.Int(0)), q.Text(1), q.Int(2)};
  }
  q.Reset();
  if (!row.ok()) return row.status();
  return out;
}

Result<std::optional<ConfigChange>> RecordMappingInForce(Transaction& txn,
                                                         std::string_view mapping_hash,
                                                         const std::vector<std::string>& lines,
                                                         std::string_view source_system,
                                                         TimestampMs now) {
  Result<std::optional<ConfigChange>> latest = LatestConfigChange(txn);
  if (!latest.ok()) return latest.status();
  if (latest->has_value() && (*latest)->mapping_hash == mapping_hash) {
    return std::optional<ConfigChange>();
  }
  ProofEntry e;
  e.kind = ProofKind::kConfigChanged;
  e.recorded_at = now;
  e.occurred_at = now;
  e.source_system = std::string(source_system);
  e.mapping_hash = std::string(mapping_hash);
  e.reason = Reason(latest->has_value() ? (*latest)->mapping_hash : "", lines);
  Result<ProofAppendResult> appended = AppendProofEntries(txn, {std::move(e)}, now);
  if (!appended.ok()) return appended.status();
  ConfigChange change{appended->first_sequence, std::string(mapping_hash), now};
  Result<Db*> db = SqliteDbOf(txn, "config history");
  if (!db.ok()) return db.status();
  Result<Stmt*> st = (*db)->Prepare(
      "INSERT INTO config_changes (sequence, mapping_hash, recorded_at) VALUES (?, ?, ?)");
  if (!st.ok()) return st.status();
  (*st)->BindAll(static_cast<std::int64_t>(change.sequence), change.mapping_hash, now);
  Status s = (*st)->Run();
  (*st)->Reset();
  if (!s.ok()) return s;
  return std::optional<ConfigChange>(std::move(change));
}

}  // namespace consentd::store
