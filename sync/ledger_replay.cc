#include "sync/ledger_replay.h"

#include <set>

#include "sync/subject_store.h"

namespace consentd::sync {

Result<LedgerReplay> FindErasuresToReapply(store::Transaction& txn,
                                           const std::vector<store::LedgerRecord>& records) {
  LedgerReplay out;
  std::set<std::string> seen;
  for (const store::LedgerRecord& r : records) {
    if (r.kind != store::LedgerRecord::Kind::kSubject) continue;
    if (!seen.insert(r.value).second) continue;  // erased again later: one line each time
    Result<std::optional<TimestampMs>> erased = txn.FindSubjectErased(r.value);
    if (!erased.ok()) return erased.status();
    if (erased->has_value()) continue;
    // Merged away before the erasure reached it: the subject it went into
    // holds its identities (and was erased with it, so it has its own line).
    Result<std::optional<std::string>> merged = txn.FindMergedInto(r.value);
    if (!merged.ok()) return merged.status();
    if (merged->has_value()) continue;
    Result<SubjectIdentity> identity = LoadIdentity(txn, r.value);
    if (!identity.ok()) return identity.status();
    if (identity->all_ids.empty() && identity->emails.empty()) continue;  // unknown here
    if (identity->email.empty()) {
      out.without_address.push_back(r.value);
      continue;
    }
    out.to_erase.push_back({r.value, identity->email, r.erased_at});
  }
  return out;
}

Result<int> RestoreTombstones(store::Transaction& txn,
                              const std::vector<store::LedgerRecord>& records) {
  int added = 0;
  std::set<std::string> seen;
  for (const store::LedgerRecord& r : records) {
    if (r.kind != store::LedgerRecord::Kind::kTombstone) continue;
    if (!seen.insert(r.value).second) continue;
    Result<std::optional<store::TombstoneRow>> t = txn.FindTombstone(r.value);
    if (!t.ok()) return t.status();
    if (t->has_value()) continue;
    CONSENTD_RETURN_IF_ERROR(txn.AddTombstone({r.value, r.erased_at}));
    ++added;
  }
  return added;
}

}  // namespace consentd::sync
