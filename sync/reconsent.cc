// SyncEngine's notice versions and re-consent walk (issue #7 "Re-consent
// when terms change"; docs/model.md "Re-consent"). The decisions about
// incoming changes are the reconciler's (core/reconciler.cc, core/notice.h);
// this file keeps the timelines in the store and in the Policy, and marks
// (or unmarks) the grants already stored when a version changes.
#include <nlohmann/json.hpp>

#include "connectors/common/desired_state.h"
#include "mapping/policy.h"
#include "store/config_history.h"
#include "store/notice_versions.h"
#include "store/proof_log_store.h"
#include "sync/outbound.h"
#include "sync/subject_store.h"
#include "sync/sync_engine.h"

namespace consentd::sync {
namespace {

// The walk's position, in the cursor table: "" = from the start, a JSON
// [subject, topic, channel, address] = after that row, kWalkDone = finished.
constexpr std::string_view kWalkCursor = "consentd:reconsent-walk";
constexpr std::string_view kWalkDone = "done";

std::string EncodeWalkKey(const store::ConsentKey& k) {
  return nlohmann::json::array({k.subject_id, k.topic, k.channel, k.address}).dump();
}

Result<store::ConsentKey> DecodeWalkKey(std::string_view text) {
  if (text.empty()) return store::ConsentKey{};
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_array() || j.size() != 4) {
    return DataLoss("re-consent walk cursor is not a consent key: " + std::string(text));
  }
  for (const auto& part : j) {
    if (!part.is_string()) return DataLoss("re-consent walk cursor has a non-text part");
  }
  return store::ConsentKey{j[0].get<std::string>(), j[1].get<std::string>(),
                           j[2].get<std::string>(), j[3].get<std::string>()};
}

// Whether a stored row can be affected at all (decoding only those).
bool MayConcern(const store::ConsentRow& row) {
  return row.status == ConsentStatusName(ConsentStatus::kGranted) ||
         row.state_json.find("\"reconsent_notice\"") != std::string::npos;
}

}  // namespace

void SyncEngine::RebuildPolicy() {
  if (!settings_.mapping) {
    policy_ = Policy{};
    return;
  }
  policy_ = mapping::ToPolicy(*settings_.mapping);
  for (const mapping::TopicSpec& t : settings_.mapping->topics) {
    if (t.notice_version.empty()) continue;  // no version: no re-consent
    const auto it = notices_.find(t.name);
    auto p = policy_.topics.find(t.name);
    if (it == notices_.end() || p == policy_.topics.end()) continue;
    p->second.notice = it->second;
  }
}

Status SyncEngine::EnsureNoticesLoaded(store::Transaction& txn) {
  if (notices_loaded_) return Status::Ok();
  Result<std::map<std::string, NoticeTimeline>> timelines = store::LoadNoticeTimelines(txn);
  if (!timelines.ok()) return timelines.status();
  notices_ = std::move(*timelines);
  notices_loaded_ = true;
  RebuildPolicy();
  return Status::Ok();
}

Result<NoticeUpdate> SyncEngine::ApplyNoticeVersions(store::Transaction& txn, TimestampMs now) {
  if (!settings_.mapping) return FailedPrecondition("sync engine: no mapping in force");
  Result<std::map<std::string, NoticeTimeline>> timelines = store::LoadNoticeTimelines(txn);
  if (!timelines.ok()) return timelines.status();
  // A new version takes effect when the mapping that names it came into
  // force, as the config history recorded it.
  Result<std::optional<store::ConfigChange>> latest = store::LatestConfigChange(txn);
  if (!latest.ok()) return latest.status();
  TimestampMs effective = now;
  std::uint64_t sequence = 0;
  if (latest->has_value() && (*latest)->mapping_hash == mapping_hash_) {
    effective = (*latest)->recorded_at;
    sequence = (*latest)->sequence;
  }
  NoticeUpdate update;
  bool changed = false;
  for (const mapping::TopicSpec& t : settings_.mapping->topics) {
    if (t.notice_version.empty()) continue;
    NoticeTimeline& timeline = (*timelines)[t.name];
    if (!timeline.empty() && timeline.current() == t.notice_version) continue;
    NoticePeriod period{effective, t.notice_version};
    std::string line = "topic " + t.name + ": notice " + t.notice_version;
    if (timeline.empty()) {
      line += " recorded (grants before it count as given for it)";
    } else {
      // Periods never go back in time, whatever the clock did.
      period.since = std::max(period.since, timeline.periods.back().since);
      const int cmp = CompareNoticeVersions(t.notice_version, timeline.current());
      line += " replaces " + std::string(timeline.current()) +
              (cmp > 0 ? ": raised, grants captured before need re-consent"
                       : ": lowered, grants for it or above no longer need re-consent");
      changed = true;
    }
    CONSENTD_RETURN_IF_ERROR(store::AppendNoticePeriod(txn, t.name, period, sequence));
    timeline.periods.push_back(std::move(period));
    update.lines.push_back(std::move(line));
  }
  notices_ = std::move(*timelines);
  notices_loaded_ = true;
  RebuildPolicy();
  if (changed) CONSENTD_RETURN_IF_ERROR(txn.AdvanceCursor(kWalkCursor, "", now));
  Result<std::optional<std::string>> cursor = txn.GetCursor(kWalkCursor);
  if (!cursor.ok()) return cursor.status();
  update.walk_pending = cursor->has_value() && **cursor != kWalkDone;
  return update;
}

