#include "sync/subject_store.h"

#include <openssl/rand.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>

#include "connectors/common/desired_state.h"
#include "core/keyed_hash.h"

namespace consentd::sync {

Result<SubjectIdentity> LoadIdentity(store::Transaction& txn, std::string_view subject) {
  Result<std::vector<store::IdentityLink>> links = txn.ListSystemIds(subject);
  if (!links.ok()) return links.status();
  SubjectIdentity out;
  std::map<std::string, TimestampMs> linked_at;  // system -> time of the id kept
  for (const store::IdentityLink& l : *links) {
    if (l.system == kEmailLinkSystem) {
      out.emails.insert(l.system_id);
    } else {
      out.all_ids.emplace(l.system, l.system_id);
      if (!l.address.empty()) out.record_addresses[l.system][l.system_id] = l.address;
      if (l.address.empty() && l.retired_at > 0)
        out.retired_at[l.system][l.system_id] = l.retired_at;
      if (l.address.empty() && !l.retired_address.empty()) {
        // Retired: never the id a write goes to.
        out.retired_addresses[l.system].insert(l.retired_address);
        out.retired_record_addresses[l.system][l.system_id] = l.retired_address;
        continue;
      }
    }
    const auto it = linked_at.find(l.system);
    if (it != linked_at.end() && it->second > l.linked_at) continue;
    linked_at[l.system] = l.linked_at;
    if (l.system == kEmailLinkSystem) {
      out.email = l.system_id;
    } else {
      out.system_ids[l.system] = l.system_id;
    }
  }
  return out;
}

Result<std::set<std::string>> IdentityHashes(std::string_view identity_key,
                                             const SubjectIdentity& identity) {
  std::set<std::string> out;
  for (const std::string& email : identity.emails) {
    Result<std::string> h = IdentifierHash(identity_key, IdentifierKind::kEmail, email);
    if (!h.ok()) return h.status();
    out.insert(std::move(*h));
  }
  for (const auto& [system, id] : identity.all_ids) {
    Result<std::string> h = IdentifierHash(identity_key, IdentifierKind::kNativeId, id, system);
    if (!h.ok()) return h.status();
    out.insert(std::move(*h));
  }
  return out;
}

Result<SubjectState> LoadSubjectState(store::Transaction& txn, std::string_view subject,
                                      std::string_view identity_key) {
  SubjectState state;
  state.subject = std::string(subject);
  Result<std::vector<store::ConsentRow>> consents = txn.ListConsents(subject);
  if (!consents.ok()) return consents.status();
  for (const store::ConsentRow& row : *consents) {
    Result<ConsentRecord> r = connectors::DecodeConsentRecord(row.state_json, subject);
    if (!r.ok())
      return DataLoss("consent_state of " + std::string(subject) + ": " + r.status().message());
    state.consents[r->key] = std::move(*r);
  }
  Result<std::vector<store::BlockRow>> blocks = txn.ListBlocks(subject);
  if (!blocks.ok()) return blocks.status();
  for (const store::BlockRow& row : *blocks) {
    Result<BlockRecord> r = connectors::DecodeBlockRecord(row.detail_json, subject);
    if (!r.ok()) return DataLoss("blocks of " + std::string(subject) + ": " + r.status().message());
    state.blocks[r->scope] = std::move(*r);
  }
  Result<SubjectIdentity> identity = LoadIdentity(txn, subject);
  if (!identity.ok()) return identity.status();
  Result<std::set<std::string>> hashes = IdentityHashes(identity_key, *identity);
  if (!hashes.ok()) return hashes.status();
  state.identifier_hashes = std::move(*hashes);
  Result<std::optional<TimestampMs>> erased = txn.FindSubjectErased(subject);
  if (!erased.ok()) return erased.status();
  state.erased_at = *erased;
  Result<std::vector<std::pair<std::string, TimestampMs>>> deleted =
      txn.ListTargetDeletions(subject);
  if (!deleted.ok()) return deleted.status();
  state.deleted_at_target.insert(deleted->begin(), deleted->end());
  return state;
}

Status SaveConsent(store::Transaction& txn, const ConsentRecord& record, TimestampMs now) {
  store::ConsentRow row;
  row.key = {record.key.subject, record.key.topic, record.key.channel, record.key.address};
  row.status = std::string(ConsentStatusName(record.status));
  row.occurred_at = record.provenance.occurred_at;
  row.updated_at = now;
  row.state_json = connectors::EncodeConsentRecord(record);
  return txn.Upsert(row);
}

Status SaveBlock(store::Transaction& txn, const BlockRecord& record, TimestampMs now) {
  store::BlockRow row;
  row.subject_id = record.subject;
  row.scope = BlockScopeString(record.scope);
  row.active = record.active;
  row.reason = std::string(BlockReasonName(record.reason));
  row.source = record.provenance.source_system;
  row.occurred_at = record.provenance.occurred_at;
  row.updated_at = now;
  row.detail_json = connectors::EncodeBlockRecord(record);
  return txn.UpsertBlock(row);
}

Result<std::string> MintSubjectId() {
  // 8 hex digits of the minting second, then 8 of a counter that starts at a
  // random value per process. Subjects minted together sort together, so a
  // page of new subjects lands on a few B-tree pages of every table keyed
  // by subject instead of one page each (with fully random ids, writing
  // dirty pages to the WAL was ~18 % of consentd's CPU in an initial sync;
  // ordered ids cut that CPU by ~20 %, docs/benchmarks.md). Unique: the
  // counter never repeats within a process, and two processes minting in
  // the same second collide only if their random starts overlap.
  static std::atomic<std::uint32_t> counter = [] {
    std::uint32_t start = 0;
    unsigned char bytes[sizeof start];
    if (RAND_bytes(bytes, sizeof bytes) == 1) std::memcpy(&start, bytes, sizeof start);
    return start;
  }();
  const auto seconds =
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
  const std::uint64_t value = (seconds & 0xFFFFFFFFu) << 32 | counter.fetch_add(1);
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string id = "s-";
  for (int shift = 60; shift >= 0; shift -= 4) id.push_back(kDigits[(value >> shift) & 0xF]);
  return id;
}

}  // namespace consentd::sync
