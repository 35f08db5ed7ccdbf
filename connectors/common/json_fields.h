// Tolerant accessors for vendors' JSON answers: a missing key, a null or a
// value of another type gives the fallback. nlohmann's value() throws on a
// key that is present but null ("legalBasis": null), and one such field
// must not fail a whole read or delivery; answers are parsed without
// exceptions for the same reason.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace consentd::connectors {

inline std::string StringAt(const nlohmann::json& j, const char* key,
                            const std::string& fallback = std::string()) {
  if (!j.is_object()) return fallback;
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : fallback;
}
inline bool BoolAt(const nlohmann::json& j, const char* key, bool fallback) {
  if (!j.is_object()) return fallback;
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() ? it->get<bool>() : fallback;
}
inline const nlohmann::json& ArrayAt(const nlohmann::json& j, const char* key) {
  static const nlohmann::json kEmpty = nlohmann::json::array();
  if (!j.is_object()) return kEmpty;
  auto it = j.find(key);
  return it != j.end() && it->is_array() ? *it : kEmpty;
}
inline const nlohmann::json& ObjectAt(const nlohmann::json& j, const char* key) {
  static const nlohmann::json kEmpty = nlohmann::json::object();
  if (!j.is_object()) return kEmpty;
  auto it = j.find(key);
  return it != j.end() && it->is_object() ? *it : kEmpty;
}

}  // namespace consentd::connectors
