#include "connectors/mailchimp/own_writes.h"

#include <utility>

namespace consentd::connectors::mailchimp {

void OwnWrites::Note(const std::string& hash, bool unsubscribed, TimestampMs last_changed,
                     std::string version, std::vector<std::string> ticked) {
  std::lock_guard lock(mu_);
  if (last_changed == 0 && ticked.empty()) {
    // A write whose time is unknown: nothing later can be matched to it.
    by_hash_.erase(hash);
    return;
  }
  if (by_hash_.size() >= capacity_ && !by_hash_.contains(hash)) by_hash_.clear();
  if (last_changed == 0) {
    unsubscribed = false;
    version.clear();
  }
  std::string boxes;
  for (const std::string& box : ticked) boxes += box + '\n';
  by_hash_[hash] = Written{last_changed, unsubscribed, std::move(version), std::move(boxes)};
}

bool OwnWrites::IsOwnUnsubscribe(const std::string& hash, TimestampMs last_changed) const {
  std::lock_guard lock(mu_);
  const auto it = by_hash_.find(hash);
  return it != by_hash_.end() && it->second.unsubscribed && last_changed != 0 &&
         it->second.last_changed == last_changed;
}

bool OwnWrites::Ticked(const std::string& hash, const std::string& box) const {
  std::lock_guard lock(mu_);
  const auto it = by_hash_.find(hash);
  if (it == by_hash_.end()) return false;
  // Whole keys only: each is preceded by the start or a '\n' and followed
  // by a '\n'.
  const std::string& ticked = it->second.ticked;
  const std::string needle = box + '\n';
  for (size_t at = ticked.find(needle); at != std::string::npos; at = ticked.find(needle, at + 1)) {
    if (at == 0 || ticked[at - 1] == '\n') return true;
  }
  return false;
}

bool OwnWrites::IsOwnState(const std::string& hash, const std::string& version) const {
  std::lock_guard lock(mu_);
  const auto it = by_hash_.find(hash);
  return !version.empty() && it != by_hash_.end() && it->second.version == version;
}

void OwnWrites::CopyFrom(const OwnWrites& other) {
  if (&other == this) return;
  std::scoped_lock lock(mu_, other.mu_);
  by_hash_ = other.by_hash_;
}

std::size_t OwnWrites::size() const {
  std::lock_guard lock(mu_);
  return by_hash_.size();
}

}  // namespace consentd::connectors::mailchimp
