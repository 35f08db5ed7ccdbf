#include "sync/recent_versions.h"

#include <utility>

#include "store/store.h"

namespace consentd::sync {

RecentVersions::RecentVersions(std::size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

void RecentVersions::Remember(const std::string& version, std::int64_t generation) {
  if (version.empty() || generation < generation_) return;
  if (generation > generation_) {
    versions_.clear();
    order_.clear();
    generation_ = generation;
  }
  const VersionSlot v = SplitVersion(version);
  auto it = versions_.find(v.slot);
  if (it != versions_.end()) {
    // Two states of one slot: contested, never held again (as in the store).
    if (it->second != v.state) it->second = std::string(store::kContestedInboxPayload);
    return;
  }
  it = versions_.emplace(std::string(v.slot), std::string(v.state)).first;
  order_.push_back(&it->first);
  if (order_.size() > capacity_) {
    versions_.erase(versions_.find(*order_.front()));
    order_.pop_front();
  }
}

HeldVersions RecentVersions::Find(const std::vector<connectors::InboundRecord>& records,
                                  bool event_id_is_version) const {
  HeldVersions out;
  out.generation = generation_;
  if (versions_.empty()) return out;
  out.held.assign(records.size(), false);
  for (std::size_t i = 0; i < records.size(); ++i) {
    const connectors::InboundRecord& rec = records[i];
    const std::string version = VersionOf(rec, event_id_is_version);
    if (version.empty() || DecidedWhateverItsVersion(rec)) continue;
    const VersionSlot v = SplitVersion(version);
    if (auto it = versions_.find(v.slot); it != versions_.end() && it->second == v.state) {
      out.held[i] = true;
      ++out.count;
    }
  }
  return out;
}

std::vector<std::string> VersionsToHold(const std::vector<connectors::InboundRecord>& decided,
                                        bool event_id_is_version, const IngestSummary& summary,
                                        std::int64_t before, std::int64_t after) {
  std::vector<std::string> out;
  if (before != after) return out;
  if (auto it = summary.outcomes.find(Outcome::kDroppedErased);
      it != summary.outcomes.end() && it->second > 0) {
    return out;
  }
  for (const connectors::InboundRecord& rec : decided) {
    std::string version = VersionOf(rec, event_id_is_version);
    if (!version.empty()) out.push_back(std::move(version));
  }
  return out;
}

}  // namespace consentd::sync
