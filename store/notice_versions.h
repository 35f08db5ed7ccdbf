// The notice (purpose) versions each topic has had and when each took
// effect (issue #7 "Re-consent when terms change"; core/notice.h). The sync
// engine appends a period when the mapping in force names a new version for
// a topic, in the unit of work that records that mapping
// (store/config_history.h), and loads the timelines into its Policy so the
// reconciler can tell which version a grant was captured under.
//
// Store thread only, inside a unit of work; SQLite backend only
// (FailedPrecondition otherwise).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "core/notice.h"
#include "core/status.h"
#include "store/store.h"

namespace consentd::store {

// v8 migration SQL (store/sqlite_migrations.cc lists it).
inline constexpr std::string_view kNoticeVersionsMigrationName = "notice_versions";
inline constexpr std::string_view kNoticeVersionsMigrationSql = R"sql(
CREATE TABLE notice_versions (
  id              INTEGER PRIMARY KEY,          -- order of recording
  topic           TEXT    NOT NULL,
  version         TEXT    NOT NULL,
  since           INTEGER NOT NULL,             -- took effect (ms since epoch)
  config_sequence INTEGER NOT NULL DEFAULT 0    -- config_changed entry in force, 0 if none
);
CREATE INDEX notice_versions_by_topic ON notice_versions (topic, id);
)sql";

// Every topic's timeline, periods in the order recorded.
Result<std::map<std::string, NoticeTimeline>> LoadNoticeTimelines(Transaction& txn);

// Appends `period` to `topic`'s timeline. `config_sequence` is the
// config_changed proof entry of the mapping that brought it (0 if none).
Status AppendNoticePeriod(Transaction& txn, std::string_view topic, const NoticePeriod& period,
                          std::uint64_t config_sequence);

}  // namespace consentd::store
