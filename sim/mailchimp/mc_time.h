// Time formats of the Mailchimp Marketing API: ISO 8601 with a "+00:00"
// offset in JSON ("2026-11-29T13:50:00+00:00") and "YYYY-MM-DD HH:MM:SS"
// (UTC) in webhook `fired_at`. Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/clock.h"

namespace consentd::sim::mailchimp {

// "2026-11-29T13:50:00+00:00" (whole seconds, as Mailchimp returns them).
std::string FormatIso(TimestampMs t);

// "2026-11-29 13:50:00", the webhook fired_at format.
std::string FormatFiredAt(TimestampMs t);

// Accepts ISO 8601 date-times as Mailchimp does: "YYYY-MM-DDTHH:MM:SS"
// with optional fraction and "Z"/"+HH:MM"/"-HH:MM" (no offset = UTC), and
// "YYYY-MM-DD HH:MM:SS". A space in place of the offset's "+" is taken as
// "+": clients often leave it unencoded in a query, where it decodes to a
// space. nullopt when malformed.
std::optional<TimestampMs> ParseDateTime(std::string_view s);

}  // namespace consentd::sim::mailchimp
