#include "daemon/sync_status.h"

#include "core/redact.h"

namespace consentd::daemon {

void MinuteCounter::Add(TimestampMs now, std::int64_t n) {
  const std::int64_t second = now / 1000;
  const auto i = static_cast<std::size_t>(second % 60);
  if (second_[i] != second) {
    second_[i] = second;
    count_[i] = 0;
  }
  count_[i] += n;
}

std::int64_t MinuteCounter::LastMinute(TimestampMs now) const {
  const std::int64_t second = now / 1000;
  std::int64_t sum = 0;
  for (std::size_t i = 0; i < count_.size(); ++i) {
    if (second - second_[i] < 60 && second_[i] <= second) sum += count_[i];
  }
  return sum;
}

const char* DeliveryHealth(int consecutive_failures) {
  if (consecutive_failures == 0) return "healthy";
  return consecutive_failures < kFailingAfter ? "degraded" : "failing";
}

void LinkActivity::SampleRequests(TimestampMs now, std::uint64_t requests_total) {
  request_samples.emplace_back(now, requests_total);
  // Keep one sample older than a minute as the window's start.
  while (request_samples.size() > 2 && request_samples[1].first <= now - 60000) {
    request_samples.pop_front();
  }
}

std::pair<std::uint64_t, TimestampMs> LinkActivity::RequestsInLastMinute(
    TimestampMs now, std::uint64_t requests_total) const {
  for (const auto& [at, total] : request_samples) {
    if (at >= now - 60000 && at < now) return {requests_total - total, now - at};
  }
  return {0, 0};
}

void RecentDecisions::Add(TimestampMs at, const std::string& line) {
  items_.push_back({next_++, at, MaskEmailsInText(line)});
  while (items_.size() > kCapacity) items_.pop_front();
}

}  // namespace consentd::daemon
