// Hand-written validation of request bodies and query parameters for the
// endpoints the simulator serves, following the Mailchimp Marketing API
// 3.0.85 spec (AddListMembers1/2/3, the batch body, list-members query).
// A body the spec rejects (missing required field, wrong enum, wrong type)
// yields the 400 Mailchimp sends. Pure functions; thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "sim/mailchimp/api_error.h"
#include "sim/mailchimp/audience.h"

namespace consentd::sim::mailchimp {

// Which schema a member body follows.
enum class BodyKind {
  kPost,        // POST members: email_address + status required
  kPut,         // PUT member: email_address + status_if_new required
  kPatch,       // PATCH member: nothing required; status without transactional
  kBatchEntry,  // one of POST /lists/{id} members[]: email_address required
  kControl,     // control actions: email_address required, status ignored
};

// Parses raw bytes as JSON; 400 "JSON Parse Error" otherwise.
std::variant<nlohmann::json, ApiError> ParseJsonBody(std::string_view body);

std::variant<MemberUpdate, ApiError> ParseMemberUpdate(const nlohmann::json& body, BodyKind kind,
                                                       const Audience& audience);

// The validated body of POST /lists/{list_id} (batch subscribe).
struct BatchRequest {
  std::vector<nlohmann::json> members;  // validated one by one later
  bool update_existing = false;
  bool sync_tags = false;
};
std::variant<BatchRequest, ApiError> ParseBatchRequest(const nlohmann::json& body);

bool IsValidEmail(std::string_view email);

// Query parameter helpers: each returns the 400 for a malformed value.
std::optional<ApiError> ParseIntParam(std::string_view name, std::string_view value, long min,
                                      long max, long& out);
std::optional<ApiError> ParseBoolParam(std::string_view name, std::string_view value, bool& out);
// "a,b,c" (and repeated parameters) into a list.
void AppendCsv(std::string_view value, std::vector<std::string>& out);

}  // namespace consentd::sim::mailchimp
