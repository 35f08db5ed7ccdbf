#include "sync/read_again.h"

#include <algorithm>
#include <cstdio>
#include <iterator>
#include <random>

#include "sync/hint_codec.h"

namespace consentd::sync {

std::vector<connectors::InboundRecord> TakeNotRead(
    std::vector<connectors::InboundRecord>& records) {
  std::vector<connectors::InboundRecord> out;
  const auto first = std::stable_partition(records.begin(), records.end(),
                                           [](const auto& r) { return r.not_read.empty(); });
  if (first == records.end()) return out;
  out.assign(std::make_move_iterator(first), std::make_move_iterator(records.end()));
  records.erase(first, records.end());
  return out;
}

std::string ReadAgainKey(const connectors::InboundRecord& rec) {
  const connectors::RecordRef& ref = rec.read_again;
  if (!ref.system_id.empty()) return ref.system_id;
  if (!rec.system_id.empty()) return rec.system_id;
  return "address:" + (ref.email.empty() ? rec.email : ref.email);
}

namespace {

// 16 random hex digits.
std::string Nonce() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char out[17];
  std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(rng()));
  return out;
}

}  // namespace

Result<bool> StoreOwnHint(store::Transaction& txn, std::string_view source,
                          const connectors::RecordRef& ref, TimestampMs now) {
  store::InboxRow hint;
  hint.source = std::string(source);
  hint.event_id = ref.event_id;
  hint.received_at = now;
  hint.payload = EncodeRecordRef(ref);
  return txn.InsertInbox(hint);
}

Result<std::vector<std::string>> QueueReadsAgain(
    store::Transaction& txn, std::string_view source,
    const std::vector<connectors::InboundRecord>& not_read, TimestampMs now) {
  std::vector<std::string> ids;
  ids.reserve(not_read.size());
  for (const connectors::InboundRecord& rec : not_read) {
    connectors::RecordRef ref = rec.read_again;
    if (ref.system_id.empty()) ref.system_id = rec.system_id;
    if (ref.email.empty()) ref.email = rec.email;
    ref.event_id = std::string(kNotReadEventPrefix) +
                   (ref.system_id.empty() ? "address-" + Nonce() : ref.system_id) + ":" +
                   std::to_string(rec.read_at > 0 ? rec.read_at : now);
    if (ref.occurred_at <= 0) ref.occurred_at = now;
    Result<bool> fresh = StoreOwnHint(txn, source, ref, now);
    if (!fresh.ok()) return fresh.status();
    ids.push_back(ref.event_id);
  }
  return ids;
}

}  // namespace consentd::sync
