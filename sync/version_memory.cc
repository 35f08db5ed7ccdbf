#include "sync/version_memory.h"

#include <utility>

#include "core/keyed_hash.h"
#include "core/normalise.h"

namespace consentd::sync {
namespace {

// True if the record's system id or address is an erased person's
// (a tombstone holds its keyed hash), as the sync engine hashes them.
Result<bool> NamesErasedIdentity(store::Transaction& txn, std::string_view identity_key,
                                 std::string_view source, const connectors::InboundRecord& rec) {
  std::vector<std::string> hashes;
  if (!rec.system_id.empty()) {
    Result<std::string> h =
        IdentifierHash(identity_key, IdentifierKind::kNativeId, rec.system_id, source);
    if (!h.ok()) return h.status();
    hashes.push_back(std::move(*h));
  }
  if (!rec.email.empty()) {
    if (Result<std::string> e = NormaliseEmail(rec.email); e.ok()) {
      Result<std::string> h = IdentifierHash(identity_key, IdentifierKind::kEmail, *e);
      if (!h.ok()) return h.status();
      hashes.push_back(std::move(*h));
    }
  }
  for (const std::string& h : hashes) {
    Result<std::optional<store::TombstoneRow>> t = txn.FindTombstone(h);
    if (!t.ok()) return t.status();
    if (t->has_value()) return true;
  }
  return false;
}

}  // namespace

VersionSlot SplitVersion(std::string_view version) {
  const std::size_t at = version.rfind(kVersionStateSeparator);
  if (at == std::string_view::npos) return {version, {}};
  return {version.substr(0, at), version.substr(at + 1)};
}

namespace {

// `version` of `source` remembered in its slot at `now`: true unless the
// slot held that one state already (store::Transaction::PutInboxState).
Result<bool> PutVersion(store::Transaction& txn, std::string_view source, std::string_view version,
                        TimestampMs now) {
  const VersionSlot v = SplitVersion(version);
  store::InboxRow row;
  row.source = std::string(source);
  row.event_id = std::string(v.slot);
  row.payload = std::string(v.state);
  row.received_at = now;
  row.processed_at = now;  // remembered, not a hint to read
  return txn.PutInboxState(row);
}

}  // namespace

bool DecidedWhateverItsVersion(const connectors::InboundRecord& rec) {
  return !rec.merged_ids.empty() || rec.event_id.starts_with(kRereadEventPrefix);
}

std::string VersionOf(const connectors::InboundRecord& rec, bool event_id_is_version) {
  if (!rec.version_id.empty()) return rec.version_id;
  if (!event_id_is_version) return {};
  // An event id is a slot of its own, whatever it holds.
  if (rec.event_id.find(kVersionStateSeparator) == std::string::npos) return rec.event_id;
  return rec.event_id + kVersionStateSeparator;
}

Result<FreshRecords> FreshVersions(store::Transaction& txn, std::string_view identity_key,
                                   std::string_view source,
                                   std::vector<connectors::InboundRecord> records,
                                   bool event_id_is_version, TimestampMs now,
                                   const HeldVersions* held) {
  FreshRecords out;
  out.records.reserve(records.size());
  const bool have_held = held != nullptr && held->held.size() == records.size();
  for (std::size_t i = 0; i < records.size(); ++i) {
    connectors::InboundRecord& rec = records[i];
    const std::string version = VersionOf(rec, event_id_is_version);
    if (version.empty()) {
      out.records.push_back(std::move(rec));
      continue;
    }
    const bool always = DecidedWhateverItsVersion(rec);
    // Asked for each record: one decided before it in this page may have
    // given a slot another state, which moves the generation on.
    if (have_held && held->held[i] && !always && held->generation == txn.TombstoneGeneration()) {
      // Remembered in the store when it was decided or written; no erasure
      // and no other state of any slot since.
      ++out.skipped;
      ++out.skipped_held;
      continue;
    }
    Result<bool> fresh = PutVersion(txn, source, version, now);
    if (!fresh.ok()) return fresh.status();
    if (!*fresh && !always) {
      Result<bool> erased = NamesErasedIdentity(txn, identity_key, source, rec);
      if (!erased.ok()) return erased.status();
      if (!*erased) {
        ++out.skipped;
        continue;
      }
    }
    out.records.push_back(std::move(rec));
  }
  return out;
}

Status RememberVersion(store::Transaction& txn, std::string_view source,
                       std::string_view version_id, TimestampMs now) {
  Result<bool> fresh = PutVersion(txn, source, version_id, now);
  return fresh.ok() ? Status::Ok() : fresh.status();
}

}  // namespace consentd::sync
