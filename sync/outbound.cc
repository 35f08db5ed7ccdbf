#include "sync/outbound.h"

#include <algorithm>

#include "connectors/common/desired_state.h"
#include "core/keyed_hash.h"
#include "core/notice.h"
#include "store/erasure_requests.h"

namespace consentd::sync {

SubjectState FilterForTarget(const mapping::MappingSpec& spec, std::string_view target,
                             const SubjectState& state) {
  SubjectState out;
  out.subject = state.subject;
  const mapping::SystemSpec* system = spec.FindSystem(target);
  if (system == nullptr) return out;
  for (const auto& [key, record] : state.consents) {
    const mapping::TopicSpec* topic = spec.FindTopic(key.topic);
    if (topic == nullptr || !topic->bindings.contains(std::string(target)) ||
        !mapping::FlowsTo(topic->direction, system->role)) {
      continue;
    }
    const bool on_channel = std::find(topic->channels.begin(), topic->channels.end(),
                                      key.channel) != topic->channels.end();
    if (!on_channel || spec.NativeChannel(key.channel, target).empty()) continue;
    out.consents.emplace(key, record);
  }
  // A grant on a channel the person blocked is not sent where the target
  // shows that block as its unsubscribe-all, whichever way the block flows:
  // a SUBSCRIBED write there would lift it (HubSpot's v4 re-subscribes),
  // and no grant lifts a block (docs/model.md). Once the block is lifted,
  // the next row sends the grant.
  for (const mapping::BlockSpec& b : spec.blocks) {
    const auto side = b.sides.find(std::string(target));
    if (b.scope != BlockScope::Kind::kChannel || side == b.sides.end() ||
        !side->second.unsubscribe_all) {
      continue;
    }
    for (const auto& [scope, record] : state.blocks) {
      if (scope.kind != BlockScope::Kind::kChannel || !record.active) continue;
      std::erase_if(out.consents, [&](const auto& consent) {
        return consent.first.channel == scope.value &&
               consent.second.status == ConsentStatus::kGranted;
      });
    }
  }
  for (const auto& [scope, record] : state.blocks) {
    for (const mapping::BlockSpec& b : spec.blocks) {
      if (b.scope == scope.kind && b.sides.contains(std::string(target)) &&
          mapping::FlowsTo(b.direction, system->role)) {
        out.blocks.emplace(scope, record);
        break;
      }
    }
  }
  return out;
}

std::set<std::string> NoticeMarkerTopics(const mapping::MappingSpec& spec, const Policy& policy,
                                         std::string_view target) {
  std::set<std::string> out;
  const mapping::SystemSpec* system = spec.FindSystem(target);
  if (system == nullptr || !policy.ConstraintsFor(target).reconsent_marker) return out;
  for (const mapping::TopicSpec& t : spec.topics) {
    const TopicPolicy* tp = policy.FindTopic(t.name);
    if (tp == nullptr || !tp->notice.HasRisen() || !t.bindings.contains(std::string(target)) ||
        !mapping::FlowsTo(t.direction, system->role)) {
      continue;
    }
    out.insert(t.name);
  }
  return out;
}

void OutboundBatch::Add(const Write& w, const SubjectIdentity& identity) {
  auto [it, fresh] = pending_.try_emplace({w.target, w.subject});
  Pending& p = it->second;
  // An erasure row is built from this identity alone (the links are gone
  // by Flush): the one at the erasure, which holds every record the person
  // has by then. An earlier ask in the call (or a merged person's, moved
  // here by Merged) may lack some.
  if (fresh || w.kind == WriteKind::kErasure) p.identity = identity;
  p.every_record = true;  // a decided write reaches every record there
  p.except_addresses.clear();
  if (w.kind == WriteKind::kErasure) p.erase = true;
  if (w.kind == WriteKind::kConsent && w.reconsent) p.reconsent_topics.insert(w.consent.key.topic);
}

void OutboundBatch::AddState(const std::string& target, const std::string& subject,
                             const SubjectIdentity& identity, std::string_view after) {
  auto [it, fresh] = pending_.try_emplace({target, subject});
  if (fresh) it->second.identity = identity;
  it->second.whole_state = true;
  it->second.every_record = true;
  it->second.except_addresses.clear();
  if (!after.empty()) it->second.after += std::string(after) + "\n";
}

void OutboundBatch::AddStateToOtherRecords(const std::string& target, const std::string& subject,
                                           const SubjectIdentity& identity,
                                           const std::string& except_address) {
  auto [it, fresh] = pending_.try_emplace({target, subject});
  if (fresh) it->second.identity = identity;
  it->second.whole_state = true;
  Pending& p = it->second;
  if (p.every_record) return;
  // One record reported in this call: it is left out. A second one (two
  // members, two changes) would leave each without the other's change: then
  // every record gets the whole state (their echoes are consentd's own).
  if (!fresh && p.except_addresses.empty()) {
    p.every_record = true;  // asked for before by a decided write or AddState
    return;
  }
  p.except_addresses.insert(except_address);
  if (p.except_addresses.size() > 1) {
    p.every_record = true;
    p.except_addresses.clear();
  }
}

void OutboundBatch::AddErasureOfOtherRecords(const std::string& target, const std::string& subject,
                                             const SubjectIdentity& identity,
                                             const std::string& except_address) {
  Pending& p = pending_[{target, subject}];
  // The records are those the person has now: an earlier ask in this call
  // kept the identity of its time, which may lack a record linked since.
  p.identity = identity;
  // The erasure replaces whatever else this call asked for there; the
  // reporting record is gone, and naming it again would only cost a call.
  p.erase = true;
  p.every_record = false;
  p.except_addresses = {except_address};
}

void OutboundBatch::Remember(SubjectState state) {
  std::string subject = state.subject;
  states_.insert_or_assign(std::move(subject), std::move(state));
}

void OutboundBatch::Merged(const std::string& from, const std::string& into) {
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (it->first.second != from) {
      ++it;
      continue;
    }
    const std::string target = it->first.first;
    Pending moved = std::move(it->second);
    it = pending_.erase(it);
    auto [dst, fresh] = pending_.try_emplace({target, into});
    if (fresh) dst->second.identity = std::move(moved.identity);
    dst->second.erase = dst->second.erase || moved.erase;
    dst->second.reconsent_topics.merge(moved.reconsent_topics);
    dst->second.after += moved.after;
    dst->second.whole_state = dst->second.whole_state || moved.whole_state;
    Pending& d = dst->second;
    if (fresh) {
      d.every_record = moved.every_record;
      d.except_addresses = std::move(moved.except_addresses);
    } else if (d.every_record || moved.every_record || d.except_addresses.empty() ||
               d.except_addresses != moved.except_addresses) {
      // Both asked for writes there: every record, unless both left out
      // the same one.
      d.every_record = true;
      d.except_addresses.clear();
    }
  }
  states_.erase(from);
  states_.erase(into);
}

