// SQL text shared by store functions that reach rows of one subject in a
// table keyed by (system or target, key, …) without a scan. Store-internal.
#pragma once

#include <string>
#include <string_view>

namespace consentd::store {

// "WITH RECURSIVE firsts(name) AS (…) ": the few distinct values of
// `table`'s leading key `column`, found through its index one jump at a
// time, so that "column IN (SELECT name FROM firsts) AND …" uses the index
// prefix for each value instead of scanning the table.
inline std::string FirstsThroughIndex(std::string_view table, std::string_view column) {
  const std::string t(table), c(column);
  return "WITH RECURSIVE firsts(name) AS (SELECT min(" + c + ") FROM " + t +
         " UNION ALL SELECT (SELECT min(" + c + ") FROM " + t + " WHERE " + c +
         " > name) FROM firsts WHERE name IS NOT NULL) ";
}

// The echo memory's keys of subject ?1: they all start with "<subject>|"
// ('}' is the byte after '|').
inline constexpr std::string_view kSubjectEchoKeys = "key >= ?1 || '|' AND key < ?1 || '}'";

// An outbox row (unaliased `outbox`) that is not an erasure: its desired
// state does not say erase, and no erasure request waits on it. Such rows
// are the ones a deletion or an erasure makes pointless to send.
inline constexpr std::string_view kNotAnErasureRow =
    "NOT coalesce(json_valid(desired_json) AND json_extract(desired_json, '$.erase'), 0) "
    "AND NOT EXISTS (SELECT 1 FROM erasure_targets e WHERE e.outbox_id = outbox.id)";

}  // namespace consentd::store