Result<ReconsentWalkPage> SyncEngine::WalkReconsent(store::Transaction& txn, TimestampMs now,
                                                    int page_size) {
  if (!settings_.mapping) return FailedPrecondition("sync engine: no mapping in force");
  CONSENTD_RETURN_IF_ERROR(EnsureNoticesLoaded(txn));
  ReconsentWalkPage page;
  Result<std::optional<std::string>> cursor = txn.GetCursor(kWalkCursor);
  if (!cursor.ok()) return cursor.status();
  if (!cursor->has_value() || **cursor == kWalkDone) {
    page.done = true;
    return page;
  }
  Result<store::ConsentKey> after = DecodeWalkKey(**cursor);
  if (!after.ok()) return after.status();
  Result<std::vector<store::ConsentRow>> rows = txn.ScanConsents(*after, page_size);
  if (!rows.ok()) return rows.status();

  OutboundBatch outbound;
  std::vector<ProofEntry> proof;
  for (const store::ConsentRow& row : *rows) {
    if (!MayConcern(row)) continue;
    const TopicPolicy* topic = policy_.FindTopic(row.key.topic);
    if (topic == nullptr) continue;  // not mapped: not propagated, left as it is
    Result<ConsentRecord> record =
        connectors::DecodeConsentRecord(row.state_json, row.key.subject_id);
    if (!record.ok()) {
      return DataLoss("consent_state of " + row.key.subject_id + ": " + record.status().message());
    }
    const std::string wanted = ReconsentNoticeFor(*record, topic->notice);
    if (wanted == record->reconsent_notice) continue;
    const std::string before = record->reconsent_notice;
    record->reconsent_notice = wanted;
    CONSENTD_RETURN_IF_ERROR(SaveConsent(txn, *record, now));

    ProofEntry e;
    e.recorded_at = now;
    e.occurred_at = now;
    e.subject = row.key.subject_id;
    e.kind = ProofKind::kNoticeReconsentRequired;
    e.topic = row.key.topic;
    e.channel = row.key.channel;
    e.legal_basis = record->legal_basis;
    e.method = ConsentMethodName(record->method);
    e.notice_version = record->notice_version;
    e.source_system = "consentd";
    e.mapping_hash = mapping_hash_;
    if (!wanted.empty()) {
      ++page.marked;
      e.old_status = "granted";
      e.new_status = "reconsent_required";
      e.reason = "granted for notice " + record->notice_version + ", current " + wanted +
                 ": re-consent required";
    } else {
      ++page.cleared;
      e.old_status = "reconsent_required";
      e.new_status = "granted";
      e.reason = "granted for notice " + record->notice_version + ", current " +
                 std::string(topic->notice.current()) + " (was " + before +
                 "): no re-consent required any more";
    }
    proof.push_back(std::move(e));

    // The marker follows the record to every target that shows one; the
    // others are told nothing new (docs/model.md).
    Result<SubjectIdentity> identity = LoadIdentity(txn, row.key.subject_id);
    if (!identity.ok()) return identity.status();
    const std::string echo_key = ConsentKeyString(record->key);
    for (const auto& [system, direction] : topic->systems) {
      if (!WritesTo(direction) || !policy_.ConstraintsFor(system).reconsent_marker) continue;
      Write w;
      w.target = system;
      w.kind = WriteKind::kConsent;
      w.subject = row.key.subject_id;
      w.consent = *record;
      w.desired = std::string(ConsentStatusName(record->status));
      w.occurred_at = record->provenance.occurred_at;
      outbound.Add(w, *identity);
      // The target may report the member back (its last change moves):
      // that is this write, not a new grant. A member awaiting its double
      // opt-in's confirmation is written `pending` (AddReconsentsOutstanding),
      // and that is what comes back.
      Result<bool> awaits = AwaitsConfirmation(txn, system, row.key.subject_id);
      if (!awaits.ok()) return awaits.status();
      const std::string written =
          *awaits ? std::string(ConsentStatusName(ConsentStatus::kPending)) : w.desired;
      CONSENTD_RETURN_IF_ERROR(txn.ForgetWrites(system, echo_key));
      CONSENTD_RETURN_IF_ERROR(txn.RememberWrite({system, echo_key, written, now}));
    }
  }

  const bool last = static_cast<int>(rows->size()) < page_size;
  CONSENTD_RETURN_IF_ERROR(txn.AdvanceCursor(
      kWalkCursor, last ? std::string(kWalkDone) : EncodeWalkKey(rows->back().key), now));
  CONSENTD_RETURN_IF_ERROR(outbound.Flush(txn, *settings_.mapping, mapping_hash_,
                                          settings_.identity_key, now, page.summary.enqueued,
                                          &policy_));
  if (!proof.empty()) {
    const std::size_t n = proof.size();
    Result<store::ProofAppendResult> r = store::AppendProofEntries(txn, std::move(proof), now);
    if (!r.ok()) return r.status();
    page.summary.proof_entries = n;
  }
  page.summary.records = static_cast<int>(rows->size());
  page.done = last;
  return page;
}

}  // namespace consentd::sync
