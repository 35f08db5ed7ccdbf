// Mailchimp's wire formats, shared by the connector (reads and writes
// them) and consentd-sim (serves them), so both sides agree byte for byte:
// the subscriber hash, the API's and the webhooks' time formats, and
// form encoding (webhook bodies, query strings).
//
// Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/clock.h"

namespace consentd::connectors::mailchimp {

// Lower-case hex MD5. MD5 is only Mailchimp's identifier scheme here, never
// a security measure.
std::string Md5Hex(std::string_view data);

// ASCII lower-casing, as Mailchimp applies before hashing.
std::string LowerAscii(std::string_view s);

// The subscriber hash: MD5 of the lower-cased address, 32 hex digits.
std::string SubscriberHash(std::string_view email);

// "2026-11-29T13:50:00+00:00" (whole seconds, as Mailchimp returns them).
std::string FormatIso(TimestampMs t);

// "2026-11-29 13:50:00", the webhook fired_at format (UTC).
std::string FormatFiredAt(TimestampMs t);

// Accepts ISO 8601 date-times as Mailchimp does: "YYYY-MM-DDTHH:MM:SS"
// with optional fraction and "Z"/"+HH:MM"/"-HH:MM" (no offset = UTC), and
// "YYYY-MM-DD HH:MM:SS". A space in place of the offset's "+" is taken as
// "+": clients often leave it unencoded in a query, where it decodes to a
// space. nullopt when malformed.
std::optional<TimestampMs> ParseDateTime(std::string_view s);

// application/x-www-form-urlencoded: unreserved characters as they are,
// space as '+', everything else (brackets too) as %XX.
std::string FormEncode(const std::vector<std::pair<std::string, std::string>>& fields);

}  // namespace consentd::connectors::mailchimp