namespace {

// The records of the person `target` gets a write at, as (address, record
// id): the address linked last, then, where the target keeps a record per
// address, every other record of `target` whose address is known. After a
// CRM merge the journey platform keeps a member per address, and each must
// follow the person's state (a withdrawal most of all).
// Where the target keeps a record per address, the address linked last is
// left out when only a retired record there had it (the member moved to
// another address, or was deleted while the person lives on in another):
// a write there would create that record again. `erase` keeps it: an
// erasure names every address, and one row must carry it. Where the target
// keeps one record of the person and the address linked last is none of
// its live records', the write goes to the record linked last, at its own
// address, when that is known.
std::vector<std::pair<std::string, std::string>> RecordsOf(const SubjectIdentity& identity,
                                                           const std::string& target,
                                                           bool record_per_address, bool erase) {
  static const std::map<std::string, std::string> kNone;
  const auto found = identity.record_addresses.find(target);
  const std::map<std::string, std::string>& records =
      found == identity.record_addresses.end() ? kNone : found->second;
  // The latest address's record id: the one linked with that address, else
  // the id linked last (a link without a known address).
  std::string latest_id;
  if (const auto it = identity.system_ids.find(target); it != identity.system_ids.end()) {
    latest_id = it->second;
  }
  for (const auto& [id, address] : records) {
    if (address == identity.email) latest_id = id;
  }
  if (!record_per_address) {
    // The target keeps one record of the person: where the address linked
    // last is no live record's there, it is one another system reported
    // (after a CRM merge, the merged contact's member; a member's new
    // address), and the write goes to the record that lives there, at its
    // own address. At the other address the CRM would find no contact:
    // an erasure would leave the survivor, and a withdrawal would reach a
    // contact made for it while the person's own stayed subscribed.
    if (const auto live = records.find(latest_id);
        live != records.end() && live->second != identity.email) {
      return {{live->second, latest_id}};
    }
  }
  std::vector<std::pair<std::string, std::string>> out = {{identity.email, latest_id}};
  if (!record_per_address) return out;
  std::set<std::string> addresses = {identity.email};
  if (!erase) {
    const auto retired = identity.retired_addresses.find(target);
    const bool only_retired_has_it =
        retired != identity.retired_addresses.end() && retired->second.contains(identity.email) &&
        std::none_of(records.begin(), records.end(),
                     [&](const auto& r) { return r.second == identity.email; });
    if (only_retired_has_it) out.clear();
  }
  for (const auto& [id, address] : records) {
    if (addresses.insert(address).second) out.emplace_back(address, id);
  }
  return out;
}

}  // namespace

