#include "connectors/common/desired_state.h"

#include <nlohmann/json.hpp>

#include "core/json_string.h"

namespace consentd::connectors {
namespace {

using nlohmann::json;

// Reads the fields of one JSON object, remembering the first problem with
// its field path, so a decoder reads top to bottom and checks once.
class Fields {
 public:
  Fields(const json& object, std::string path) : j_(object), path_(std::move(path)) {}

  std::string Text(const char* name) {
    const json* v = Get(name);
    if (v == nullptr) return {};
    if (!v->is_string()) {
      Fail(name, "must be a string");
      return std::string();
    }
    return v->get<std::string>();
  }
  std::int64_t Int(const char* name) {
    const json* v = Get(name);
    if (v == nullptr) return 0;
    if (!v->is_number_integer()) {
      Fail(name, "must be an integer");
      return 0;
    }
    return v->get<std::int64_t>();
  }
  bool Bool(const char* name) {
    const json* v = Get(name);
    if (v == nullptr) return false;
    if (!v->is_boolean()) {
      Fail(name, "must be true or false");
      return false;
    }
    return v->get<bool>();
  }
  // The array `name`, or nullptr (missing or not an array: recorded).
  const json* Array(const char* name) { return Typed(name, &json::is_array, "must be an array"); }
  // The object `name`, or nullptr (missing or not an object: recorded).
  const json* Object(const char* name) {
    return Typed(name, &json::is_object, "must be an object");
  }
  // Parses a vocabulary value with `parse`; records its error.
  template <typename T, typename Parse>
  T Parsed(const char* name, Parse parse, T fallback) {
    const std::string text = Text(name);
    if (!status_.ok()) return fallback;
    Result<T> r = parse(text);
    if (!r.ok()) {
      Fail(name, "has an unknown value");
      return fallback;
    }
    return *r;
  }
  void Fail(std::string_view name, std::string_view what) {
    if (!status_.ok()) return;  // the first problem is the one reported
    status_ = InvalidArgument("desired state: " + Path(name) + " " + std::string(what));
  }
  std::string Path(std::string_view name) const {
    return path_.empty() ? std::string(name) : path_ + "." + std::string(name);
  }
  const Status& status() const { return status_; }

 private:
  const json* Typed(const char* name, bool (json::*is)() const noexcept, std::string_view what) {
    const json* v = Get(name);
    if (v == nullptr) return nullptr;
    if (!(v->*is)()) {
      Fail(name, what);
      return nullptr;
    }
    return v;
  }
  const json* Get(const char* name) {
    if (!status_.ok()) return nullptr;
    const auto it = j_.find(name);
    if (it == j_.end()) {
      Fail(name, "is missing");
      return nullptr;
    }
    return &*it;
  }

