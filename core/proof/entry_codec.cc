#include "core/proof/entry_codec.h"

#include <array>
#include <charconv>
#include <cstdint>
#include <nlohmann/json.hpp>

#include "core/json_string.h"
#include "core/proof/bytes.h"

namespace consentd {

// Stable strings: part of the stored log format, never renamed.
std::string_view ProofKindName(ProofKind kind) {
  switch (kind) {
    case ProofKind::kObserved:
      return "observed";
    case ProofKind::kDecided:
      return "decided";
    case ProofKind::kSuperseded:
      return "superseded";
    case ProofKind::kEcho:
      return "echo";
    case ProofKind::kPropagated:
      return "propagated";
    case ProofKind::kRejected:
      return "rejected";
    case ProofKind::kBlockedByTarget:
      return "blocked_by_target";
    case ProofKind::kHeldPending:
      return "held_pending";
    case ProofKind::kErasureRequested:
      return "erasure_requested";
    case ProofKind::kErasureCompleted:
      return "erasure_completed";
    case ProofKind::kReconsentRequired:
      return "reconsent_required";
    case ProofKind::kConfigChanged:
      return "config_changed";
    case ProofKind::kNoticeReconsentRequired:
      return "notice_reconsent_required";
  }
  return "unknown";
}

}  // namespace consentd

namespace consentd::proof {
namespace {

// Every kind, for parsing. A new ProofKind needs a name in ProofKindName
// above (the compiler's -Wswitch points there) and an entry here.
constexpr std::array kAllKinds = {
    ProofKind::kObserved,          ProofKind::kDecided,
    ProofKind::kSuperseded,        ProofKind::kEcho,
    ProofKind::kPropagated,        ProofKind::kRejected,
    ProofKind::kBlockedByTarget,   ProofKind::kHeldPending,
    ProofKind::kErasureRequested,  ProofKind::kErasureCompleted,
    ProofKind::kReconsentRequired, ProofKind::kConfigChanged,
    ProofKind::kNoticeReconsentRequired,
};

// Writes members in the order they are added; callers add them sorted.
class ObjectWriter {
 public:
  explicit ObjectWriter(std::string& out) : out_(out) { out_ += '{'; }
  void Finish() { out_ += '}'; }

  bool String(std::string_view key, std::string_view value) {
    Key(key);
    return AppendJsonString(out_, value);
  }
  bool OptionalString(std::string_view key, std::string_view value) {
    return value.empty() || String(key, value);
  }
  void Int(std::string_view key, std::int64_t value) {
    Key(key);
    AppendDecimal(value);
  }
  void Uint(std::string_view key, std::uint64_t value) {
    Key(key);
    AppendDecimal(value);
  }
  // Members whose values are base64 text: nothing in that alphabet needs
  // escaping, so the encoding is appended in place.
  void Base64(std::string_view key, std::string_view bytes) {
    Key(key);
    out_ += '"';
    AppendBase64(out_, bytes);
    out_ += '"';
  }
  // Opens a nested object as the value of `key`; the caller adds its
  // members and closes it with Finish().
  ObjectWriter Nested(std::string_view key) {
    Key(key);
    return ObjectWriter(out_);
  }

 private:
  void Key(std::string_view key) {
    if (!first_) out_ += ',';
    first_ = false;
    out_ += '"';
    out_ += key;  // keys are ASCII constants: no escaping needed
    out_ += "\":";
  }
  template <typename T>
  void AppendDecimal(T value) {
    char buf[24];
    char* end = std::to_chars(buf, buf + sizeof buf, value).ptr;  // 24 digits always fit
    out_.append(buf, static_cast<std::size_t>(end - buf));
  }