// Echo memory for a row that writes `state` to `target` whole (AddState):
// one value per consent and block it shows, as Reconcile remembers its own
// writes (one per (system, key), the newest). A key already remembered with
// the same value keeps its older time. Without this, the target's report of
// the write would be decided as the person's statement at the time it
// landed: a false capture time, method and source in the proof log.
// Where the value written is not certain, the key keeps what it had:
// - a grant awaiting re-consent (by the notice timeline, marked yet or
//   not): the person's next grant there answers it, and a write remembered
//   after the notice rose would pass that answer as an echo
//   (Reconcile's AnswersReconsent); without `policy` no grant is remembered;
// - a grant where consentd last wrote `pending` to a target that takes
//   re-consent through its double opt-in: the connector writes pending
//   again, and its read-back is that echo.
Status RememberStateWritten(store::Transaction& txn, const std::string& target,
                            const SubjectState& state, const Policy* policy, TimestampMs now) {
  const bool via_pending =
      policy != nullptr && policy->ConstraintsFor(target).resubscribe_via_pending;
  auto remember = [&](const std::string& key, std::string_view value) -> Status {
    Result<std::optional<store::EchoRow>> latest = txn.FindLatestWrite(target, key);
    if (!latest.ok()) return latest.status();
    if (latest->has_value()) {
      if ((*latest)->value == value) return Status::Ok();
      if (via_pending && value == ConsentStatusName(ConsentStatus::kGranted) &&
          (*latest)->value == ConsentStatusName(ConsentStatus::kPending)) {
        return Status::Ok();
      }
      CONSENTD_RETURN_IF_ERROR(txn.ForgetWrites(target, key));
    }
    return txn.RememberWrite(store::EchoRow{target, key, std::string(value), now});
  };
  for (const auto& [key, record] : state.consents) {
    if (record.status == ConsentStatus::kNotAsked) continue;  // not written
    if (record.status == ConsentStatus::kGranted) {
      const TopicPolicy* topic = policy == nullptr ? nullptr : policy->FindTopic(key.topic);
      if (topic == nullptr || !record.reconsent_notice.empty() ||
          !ReconsentNoticeFor(record, topic->notice).empty()) {
        continue;
      }
    }
    CONSENTD_RETURN_IF_ERROR(remember(ConsentKeyString(key), ConsentStatusName(record.status)));
  }
  for (const auto& [scope, record] : state.blocks) {
    CONSENTD_RETURN_IF_ERROR(
        remember(BlockEchoKey(state.subject, scope), BlockEchoValue(record.active)));
  }
  return Status::Ok();
}

std::string AwaitingConfirmationKey(std::string_view subject) {
  return std::string(subject) + "|member|" + std::string(kAwaitingConfirmation);
}

Result<bool> AwaitsConfirmation(store::Transaction& txn, std::string_view target,
                                std::string_view subject) {
  Result<std::optional<store::EchoRow>> mark =
      txn.FindLatestWrite(target, AwaitingConfirmationKey(subject));
  if (!mark.ok()) return mark.status();
  return mark->has_value();
}

