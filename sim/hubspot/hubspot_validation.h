// Hand-written request validation for the HubSpot endpoints the simulator
// serves, following the vendor's OpenAPI schemas (required fields, types,
// enums). Each check appends a FieldError; the caller answers 400
// VALIDATION_ERROR listing them. Pure, thread-compatible.
#pragma once

#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace consentd::sim::hubspot {

struct FieldError {
  std::string field;
  std::string message;
  std::string code;  // REQUIRED_FIELD, INVALID_TYPE, INVALID_ENUM, ...
};

class Checks {
 public:
  // `where` prefixes field names in messages (e.g. "inputs[2].").
  explicit Checks(std::string where = "") : where_(std::move(where)) {}

  void String(const nlohmann::json& o, const char* field, bool required);
  void Enum(const nlohmann::json& o, const char* field, std::initializer_list<const char*> values,
            bool required);
  // An int64; `numeric_string_ok` accepts "123" (HubSpot's v3 ids are strings).
  void Integer(const nlohmann::json& o, const char* field, bool required,
               bool numeric_string_ok = false);
  void Array(const nlohmann::json& o, const char* field, bool required);
  void Object(const nlohmann::json& o, const char* field, bool required);
  void Add(std::string field, std::string message, std::string code);
  void Append(const Checks& other);

  bool ok() const { return errors_.empty(); }
  const std::vector<FieldError>& errors() const { return errors_; }
  // HubSpot-style summary: missing fields listed together, else the first.
  std::string Message() const;

 private:
  bool Present(const nlohmann::json& o, const char* field, bool required);

  std::string where_;
  std::vector<FieldError> errors_;
};

// Reads an int64 from a number or a numeric string.
bool ToInt64(const nlohmann::json& v, std::int64_t& out);

}  // namespace consentd::sim::hubspot
