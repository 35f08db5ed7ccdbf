#include "sync/read_again_schedule.h"

namespace consentd::sync {

ReadAgainSchedule::Deferral ReadAgainSchedule::Defer(const std::vector<Hint>& hints,
                                                     Clock::time_point now,
                                                     const connectors::BackoffPolicy& policy,
                                                     std::mt19937_64& rng) {
  Deferral out;
  std::map<std::string, Clock::time_point> due_by_record;
  for (const auto& [event_id, key] : hints) {
    auto it = due_by_record.find(key);
    if (it == due_by_record.end()) {
      if (attempts_.size() >= kMaxCountedRecords && !attempts_.contains(key)) {
        attempts_.erase(attempts_.begin());
      }
      const int attempt = ++attempts_[key];
      const auto delay = connectors::NextDelay(policy, attempt, std::nullopt, rng);
      if (due_by_record.empty()) out.first_delay = delay;
      const Clock::duration step = kStep;
      const Clock::duration since_epoch = now.time_since_epoch() + delay;
      const Clock::time_point due((since_epoch + step - Clock::duration(1)) / step * step);
      it = due_by_record.emplace(key, due).first;
    }
    due_[event_id] = it->second;
  }
  out.records = due_by_record.size();
  return out;
}

bool ReadAgainSchedule::PassOver(const std::string& event_id, Clock::time_point now) {
  const auto it = due_.find(event_id);
  if (it == due_.end()) return false;
  if (it->second > now) return true;
  due_.erase(it);
  return false;
}

ReadAgainSchedule::Wake ReadAgainSchedule::Next(Clock::time_point now) {
  std::erase_if(due_, [now](const auto& d) { return d.second + kForgetAfter < now; });
  Wake wake;
  for (const auto& [id, due] : due_) {
    if (due <= now) {
      wake.any_due = true;
    } else if (!wake.next || due < *wake.next) {
      wake.next = due;
    }
  }
  return wake;
}

void ReadAgainSchedule::Forget(const std::vector<connectors::InboundRecord>& records) {
  if (attempts_.empty()) return;
  for (const connectors::InboundRecord& rec : records) {
    if (!rec.system_id.empty()) attempts_.erase(rec.system_id);
    if (!rec.email.empty()) attempts_.erase("address:" + rec.email);
  }
}

int ReadAgainSchedule::Attempts(const std::string& key) const {
  const auto it = attempts_.find(key);
  return it == attempts_.end() ? 0 : it->second;
}

}  // namespace consentd::sync
