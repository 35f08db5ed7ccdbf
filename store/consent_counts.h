// Consent counts for operators (issue #7 "Counts an operator asks for",
// `consentctl status`, GET /api/v1/stats): for one (topic, channel), how
// many known subjects are in each bucket. Every subject that is linked to
// some system and not erased is counted exactly once per (topic, channel):
//   "blocked"      an active block covers it: scope all, channel:<channel>,
//                  topic:<topic>, or (for email) an address block;
//   "reconsent_required"  granted for an older notice version than the
//                  topic's current one (state_json reconsent_notice set,
//                  core/notice.h): not counted as granted;
//   else its canonical status: "granted", "pending", "withdrawn",
//                  "refused", ... as stored;
//   "not_asked"    no record for this topic and channel (never asked).
// One pass over the subjects, their consents and their blocks for all the
// (topic, channel) keys asked, in index order: memory does not grow with the
// number of subjects. Still a full read: run it off the hot path.
//
// Store thread only, inside a unit of work; SQLite backend only.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "core/status.h"
#include "store/store.h"

namespace consentd::store {

struct ConsentCountKey {
  std::string topic;
  std::string channel;
  bool operator<(const ConsentCountKey& o) const {
    return std::tie(topic, channel) < std::tie(o.topic, o.channel);
  }
};

// For each key: bucket -> subjects; buckets with no subject are absent.
Result<std::map<ConsentCountKey, std::map<std::string, std::int64_t>>> CountConsents(
    Transaction& txn, const std::vector<ConsentCountKey>& keys);

// The same for one (topic, channel).
Result<std::map<std::string, std::int64_t>> CountConsents(Transaction& txn, std::string_view topic,
                                                          std::string_view channel);

}  // namespace consentd::store
