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

}  // namespace consentd::store
