// Retry timing for outbound calls and outbox rows: exponential backoff with
// full jitter, never sooner than the target's Retry-After (DESIGN §3 ④).
// Pure and thread-safe apart from the Rng the caller owns.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string_view>

#include "core/clock.h"

namespace consentd::connectors {

struct BackoffPolicy {
  std::chrono::milliseconds base{1000};   // first retry window
  std::chrono::milliseconds cap{300000};  // longest window (5 min)
  int max_attempts = 12;                  // then dead letter ("attempts exhausted")
};

// Delay before attempt `attempt + 1` after `attempt` failed (attempt >= 1):
// uniform in [0, min(cap, base * 2^(attempt-1))] ("full jitter"), but at
// least `retry_after` when the target sent one (and then at most
// retry_after + 10 %, so a herd does not retry in lockstep).
std::chrono::milliseconds NextDelay(const BackoffPolicy& policy, int attempt,
                                    std::optional<std::chrono::milliseconds> retry_after,
                                    std::mt19937_64& rng);

// The longest Retry-After honoured. A 429's pause holds every call on the
// connector (reads and polls too), so a target asking for days, or a value
// that would overflow the arithmetic, waits an hour and is asked again.
inline constexpr std::chrono::milliseconds kMaxRetryAfter{3600 * 1000};

// Seconds since the epoch of an HTTP-date (RFC 9110 §5.6.7: IMF-fixdate,
// RFC 850, asctime), or nullopt; `now` places RFC 850's two-digit year.
std::optional<std::int64_t> ParseHttpDate(std::string_view value, TimestampMs now);

// Parses a Retry-After header value: delta-seconds ("120") or an HTTP-date
// ("Wed, 21 Oct 2015 07:28:00 GMT", RFC 9110 IMF-fixdate; the obsolete
// RFC 850 and asctime forms too), relative to `now`. nullopt when
// malformed; a date in the past gives 0; at most kMaxRetryAfter.
std::optional<std::chrono::milliseconds> ParseRetryAfter(std::string_view value, TimestampMs now);

// The Retry-After of an answer (nullopt without one), as ParseRetryAfter,
// with an HTTP-date measured against the answer's own Date header when it
// has a valid one: the sender's clock, so that a local clock running ahead
// does not cut the wait short (and trip the limit again at once).
std::optional<std::chrono::milliseconds> RetryAfterOfAnswer(
    std::optional<std::string_view> retry_after, std::optional<std::string_view> date,
    TimestampMs now);

}  // namespace consentd::connectors
