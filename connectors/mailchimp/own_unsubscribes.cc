#include "connectors/mailchimp/own_unsubscribes.h"

namespace consentd::connectors::mailchimp {

void OwnUnsubscribes::Note(const std::string& hash, bool unsubscribed, TimestampMs last_changed) {
  std::lock_guard lock(mu_);
  if (!unsubscribed || last_changed == 0) {
    // Any other state written (or one whose time is unknown): a later
    // unsubscribe there is not consentd's.
    last_changed_by_hash_.erase(hash);
    return;
  }
  if (last_changed_by_hash_.size() >= capacity_ && !last_changed_by_hash_.contains(hash)) {
    last_changed_by_hash_.clear();
  }
  last_changed_by_hash_[hash] = last_changed;
}

bool OwnUnsubscribes::IsOwn(const std::string& hash, TimestampMs last_changed) const {
  std::lock_guard lock(mu_);
  const auto it = last_changed_by_hash_.find(hash);
  return it != last_changed_by_hash_.end() && it->second == last_changed;
}

void OwnUnsubscribes::CopyFrom(const OwnUnsubscribes& other) {
  if (&other == this) return;
  std::scoped_lock lock(mu_, other.mu_);
  last_changed_by_hash_ = other.last_changed_by_hash_;
}

std::size_t OwnUnsubscribes::size() const {
  std::lock_guard lock(mu_);
  return last_changed_by_hash_.size();
}

}  // namespace consentd::connectors::mailchimp
