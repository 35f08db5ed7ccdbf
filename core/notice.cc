#include "core/notice.h"

#include <cstddef>

namespace consentd {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

int CompareNoticeVersions(std::string_view a, std::string_view b) {
  std::size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (IsDigit(a[i]) && IsDigit(b[j])) {
      // Compare the digit runs by value: skip leading zeros, then the
      // longer run is larger, then digit by digit.
      std::size_t ai = i, bj = j;
      while (ai < a.size() && a[ai] == '0') ++ai;
      while (bj < b.size() && b[bj] == '0') ++bj;
      std::size_t ae = ai, be = bj;
      while (ae < a.size() && IsDigit(a[ae])) ++ae;
      while (be < b.size() && IsDigit(b[be])) ++be;
      if (ae - ai != be - bj) return ae - ai < be - bj ? -1 : 1;
      for (; ai < ae; ++ai, ++bj) {
        if (a[ai] != b[bj]) return a[ai] < b[bj] ? -1 : 1;
      }
      // Equal values: fewer leading zeros first, so distinct texts differ.
      if (ae - i != be - j) return ae - i < be - j ? -1 : 1;
      i = ae;
      j = be;
      continue;
    }
    if (a[i] != b[j]) {
      return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[j]) ? -1 : 1;
    }
    ++i;
    ++j;
  }
  if (i < a.size()) return 1;
  if (j < b.size()) return -1;
  return 0;
}

std::string_view NoticeTimeline::current() const {
  return periods.empty() ? std::string_view() : std::string_view(periods.back().version);
}

std::string_view NoticeTimeline::VersionAt(TimestampMs at) const {
  if (periods.empty()) return {};
  const NoticePeriod* in_force = &periods.front();
  for (const NoticePeriod& p : periods) {
    if (p.since > at) break;
    in_force = &p;
  }
  return in_force->version;
}

bool NoticeTimeline::HasRisen() const {
  for (std::size_t i = 1; i < periods.size(); ++i) {
    for (std::size_t k = 0; k < i; ++k) {
      if (CompareNoticeVersions(periods[i].version, periods[k].version) > 0) return true;
    }
  }
  return false;
}

std::string GrantNoticeVersion(const NoticeTimeline& notice, std::string_view stated,
                               TimestampMs occurred_at) {
  if (notice.empty()) return std::string(stated);
  if (stated.empty() || stated == notice.current()) {
    return std::string(notice.VersionAt(occurred_at));
  }
  return std::string(stated);
}

std::string ReconsentNoticeFor(const ConsentRecord& record, const NoticeTimeline& notice) {
  if (record.status != ConsentStatus::kGranted || notice.empty()) return {};
  const std::string version = record.notice_version.empty()
                                  ? std::string(notice.VersionAt(record.provenance.occurred_at))
                                  : record.notice_version;
  if (CompareNoticeVersions(version, notice.current()) >= 0) return {};
  return std::string(notice.current());
}

}  // namespace consentd
