// The inbox's dedupe key: a 64-bit integer derived from (source, event_id).
//
// The inbox (schema v9) keeps rows in arrival order and finds a sender's
// retry through a small index on this key instead of a b-tree over the
// whole (source, event_id) text: event ids are often hashes (Mailchimp's
// is the body's SHA-256), so a text key scatters every insert over the
// whole table. Two different events may share a key; the store always
// compares the stored source and event id as well, so a collision costs a
// row read, never a lost event. Part of the database format: never change
// the function. Pure; thread-safe.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/status.h"

struct sqlite3;

namespace consentd::store {

// The first 8 bytes of SHA-256(source || 0x00 || event_id), big-endian, as
// a signed 64-bit integer (SQLite's INTEGER).
std::int64_t InboxDedupeKey(std::string_view source, std::string_view event_id);

// Registers InboxDedupeKey as the deterministic SQL function
// consentd_inbox_key(source, event_id) on `db` (the v9 migration computes
// the key of existing rows with it).
Status RegisterInboxKeyFunction(sqlite3* db);

}  // namespace consentd::store
