// An error answer of the simulated Mailchimp API, rendered as Mailchimp's
// problem document: {type, title, status, detail, instance[, errors]}.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <utility>

namespace consentd::sim::mailchimp {

inline constexpr char kErrorDocType[] = "https://mailchimp.com/developer/marketing/docs/errors/";

struct ApiError {
  int status = 400;
  std::string title;
  std::string detail;
  nlohmann::json errors;  // null, or [{field, message}] for "Invalid Resource"
  // Batch subscribe's per-member error_code (ERROR_CONTACT_EXISTS, ERROR_GENERIC).
  std::string batch_code = "ERROR_GENERIC";
};

inline ApiError NotFoundError() {
  return {404, "Resource Not Found", "The requested resource could not be found.", nullptr,
          "ERROR_GENERIC"};
}

// A field-level validation failure.
inline ApiError InvalidResource(std::string field, std::string message) {
  return {400, "Invalid Resource",
          "The resource submitted could not be validated. For field-specific "
          "details, see the 'errors' array.",
          nlohmann::json::array({{{"field", std::move(field)}, {"message", std::move(message)}}}),
          "ERROR_GENERIC"};
}

// "Invalid Resource" with a plain detail, no errors array.
inline ApiError InvalidResourceDetail(std::string detail) {
  return {400, "Invalid Resource", std::move(detail), nullptr, "ERROR_GENERIC"};
}

}  // namespace consentd::sim::mailchimp
