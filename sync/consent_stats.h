// The consent counts per mapped topic and channel (issue #7): what
// `consentctl status` prints and GET /api/v1/stats serves. Buckets are
// those of store/consent_counts.h; every mapped (topic, channel) appears,
// with every standard bucket present (0 when empty), so a chart or an
// alert sees "never asked" even before anyone was asked.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/status.h"
#include "mapping/spec.h"
#include "store/store.h"

namespace consentd::sync {

struct TopicChannelCounts {
  std::string topic;
  std::string title;
  std::string channel;
  std::map<std::string, std::int64_t> buckets;  // bucket -> subjects
  std::int64_t total() const;
};

struct ConsentStats {
  TimestampMs computed_at = 0;
  std::vector<TopicChannelCounts> rows;  // mapping order, then channel order
};

// The standard buckets, in display order.
const std::vector<std::string>& StandardBuckets();

// Inside a unit of work (store thread). One pass over the subjects per
// (topic, channel).
Result<ConsentStats> ComputeConsentStats(store::Transaction& txn,
                                         const mapping::MappingSpec& mapping, TimestampMs now);

// A fixed-width table for terminals, one row per (topic, channel).
std::string FormatConsentStats(const ConsentStats& stats);
// {"computed_at_ms": N, "topics": [{"topic","title","channel","counts":{..},"total"}]}
std::string ConsentStatsJson(const ConsentStats& stats);

}  // namespace consentd::sync
