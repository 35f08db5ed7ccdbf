// Request templates of the generic connector (docs/connectors-generic.md):
// text with "{name}" placeholders ("{{" and "}}" are literal braces), and
// JSON body templates whose string leaves may hold placeholders. A leaf
// that is exactly one placeholder takes the value's JSON type (a bool stays
// a bool, a list a list); anywhere else a value is inserted as text.
//
// The loader (config/generic_connector_section.cc) checks placeholder
// names with Placeholders(); the connector renders with the values of one
// outbound change. Pure functions, thread-safe.
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace consentd::connectors::generic {

// Placeholder name -> value; null means "no value" (an absent optional
// field, e.g. a consent without an address).
using TemplateValues = std::map<std::string, nlohmann::json, std::less<>>;

// The placeholder names in `text`, in order. InvalidArgument for an
// unbalanced brace or an empty or malformed name (names are
// [a-z0-9_]+), saying where.
Result<std::vector<std::string>> Placeholders(std::string_view text);

// How an inserted value is escaped.
enum class TemplateEscape {
  kNone,          // as is (JSON strings, bodies)
  kUrlComponent,  // percent-encoded except RFC 3986 unreserved characters
  kHeader,        // as is; CR, LF and NUL refused
};

// `text` with every placeholder replaced by its value as text (strings as
// they are, other JSON as dumped). A null value renders as "" unless
// `null_is_error`: then FailedPrecondition naming the placeholder. A name
// missing from `values` is InvalidArgument (the loader prevents it).
Result<std::string> RenderText(std::string_view text, const TemplateValues& values,
                               TemplateEscape escape, bool null_is_error = false);

// `tmpl` with every string leaf rendered (RenderText, kNone); a leaf that
// is exactly "{name}" becomes the value itself (null stays null). Keys are
// not templates.
Result<nlohmann::json> RenderJson(const nlohmann::json& tmpl, const TemplateValues& values);

// The placeholders each declared request may use (docs/connectors-generic.md).
// The loader refuses others; the connector fills exactly these.
inline constexpr std::string_view kConsentPlaceholders[] = {
    "system_id",      "email",       "subject",        "idempotency_key", "topic",
    "channel",        "address",     "status",         "legal_basis",     "method",
    "notice_version", "occurred_at", "occurred_at_ms", "canonical_topic", "canonical_channel"};
inline constexpr std::string_view kBlockPlaceholders[] = {
    "system_id", "email",   "subject", "idempotency_key", "block", "active",      "scope",
    "channel",   "address", "reason",  "since",           "until", "occurred_at", "occurred_at_ms"};
inline constexpr std::string_view kErasurePlaceholders[] = {"system_id", "email", "subject",
                                                            "idempotency_key", "mode"};
inline constexpr std::string_view kBatchPlaceholders[] = {"items", "count", "idempotency_key"};
inline constexpr std::string_view kPollPlaceholders[] = {"cursor", "since", "until", "since_ms",
                                                         "until_ms"};
inline constexpr std::string_view kReadPlaceholders[] = {"system_id", "email"};

// Percent-encodes everything but A-Z a-z 0-9 - . _ ~.
std::string PercentEncode(std::string_view s);

}  // namespace consentd::connectors::generic
