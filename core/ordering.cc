#include "core/ordering.h"

#include <string>
#include <tuple>

namespace consentd {
namespace {

// Exact-tie rank: the more restrictive status wins.
int StatusRank(ConsentStatus s) {
  switch (s) {
    case ConsentStatus::kGranted:
      return 0;
    case ConsentStatus::kPending:
      return 1;
    case ConsentStatus::kNotAsked:
      return 2;
    case ConsentStatus::kWithdrawn:
      return 3;
    case ConsentStatus::kRefused:
      return 4;
  }
  return 4;
}

TimestampMs Effective(TimestampMs occurred_at, bool restrictive, TimestampMs window) {
  return restrictive ? occurred_at + window : occurred_at;
}

}  // namespace

std::strong_ordering CompareConsentVersions(const ConsentRecord& a, const ConsentRecord& b,
                                            TimestampMs w) {
  const auto key = [w](const ConsentRecord& r) {
    using Key = std::tuple<TimestampMs, int, const std::string&, const std::string&, int,
                           const std::string&, const std::string&>;
    return Key(Effective(r.provenance.occurred_at, IsRestrictive(r.status), w),
               StatusRank(r.status), r.provenance.source_system, r.provenance.source_event_id,
               static_cast<int>(r.method), r.legal_basis, r.notice_version);
  };
  return key(a) <=> key(b);
}

std::strong_ordering CompareBlockVersions(const BlockRecord& a, const BlockRecord& b,
                                          TimestampMs w) {
  const auto key = [w](const BlockRecord& r) {
    using Key = std::tuple<TimestampMs, int, const std::string&, const std::string&, int,
                           TimestampMs, TimestampMs>;
    return Key(Effective(r.provenance.occurred_at, r.active, w), r.active ? 1 : 0,
               r.provenance.source_system, r.provenance.source_event_id, static_cast<int>(r.reason),
               r.since, r.until);
  };
  return key(a) <=> key(b);
}

}  // namespace consentd