// A member that awaits its double opt-in's confirmation (the target took
// consentd's write as `pending`, and the person has not confirmed or
// unsubscribed since) keeps every grant of a later row as a re-consent,
// so the connector keeps it `pending`: a row for another change of the
// person (another topic, a block, a resync) must not subscribe them
// unconfirmed.
Status AddReconsentsOutstanding(store::Transaction& txn, const std::string& target,
                                const Policy* policy, connectors::DesiredState& d) {
  if (policy == nullptr || !policy->ConstraintsFor(target).resubscribe_via_pending) {
    return Status::Ok();
  }
  const bool any_grant =
      std::any_of(d.state.consents.begin(), d.state.consents.end(),
                  [](const auto& c) { return c.second.status == ConsentStatus::kGranted; });
  if (!any_grant) return Status::Ok();
  Result<bool> awaits = AwaitsConfirmation(txn, target, d.subject);
  if (!awaits.ok()) return awaits.status();
  if (!*awaits) return Status::Ok();
  for (const auto& [key, record] : d.state.consents) {
    if (record.status == ConsentStatus::kGranted) d.reconsent_topics.insert(key.topic);
  }
  return Status::Ok();
}

Status RememberDeadLetterSentAgain(store::Transaction& txn, const store::OutboxRow& row,
                                   const Policy* policy, TimestampMs now) {
  Result<connectors::DesiredState> d = connectors::DecodeDesiredState(row.desired_json);
  if (!d.ok() || d->erase) return Status::Ok();
  return RememberStateWritten(txn, row.target, d->state, policy, now);
}

Status ForgetEchoesNeverDelivered(store::Transaction& txn, const std::string& target,
                                  const SubjectState& state, TimestampMs made_at,
                                  std::int64_t except_id) {
  std::optional<bool> live_row;  // read once, when first needed
  auto forget = [&](const std::string& key, std::string_view value) -> Status {
    Result<std::optional<store::EchoRow>> latest = txn.FindLatestWrite(target, key);
    if (!latest.ok()) return latest.status();
    // Remembered by an earlier write (the same value keeps its older time),
    // or another value since: not this write's to take back.
    if (!latest->has_value() || (*latest)->value != value || (*latest)->written_at != made_at) {
      return Status::Ok();
    }
    if (!live_row) {
      Result<bool> live = txn.HasLiveRowSince(target, state.subject, made_at, except_id);
      if (!live.ok()) return live.status();
      live_row = *live;
    }
    if (*live_row) return Status::Ok();
    return txn.ForgetWrites(target, key);
  };
  for (const auto& [key, record] : state.consents) {
    if (record.status == ConsentStatus::kNotAsked) continue;
    CONSENTD_RETURN_IF_ERROR(forget(ConsentKeyString(key), ConsentStatusName(record.status)));
  }
  for (const auto& [scope, record] : state.blocks) {
    CONSENTD_RETURN_IF_ERROR(
        forget(BlockEchoKey(state.subject, scope), BlockEchoValue(record.active)));
  }
  return Status::Ok();
}

