// SyncEngine::RecordDeliveries: the store half of ④ in DESIGN.md §3.
#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "connectors/common/desired_state.h"
#include "store/erasure_requests.h"
#include "store/proof_log_store.h"
#include "sync/erasure_tracking.h"
#include "sync/hint_codec.h"
#include "sync/outbound.h"
#include "sync/read_again.h"
#include "sync/subject_store.h"
#include "sync/sync_engine.h"
#include "sync/version_memory.h"

namespace consentd::sync {
namespace {

// Reads begun this soon after a write was answered may not show it yet.
constexpr TimestampMs kAnsweredWriteShowsAfterMs = 5'000;
// A write that failed without an answer showing it changed nothing may
// still be applied there for this long.
constexpr TimestampMs kUnansweredWriteMayLandForMs = 10 * 60'000;

// The proof entry for one delivery outcome. The row's desired state says
// which subject and mapping it was; `detail` and `reason` carry no personal
// data (connector contract), the address never goes in.
ProofEntry DeliveryEntry(ProofKind kind, std::string_view target, const store::OutboxRow& row,
                         const connectors::DesiredState* desired, std::string reason,
                         TimestampMs now) {
  ProofEntry e;
  e.recorded_at = now;
  e.subject = row.key;
  e.kind = kind;
  e.source_system = std::string(target);
  e.source_event_id = "outbox:" + std::to_string(row.id);
  if (desired != nullptr) {
    e.mapping_hash = desired->mapping_hash;
    if (desired->erase) e.new_status = "erased";
  }
  e.reason = std::move(reason);
  return e;
}

// The member marked as awaiting its double opt-in's confirmation
// (AwaitingConfirmationKey) once the target took a row as `pending`; the
// mark goes when a row without a grant was written (the member is not
// subscribed by consentd any more: a later grant is a re-consent of its
// own). A row the target kept values out of leaves the mark as it was.
Status NoteMemberAwaitingConfirmation(store::Transaction& txn, std::string_view target,
                                      const store::OutboxRow& row,
                                      const connectors::DeliveryResult& result, TimestampMs now) {
  const std::string system(target);
  const std::string key = AwaitingConfirmationKey(row.key);
  if (result.reconsent) {
    CONSENTD_RETURN_IF_ERROR(txn.ForgetWrites(system, key));
    return txn.RememberWrite(store::EchoRow{system, key, std::string(kAwaitingConfirmation), now});
  }
  if (!result.kept_out.empty()) return Status::Ok();
  Result<bool> awaits = AwaitsConfirmation(txn, target, row.key);
  if (!awaits.ok() || !*awaits) return awaits.status();
  Result<connectors::DesiredState> d = connectors::DecodeDesiredState(row.desired_json);
  if (!d.ok()) return d.status();
  const bool grants =
      std::any_of(d->state.consents.begin(), d->state.consents.end(),
                  [](const auto& c) { return c.second.status == ConsentStatus::kGranted; });
  return grants ? Status::Ok() : txn.ForgetWrites(system, key);
}

// Echo memory for the grants a delivered row carried, as the target took
// them (`written`: `pending` through its double opt-in, or `granted`): one
// value per granted consent of the row, of `topics` only if not empty.
Status RememberGrantsWritten(store::Transaction& txn, std::string_view target,
                             const store::OutboxRow& row, ConsentStatus written,
                             const std::set<std::string>& topics, TimestampMs now,
                             const std::vector<std::string>& kept_out = {}) {
  Result<connectors::DesiredState> d = connectors::DecodeDesiredState(row.desired_json);
  if (!d.ok()) return d.status();
  const std::string system(target);
  const std::string value(ConsentStatusName(written));
  for (const auto& [key, record] : d->state.consents) {
    if (record.status != ConsentStatus::kGranted) continue;
    if (!topics.empty() && !topics.contains(key.topic)) continue;
    const std::string echo_key = ConsentKeyString(key);
    // Left out of the write: not written, and its memory forgotten already.
    if (std::find(kept_out.begin(), kept_out.end(), echo_key) != kept_out.end()) continue;
    CONSENTD_RETURN_IF_ERROR(txn.ForgetWrites(system, echo_key));
    CONSENTD_RETURN_IF_ERROR(txn.RememberWrite(store::EchoRow{system, echo_key, value, now}));
  }
  return Status::Ok();
}

// Reads only the top-level "erase", "mapping_hash", "system_id" and
// "reconsent_topics" of a desired state, without building it (the proof
// entry of a delivery needs no more; a full decode of every delivered row
// was ~4 % of the store thread in an initial sync). For a row that was
// delivered, so it decoded in the dispatcher.
class DesiredHead final : public nlohmann::json_sax<nlohmann::json> {
 public:
  static std::optional<connectors::DesiredState> Read(std::string_view text) {
    DesiredHead h;
    if (!nlohmann::json::sax_parse(text, &h, nlohmann::json::input_format_t::json, false) ||
        !h.has_erase_ || !h.has_hash_) {
      return std::nullopt;
    }
    return std::move(h.out_);
  }