  const json& j_;
  std::string path_;
  Status status_;
};

json ProvenanceFields(json j, const Provenance& p) {
  j["occurred_at"] = p.occurred_at;
  j["recorded_at"] = p.recorded_at;
  j["source_system"] = p.source_system;
  j["source_event_id"] = p.source_event_id;
  return j;
}

Provenance ReadProvenance(Fields& f) {
  Provenance p;
  p.occurred_at = f.Int("occurred_at");
  p.recorded_at = f.Int("recorded_at");
  p.source_system = f.Text("source_system");
  p.source_event_id = f.Text("source_event_id");
  return p;
}

json ConsentJson(const ConsentRecord& r) {
  json j = {{"topic", r.key.topic},
            {"channel", r.key.channel},
            {"address", r.key.address},
            {"status", ConsentStatusName(r.status)},
            {"legal_basis", r.legal_basis},
            {"method", ConsentMethodName(r.method)},
            {"notice_version", r.notice_version}};
  // Only when set: records without it keep their bytes (and hashes).
  if (!r.reconsent_notice.empty()) j["reconsent_notice"] = r.reconsent_notice;
  return ProvenanceFields(std::move(j), r.provenance);
}

json BlockJson(const BlockRecord& r) {
  json j = {{"scope", BlockScopeString(r.scope)},
            {"active", r.active},
            {"reason", BlockReasonName(r.reason)},
            {"since", r.since},
            {"until", r.until}};
  return ProvenanceFields(std::move(j), r.provenance);
}

Result<ConsentRecord> ReadConsent(const json& j, std::string path, std::string_view subject) {
  if (!j.is_object()) return InvalidArgument("desired state: " + path + " must be an object");
  Fields f(j, std::move(path));
  ConsentRecord r;
  r.key.subject = std::string(subject);
  r.key.topic = f.Text("topic");
  r.key.channel = f.Text("channel");
  r.key.address = f.Text("address");
  r.status = f.Parsed<ConsentStatus>("status", ParseConsentStatus, ConsentStatus::kNotAsked);
  r.legal_basis = f.Text("legal_basis");
  r.method = f.Parsed<ConsentMethod>("method", ParseConsentMethod, ConsentMethod::kForm);
  r.notice_version = f.Text("notice_version");
  if (j.contains("reconsent_notice")) r.reconsent_notice = f.Text("reconsent_notice");
  r.provenance = ReadProvenance(f);
  if (!f.status().ok()) return f.status();
  return r;
}

Result<BlockRecord> ReadBlock(const json& j, std::string path, std::string_view subject) {
  if (!j.is_object()) return InvalidArgument("desired state: " + path + " must be an object");
  Fields f(j, std::move(path));
  BlockRecord r;
  r.subject = std::string(subject);
  r.scope = f.Parsed<BlockScope>("scope", ParseBlockScope, BlockScope::All());
  r.active = f.Bool("active");
  r.reason = f.Parsed<BlockReason>("reason", ParseBlockReason, BlockReason::kManual);
  r.since = f.Int("since");
  r.until = f.Int("until");
  r.provenance = ReadProvenance(f);
  if (!f.status().ok()) return f.status();
  return r;
}

Result<json> Parse(std::string_view text, std::string_view what) {
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return InvalidArgument(std::string(what) + ": not valid JSON");
  if (!j.is_object()) return InvalidArgument(std::string(what) + ": must be a JSON object");
  return j;
}

// The strings of the array `key` into `out`; a missing array or a member
// that is not a string fails `f`.
void ReadStrings(Fields& f, const char* key, std::set<std::string>& out) {
  const json* items = f.Array(key);
  if (items == nullptr) return;
  for (std::size_t i = 0; i < items->size(); ++i) {
    if (!(*items)[i].is_string()) {
      f.Fail(std::string(key) + "[" + std::to_string(i) + "]", "must be a string");
      return;
    }
    out.insert((*items)[i].get<std::string>());
  }
}

void ReadStringMap(Fields& f, const char* key, std::map<std::string, std::string>& out) {
  const json* items = f.Object(key);
  if (items == nullptr) return;
  for (auto it = items->begin(); it != items->end(); ++it) {
    if (!it->is_string()) {
      f.Fail(std::string(key) + "." + it.key(), "must be a string");
      return;
    }
    out[it.key()] = it->get<std::string>();
  }
}

// Writes JSON text as by_tree's dump() spells it: compact, and each caller
// writes its keys in sorted order (nlohmann's std::map order), so the bytes
// are the same. A string that is not valid UTF-8 clears `valid`: dump()
// replaces its bytes, and the caller falls back to the tree for that.
struct TextWriter {
  std::string out;
  bool valid = true;

