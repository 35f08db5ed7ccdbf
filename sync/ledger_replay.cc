#include "sync/ledger_replay.h"

#include <algorithm>
#include <map>
#include <set>

#include "core/time_format.h"
#include "store/erasure_requests.h"
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
    LedgerReplay::Subject e{r.value, identity->email, "", "", r.erased_at};
    if (e.email.empty()) {
      // A live record names it; else a retired one (its address link went
      // to another person, its record was deleted since): its link still
      // leads to the subject, whose state and evidence key are here.
      if (!identity->system_ids.empty()) {
        e.system = identity->system_ids.begin()->first;
        e.system_id = identity->system_ids.begin()->second;
      } else {
        e.system = identity->all_ids.begin()->first;
        e.system_id = identity->all_ids.begin()->second;
      }
    }
    out.to_erase.push_back(std::move(e));
  }
  return out;
}

Result<int> RestoreTombstones(store::Transaction& txn,
                              const std::vector<store::LedgerRecord>& records) {
  std::map<std::string, TimestampMs> latest;  // a hash erased twice: the later time
  for (const store::LedgerRecord& r : records) {
    if (r.kind != store::LedgerRecord::Kind::kTombstone) continue;
    TimestampMs& at = latest[r.value];
    at = std::max(at, r.erased_at);
  }
  int added = 0;
  for (const auto& [hash, at] : latest) {
    Result<std::optional<store::TombstoneRow>> t = txn.FindTombstone(hash);
    if (!t.ok()) return t.status();
    if (t->has_value() && (*t)->erased_at >= at) continue;
    CONSENTD_RETURN_IF_ERROR(txn.AddTombstone({hash, at}));  // keeps the later time
    ++added;
  }
  return added;
}

connectors::InboundRecord AdminErasureRecord(const std::string& subject, const std::string& email,
                                             TimestampMs occurred_at,
                                             const std::string& requested_by,
                                             const std::string& mapping_hash, TimestampMs now) {
  connectors::InboundRecord rec;
  rec.event_id = "erasure-" + subject + "-" + std::to_string(now);
  rec.email = email;
  Change c;
  c.kind = ChangeKind::kErasure;
  c.provenance.occurred_at = occurred_at;
  c.provenance.source_system = "admin";
  c.provenance.source_event_id = rec.event_id;
  c.mapping_hash = mapping_hash;
  rec.mapped.changes.push_back(std::move(c));
  rec.mapped.notes.push_back("erasure requested by " + requested_by);
  return rec;
}

Result<IngestSummary> IngestErasure(store::Transaction& txn, SyncEngine& engine,
                                    std::string_view source, const connectors::InboundRecord& rec,
                                    const std::string& requested_by, TimestampMs now) {
  Result<IngestSummary> r = engine.Ingest(txn, source, {rec}, now);
  if (!r.ok()) return r.status();
  if (Status s = store::SetErasureRequestedBy(txn, rec.event_id, requested_by);
      !s.ok() && s.code() != StatusCode::kNotFound) {
    return s;
  }
  return r;
}

namespace {

void Add(IngestSummary& into, const IngestSummary& from) {
  for (const auto& [k, v] : from.outcomes) into.outcomes[k] += v;
  into.proof_entries += from.proof_entries;
  for (const auto& [k, v] : from.enqueued) into.enqueued[k] += v;
  into.notes.insert(into.notes.end(), from.notes.begin(), from.notes.end());
  into.records += from.records;
  into.duplicates += from.duplicates;
  into.hinted.insert(from.hinted.begin(), from.hinted.end());
}

}  // namespace

Result<std::vector<store::LedgerRecord>> MissingFromLedger(
    store::Transaction& txn, const std::vector<store::LedgerRecord>& records) {
  std::set<std::string> subjects, tombstones;
  for (const store::LedgerRecord& r : records) {
    (r.kind == store::LedgerRecord::Kind::kSubject ? subjects : tombstones).insert(r.value);
  }
  std::vector<store::LedgerRecord> out;
  Result<std::vector<std::pair<std::string, TimestampMs>>> erased = txn.ListErasedSubjects();
  if (!erased.ok()) return erased.status();
  for (const auto& [subject, at] : *erased) {
    if (subjects.count(subject) == 0)
      out.push_back({store::LedgerRecord::Kind::kSubject, subject, at});
  }
  Result<std::vector<store::TombstoneRow>> held = txn.ListTombstones();
  if (!held.ok()) return held.status();
  for (const store::TombstoneRow& t : *held) {
    if (tombstones.count(t.identity_hash) == 0) {
      out.push_back({store::LedgerRecord::Kind::kTombstone, t.identity_hash, t.erased_at});
    }
  }
  return out;
}

Result<LedgerReplayOutcome> ReapplyLedger(store::Transaction& txn, SyncEngine& engine,
                                          const std::vector<store::LedgerRecord>& records,
                                          TimestampMs now) {
  LedgerReplayOutcome out;
  // First, before this unit's own erasures add theirs to the database.
  Result<std::vector<store::LedgerRecord>> missing = MissingFromLedger(txn, records);
  if (!missing.ok()) return missing.status();
  out.missing_from_ledger = std::move(missing).value();
  Result<LedgerReplay> found = FindErasuresToReapply(txn, records);
  if (!found.ok()) return found.status();
  for (const LedgerReplay::Subject& e : found->to_erase) {
    const std::string requested_by = "the erasure ledger (erased " + FormatUtcMillis(e.erased_at) +
                                     ", missing from the database)";
    connectors::InboundRecord rec = AdminErasureRecord(e.subject, e.email, e.erased_at,
                                                       requested_by, engine.mapping_hash(), now);
    std::string source = "admin";
    if (e.email.empty()) {
      // The request is by address; without one, the erasure comes as that
      // system's own (as its privacy deletion would), naming its record.
      source = e.system;
      rec.system_id = e.system_id;
      rec.mapped.changes.front().provenance.source_system = e.system;
    }
    Result<IngestSummary> r = IngestErasure(txn, engine, source, rec, requested_by, now);
    if (!r.ok()) return r.status();
    Add(out.summary, *r);
    // Told as erased only if it is (the engine may have dropped the change).
    Result<std::optional<TimestampMs>> now_erased = txn.FindSubjectErased(e.subject);
    if (!now_erased.ok()) return now_erased.status();
    if (!now_erased->has_value()) {
      out.not_erased.push_back(e.subject);
    } else if (e.email.empty()) {
      out.erased_without_address.push_back({e.subject, e.system, e.system_id});
    } else {
      out.erased.push_back(e.subject);
    }
  }
  Result<int> n = RestoreTombstones(txn, records);
  if (!n.ok()) return n.status();
  out.tombstones_restored = *n;
  return out;
}

}  // namespace consentd::sync
