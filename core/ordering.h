// The version order of canonical records (DESIGN.md §2 rules 2 and 3).
//
// Two versions of the same key compare by capture time, with restrictive
// versions (withdrawn, refused, block set) moved `skew_window_ms` later:
// a restrictive version therefore beats any permissive one captured less
// than or exactly the window after it, and loses only to one captured
// strictly more than the window later. Exact ties fall to the more
// restrictive status, then to source system, event id and the remaining
// fields, so the order is total: the winner of a set of versions does not
// depend on the order they arrive in (the reconciler converges).
//
// Pure and thread-safe.
#pragma once

#include <compare>

#include "core/clock.h"
#include "core/model.h"

namespace consentd {

// > 0 if `a` wins over `b`, 0 if they are the same version.
// recorded_at is not part of the version (a redelivery is the same change).
std::strong_ordering CompareConsentVersions(const ConsentRecord& a, const ConsentRecord& b,
                                            TimestampMs skew_window_ms);
std::strong_ordering CompareBlockVersions(const BlockRecord& a, const BlockRecord& b,
                                          TimestampMs skew_window_ms);

}  // namespace consentd