  // `key` is a literal in the callers' sorted order (ASCII, nothing to escape).
  void Key(std::string_view key, bool first = false) {
    if (!first) out += ',';
    out += '"';
    out += key;
    out += "\":";
  }
  void String(std::string_view value) {
    if (!AppendJsonString(out, value)) valid = false;
  }
  void Int(std::int64_t value) { out += std::to_string(value); }
  void Bool(bool value) { out += value ? "true" : "false"; }
  // An object of strings, its keys in std::map order (as dump() sorts them).
  void StringMap(const std::map<std::string, std::string>& values) {
    out += '{';
    bool first = true;
    for (const auto& [k, v] : values) {
      if (!first) out += ',';
      first = false;
      String(k);
      out += ':';
      String(v);
    }
    out += '}';
  }
  void Strings(const std::set<std::string>& values) {
    out += '[';
    bool first = true;
    for (const std::string& v : values) {
      if (!first) out += ',';
      first = false;
      String(v);
    }
    out += ']';
  }
};

void WriteConsent(TextWriter& w, const ConsentRecord& r) {
  w.out += '{';
  w.Key("address", true);
  w.String(r.key.address);
  w.Key("channel");
  w.String(r.key.channel);
  w.Key("legal_basis");
  w.String(r.legal_basis);
  w.Key("method");
  w.String(ConsentMethodName(r.method));
  w.Key("notice_version");
  w.String(r.notice_version);
  w.Key("occurred_at");
  w.Int(r.provenance.occurred_at);
  if (!r.reconsent_notice.empty()) {
    w.Key("reconsent_notice");
    w.String(r.reconsent_notice);
  }
  w.Key("recorded_at");
  w.Int(r.provenance.recorded_at);
  w.Key("source_event_id");
  w.String(r.provenance.source_event_id);
  w.Key("source_system");
  w.String(r.provenance.source_system);
  w.Key("status");
  w.String(ConsentStatusName(r.status));
  w.Key("topic");
  w.String(r.key.topic);
  w.out += '}';
}

void WriteBlock(TextWriter& w, const BlockRecord& r) {
  w.out += '{';
  w.Key("active", true);
  w.Bool(r.active);
  w.Key("occurred_at");
  w.Int(r.provenance.occurred_at);
  w.Key("reason");
  w.String(BlockReasonName(r.reason));
  w.Key("recorded_at");
  w.Int(r.provenance.recorded_at);
  w.Key("scope");
  w.String(BlockScopeString(r.scope));
  w.Key("since");
  w.Int(r.since);
  w.Key("source_event_id");
  w.String(r.provenance.source_event_id);
  w.Key("source_system");
  w.String(r.provenance.source_system);
  w.Key("until");
  w.Int(r.until);
  w.out += '}';
}

}  // namespace

std::string EncodeDesiredState(const DesiredState& d) {
  TextWriter w;
  w.out.reserve(256 + 300 * d.state.consents.size() + 250 * d.state.blocks.size());
  w.out += '{';
  bool first = true;
  if (!d.also_erase.empty()) {
    w.Key("also_erase", true);
    w.Strings(d.also_erase);
    first = false;
  }
  if (!d.also_erase_ids.empty()) {
    w.Key("also_erase_ids", first);
    w.StringMap(d.also_erase_ids);
    first = false;
  }
  w.Key("blocks", first);
  w.out += '[';
  for (bool first_block = true; const auto& [scope, record] : d.state.blocks) {
    if (!first_block) w.out += ',';
    first_block = false;
    WriteBlock(w, record);
  }
  w.out += ']';
  w.Key("consents");
  w.out += '[';
  for (bool first_consent = true; const auto& [key, record] : d.state.consents) {
    if (!first_consent) w.out += ',';
    first_consent = false;
    WriteConsent(w, record);
  }
  w.out += ']';
  w.Key("email");
  w.String(d.email);
  w.Key("erase");
  w.Bool(d.erase);
  w.Key("format");
  w.String(kDesiredStateFormat);
  w.Key("mapping_hash");
  w.String(d.mapping_hash);
  if (!d.notice_marker_topics.empty()) {
    w.Key("notice_marker_topics");
    w.Strings(d.notice_marker_topics);
  }
  w.Key("reconsent_topics");
  w.Strings(d.reconsent_topics);
  w.Key("subject");
  w.String(d.subject);
  w.Key("system_id");
  w.String(d.system_id);
  w.out += '}';
  return w.valid ? std::move(w.out) : by_tree::EncodeDesiredState(d);
}

std::string EncodeConsentRecord(const ConsentRecord& record) {
  TextWriter w;
  w.out.reserve(320);
  WriteConsent(w, record);
  return w.valid ? std::move(w.out) : by_tree::EncodeConsentRecord(record);
}

std::string EncodeBlockRecord(const BlockRecord& record) {
  TextWriter w;
  w.out.reserve(256);
  WriteBlock(w, record);
  return w.valid ? std::move(w.out) : by_tree::EncodeBlockRecord(record);
}

namespace by_tree {

std::string EncodeDesiredState(const DesiredState& d) {
  json consents = json::array();
  for (const auto& [key, record] : d.state.consents) consents.push_back(ConsentJson(record));
  json blocks = json::array();
  for (const auto& [scope, record] : d.state.blocks) blocks.push_back(BlockJson(record));
  json j = {{"format", kDesiredStateFormat},
            {"subject", d.subject},
            {"email", d.email},
            {"system_id", d.system_id},
            {"erase", d.erase},
            {"consents", std::move(consents)},
            {"blocks", std::move(blocks)},
            {"reconsent_topics", d.reconsent_topics},
            {"mapping_hash", d.mapping_hash}};
  if (!d.notice_marker_topics.empty()) j["notice_marker_topics"] = d.notice_marker_topics;
  if (!d.also_erase.empty()) j["also_erase"] = d.also_erase;
  if (!d.also_erase_ids.empty()) j["also_erase_ids"] = d.also_erase_ids;
  // Keys sorted (nlohmann's object order): same state, same bytes.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string EncodeConsentRecord(const ConsentRecord& record) {
  return ConsentJson(record).dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string EncodeBlockRecord(const BlockRecord& record) {
  return BlockJson(record).dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace by_tree

Result<DesiredState> DecodeDesiredState(std::string_view text) {
  Result<json> parsed = Parse(text, "desired state");
  if (!parsed.ok()) return parsed.status();
  const json& j = *parsed;
  Fields f(j, "");
  if (const std::string format = f.Text("format");
      f.status().ok() && format != kDesiredStateFormat) {
    return InvalidArgument("desired state: format '" + format + "' is not " +
                           std::string(kDesiredStateFormat));
  }
  DesiredState d;
  d.subject = f.Text("subject");
  d.email = f.Text("email");
  d.system_id = f.Text("system_id");
  d.erase = f.Bool("erase");
  d.mapping_hash = f.Text("mapping_hash");
  d.state.subject = d.subject;
  if (const json* consents = f.Array("consents")) {
    for (std::size_t i = 0; i < consents->size(); ++i) {
      Result<ConsentRecord> r =
          ReadConsent((*consents)[i], "consents[" + std::to_string(i) + "]", d.subject);
      if (!r.ok()) return r.status();
      d.state.consents[r->key] = std::move(*r);
    }
  }
  if (const json* blocks = f.Array("blocks")) {
    for (std::size_t i = 0; i < blocks->size(); ++i) {
      Result<BlockRecord> r =
          ReadBlock((*blocks)[i], "blocks[" + std::to_string(i) + "]", d.subject);
      if (!r.ok()) return r.status();
      d.state.blocks[r->scope] = std::move(*r);
    }
  }
  ReadStrings(f, "reconsent_topics", d.reconsent_topics);
  if (j.contains("notice_marker_topics")) {
    ReadStrings(f, "notice_marker_topics", d.notice_marker_topics);
  }
  if (j.contains("also_erase")) ReadStrings(f, "also_erase", d.also_erase);
  if (j.contains("also_erase_ids")) ReadStringMap(f, "also_erase_ids", d.also_erase_ids);
  if (!f.status().ok()) return f.status();
  return d;
}

Result<ConsentRecord> DecodeConsentRecord(std::string_view text, std::string_view subject) {
  Result<json> parsed = Parse(text, "consent record");
  if (!parsed.ok()) return parsed.status();
  return ReadConsent(*parsed, "consent", subject);
}

Result<BlockRecord> DecodeBlockRecord(std::string_view text, std::string_view subject) {
  Result<json> parsed = Parse(text, "block record");
  if (!parsed.ok()) return parsed.status();
  return ReadBlock(*parsed, "block", subject);
}

}  // namespace consentd::connectors
