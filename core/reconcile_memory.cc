#include "core/reconcile_memory.h"

#include <algorithm>

namespace consentd {

void EchoMemory::Remember(EchoRecord record) {
  auto key = std::make_pair(record.system, record.key);
  records_.insert_or_assign(std::move(key), std::move(record));
}

void EchoMemory::Forget(std::string_view system, std::string_view key) {
  records_.erase(std::make_pair(std::string(system), std::string(key)));
}

const EchoRecord* EchoMemory::Find(std::string_view system, std::string_view key) const {
  const auto it = records_.find(std::make_pair(std::string(system), std::string(key)));
  return it == records_.end() ? nullptr : &it->second;
}

void EchoMemory::RememberUndelivered(UndeliveredWrite write) {
  auto key = std::make_pair(write.system, write.key);
  undelivered_.insert_or_assign(std::move(key), std::move(write));
}

const UndeliveredWrite* EchoMemory::FindUndelivered(std::string_view system,
                                                    std::string_view key) const {
  const auto it = undelivered_.find(std::make_pair(std::string(system), std::string(key)));
  return it == undelivered_.end() ? nullptr : &it->second;
}

void EchoMemory::RememberLanded(LandedWrite write) {
  auto key = std::make_pair(write.system, write.key);
  landed_.insert_or_assign(std::move(key), std::move(write));
}

const LandedWrite* EchoMemory::FindLanded(std::string_view system, std::string_view key) const {
  const auto it = landed_.find(std::make_pair(std::string(system), std::string(key)));
  return it == landed_.end() ? nullptr : &it->second;
}

void EchoMemory::RememberShownOff(ShownOff shown) {
  auto key = std::make_pair(shown.system, shown.key);
  shown_off_.insert_or_assign(std::move(key), std::move(shown));
}

const ShownOff* EchoMemory::FindShownOff(std::string_view system, std::string_view key) const {
  const auto it = shown_off_.find(std::make_pair(std::string(system), std::string(key)));
  return it == shown_off_.end() ? nullptr : &it->second;
}

void Tombstones::Add(Tombstone tombstone) { entries_.push_back(std::move(tombstone)); }

std::optional<TombstoneMatch> Tombstones::Match(std::string_view subject,
                                                const std::set<std::string>& hashes) const {
  std::optional<TombstoneMatch> match;
  for (const Tombstone& t : entries_) {
    const bool by_id = !subject.empty() && t.subject == subject;
    const bool by_hash = std::any_of(hashes.begin(), hashes.end(), [&](const std::string& h) {
      return t.identifier_hashes.contains(h);
    });
    if (!by_id && !by_hash) continue;
    if (!match) match = TombstoneMatch{t.erased_at, by_id};
    match->erased_at = std::max(match->erased_at, t.erased_at);
    match->same_subject = match->same_subject || by_id;
  }
  return match;
}

}  // namespace consentd
