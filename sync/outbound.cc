#include "sync/outbound.h"

#include <algorithm>

#include "connectors/common/desired_state.h"
#include "core/keyed_hash.h"
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
  if (fresh) p.identity = identity;
  if (w.kind == WriteKind::kErasure) p.erase = true;
  if (w.kind == WriteKind::kConsent && w.reconsent) p.reconsent_topics.insert(w.consent.key.topic);
}

void OutboundBatch::AddState(const std::string& target, const std::string& subject,
                             const SubjectIdentity& identity, std::string_view after) {
  auto [it, fresh] = pending_.try_emplace({target, subject});
  if (fresh) it->second.identity = identity;
  if (!after.empty()) it->second.after += std::string(after) + "\n";
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
// erasure names every address, and one row must carry it.
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

Status OutboundBatch::Flush(store::Transaction& txn, const mapping::MappingSpec& spec,
                            std::string_view mapping_hash, std::string_view identity_key,
                            TimestampMs now, std::map<std::string, int>& enqueued,
                            const Policy* policy) {
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
      // An erasure is one row for the whole key (it supersedes every queued
      // write of the person, and the erasure request follows one row per
      // target); it names the other records, erased with the first.
      for (std::size_t i = 1; i < records.size(); ++i) {
        const auto& [address, system_id] = records[i];
        d.also_erase.insert(address);
        if (by_id && !system_id.empty()) d.also_erase_ids[address] = system_id;
      }
      records.resize(1);
    }
    // One row per record otherwise: a row supersedes only rows for its address.
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
    }
  }
  pending_.clear();
  states_.clear();
  return Status::Ok();
}

Status RetireRecord(store::Transaction& txn, const mapping::MappingSpec& spec,
                    std::string_view system, std::string_view system_id, TimestampMs now) {
  const mapping::SystemSpec* s = spec.FindSystem(system);
  if (s != nullptr && s->KeepsRecordPerAddress()) {
    CONSENTD_RETURN_IF_ERROR(txn.SupersedeQueuedRowsOfRecord(system, system_id, now));
  }
  return txn.RetireSystemId(system, system_id);
}

}  // namespace consentd::sync