Status OutboundBatch::Flush(store::Transaction& txn, const mapping::MappingSpec& spec,
                            std::string_view mapping_hash, std::string_view identity_key,
                            TimestampMs now, std::map<std::string, int>& enqueued,
                            const Policy* policy,
                            std::map<std::string, std::set<std::int64_t>>* held_dead) {
  for (const auto& [target_subject, p] : pending_) {
    const auto& [target, subject] = target_subject;
    connectors::DesiredState d;
    d.subject = subject;
    d.erase = p.erase;
    d.mapping_hash = std::string(mapping_hash);
    d.state.subject = subject;
    SubjectIdentity identity = p.identity;
    if (!p.erase) {
      const SubjectState* state = nullptr;
      Result<SubjectState> loaded = SubjectState{};
      if (const auto it = states_.find(subject); it != states_.end()) {
        state = &it->second;
      } else {
        loaded = LoadSubjectState(txn, subject, identity_key);
        if (!loaded.ok()) return loaded.status();
        state = &*loaded;
      }
      if (state->erased_at) continue;  // erased later in this call: its own row says so
      d.state = FilterForTarget(spec, target, *state);
      d.reconsent_topics = p.reconsent_topics;
      CONSENTD_RETURN_IF_ERROR(AddReconsentsOutstanding(txn, target, policy, d));
      if (policy != nullptr) d.notice_marker_topics = NoticeMarkerTopics(spec, *policy, target);
      Result<SubjectIdentity> now_identity = LoadIdentity(txn, subject);
      if (!now_identity.ok()) return now_identity.status();
      identity = std::move(*now_identity);
    }
    const mapping::SystemSpec* system = spec.FindSystem(target);
    const bool by_id = p.erase && system != nullptr && system->ErasesEveryRecordById();
    std::vector<std::pair<std::string, std::string>> records = RecordsOf(
        identity, target, by_id || (system != nullptr && system->KeepsRecordPerAddress()), p.erase);
    if (p.erase) {
      std::erase_if(records, [&](const auto& r) { return p.except_addresses.contains(r.first); });
      if (records.empty()) {
        // Nothing left there to erase: the request's target for it, if it
        // waits for this row, is settled now rather than never.
        CONSENTD_RETURN_IF_ERROR(store::RecordErasureOutcome(
            txn, subject, target, store::ErasureTargetState::kDone,
            "erased at the source first; no other record of the person there", now));
        continue;
      }
      // An erasure is one row for the whole key (it supersedes every queued
      // write of the person, and the erasure request follows one row per
      // target); it names the other records, erased with the first.
      for (std::size_t i = 1; i < records.size(); ++i) {
        const auto& [address, system_id] = records[i];
        d.also_erase.insert(address);
        if (by_id && !system_id.empty()) d.also_erase_ids[address] = system_id;
      }
      records.resize(1);
    } else {
      std::erase_if(records, [&](const auto& r) { return p.except_addresses.contains(r.first); });
      if (p.whole_state && !records.empty()) {
        CONSENTD_RETURN_IF_ERROR(RememberStateWritten(txn, target, d.state, policy, now));
      }
    }
    // One row per record otherwise: a row supersedes only rows for its address.
    bool repeats_dead_letter = false;
    for (const auto& [address, system_id] : records) {
      d.email = address;
      d.system_id = system_id;
      store::OutboxRow row;
      row.target = target;
      row.key = subject;
      // A newer row supersedes only rows for the same record; an erasure
      // supersedes every queued write of the person (empty: the whole key).
      row.address = d.erase ? "" : d.email;
      row.desired_json = connectors::EncodeDesiredState(d);
      // Same state, same key: a repeat of a queued state is not sent twice
      // (one already delivered is: see Transaction::Enqueue).
      row.idempotency_key = Sha256Hex(target + "\n" + row.desired_json + p.after);
      row.next_attempt_at = now;
      row.created_at = now;
      bool added = false;
      Result<std::int64_t> id = txn.Enqueue(row, added);
      if (!id.ok()) return id.status();
      if (p.erase) {
        CONSENTD_RETURN_IF_ERROR(store::AttachErasureOutbox(txn, subject, target, *id, now));
      }
      // Counted only when queued: a repeat of a queued or dead row adds
      // nothing, and reports (resync's "repairs enqueued") must say so.
      if (added) ++enqueued[target];
      if (!added) {
        Result<std::optional<store::OutboxRow>> existing = txn.GetOutbox(*id);
        if (!existing.ok()) return existing.status();
        if (existing->has_value() && (*existing)->status == store::OutboxStatus::kDead) {
          repeats_dead_letter = true;
          if (held_dead != nullptr) (*held_dead)[target].insert(*id);
        }
      }
    }
    // A state that is a dead letter already is not sent again (until an
    // operator replays it): what this call remembered writing of it, as the
    // decision or as a whole state, was never written.
    if (repeats_dead_letter && !p.erase) {
      CONSENTD_RETURN_IF_ERROR(ForgetEchoesNeverDelivered(txn, target, d.state, now, 0));
    }
  }
  pending_.clear();
  states_.clear();
  return Status::Ok();
}

Status RetireRecord(store::Transaction& txn, const mapping::MappingSpec& spec,
                    std::string_view system, std::string_view system_id, TimestampMs now,
                    TimestampMs retired_at) {
  const mapping::SystemSpec* s = spec.FindSystem(system);
  if (s != nullptr && s->KeepsRecordPerAddress()) {
    CONSENTD_RETURN_IF_ERROR(txn.SupersedeQueuedRowsOfRecord(system, system_id, now));
  }
  return txn.RetireSystemId(system, system_id, retired_at);
}

}  // namespace consentd::sync