  bool null() override { return Scalar(); }
  bool boolean(bool v) override {
    if (At("erase")) {
      out_.erase = v;
      has_erase_ = true;
    }
    return Scalar();
  }
  bool number_integer(number_integer_t) override { return Scalar(); }
  bool number_unsigned(number_unsigned_t) override { return Scalar(); }
  bool number_float(number_float_t, const string_t&) override { return Scalar(); }
  bool string(string_t& v) override {
    if (At("mapping_hash")) {
      out_.mapping_hash = std::move(v);
      has_hash_ = true;
    } else if (At("system_id")) {
      out_.system_id = std::move(v);
    } else if (depth_ == 2 && key_ == "reconsent_topics") {
      out_.reconsent_topics.insert(std::move(v));
    }
    return Scalar();
  }
  bool binary(binary_t&) override { return Scalar(); }
  bool start_object(std::size_t) override {
    ++depth_;
    key_.clear();
    return true;
  }
  bool key(string_t& k) override {
    if (depth_ == 1) key_ = std::move(k);
    return true;
  }
  bool end_object() override { return End(); }
  bool start_array(std::size_t) override {
    ++depth_;
    return true;
  }
  bool end_array() override { return End(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }

 private:
  bool At(std::string_view key) const { return depth_ == 1 && key_ == key; }
  bool Scalar() { return true; }
  bool End() {
    --depth_;
    return true;
  }

  int depth_ = 0;
  std::string key_;  // the current top-level key
  bool has_erase_ = false;
  bool has_hash_ = false;
  connectors::DesiredState out_;
};

// The row moved on without us (lease expired and reclaimed, superseded):
// nothing to record for this result.
bool MovedOn(const Status& s) { return s.code() == StatusCode::kFailedPrecondition; }

// The subject a record written by `row` belongs to: the row's own, unless
// the row's address has moved to another subject since the row was built
// (its person was merged into another while the row was on its way; a
// merge moves every link). Linking the record to the merged-away subject
// would split the person again at the next report about it.
Result<std::string> OwnerOfWrittenRecord(store::Transaction& txn, const store::OutboxRow& row) {
  if (row.address.empty()) return row.key;
  Result<std::optional<std::string>> owner =
      txn.FindSubjectBySystemId(kEmailLinkSystem, row.address);
  if (!owner.ok()) return owner.status();
  return owner->has_value() ? **owner : row.key;
}

// Why a write that failed on its way is not to be retried, or "" if it is:
// its person was merged into another meanwhile (the merge queued the
// combined state; this row holds the state from before it, and sent later
// it would undo it), or the record at its address was retired (it moved to
// another address or was deleted there: a write would create it again).
// `survivor` is set in the first case.
// `record_per_address`: the target keeps a record per address (only there
// is nothing written at a retired record's address).
Result<std::string> WhyNotRetried(store::Transaction& txn, std::string_view target,
                                  const store::OutboxRow& row,
                                  const std::optional<std::string>& survivor,
                                  bool record_per_address) {
  if (survivor) return "its person was merged into " + *survivor;
  if (row.address.empty() || !record_per_address) return std::string();
  Result<SubjectIdentity> identity = LoadIdentity(txn, row.key);
  if (!identity.ok()) return identity.status();
  const auto retired = identity->retired_addresses.find(std::string(target));
  if (retired == identity->retired_addresses.end() || !retired->second.contains(row.address)) {
    return std::string();
  }
  if (const auto live = identity->record_addresses.find(std::string(target));
      live != identity->record_addresses.end()) {
    for (const auto& [id, address] : live->second) {
      if (address == row.address) return std::string();
    }
  }
  return std::string("its record there was retired (moved to another address, or deleted)");
}

// Queues a hint of consentd's own for the record a delivery kept values
// out of, so that the record is read again and what the target holds is
// decided (see RecordDeliveries). One per row: a repeat is a duplicate. The
// id names the row's creation time too: SQLite reuses the ids of deleted
// rows, and a processed hint outlives a pruned row.
Status ReadKeptOutAgain(store::Transaction& txn, std::string_view target,
                        const store::OutboxRow& row, const connectors::DeliveryResult& result,
                        const connectors::DesiredState* d, TimestampMs now,
                        std::set<std::string>& hinted) {
  connectors::RecordRef ref;
  ref.event_id = std::string(kRereadEventPrefix) + std::to_string(row.id) + ":" +
                 std::to_string(row.created_at);
  ref.system_id = result.system_id;
  ref.email = d != nullptr && !d->email.empty() ? d->email : row.address;
  ref.hint = connectors::RecordHint::kChanged;
  ref.occurred_at = now;
  if (ref.system_id.empty() && ref.email.empty()) return Status::Ok();  // nothing to read by
  Result<bool> fresh = StoreOwnHint(txn, target, ref, now);
  if (!fresh.ok()) return fresh.status();
  if (*fresh) hinted.insert(std::string(target));
  return Status::Ok();
}

}  // namespace

Result<IngestSummary> SyncEngine::RecordDeliveries(
    store::Transaction& txn, std::string_view target, const std::vector<store::OutboxRow>& rows,
    const std::vector<connectors::DeliveryResult>& results,
    const std::map<std::int64_t, TimestampMs>& retry_at, int max_attempts, TimestampMs now) {
  IngestSummary summary;
  std::map<std::int64_t, const store::OutboxRow*> by_id;
  for (const store::OutboxRow& row : rows) by_id[row.id] = &row;
  std::vector<ProofEntry> proof;
  // Survivors whose state goes to `target` again: a write of a person merged
  // into them landed after the merge, maybe after the combined state.
  OutboundBatch again;
  const mapping::SystemSpec* system =
      settings_.mapping ? settings_.mapping->FindSystem(target) : nullptr;
  const bool record_per_address = system != nullptr && system->KeepsRecordPerAddress();
  for (const connectors::DeliveryResult& result : results) {
    const auto it = by_id.find(result.outbox_id);
    if (it == by_id.end()) continue;  // not a row of this claim: ignore
    const store::OutboxRow& row = *it->second;
    ++summary.records;
    // A failed delivery may be of a row that does not decode (the dispatcher
    // reports those as permanent failures): those are decoded in full.
    std::optional<connectors::DesiredState> desired;
    if (result.status.ok()) desired = DesiredHead::Read(row.desired_json);
    if (!desired) {
      Result<connectors::DesiredState> full = connectors::DecodeDesiredState(row.desired_json);
      if (full.ok()) desired = std::move(*full);
    }
    const connectors::DesiredState* d = desired ? &*desired : nullptr;
    const std::string detail = result.detail.empty() ? "" : ": " + result.detail;
    std::optional<std::string> survivor;
    if (!row.key.empty() && (d == nullptr || !d->erase)) {
      Result<std::optional<std::string>> into = txn.FindMergedInto(row.key);
      if (!into.ok()) return into.status();
      survivor = std::move(*into);
    }

    // A write that was in flight when its person was erased: whatever the
    // target answered, nothing of it is kept (no link to the record it
    // wrote, no retry, no dead letter with the address); the erasure row
    // that waited behind it removes the record at the target. The proof
    // log says what happened, under the erased subject's destroyed key.
    if (!row.key.empty() && (d == nullptr || !d->erase)) {
      Result<std::optional<TimestampMs>> erased = txn.FindSubjectErased(row.key);
      if (!erased.ok()) return erased.status();
      if (erased->has_value()) {
        // Whatever it answered, the write may have ticked boxes at a record
        // someone else shares: what it was seen showing goes (nothing of
        // the erased person is stored by that).
        if (!row.address.empty()) {
          CONSENTD_RETURN_IF_ERROR(txn.ForgetShownOffOfRecord(target, row.address));
        }
        CONSENTD_RETURN_IF_ERROR(txn.DeleteOutboxRow(row.id));
        // The row held the person's address: the WAL's copy goes too.
        txn.NoteErasedDataRemoved();
        proof.push_back(DeliveryEntry(ProofKind::kSuperseded, target, row, d,
                                      "answered after the person was erased (" +
                                          std::string(!result.status.ok()      ? "failed"
                                                      : result.nothing_written ? "not written"
                                                                               : "written") +
                                          " at " + std::string(target) + "): dropped",
                                      now));
        continue;
      }
    }

    // An erasure row in flight when an operator marked its target erased by
    // hand (`consentctl erasures mark-manual`): the target is settled, so
    // whatever it answered, the row goes (no retry, no dead letter, no done
    // row with the address). Marking it removed only rows waiting then.
    if (d != nullptr && d->erase && !row.key.empty()) {
      Result<bool> settled = store::ErasureSettledAt(txn, row.key, target);
      if (!settled.ok()) return settled.status();
      if (*settled) {
        CONSENTD_RETURN_IF_ERROR(txn.DeleteOutboxRow(row.id));
        txn.NoteErasedDataRemoved();
        proof.push_back(DeliveryEntry(
            result.status.ok() ? ProofKind::kPropagated : ProofKind::kSuperseded, target, row, d,
            "erasure answered after it was settled at " + std::string(target) + " (" +
                (result.status.ok() ? std::string("erased") : result.status.ToString()) +
                "): the row is removed",
            now));
        continue;
      }
    }

    // A write to a system that dates every value by its record's last
    // change may have ticked boxes at its record, unless the answer shows it
    // changed nothing: what the record was seen showing off before no
    // longer holds (store.h, RememberShownOff). An answer may come before
    // the member's reads show the write, and a write without an answer (a
    // timeout, a 502) may still be applied there later: reads begun within
    // a margin after the answer are not taken to show it yet.
    if (!row.address.empty() && (d == nullptr || !d->erase) &&
        (result.status.ok() || !result.known_not_written) &&
        policy_.ConstraintsFor(std::string(target)).grant_time_is_record_time) {
      const TimestampMs until =
          now + (result.status.ok() ? kAnsweredWriteShowsAfterMs : kUnansweredWriteMayLandForMs);
      CONSENTD_RETURN_IF_ERROR(txn.NoteMayShowOn(row.key, target, row.address, until));
    }
    if (result.status.ok()) {
      Status s = txn.MarkDone(row.id, now);
      if (MovedOn(s)) continue;
      CONSENTD_RETURN_IF_ERROR(s);
      // Values the target kept out: it holds a withdrawal someone else made
      // there since the grant's capture (or within the tie window), which
      // consentd has not decided yet. The grant consentd remembers writing
      // there was not written, and would pass the person's later report of
      // it as an echo: forgotten (a newer write of another value remembered
      // since stays). The target's report of its withdrawal may never come
      // (a change that left the status as it was sends none) or may have
      // come before the grant was decided, so the record is read again, by
      // a hint of consentd's own, and what it holds is decided.
      for (const std::string& key : result.kept_out) {
        Result<std::optional<store::EchoRow>> latest = txn.FindLatestWrite(target, key);
        if (!latest.ok()) return latest.status();
        if (latest->has_value() && (*latest)->value == ConsentStatusName(ConsentStatus::kGranted)) {
          CONSENTD_RETURN_IF_ERROR(txn.ForgetWrites(target, key));
        }
      }
      if (!result.kept_out.empty()) {
        CONSENTD_RETURN_IF_ERROR(
            ReadKeptOutAgain(txn, target, row, result, d, now, summary.hinted));
      }
      // The target took the grants only as `pending` (re-consent through its
      // double opt-in, also where it refused `subscribed` for a member in a
      // compliance state): that is what consentd wrote there, and its
      // read-back is consentd's echo, not the person's withdrawal of the
      // grant. The person's confirmation differs from it and is decided.
      // A row whose re-consent topics the target took as plain grants (a
      // member subscribed for another topic needs no double opt-in for an
      // interest; HubSpot has none): the `pending` remembered for them goes,
      // as consentd wrote the grant there.
      if (result.reconsent) {
        CONSENTD_RETURN_IF_ERROR(
            RememberGrantsWritten(txn, target, row, ConsentStatus::kPending, {}, now));
      } else if (d != nullptr && !d->reconsent_topics.empty() && !result.nothing_written) {
        // Also where some values were kept out (the rest was written).
        CONSENTD_RETURN_IF_ERROR(RememberGrantsWritten(txn, target, row, ConsentStatus::kGranted,
                                                       d->reconsent_topics, now, result.kept_out));
      }
      if (policy_.ConstraintsFor(std::string(target)).resubscribe_via_pending && !row.key.empty() &&
          (d == nullptr || !d->erase)) {
        CONSENTD_RETURN_IF_ERROR(NoteMemberAwaitingConfirmation(txn, target, row, result, now));
      }
      // An erasure gets no new link, whatever the target answered.
      const bool erased = d != nullptr && d->erase;
      if (!result.system_id.empty() && !erased && !row.key.empty()) {
        Result<std::string> owner = OwnerOfWrittenRecord(txn, row);
        if (!owner.ok()) return owner.status();
        // Where the target keeps one record of the person, the id it
        // answers with may be the one the row gave it, while the write went
        // by the address: the row's address then says nothing about that
        // record, and a row queued before the record's address changed
        // would link it back to the old one (the next write, or the
        // erasure, would go there). A known address is kept then; an
        // unknown one (a link from before schema v13) is learnt.
        store::IdentityLink link{*owner, std::string(target), result.system_id, now, row.address};
        link.keep_known_address =
            !record_per_address && d != nullptr && d->system_id == result.system_id;
        // A record retired while the write was on its way (its permanent
        // deletion, a merge) stays retired: a write there now is refused.
        link.keep_retired = true;
        CONSENTD_RETURN_IF_ERROR(txn.LinkSystemId(link));
      }
      std::string why = "written to " + std::string(target);
      if (result.reconsent) why += " as pending (re-consent through the target's double opt-in)";
      if (erased) {
        CONSENTD_RETURN_IF_ERROR(
            TrackErasureDelivery(txn, target, row, result, false, result.detail, now));
      }
      // Everything kept out: the target holds a newer change of its own, so
      // the row arrived there late and changed nothing. The proof log must
      // not say it was written.
      const bool left_as_it_was = result.nothing_written && !result.kept_out.empty() && !erased;
      if (left_as_it_was) {
        proof.push_back(DeliveryEntry(ProofKind::kSuperseded, target, row, d,
                                      "not written to " + std::string(target) + detail, now));
      } else {
        proof.push_back(DeliveryEntry(ProofKind::kPropagated, target, row, d, why + detail, now));
      }
      if (survivor) {
        Result<SubjectIdentity> identity = LoadIdentity(txn, *survivor);
        if (!identity.ok()) return identity.status();
        again.AddState(std::string(target), *survivor, *identity,
                       "after the late write #" + std::to_string(row.id));
      }
      continue;
    }

    const std::string error = result.status.ToString();
    Status s;
    switch (result.error_class) {
      case connectors::ErrorClass::kRetryable:
        // An erasure is owed whatever the outage: it keeps being retried at
        // the backoff's cap instead of running out of attempts.
        if (d != nullptr && !d->erase) {
          Result<std::string> stale = WhyNotRetried(txn, target, row, survivor, record_per_address);
          if (!stale.ok()) return stale.status();
          if (!stale->empty()) {
            s = txn.MarkSuperseded(row.id, "superseded: " + *stale + " (after: " + error + ")",
                                   now);
            if (MovedOn(s)) continue;
            CONSENTD_RETURN_IF_ERROR(s);
            proof.push_back(DeliveryEntry(
                ProofKind::kSuperseded, target, row, d,
                "not retried at " + std::string(target) + ": " + *stale + " (" + error + ")", now));
            continue;
          }
        }
        // An erasure is owed, and a refused credential or a used-up request
        // budget (429; HubSpot's daily limit lasts until midnight) is the
        // connector's failure, not the row's: none runs out of attempts.
        if (row.attempts < max_attempts || (d != nullptr && d->erase) ||
            connectors::IsCredentialRefusal(result.status) ||
            result.status.code() == StatusCode::kResourceExhausted) {
          const auto at = retry_at.find(row.id);
          s = txn.MarkRetry(row.id, at == retry_at.end() ? now : at->second, error, now);
          if (MovedOn(s)) continue;
          CONSENTD_RETURN_IF_ERROR(s);
          continue;  // not an outcome yet: no proof entry
        }
        s = txn.MarkDead(
            row.id,
            "retries exhausted after " + std::to_string(row.attempts) + " attempts: " + error, now);
        if (MovedOn(s)) continue;
        CONSENTD_RETURN_IF_ERROR(s);
        if (d != nullptr && d->erase) {
          CONSENTD_RETURN_IF_ERROR(TrackErasureDelivery(txn, target, row, result, true,
                                                        "retries exhausted: " + error, now));
        }
        proof.push_back(DeliveryEntry(ProofKind::kRejected, target, row, d,
                                      "retries exhausted at " + std::string(target) + ": " + error,
                                      now));
        break;
      case connectors::ErrorClass::kPermanent:
        s = txn.MarkDead(row.id, error, now);
        if (MovedOn(s)) continue;
        CONSENTD_RETURN_IF_ERROR(s);
        if (d != nullptr && d->erase) {
          CONSENTD_RETURN_IF_ERROR(
              TrackErasureDelivery(txn, target, row, result, true, error, now));
        }
        proof.push_back(DeliveryEntry(ProofKind::kRejected, target, row, d,
                                      std::string(target) + " refused the write: " + error, now));
        break;
      case connectors::ErrorClass::kBlockedByTarget:
        // The connector's detail is often the refusal's message again.
        s = txn.MarkDead(row.id,
                         "blocked_by_target: " + error +
                             (result.detail == result.status.message() ? "" : detail),
                         now);
        if (MovedOn(s)) continue;
        CONSENTD_RETURN_IF_ERROR(s);
        if (d != nullptr && d->erase) {
          CONSENTD_RETURN_IF_ERROR(TrackErasureDelivery(txn, target, row, result, true,
                                                        "blocked_by_target: " + error, now));
        }
        proof.push_back(DeliveryEntry(ProofKind::kBlockedByTarget, target, row, d,
                                      std::string(target) + " refuses this transition: " + error,
                                      now));
        break;
    }
    // Only a dead row gets here. What its unit remembered writing was never
    // written: the person's own later statement of it there is theirs.
    if (d != nullptr && !d->erase) {
      CONSENTD_RETURN_IF_ERROR(
          ForgetEchoesNeverDelivered(txn, std::string(target), d->state, row.created_at, row.id));
    }
  }
  if (!again.empty()) {
    CONSENTD_RETURN_IF_ERROR(again.Flush(txn, *settings_.mapping, mapping_hash_,
                                         settings_.identity_key, now, summary.enqueued, &policy_));
  }
  if (!proof.empty()) {
    const std::size_t n = proof.size();
    Result<store::ProofAppendResult> r = store::AppendProofEntries(txn, std::move(proof), now);
    if (!r.ok()) return r.status();
    summary.proof_entries = n;
  }
  return summary;
}

}  // namespace consentd::sync
