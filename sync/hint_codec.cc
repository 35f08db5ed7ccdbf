#include "sync/hint_codec.h"

#include <array>
#include <nlohmann/json.hpp>

namespace consentd::sync {
namespace {

using connectors::RecordHint;
using nlohmann::json;

constexpr std::array kHints = {RecordHint::kChanged, RecordHint::kDeleted,
                               RecordHint::kPrivacyDeletion, RecordHint::kMerged,
                               RecordHint::kEmailChanged};

Status Bad(std::string_view field, std::string_view what) {
  return InvalidArgument("hint: " + std::string(field) + " " + std::string(what));
}

}  // namespace

std::string EncodeRecordRef(const connectors::RecordRef& ref) {
  json j = {{"event_id", ref.event_id},
                  {"system_id", ref.system_id},
                  {"email", ref.email},
                  {"hint", connectors::RecordHintName(ref.hint)},
                  {"merged_ids", ref.merged_ids},
                  {"old_email", ref.old_email},
                  {"occurred_at", ref.occurred_at}};
  if (!ref.event_json.empty()) j["event_json"] = ref.event_json;  // absent in older payloads
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<connectors::RecordRef> DecodeRecordRef(std::string_view text) {
  const json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return InvalidArgument("hint: not a JSON object");
  connectors::RecordRef ref;
  for (auto [name, out] :
       {std::pair{"event_id", &ref.event_id}, std::pair{"system_id", &ref.system_id},
        std::pair{"email", &ref.email}, std::pair{"old_email", &ref.old_email},
        std::pair{"event_json", &ref.event_json}}) {
    const auto it = j.find(name);
    if (it == j.end()) continue;  // optional: older payloads may lack it
    if (!it->is_string()) return Bad(name, "must be a string");
    *out = it->get<std::string>();
  }
  if (const auto it = j.find("hint"); it != j.end()) {
    if (!it->is_string()) return Bad("hint", "must be a string");
    const std::string name = it->get<std::string>();
    bool known = false;
    for (RecordHint h : kHints) {
      if (connectors::RecordHintName(h) == name) {
        ref.hint = h;
        known = true;
      }
    }
    if (!known) return Bad("hint", "has an unknown value");
  }
  if (const auto it = j.find("merged_ids"); it != j.end()) {
    if (!it->is_array()) return Bad("merged_ids", "must be an array");
    for (const json& id : *it) {
      if (!id.is_string()) return Bad("merged_ids", "must hold strings");
      ref.merged_ids.push_back(id.get<std::string>());
    }
  }
  if (const auto it = j.find("occurred_at"); it != j.end()) {
    if (!it->is_number_integer()) return Bad("occurred_at", "must be an integer");
    ref.occurred_at = it->get<TimestampMs>();
  }
  return ref;
}

}  // namespace consentd::sync
