#include "sync/hint_codec.h"

#include <array>
#include <charconv>
#include <cstdint>
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

constexpr std::string_view kCompactPrefix = "h2";

void AppendField(std::string& out, std::string_view bytes) {
  out += std::to_string(bytes.size());
  out += ':';
  out += bytes;
}

// Reads the next <length>:<bytes> field of a compact payload.
class FieldReader {
 public:
  explicit FieldReader(std::string_view rest) : rest_(rest) {}
  bool done() const { return rest_.empty(); }

  Result<std::string_view> Next(std::string_view field) {
    const std::size_t colon = rest_.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon > 10) {
      return Bad(field, "has no length");
    }
    std::uint64_t n = 0;
    for (char c : rest_.substr(0, colon)) {
      if (c < '0' || c > '9') return Bad(field, "has a bad length");
      n = n * 10 + static_cast<std::uint64_t>(c - '0');
    }
    if (n > rest_.size() - colon - 1) return Bad(field, "is truncated");
    std::string_view value = rest_.substr(colon + 1, n);
    rest_.remove_prefix(colon + 1 + n);
    return value;
  }

 private:
  std::string_view rest_;
};

Result<RecordHint> HintNamed(std::string_view name) {
  for (RecordHint h : kHints) {
    if (connectors::RecordHintName(h) == name) return h;
  }
  return Bad("hint", "has an unknown value");
}

Result<connectors::RecordRef> DecodeCompact(std::string_view payload) {
  FieldReader in(payload.substr(kCompactPrefix.size()));
  connectors::RecordRef ref;
  for (auto [name, out] :
       {std::pair{"event_id", &ref.event_id}, std::pair{"system_id", &ref.system_id},
        std::pair{"email", &ref.email}}) {
    Result<std::string_view> v = in.Next(name);
    if (!v.ok()) return v.status();
    out->assign(*v);
  }
  Result<std::string_view> hint = in.Next("hint");
  if (!hint.ok()) return hint.status();
  Result<RecordHint> h = HintNamed(*hint);
  if (!h.ok()) return h.status();
  ref.hint = *h;
  Result<std::string_view> old_email = in.Next("old_email");
  if (!old_email.ok()) return old_email.status();
  ref.old_email.assign(*old_email);
  Result<std::string_view> occurred = in.Next("occurred_at");
  if (!occurred.ok()) return occurred.status();
  const char* end = occurred->data() + occurred->size();
  auto [ptr, ec] = std::from_chars(occurred->data(), end, ref.occurred_at);
  if (ec != std::errc() || ptr != end) return Bad("occurred_at", "must be an integer");
  Result<std::string_view> event = in.Next("event_json");
  if (!event.ok()) return event.status();
  ref.event_json.assign(*event);
  while (!in.done()) {
    Result<std::string_view> id = in.Next("merged_ids");
    if (!id.ok()) return id.status();
    ref.merged_ids.emplace_back(*id);
  }
  return ref;
}

Result<connectors::RecordRef> DecodeJson(std::string_view text) {
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
    Result<RecordHint> h = HintNamed(it->get<std::string>());
    if (!h.ok()) return h.status();
    ref.hint = *h;
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

}  // namespace

std::string EncodeRecordRef(const connectors::RecordRef& ref) {
  std::string out;
  out.reserve(kCompactPrefix.size() + 48 + ref.event_id.size() + ref.system_id.size() +
              ref.email.size() + ref.old_email.size() + ref.event_json.size());
  out += kCompactPrefix;
  AppendField(out, ref.event_id);
  AppendField(out, ref.system_id);
  AppendField(out, ref.email);
  AppendField(out, connectors::RecordHintName(ref.hint));
  AppendField(out, ref.old_email);
  AppendField(out, std::to_string(ref.occurred_at));
  AppendField(out, ref.event_json);
  for (const std::string& id : ref.merged_ids) AppendField(out, id);
  return out;
}

Result<connectors::RecordRef> DecodeRecordRef(std::string_view payload) {
  if (payload.substr(0, kCompactPrefix.size()) == kCompactPrefix) return DecodeCompact(payload);
  return DecodeJson(payload);
}

}  // namespace consentd::sync
