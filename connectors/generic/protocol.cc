#include "connectors/generic/protocol.h"

#include <array>
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <utility>

#include "connectors/common/webhook_signatures.h"
#include "core/consent_types.h"
#include "core/normalise.h"
#include "mapping/policy.h"

namespace consentd::connectors::generic {
namespace {

using nlohmann::json;

// A refusal naming the field by its JSON pointer (relative to the event;
// ParseEvents prefixes "/events/<i>" in a batch).
Status Bad(std::string_view pointer, std::string_view what) {
  return InvalidArgument(std::string(pointer) + ": " + std::string(what));
}

std::string Join(std::initializer_list<std::string_view> names) {
  std::string out;
  for (std::string_view n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

constexpr std::array<std::string_view, 5> kTypes = {kConsentChanged, kBlockChanged, kSubjectErased,
                                                    kSubjectMerged, kIdentityChanged};

// Fields allowed in `obj` (at `pointer`); anything else is refused, so a
// misspelt optional field is not silently ignored.
Status OnlyFields(const json& obj, std::string_view pointer,
                  std::initializer_list<std::string_view> allowed) {
  for (const auto& [key, value] : obj.items()) {
    bool ok = false;
    for (std::string_view a : allowed) ok = ok || key == a;
    if (!ok) return Bad(std::string(pointer) + "/" + key, "unknown field");
  }
  return Status();
}

// A required (or optional, if !required) non-empty string of at most
// `max` bytes; `out` untouched when absent.
Status StringField(const json& obj, std::string_view pointer, const char* name, bool required,
                   std::string* out, std::size_t max = kMaxIdBytes) {
  const std::string where = std::string(pointer) + "/" + name;
  const auto it = obj.find(name);
  // null is not "absent": the schemas refuse it too (docs/protocol/).
  if (it == obj.end()) return required ? Bad(where, "is required") : Status();
  if (!it->is_string()) return Bad(where, "must be a string");
  const auto& s = it->get_ref<const std::string&>();
  if (s.empty()) return Bad(where, "must not be empty");
  if (s.size() > max) return Bad(where, "is longer than " + std::to_string(max) + " bytes");
  *out = s;
  return Status();
}

Status TimeField(const json& obj, std::string_view pointer, const char* name, bool required,
                 TimestampMs* out) {
  std::string text;
  CONSENTD_RETURN_IF_ERROR(StringField(obj, pointer, name, required, &text, 64));
  if (text.empty()) return Status();
  Result<TimestampMs> t = ParseRfc3339(text);
  if (!t.ok()) {
    return Bad(std::string(pointer) + "/" + name,
               "must be an RFC 3339 date-time (2026-03-01T10:00:00Z)");
  }
  *out = *t;
  return Status();
}

// An address: an e-mail address (normalised) or a phone number in E.164.
Status AddressField(const json& obj, std::string_view pointer, const char* name, std::string* out) {
  std::string raw;
  CONSENTD_RETURN_IF_ERROR(StringField(obj, pointer, name, false, &raw));
  if (raw.empty()) return Status();
  const std::string where = std::string(pointer) + "/" + name;
  if (raw.find('@') != std::string::npos) {
    Result<std::string> e = NormaliseEmail(raw);
    if (!e.ok()) return Bad(where, "is not a valid e-mail address");
    *out = *e;
    return Status();
  }
  if (raw.front() != '+') {
    return Bad(where, "must be an e-mail address or a phone number in E.164 (+49...)");
  }
  Result<std::string> p = NormalisePhone(raw, "");
  if (!p.ok()) return Bad(where, "is not a valid E.164 phone number");
  *out = *p;
  return Status();
}

Status ValidateConsent(json& d) {
  CONSENTD_RETURN_IF_ERROR(OnlyFields(d, "/data",
                                      {"topic", "channel", "address", "status", "legal_basis",
                                       "method", "notice_version", "evidence"}));
  std::string s;
  CONSENTD_RETURN_IF_ERROR(StringField(d, "/data", "topic", true, &s));
  CONSENTD_RETURN_IF_ERROR(StringField(d, "/data", "channel", true, &s));
  std::string address;
  CONSENTD_RETURN_IF_ERROR(AddressField(d, "/data", "address", &address));
  if (!address.empty()) d["address"] = address;
  std::string status;
  CONSENTD_RETURN_IF_ERROR(StringField(d, "/data", "status", true, &status));
  if (status != "granted" && status != "withdrawn" && status != "refused" && status != "pending") {
    return Bad("/data/status", "must be one of granted, withdrawn, refused, pending");
  }
  std::string basis;
  CONSENTD_RETURN_IF_ERROR(StringField(d, "/data", "legal_basis", false, &basis));
  if (!basis.empty() && !IsKnownLegalBasis(basis)) {
    return Bad("/data/legal_basis",
               "must be a GDPR Art. 6(1) legal basis in DPV form (eu-gdpr:A6-1-a, ...)");
  }
  std::string method;
  CONSENTD_RETURN_IF_ERROR(StringField(d, "/data", "method", false, &method));
  if (!method.empty() && !ParseConsentMethod(method).ok()) {
    return Bad("/data/method",
               "must be one of " +
                   Join({"form", "double_opt_in", "unsubscribe_link", "admin", "api", "import"}));
  }
  CONSENTD_RETURN_IF_ERROR(StringField(d, "/data", "notice_version", false, &s));
  if (const auto it = d.find("evidence"); it != d.end()) {
    if (!it->is_object()) return Bad("/data/evidence", "must be an object");
    // As the schema's maxProperties (docs/protocol/consent.changed.schema.json).
    if (it->size() > 64) return Bad("/data/evidence", "has more than 64 fields");
    for (const auto& [key, value] : it->items()) {
      if (!value.is_string() && !value.is_number() && !value.is_boolean()) {
        return Bad("/data/evidence/" + key, "must be a string, number or boolean");
      }
    }
    if (it->dump().size() > kMaxEvidenceBytes) {
      return Bad("/data/evidence",
                 "is larger than " + std::to_string(kMaxEvidenceBytes) + " bytes");
    }
  }
  return Status();
}

Status ValidateBlock(json& d) {
  CONSENTD_RETURN_IF_ERROR(
      OnlyFields(d, "/data", {"block", "active", "reason", "channel", "address", "until"}));
  std::string s;
  CONSENTD_RETURN_IF_ERROR(StringField(d, "/data", "block", true, &s));
  const auto active = d.find("active");
  if (active == d.end() || active->is_null()) return Bad("/data/active", "is required");
  if (!active->is_boolean()) return Bad("/data/active", "must be true or false");
  std::string reason;
  CONSENTD_RETURN_IF_ERROR(StringField(d, "/data", "reason", false, &reason));
  if (!reason.empty() && !ParseBlockReason(reason).ok()) {
    return Bad("/data/reason", "must be one of " + Join({"unsubscribed", "bounced", "complaint",
                                                         "manual", "legal"}));
  }
  CONSENTD_RETURN_IF_ERROR(StringField(d, "/data", "channel", false, &s));
  std::string address;
  CONSENTD_RETURN_IF_ERROR(AddressField(d, "/data", "address", &address));
  if (!address.empty()) d["address"] = address;
  TimestampMs until = 0;
  CONSENTD_RETURN_IF_ERROR(TimeField(d, "/data", "until", false, &until));
  return Status();
}

Status ValidateMerged(const json& d) {
  CONSENTD_RETURN_IF_ERROR(OnlyFields(d, "/data", {"merged_ids"}));
  const auto it = d.find("merged_ids");
  if (it == d.end() || it->is_null()) return Bad("/data/merged_ids", "is required");
  if (!it->is_array() || it->empty()) return Bad("/data/merged_ids", "must be a non-empty array");
  for (std::size_t i = 0; i < it->size(); ++i) {
    const json& id = (*it)[i];
    const std::string where = "/data/merged_ids/" + std::to_string(i);
    if (!id.is_string() || id.get_ref<const std::string&>().empty()) {
      return Bad(where, "must be a non-empty string");
    }
    if (id.get_ref<const std::string&>().size() > kMaxIdBytes) {
      return Bad(where, "is longer than " + std::to_string(kMaxIdBytes) + " bytes");
    }
  }
  return Status();
}

Status ValidateIdentity(json& d) {
  CONSENTD_RETURN_IF_ERROR(OnlyFields(d, "/data", {"old_email"}));
  std::string raw;
  CONSENTD_RETURN_IF_ERROR(StringField(d, "/data", "old_email", true, &raw));
  Result<std::string> e = NormaliseEmail(raw);
  if (!e.ok()) return Bad("/data/old_email", "is not a valid e-mail address");
  d["old_email"] = *e;
  return Status();
}

// --- RFC 3339 ------------------------------------------------------------

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant).
std::int64_t DaysFromCivil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

bool Digits(std::string_view s, std::size_t pos, std::size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

bool LeapYear(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

}  // namespace

Result<TimestampMs> ParseRfc3339(std::string_view s) {
  // YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  const auto bad = [&] { return InvalidArgument("not an RFC 3339 date-time"); };
  if (!Digits(s, 0, 4, &year) || s.size() < 20 || s[4] != '-' || !Digits(s, 5, 2, &month) ||
      s[7] != '-' || !Digits(s, 8, 2, &day) || (s[10] != 'T' && s[10] != 't') ||
      !Digits(s, 11, 2, &hour) || s[13] != ':' || !Digits(s, 14, 2, &minute) || s[16] != ':' ||
      !Digits(s, 17, 2, &second)) {
    return bad();
  }
  static constexpr std::array<int, 12> kDays = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month < 1 || month > 12 || day < 1 || day > kDays[static_cast<std::size_t>(month - 1)] ||
      (month == 2 && day == 29 && !LeapYear(year)) || hour > 23 || minute > 59 || second > 60) {
    return bad();
  }
  if (second == 60) second = 59;  // leap second: the last representable ms is close enough
  std::size_t pos = 19;
  std::int64_t millis = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    const std::size_t start = pos;
    std::int64_t scale = 100;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      millis += (s[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == start) return bad();
  }
  if (pos >= s.size()) return bad();
  std::int64_t offset_min = 0;
  if (s[pos] == 'Z' || s[pos] == 'z') {
    ++pos;
  } else if (s[pos] == '+' || s[pos] == '-') {
    int oh = 0, om = 0;
    if (!Digits(s, pos + 1, 2, &oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !Digits(s, pos + 4, 2, &om) || oh > 23 || om > 59) {
      return bad();
    }
    offset_min = (oh * 60 + om) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return bad();
  }
  if (pos != s.size()) return bad();
  const std::int64_t days =
      DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  const std::int64_t secs = days * 86400 + hour * 3600 + minute * 60 + second - offset_min * 60;
  return secs * 1000 + millis;
}

std::string FormatRfc3339(TimestampMs t) {
  std::int64_t secs = t >= 0 ? t / 1000 : (t - 999) / 1000;
  const std::int64_t ms = t - secs * 1000;
  std::int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
  const std::int64_t rem = secs - days * 86400;
  // civil_from_days (H. Hinnant).
  days += 719468;
  const std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const auto doe = static_cast<unsigned>(days - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2 ? 1 : 0);
  std::array<char, 96> buf{};
  std::snprintf(buf.data(), buf.size(), "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%03lldZ",
                static_cast<long long>(y), m, d, static_cast<long long>(rem / 3600),
                static_cast<long long>(rem % 3600 / 60), static_cast<long long>(rem % 60),
                static_cast<long long>(ms));
  return buf.data();
}

Result<ProtocolEvent> ParseEvent(const json& in) {
  if (!in.is_object()) return Bad("", "an event must be a JSON object");
  CONSENTD_RETURN_IF_ERROR(OnlyFields(in, "", {"id", "type", "occurred_at", "subject", "data"}));
  ProtocolEvent e;
  CONSENTD_RETURN_IF_ERROR(StringField(in, "", "id", true, &e.id));
  CONSENTD_RETURN_IF_ERROR(StringField(in, "", "type", true, &e.type));
  bool known = false;
  for (std::string_view t : kTypes) known = known || e.type == t;
  if (!known) {
    return Bad("/type", "must be one of " + Join({kConsentChanged, kBlockChanged, kSubjectErased,
                                                  kSubjectMerged, kIdentityChanged}));
  }
  CONSENTD_RETURN_IF_ERROR(TimeField(in, "", "occurred_at", true, &e.occurred_at));

  const auto subject = in.find("subject");
  if (subject == in.end() || subject->is_null()) return Bad("/subject", "is required");
  if (!subject->is_object()) return Bad("/subject", "must be an object");
  CONSENTD_RETURN_IF_ERROR(OnlyFields(*subject, "/subject", {"id", "email"}));
  CONSENTD_RETURN_IF_ERROR(StringField(*subject, "/subject", "id", false, &e.system_id));
  std::string email;
  CONSENTD_RETURN_IF_ERROR(StringField(*subject, "/subject", "email", false, &email));
  if (!email.empty()) {
    Result<std::string> n = NormaliseEmail(email);
    if (!n.ok()) return Bad("/subject/email", "is not a valid e-mail address");
    e.email = *n;
  }
  if (e.system_id.empty() && e.email.empty()) {
    return Bad("/subject", "must name the subject by id or email (or both)");
  }

  const auto data = in.find("data");
  if (data == in.end()) {
    e.data = json::object();
  } else if (!data->is_object()) {
    return Bad("/data", "must be an object");
  } else {
    e.data = *data;
  }
  if (e.type == kConsentChanged) {
    CONSENTD_RETURN_IF_ERROR(ValidateConsent(e.data));
  } else if (e.type == kBlockChanged) {
    CONSENTD_RETURN_IF_ERROR(ValidateBlock(e.data));
  } else if (e.type == kSubjectErased) {
    CONSENTD_RETURN_IF_ERROR(OnlyFields(e.data, "/data", {}));
  } else if (e.type == kSubjectMerged) {
    if (e.system_id.empty()) return Bad("/subject/id", "is required for subject.merged");
    CONSENTD_RETURN_IF_ERROR(ValidateMerged(e.data));
  } else {  // identity.changed
    if (e.email.empty()) return Bad("/subject/email", "is required for identity.changed");
    CONSENTD_RETURN_IF_ERROR(ValidateIdentity(e.data));
  }
  return e;
}

Result<std::vector<ProtocolEvent>> ParseEvents(std::string_view body) {
  const json j = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Bad("", "the body is not valid JSON");
  std::vector<ProtocolEvent> out;
  if (!j.is_object()) return Bad("", "the body must be a JSON object");
  if (const auto batch = j.find("events"); batch != j.end()) {
    if (j.size() != 1) {
      for (const auto& [key, value] : j.items()) {
        if (key != "events") return Bad("/" + key, "unknown field (a batch holds only events)");
      }
    }
    if (!batch->is_array()) return Bad("/events", "must be an array");
    if (batch->empty()) return Bad("/events", "must hold at least one event");
    if (batch->size() > kMaxBatchEvents) {
      return Bad("/events", "holds more than " + std::to_string(kMaxBatchEvents) + " events");
    }
    for (std::size_t i = 0; i < batch->size(); ++i) {
      Result<ProtocolEvent> e = ParseEvent((*batch)[i]);
      if (!e.ok()) {
        return InvalidArgument("/events/" + std::to_string(i) + e.status().message());
      }
      out.push_back(*std::move(e));
    }
    return out;
  }
  Result<ProtocolEvent> e = ParseEvent(j);
  if (!e.ok()) return e.status();
  out.push_back(*std::move(e));
  return out;
}

json EventJson(const ProtocolEvent& e) {
  json subject = json::object();
  if (!e.system_id.empty()) subject["id"] = e.system_id;
  if (!e.email.empty()) subject["email"] = e.email;
  return {{"id", e.id},
          {"type", e.type},
          {"occurred_at", FormatRfc3339(e.occurred_at)},
          {"subject", std::move(subject)},
          {"data", e.data.is_null() ? json::object() : e.data}};
}

Status VerifyEventRequest(const net::HttpRequest& req, const std::vector<std::string>& secrets,
                          TimestampMs now) {
  const auto id = req.Header("webhook-id");
  const auto ts = req.Header("webhook-timestamp");
  const auto sig = req.Header("webhook-signature");
  if (!id || !ts || !sig) {
    return Unauthenticated(
        "missing Standard Webhooks headers (webhook-id, webhook-timestamp, webhook-signature)");
  }
  if (secrets.empty()) return Unauthenticated("no webhook secret is configured");
  Status first;
  for (const std::string& secret : secrets) {
    Status s = StandardWebhooksVerify(secret, *id, *ts, *sig, req.body, now);
    if (s.ok()) return s;
    // A malformed header fails the same way under every secret; a bad
    // secret must not hide a later good one.
    if (first.ok()) first = std::move(s);
  }
  return first;
}

mapping::MapResult MapEvent(const ProtocolEvent& e, const mapping::MappingSpec& spec,
                            std::string_view system) {
  mapping::MapResult r;
  const mapping::SystemSpec* sys = spec.FindSystem(system);
  if (sys == nullptr || sys->kind != mapping::ConnectorKind::kGeneric) {
    r.notes.push_back("system '" + std::string(system) +
                      "' is not a generic system of the mapping");
    return r;
  }
  const auto base = [&] {
    Change c;
    c.provenance.occurred_at = e.occurred_at;
    c.provenance.source_system = std::string(system);
    c.provenance.source_event_id = e.id;
    c.mapping_hash = mapping::MappingHash(spec);
    return c;
  };
  const auto no_flow = [&](std::string_view what, std::string_view name, mapping::FlowDirection d) {
    return std::string(what) + " '" + std::string(name) + "' does not flow from " +
           std::string(system) + " (direction " + std::string(mapping::FlowDirectionName(d)) + ")";
  };
  const json& d = e.data;
  const auto str = [&](const char* name) {
    const auto it = d.find(name);
    return it != d.end() && it->is_string() ? it->get<std::string>() : std::string();
  };

  if (e.type == kConsentChanged) {
    const std::string native_topic = str("topic");
    const std::string native_channel = str("channel");
    const mapping::TopicSpec* topic = nullptr;
    for (const mapping::TopicSpec& t : spec.topics) {
      const auto b = t.bindings.find(std::string(system));
      if (b != t.bindings.end() && b->second.native_topic == native_topic) topic = &t;
    }
    if (topic == nullptr) {
      r.notes.push_back("unmapped: topic '" + native_topic + "' is not in the mapping");
      return r;
    }
    const std::string channel = spec.CanonicalChannel(native_channel, system);
    bool topic_has_channel = false;
    for (const std::string& c : topic->channels) topic_has_channel |= c == channel;
    if (channel.empty() || !topic_has_channel) {
      r.notes.push_back("unmapped: channel '" + native_channel + "' is not a channel of topic '" +
                        topic->name + "'");
      return r;
    }
    if (!mapping::FlowsFrom(topic->direction, sys->role)) {
      r.notes.push_back(no_flow("topic", topic->name, topic->direction));
      return r;
    }
    Change c = base();
    c.kind = ChangeKind::kConsent;
    c.key.topic = topic->name;
    c.key.channel = channel;
    c.key.address = str("address");
    c.status = *ParseConsentStatus(str("status"));  // validated by ParseEvent
    const std::string basis = str("legal_basis");
    c.legal_basis = basis.empty() ? topic->legal_basis : basis;
    const std::string method = str("method");
    c.method = method.empty() ? ConsentMethod::kForm : *ParseConsentMethod(method);
    const std::string notice = str("notice_version");
    c.notice_version = notice.empty() ? topic->notice_version : notice;
    if (const auto ev = d.find("evidence"); ev != d.end() && ev->is_object()) {
      for (const auto& [key, value] : ev->items()) {
        c.evidence[key] = value.is_string() ? value.get<std::string>() : value.dump();
      }
    }
    r.changes.push_back(std::move(c));
    return r;
  }

  if (e.type == kBlockChanged) {
    const std::string native_block = str("block");
    const mapping::BlockSpec* block = nullptr;
    for (const mapping::BlockSpec& b : spec.blocks) {
      const auto side = b.sides.find(std::string(system));
      if (side != b.sides.end() && side->second.native_block == native_block) block = &b;
    }
    if (block == nullptr) {
      r.notes.push_back("unmapped: block '" + native_block + "' is not in the mapping");
      return r;
    }
    if (!mapping::FlowsFrom(block->direction, sys->role)) {
      r.notes.push_back(no_flow("block", block->name, block->direction));
      return r;
    }
    Change c = base();
    switch (block->scope) {
      case BlockScope::Kind::kAll:
        c.scope = BlockScope::All();
        break;
      case BlockScope::Kind::kChannel: {
        const std::string native_channel = str("channel");
        const std::string channel = spec.CanonicalChannel(native_channel, system);
        if (channel.empty()) {
          r.notes.push_back("block '" + block->name + "': channel '" + native_channel +
                            "' is not in the mapping");
          return r;
        }
        c.scope = BlockScope::Channel(channel);
        break;
      }
      case BlockScope::Kind::kAddress: {
        std::string address = str("address");
        if (address.empty()) address = e.email;
        if (address.empty()) {
          r.notes.push_back("block '" + block->name + "': the event names no address");
          return r;
        }
        c.scope = BlockScope::Address(std::move(address));
        break;
      }
      case BlockScope::Kind::kTopic:
        r.notes.push_back("block '" + block->name +
                          "': topic blocks are not carried by the generic protocol");
        return r;
    }
    const auto active = d.find("active");
    c.kind = active != d.end() && active->is_boolean() && active->get<bool>()
                 ? ChangeKind::kBlockSet
                 : ChangeKind::kBlockCleared;
    const std::string reason = str("reason");
    c.block_reason = reason.empty() ? block->reason : *ParseBlockReason(reason);
    const std::string until = str("until");
    if (!until.empty()) {
      Result<TimestampMs> u = ParseRfc3339(until);
      if (u.ok()) c.block_until = *u;
    }
    r.changes.push_back(std::move(c));
    return r;
  }

  if (e.type == kSubjectErased) {
    Change c = base();
    c.kind = ChangeKind::kErasure;
    r.changes.push_back(std::move(c));
    return r;
  }

  // subject.merged, identity.changed: the identity step acts on the
  // RecordRef (merged_ids, old_email); no consent changes.
  r.notes.push_back(e.type + ": identity only, no consent change");
  return r;
}

}  // namespace consentd::connectors::generic
