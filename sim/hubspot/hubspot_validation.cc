#include "sim/hubspot/hubspot_validation.h"

#include <charconv>

namespace consentd::sim::hubspot {

using nlohmann::json;

bool ToInt64(const json& v, std::int64_t& out) {
  if (v.is_number_integer()) {
    out = v.get<std::int64_t>();
    return true;
  }
  if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return !s.empty() && ec == std::errc() && p == s.data() + s.size();
  }
  return false;
}

bool Checks::Present(const json& o, const char* field, bool required) {
  if (o.is_object() && o.contains(field) && !o[field].is_null()) return true;
  if (required)
    Add(field, "Some required fields were not set: [" + where_ + field + "]", "REQUIRED_FIELD");
  return false;
}

void Checks::Add(std::string field, std::string message, std::string code) {
  errors_.push_back({where_ + field, std::move(message), std::move(code)});
}

void Checks::Append(const Checks& other) {
  errors_.insert(errors_.end(), other.errors_.begin(), other.errors_.end());
}

void Checks::String(const json& o, const char* field, bool required) {
  if (!Present(o, field, required)) return;
  if (!o[field].is_string()) {
    Add(field,
        "Invalid input JSON: " + where_ + field + " must be a string, got " + o[field].type_name(),
        "INVALID_TYPE");
  }
}

void Checks::Enum(const json& o, const char* field, std::initializer_list<const char*> values,
                  bool required) {
  if (!Present(o, field, required)) return;
  std::string allowed;
  for (const char* v : values) {
    if (o[field].is_string() && o[field] == v) return;
    allowed += (allowed.empty() ? "" : ", ") + std::string(v);
  }
  Add(field,
      "Invalid input JSON: Cannot deserialize value of " + where_ + field + " from " +
          o[field].dump() + ": not one of the values accepted: [" + allowed + "]",
      "INVALID_ENUM");
}

void Checks::Integer(const json& o, const char* field, bool required, bool numeric_string_ok) {
  if (!Present(o, field, required)) return;
  std::int64_t v = 0;
  const json& x = o[field];
  if (x.is_number_integer() || (numeric_string_ok && ToInt64(x, v))) return;
  Add(field, "Invalid input JSON: " + where_ + field + " must be an integer, got " + x.dump(),
      "INVALID_TYPE");
}

void Checks::Array(const json& o, const char* field, bool required) {
  if (!Present(o, field, required)) return;
  if (!o[field].is_array()) {
    Add(field, "Invalid input JSON: " + where_ + field + " must be an array", "INVALID_TYPE");
  }
}

void Checks::Object(const json& o, const char* field, bool required) {
  if (!Present(o, field, required)) return;
  if (!o[field].is_object()) {
    Add(field, "Invalid input JSON: " + where_ + field + " must be an object", "INVALID_TYPE");
  }
}

std::string Checks::Message() const {
  std::string missing;
  for (const auto& e : errors_) {
    if (e.code == "REQUIRED_FIELD") missing += (missing.empty() ? "" : ", ") + e.field;
  }
  if (!missing.empty()) return "Some required fields were not set: [" + missing + "]";
  return errors_.empty() ? std::string() : errors_.front().message;
}

}  // namespace consentd::sim::hubspot
