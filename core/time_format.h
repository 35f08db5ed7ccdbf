// Timestamps as text for people and documents: one spelling, RFC 3339 in
// UTC with milliseconds, e.g. "2026-03-01T10:00:00.250Z". Pure.
#pragma once

#include <string>

#include "core/clock.h"

namespace consentd {

std::string FormatUtcMillis(TimestampMs ms);

}  // namespace consentd
