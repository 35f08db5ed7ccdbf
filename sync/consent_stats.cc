#include "sync/consent_stats.h"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "store/consent_counts.h"

namespace consentd::sync {

std::int64_t TopicChannelCounts::total() const {
  std::int64_t n = 0;
  for (const auto& [bucket, count] : buckets) n += count;
  return n;
}

const std::vector<std::string>& StandardBuckets() {
  static const std::vector<std::string> kBuckets = {
      "granted", "pending", "withdrawn", "refused", "blocked", "reconsent_required", "not_asked"};
  return kBuckets;
}

Result<ConsentStats> ComputeConsentStats(store::Transaction& txn,
                                         const mapping::MappingSpec& mapping, TimestampMs now) {
  ConsentStats stats;
  stats.computed_at = now;
  std::vector<store::ConsentCountKey> keys;
  for (const mapping::TopicSpec& topic : mapping.topics) {
    for (const std::string& channel : topic.channels) keys.push_back({topic.name, channel});
  }
  Result<std::map<store::ConsentCountKey, std::map<std::string, std::int64_t>>> counts =
      store::CountConsents(txn, keys);
  if (!counts.ok()) return counts.status().WithContext("consent counts");
  for (const mapping::TopicSpec& topic : mapping.topics) {
    for (const std::string& channel : topic.channels) {
      TopicChannelCounts row{topic.name, topic.title, channel,
                             std::move((*counts)[{topic.name, channel}])};
      for (const std::string& b : StandardBuckets()) row.buckets.try_emplace(b, 0);
      stats.rows.push_back(std::move(row));
    }
  }
  return stats;
}

std::string FormatConsentStats(const ConsentStats& stats) {
  // Standard buckets first, then any other status found in the store.
  std::vector<std::string> columns = StandardBuckets();
  for (const auto& row : stats.rows) {
    for (const auto& [bucket, n] : row.buckets) {
      if (std::find(columns.begin(), columns.end(), bucket) == columns.end()) {
        columns.push_back(bucket);
      }
    }
  }
  std::size_t name_width = 13;  // "topic/channel"
  for (const auto& row : stats.rows) {
    name_width = std::max(name_width, row.topic.size() + 1 + row.channel.size());
  }
  auto cell = [](std::string text, std::size_t width) {
    if (text.size() < width) text.insert(0, width - text.size(), ' ');
    return text;
  };
  std::string out = "topic/channel" + std::string(name_width - 13, ' ');
  for (const std::string& c : columns) out += "  " + cell(c, std::max<std::size_t>(c.size(), 7));
  out += "  " + cell("total", 7) + "\n";
  for (const auto& row : stats.rows) {
    std::string name = row.topic + "/" + row.channel;
    out += name + std::string(name_width - name.size(), ' ');
    for (const std::string& c : columns) {
      auto it = row.buckets.find(c);
      out += "  " + cell(std::to_string(it == row.buckets.end() ? 0 : it->second),
                         std::max<std::size_t>(c.size(), 7));
    }
    out += "  " + cell(std::to_string(row.total()), 7) + "\n";
  }
  if (stats.rows.empty()) out += "(no topics mapped)\n";
  return out;
}

std::string ConsentStatsJson(const ConsentStats& stats) {
  nlohmann::json topics = nlohmann::json::array();
  for (const auto& row : stats.rows) {
    topics.push_back({{"topic", row.topic},
                      {"title", row.title},
                      {"channel", row.channel},
                      {"counts", row.buckets},
                      {"total", row.total()}});
  }
  return nlohmann::json{{"computed_at_ms", stats.computed_at}, {"topics", topics}}.dump();
}

}  // namespace consentd::sync
