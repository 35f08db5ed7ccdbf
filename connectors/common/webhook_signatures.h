// Webhook signatures: HubSpot request signature v3 and Standard Webhooks
// (webhook-id / webhook-timestamp / webhook-signature). Used by consentd-sim
// to sign what it sends and by the consentd connectors to verify what they
// receive, so both sides share one implementation.
//
// Pure functions, thread-safe. Verification compares in constant time and
// returns kUnauthenticated for a bad or stale signature, kInvalidArgument
// for malformed headers or secrets.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/status.h"

namespace consentd::connectors {

// Constant-time equality (length is not secret).
bool ConstantTimeEquals(std::string_view a, std::string_view b);

// --- HubSpot signature v3 ---------------------------------------------------
// X-HubSpot-Signature-v3 = base64(HMAC-SHA256(client_secret,
//     method + uri + body + timestamp)), uri the full URL incl. scheme, host
// and query, with the escapes HubSpot decodes before signing decoded (see
// HubSpotSignedUri); X-HubSpot-Request-Timestamp in Unix milliseconds.
inline constexpr std::int64_t kHubSpotSignatureMaxAgeMs = 5 * 60 * 1000;

// The URI as HubSpot puts it into the v3 signature: the percent-escapes of
// : / ? @ ! $ ' ( ) * , ; (%3A %2F %3F %40 %21 %24 %27 %28 %29 %2A %2C %3B,
// either case of hex digit) decoded, every other byte (other escapes too)
// left as it is. Sign and verify both apply it, so a caller passes the URL
// as sent or received.
std::string HubSpotSignedUri(std::string_view uri);

std::string HubSpotSignV3(std::string_view client_secret, std::string_view method,
                          std::string_view uri, std::string_view body,
                          std::string_view timestamp_ms);

// Rejects a timestamp older than max_age_ms (or more than max_age_ms in the
// future, which a clock skew of that size would otherwise hide).
Status HubSpotVerifyV3(std::string_view client_secret, std::string_view method,
                       std::string_view uri, std::string_view body,
                       std::string_view signature_header, std::string_view timestamp_header,
                       TimestampMs now, std::int64_t max_age_ms = kHubSpotSignatureMaxAgeMs);

// --- Standard Webhooks --------------------------------------------------------
// Secret "whsec_<base64 key>" (the prefix is optional); to-sign =
// id + "." + timestamp_seconds + "." + body; header "v1,<base64 sig>", several
// entries separated by spaces, any matching v1 entry accepts.
inline constexpr std::int64_t kStandardWebhooksToleranceS = 300;

// Returns "v1,<base64>"; kInvalidArgument for an empty or non-base64 secret.
Result<std::string> StandardWebhooksSign(std::string_view secret, std::string_view msg_id,
                                         std::int64_t timestamp_s, std::string_view body);

Status StandardWebhooksVerify(std::string_view secret, std::string_view msg_id,
                              std::string_view timestamp_header, std::string_view signature_header,
                              std::string_view body, TimestampMs now,
                              std::int64_t tolerance_s = kStandardWebhooksToleranceS);

}  // namespace consentd::connectors