  std::string& out_;
  bool first_ = true;
};

void WriteSealed(ObjectWriter w, const SealedEvidence& s) {
  w.String("alg", "A256GCM");
  w.Base64("ciphertext", s.ciphertext);
  w.Base64("nonce", s.nonce);
  w.Base64("tag", s.tag);
  w.Finish();
}

// Reads a string member into `out`; absent leaves `out` empty.
bool ReadString(const nlohmann::json& obj, const char* key, std::string& out) {
  auto it = obj.find(key);
  if (it == obj.end()) return true;
  if (!it->is_string()) return false;
  out = it->get<std::string>();
  return true;
}

template <typename Int>
bool ReadInt(const nlohmann::json& obj, const char* key, Int& out) {
  auto it = obj.find(key);
  if (it == obj.end()) return true;
  if (!it->is_number_integer()) return false;
  out = it->get<Int>();
  return true;
}

constexpr std::array<std::string_view, 20> kEntryKeys = {
    "channel",        "collection_method", "event_state",      "event_time",       "event_type",
    "lawful_basis",   "mapping_hash",      "pii_information",  "pii_principal_id", "previous_state",
    "privacy_notice", "purpose",           "reason",           "record_id",        "recorded_at",
    "schema_version", "sequence",          "signature_scheme", "source_event_id",  "source_system",
};

}  // namespace

std::optional<ProofKind> ParseProofKind(std::string_view name) {
  for (ProofKind k : kAllKinds) {
    if (ProofKindName(k) == name) return k;
  }
  return std::nullopt;
}

Result<std::string> EncodeEntry(const ProofEntry& e, const SealedEvidence& sealed) {
  if (!e.evidence.empty()) {
    return InvalidArgument("proof entry: clear evidence must be sealed before encoding");
  }
  std::string out;
  out.reserve(1024);  // a typical entry with sealed evidence is about 800 bytes
  ObjectWriter w(out);
  // Members in ascending byte order of their names (see kEntryKeys).
  bool ok = w.OptionalString("channel", e.channel);
  ok &= w.OptionalString("collection_method", e.method);
  ok &= w.OptionalString("event_state", e.new_status);
  if (e.occurred_at != 0) w.Int("event_time", e.occurred_at);
  w.String("event_type", ProofKindName(e.kind));
  ok &= w.OptionalString("lawful_basis", e.legal_basis);
  ok &= w.OptionalString("mapping_hash", e.mapping_hash);
  if (!sealed.empty()) WriteSealed(w.Nested("pii_information"), sealed);
  ok &= w.String("pii_principal_id", e.subject);
  ok &= w.OptionalString("previous_state", e.old_status);
  ok &= w.OptionalString("privacy_notice", e.notice_version);
  ok &= w.OptionalString("purpose", e.topic);
  ok &= w.OptionalString("reason", e.reason);
  ok &= w.String("record_id", e.record_id);
  w.Int("recorded_at", e.recorded_at);
  w.String("schema_version", kEntrySchema);
  w.Uint("sequence", e.sequence);
  ok &= w.OptionalString("signature_scheme", e.signature_scheme);
  ok &= w.OptionalString("source_event_id", e.source_event_id);
  ok &= w.OptionalString("source_system", e.source_system);
  w.Finish();
  if (!ok) return InvalidArgument("proof entry: a field is not valid UTF-8");
  return out;
}

Result<DecodedEntry> DecodeEntry(std::string_view bytes) {
  nlohmann::json j = nlohmann::json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return InvalidArgument("proof entry: not a JSON object");
  for (const auto& [key, value] : j.items()) {
    bool known = false;
    for (std::string_view k : kEntryKeys) known |= (k == key);
    if (!known) return InvalidArgument("proof entry: unknown member '" + key + "'");
  }
  DecodedEntry d;
  ProofEntry& e = d.entry;
  std::string schema, kind, pii_b64_ct, pii_b64_nonce, pii_b64_tag;
  bool ok = ReadString(j, "schema_version", schema) && ReadString(j, "record_id", e.record_id) &&
            ReadInt(j, "sequence", e.sequence) && ReadInt(j, "recorded_at", e.recorded_at) &&
            ReadInt(j, "event_time", e.occurred_at) && ReadString(j, "event_type", kind) &&
            ReadString(j, "pii_principal_id", e.subject) && ReadString(j, "purpose", e.topic) &&
            ReadString(j, "channel", e.channel) && ReadString(j, "previous_state", e.old_status) &&
            ReadString(j, "event_state", e.new_status) &&
            ReadString(j, "lawful_basis", e.legal_basis) &&
            ReadString(j, "collection_method", e.method) &&
            ReadString(j, "privacy_notice", e.notice_version) &&
            ReadString(j, "source_system", e.source_system) &&
            ReadString(j, "source_event_id", e.source_event_id) &&
            ReadString(j, "signature_scheme", e.signature_scheme) &&
            ReadString(j, "mapping_hash", e.mapping_hash) && ReadString(j, "reason", e.reason);
  if (!ok) return InvalidArgument("proof entry: a member has the wrong type");
  if (schema != kEntrySchema) return InvalidArgument("proof entry: unknown schema_version");
  std::optional<ProofKind> k = ParseProofKind(kind);
  if (!k) return InvalidArgument("proof entry: unknown event_type '" + kind + "'");
  e.kind = *k;
  if (auto it = j.find("pii_information"); it != j.end()) {
    std::string alg;
    if (!it->is_object() || it->size() != 4 || !ReadString(*it, "alg", alg) || alg != "A256GCM" ||
        !ReadString(*it, "ciphertext", pii_b64_ct) || !ReadString(*it, "nonce", pii_b64_nonce) ||
        !ReadString(*it, "tag", pii_b64_tag)) {
      return InvalidArgument("proof entry: malformed pii_information");
    }
    auto ct = Base64Decode(pii_b64_ct);
    auto nonce = Base64Decode(pii_b64_nonce);
    auto tag = Base64Decode(pii_b64_tag);
    if (!ct || !nonce || !tag) return InvalidArgument("proof entry: bad base64 in pii_information");
    d.sealed = {*nonce, *ct, *tag};
  }
  // One spelling per entry: anything that does not re-encode to the same
  // bytes (order, whitespace, escapes, empty members) is rejected.
  Result<std::string> again = EncodeEntry(e, d.sealed);
  if (!again.ok() || *again != bytes) return InvalidArgument("proof entry: not in canonical form");
  return d;
}

std::optional<std::uint64_t> ExtractSequence(std::string_view bytes) {
  constexpr std::string_view kMember = ",\"sequence\":";
  std::size_t at = bytes.rfind(kMember);  // near the end: few bytes to scan
  if (at == std::string_view::npos) return std::nullopt;
  std::size_t i = at + kMember.size();
  std::size_t start = i;
  std::uint64_t v = 0;
  while (i < bytes.size() && bytes[i] >= '0' && bytes[i] <= '9') {
    if (v > (UINT64_MAX - 9) / 10) return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(bytes[i] - '0');
    ++i;
  }
  if (i == start || i >= bytes.size() || (bytes[i] != ',' && bytes[i] != '}')) return std::nullopt;
  if (i - start > 1 && bytes[start] == '0') return std::nullopt;
  return v;
}

Result<std::string> EncodeEvidence(const std::map<std::string, std::string>& evidence) {
  std::string out = "{";
  bool first = true;
  for (const auto& [key, value] : evidence) {  // std::map: ascending byte order
    if (!first) out += ',';
    first = false;
    if (!AppendJsonString(out, key)) return InvalidArgument("evidence: key is not valid UTF-8");
    out += ':';
    if (!AppendJsonString(out, value)) return InvalidArgument("evidence: value is not valid UTF-8");
  }
  out += '}';
  return out;
}

Result<std::map<std::string, std::string>> DecodeEvidence(std::string_view bytes) {
  nlohmann::json j = nlohmann::json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return InvalidArgument("evidence: not a JSON object");
  std::map<std::string, std::string> out;
  for (const auto& [key, value] : j.items()) {
    if (!value.is_string()) return InvalidArgument("evidence: value is not a string");
    out[key] = value.get<std::string>();
  }
  Result<std::string> again = EncodeEvidence(out);
  if (!again.ok() || *again != bytes) return InvalidArgument("evidence: not in canonical form");
  return out;
}

}  // namespace consentd::proof
