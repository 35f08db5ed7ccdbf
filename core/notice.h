// Notice (purpose) versions of a topic over time, and what they mean for a
// grant (issue #7 "Re-consent when terms change"; docs/model.md).
//
// A topic's notice version is what the person was shown when they granted.
// The mapping names the version in force; consentd records each new version
// with the time it took effect (store/notice_versions.h). A grant is for
// the version in force when it was CAPTURED (occurred_at), whatever version
// the mapper stamped on it when it was read: systems such as Mailchimp and
// HubSpot carry no notice version, so a grant read again after a change of
// the notice is still a grant for the old one. A grant for a version lower
// than the current one requires re-consent.
//
// Versions compare in natural order: runs of digits by value, everything
// else byte by byte ("v2" < "v10", "2026-01" < "2026-02").
//
// Pure and thread-safe (plain values).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/model.h"

namespace consentd {

// < 0, 0, > 0 as `a` is below, equal to or above `b` in natural order.
int CompareNoticeVersions(std::string_view a, std::string_view b);

// One version and the time it took effect.
struct NoticePeriod {
  TimestampMs since = 0;
  std::string version;

  bool operator==(const NoticePeriod&) const = default;
};

// The versions one topic has had, oldest first; the last is in force. Empty
// means the topic has no notice version: nothing about it ever requires
// re-consent.
struct NoticeTimeline {
  std::vector<NoticePeriod> periods;

  bool empty() const { return periods.empty(); }
  // The version in force ("" if none).
  std::string_view current() const;
  // The version in force at capture time `at`: the latest period that began
  // at or before `at`; the first version for anything captured before
  // consentd recorded one (it was shown then too, as far as consentd knows).
  std::string_view VersionAt(TimestampMs at) const;
  // True if some version rose above an earlier one: only then can a grant
  // need re-consent, and a target may show a re-consent marker.
  bool HasRisen() const;

  bool operator==(const NoticeTimeline&) const = default;
};

// The notice version a grant is for. The mappers stamp the version in
// force when they read it, which says nothing about when it was given: a
// `stated` version that is empty or the current one is replaced by the
// version in force at `occurred_at`; any other stated version (an explicit
// statement, e.g. through the admin API) is kept.
std::string GrantNoticeVersion(const NoticeTimeline& notice, std::string_view stated,
                               TimestampMs occurred_at);

// The version `record` must be re-consented to ("" if none): non-empty iff
// the record is a grant whose notice version is below the current one.
std::string ReconsentNoticeFor(const ConsentRecord& record, const NoticeTimeline& notice);

}  // namespace consentd
