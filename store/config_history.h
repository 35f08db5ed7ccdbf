// Which mapping was in force when (issue #6, "Reload without loss"): every
// time a different mapping comes into force (first start, a reload, a start
// after the file was edited while consentd was stopped) one config_changed
// entry goes into the proof log, in the same unit of work as a row of
// config_changes that indexes it. Every decision entry also carries the
// mapping hash, so an auditor can tell which rules decided it.
//
// Store thread only, inside a unit of work; SQLite backend only
// (FailedPrecondition otherwise).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/status.h"
#include "store/store.h"

namespace consentd::store {

struct ConfigChange {
  std::uint64_t sequence = 0;  // of the config_changed proof entry
  std::string mapping_hash;
  TimestampMs recorded_at = 0;
};

// The latest recorded mapping, if any was recorded yet.
Result<std::optional<ConfigChange>> LatestConfigChange(Transaction& txn);

// Appends a config_changed proof entry for `mapping_hash` (source
// `source_system`, e.g. "consentd" or "admin"; `lines` say what changed)
// and indexes it, unless `mapping_hash` is already the latest recorded one:
// then nothing is written and nullopt returned.
Result<std::optional<ConfigChange>> RecordMappingInForce(Transaction& txn,
                                                         std::string_view mapping_hash,
                                                         const std::vector<std::string>& lines,
                                                         std::string_view source_system,
                                                         TimestampMs now);

}  // namespace consentd::store
