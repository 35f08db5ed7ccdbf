// `connectors.<name>:` keys of kind generic (generic_connector_section.h).
#include "config/generic_connector_section.h"

#include <algorithm>
#include <array>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>

#include "config/config.h"
#include "config/suggest.h"
#include "connectors/generic/request_template.h"
#include "core/proof/bytes.h"

namespace consentd::config::internal {

void CheckStandardWebhooksSecret(const YAML::Node& n, ReadContext& c, const std::string& path) {
  Result<std::string> secret = LoadSecret(path);
  if (!secret.ok()) return;  // ReadSecretFile has said what is wrong with the file
  std::string_view text = *secret;
  if (text.starts_with("whsec_")) text.remove_prefix(6);
  const std::optional<std::string> key = proof::Base64Decode(text);
  if (!key || key->empty()) {
    c.diag.Error(ValuePosition(n, c),
                 "secret file " + path +
                     " does not hold a Standard Webhooks secret: expected \"whsec_\" and "
                     "base64, or base64");
  }
}

namespace {

using nlohmann::json;
namespace gen = connectors::generic;
using Names = std::span<const std::string_view>;

constexpr std::array<std::string_view, 5> kMethods = {"GET", "POST", "PUT", "PATCH", "DELETE"};
// The event fields a poll item may fill under `data` (connectors/generic/protocol.h).
constexpr std::array<std::string_view, 14> kDataKeys = {
    "topic",    "channel", "status", "address", "legal_basis", "method",     "notice_version",
    "evidence", "block",   "active", "reason",  "until",       "merged_ids", "old_email"};

std::string List(Names names) {
  if (names.empty()) return "none (this request takes no placeholders)";
  std::string out;
  for (std::string_view n : names) out += (out.empty() ? "{" : ", {") + std::string(n) + "}";
  return out;
}

// Checks the placeholders of one template string written at `n`.
bool CheckPlaceholders(const std::string& text, const YAML::Node& n, ReadContext& c,
                       Names allowed) {
  auto names = gen::Placeholders(text);
  if (!names.ok()) {
    c.diag.Error(ValuePosition(n, c), names.status().message());
    return false;
  }
  bool ok = true;
  for (const std::string& name : *names) {
    if (std::find(allowed.begin(), allowed.end(), name) != allowed.end()) continue;
    c.diag.Error(ValuePosition(n, c), "unknown placeholder {" + name + "}" +
                                          DidYouMean(name, allowed) + "; here: " + List(allowed));
    ok = false;
  }
  return ok;
}

// A JSON pointer (RFC 6901); `allow_empty`: "" (the whole document) too.
std::optional<std::string> ReadPointer(const YAML::Node& n, ReadContext& c, bool allow_empty) {
  auto s = ReadString(n, c, "a JSON pointer, like \"/items\"");
  if (!s) return std::nullopt;
  if (s->empty() && !allow_empty) {
    c.diag.Error(ValuePosition(n, c), "expected a JSON pointer to a field, like \"/id\", got \"\"");
    return std::nullopt;
  }
  try {
    json::json_pointer p(*s);
  } catch (const json::exception&) {
    c.diag.Error(ValuePosition(n, c),
                 "\"" + *s +
                     "\" is not a JSON pointer: it starts with '/' and writes '~' as ~0 and '/' "
                     "inside a name as ~1, like \"/data/items\"");
    return std::nullopt;
  }
  return s;
}

// A scalar as JSON: quoted = string; plain = null, bool, number or string.
json ScalarJson(const YAML::Node& n) {
  const std::string& s = n.Scalar();
  if (n.Tag() == "!") return s;  // quoted
  if (s == "null" || s == "~") return nullptr;
  if (s == "true") return true;
  if (s == "false") return false;
  json number = json::parse(s, nullptr, false);
  if (!number.is_discarded() && number.is_number()) return number;
  return s;
}

// A body template: YAML to JSON, checking the placeholders of every string.
std::optional<json> BodyJson(const YAML::Node& n, ReadContext& c, Names allowed) {
  if (n.IsMap()) {
    json out = json::object();
    bool ok = true;
    std::map<std::string, Position> seen;
    for (auto it = n.begin(); it != n.end(); ++it) {
      if (!it->first.IsScalar()) {
        c.diag.Error(PositionOf(it->first), "a body key must be a string");
        ok = false;
        continue;
      }
      if (!FirstOccurrence(seen, it->first.Scalar(), PositionOf(it->first), c, "body key")) {
        ok = false;
        continue;
      }
      auto v = BodyJson(it->second, c, allowed);
      if (!v) {
        ok = false;
        continue;
      }
      out[it->first.Scalar()] = std::move(*v);
    }
    return ok ? std::optional<json>(std::move(out)) : std::nullopt;
  }
  if (n.IsSequence()) {
    json out = json::array();
    bool ok = true;
    for (const YAML::Node& item : n) {
      auto v = BodyJson(item, c, allowed);
      if (v) out.push_back(std::move(*v));
      ok = ok && v.has_value();
    }
    return ok ? std::optional<json>(std::move(out)) : std::nullopt;
  }
  if (n.IsNull()) return json(nullptr);
  json v = ScalarJson(n);
  if (v.is_string() && !CheckPlaceholders(v.get<std::string>(), n, c, allowed)) return std::nullopt;
  return v;
}

// ---- Request pieces: method, url, headers, body. ----
// `Acc` picks the GenericRequest out of the entry a section reads into.

template <typename T>
using Acc = GenericRequest& (*)(T&);

template <typename T>
Field<T> MethodField(Acc<T> req, Presence presence) {
  return Field<T>{"method", presence, [req](const YAML::Node& n, ReadContext& c, T& out) {
                    auto m = ReadChoice(n, c, kMethods);
                    req(out).method = m ? *m : "";  // "": reported, no follow-up errors
                  }};
}

template <typename T>
Field<T> UrlField(Acc<T> req, Names allowed) {
  return Field<T>{"url", Presence::kRequired,
                  [req, allowed](const YAML::Node& n, ReadContext& c, T& out) {
                    GenericRequest& r = req(out);
                    r.declared = true;
                    if (r.at.line == 0) r.at = c.key_at;
                    auto s = ReadString(n, c, "a URL template, like \"/contacts/{email}\"");
                    if (!s) return;
                    const bool relative = s->starts_with("/");
                    if (!relative && !s->starts_with("http://") && !s->starts_with("https://")) {
                      c.diag.Error(ValuePosition(n, c),
                                   "expected a path under base_url starting with '/', or an "
                                   "http:// or https:// URL, got \"" +
                                       UrlForMessages(*s) + "\"");
                      return;
                    }
                    for (char ch : *s) {
                      if (static_cast<unsigned char>(ch) <= ' ' || ch == 0x7f) {
                        c.diag.Error(ValuePosition(n, c),
                                     "a URL template holds no spaces or control characters");
                        return;
                      }
                    }
                    if (!CheckPlaceholders(*s, n, c, allowed)) return;
                    r.url = *s;
                  }};
}

bool HeaderNameOk(const std::string& name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           std::string_view("!#$%&'*+-.^_`|~").find(ch) != std::string_view::npos;
  });
}

std::string Lower(std::string s) {
  for (char& ch : s) {
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  }
  return s;
}

template <typename T>
Field<T> HeadersField(Acc<T> req, Names allowed) {
  return Field<T>{
      "headers", Presence::kOptional, [req, allowed](const YAML::Node& n, ReadContext& c, T& out) {
        if (!n.IsMap()) {
          c.diag.Error(ValuePosition(n, c), "expected a mapping of header name to value");
          return;
        }
        std::map<std::string, Position> seen;  // header names compare case-insensitively
        for (auto it = n.begin(); it != n.end(); ++it) {
          const std::string name = it->first.IsScalar() ? it->first.Scalar() : "";
          if (!HeaderNameOk(name)) {
            c.diag.Error(PositionOf(it->first), "\"" + name + "\" is not an HTTP header name");
            continue;
          }
          const std::string lower = Lower(name);
          if (!FirstOccurrence(seen, lower, PositionOf(it->first), c, "header")) continue;
          if (lower == "idempotency-key" || lower == "content-type" || lower == "authorization" ||
              lower.starts_with("webhook-")) {
            c.diag.Error(PositionOf(it->first),
                         "header " + name +
                             " is set by consentd (Idempotency-Key, Content-Type, Authorization "
                             "and webhook-* come from the request and `auth:`)");
            continue;
          }
          auto v = ReadString(it->second, c, "a header value");
          if (!v || !CheckPlaceholders(*v, it->second, c, allowed)) continue;
          req(out).headers.emplace_back(name, *v);
        }
      }};
}

template <typename T>
Field<T> BodyField(Acc<T> req, Names allowed) {
  return Field<T>{"body", Presence::kOptional,
                  [req, allowed](const YAML::Node& n, ReadContext& c, T& out) {
                    if (!n.IsMap() && !n.IsSequence()) {
                      c.diag.Error(ValuePosition(n, c),
                                   "expected a body template: a mapping (or list) whose "
                                   "string leaves may hold placeholders");
                      return;
                    }
                    req(out).body_written = true;
                    if (auto j = BodyJson(n, c, allowed)) req(out).body_json = j->dump();
                  }};
}

template <typename T>
Field<T> PointerField(std::string_view key, Presence presence, std::string T::*member,
                      bool allow_empty) {
  return Field<T>{key, presence,
                  [member, allow_empty](const YAML::Node& n, ReadContext& c, T& out) {
                    if (auto p = ReadPointer(n, c, allow_empty)) out.*member = *p;
                  }};
}

// ---- Sections ----

GenericRequest& Self(GenericRequest& r) { return r; }
GenericRequest& WriteRequest(GenericWrite& w) { return w.request; }
GenericRequest& PollRequest(GenericPoll& p) { return p.request; }
GenericRequest& ReadRequest(GenericRead& r) { return r.request; }
GenericRequest& TopicsRequest(GenericListTopics& t) { return t.request; }

const Section<GenericRequest>& BatchSection() {
  static const Section<GenericRequest> s(
      "connectors.*.write.*.batch", {MethodField<GenericRequest>(Self, Presence::kRequired),
                                     UrlField<GenericRequest>(Self, gen::kBatchPlaceholders),
                                     HeadersField<GenericRequest>(Self, gen::kBatchPlaceholders),
                                     BodyField<GenericRequest>(Self, gen::kBatchPlaceholders)});
  return s;
}

Section<GenericWrite> MakeWriteSection(Names allowed) {
  return Section<GenericWrite>(
      "connectors.*.write.*",
      {MethodField<GenericWrite>(WriteRequest, Presence::kRequired),
       UrlField<GenericWrite>(WriteRequest, allowed),
       HeadersField<GenericWrite>(WriteRequest, allowed),
       BodyField<GenericWrite>(WriteRequest, allowed),
       PointerField<GenericWrite>("system_id", Presence::kOptional,
                                  &GenericWrite::system_id_pointer, false),
       Field<GenericWrite>{"batch", Presence::kOptional,
                           [](const YAML::Node& n, ReadContext& c, GenericWrite& out) {
                             out.batch.at = c.key_at;
                             BatchSection().Read(n, c, out.batch);
                           },
                           Shape::kMapping, &BatchSection()}});
}

// One table per kind of write (their placeholders differ); the keys are the same.
const Section<GenericWrite>& ConsentWriteSection() {
  static const Section<GenericWrite> s = MakeWriteSection(gen::kConsentPlaceholders);
  return s;
}
const Section<GenericWrite>& BlockWriteSection() {
  static const Section<GenericWrite> s = MakeWriteSection(gen::kBlockPlaceholders);
  return s;
}
const Section<GenericWrite>& ErasureWriteSection() {
  static const Section<GenericWrite> s = MakeWriteSection(gen::kErasurePlaceholders);
  return s;
}

struct WriteEntry {
  GenericConnectorConfig* g = nullptr;
};

template <GenericWrite GenericConnectorConfig::*member>
Field<WriteEntry> WriteField(std::string_view key, Presence presence,
                             const Section<GenericWrite>& (*section)()) {
  return Field<WriteEntry>{key, presence,
                           [section](const YAML::Node& n, ReadContext& c, WriteEntry& out) {
                             // Writes name their method (required): no GET default.
                             (out.g->*member).request.method.clear();
                             (out.g->*member).batch.method.clear();
                             section().Read(n, c, out.g->*member);
                           },
                           Shape::kMapping, &section()};
}

const Section<WriteEntry>& WritesSection() {
  static const Section<WriteEntry> s(
      "connectors.*.write",
      {WriteField<&GenericConnectorConfig::consent>("consent", Presence::kRequired,
                                                    ConsentWriteSection),
       WriteField<&GenericConnectorConfig::block>("block", Presence::kOptional, BlockWriteSection),
       WriteField<&GenericConnectorConfig::erasure>("erasure", Presence::kOptional,
                                                    ErasureWriteSection)});
  return s;
}

// ---- responses ----

// 404, "4xx", "500-599".
std::optional<std::pair<int, int>> ParseStatusSpec(const std::string& s) {
  auto num = [](std::string_view t) -> std::optional<int> {
    if (t.size() != 3 ||
        !std::all_of(t.begin(), t.end(), [](char d) { return d >= '0' && d <= '9'; }))
      return std::nullopt;
    const int v = std::stoi(std::string(t));
    if (v < 100 || v > 599) return std::nullopt;
    return v;
  };
  if (s.size() == 3 && s[0] >= '1' && s[0] <= '5' && (s.substr(1) == "xx" || s.substr(1) == "XX")) {
    const int base = (s[0] - '0') * 100;
    return std::pair{base, base + 99};
  }
  if (auto v = num(s)) return std::pair{*v, *v};
  if (const auto dash = s.find('-'); dash != std::string::npos) {
    auto lo = num(std::string_view(s).substr(0, dash));
    auto hi = num(std::string_view(s).substr(dash + 1));
    if (lo && hi && *lo <= *hi) return std::pair{*lo, *hi};
  }
  return std::nullopt;
}

std::optional<std::pair<int, int>> ReadStatusSpec(const YAML::Node& n, ReadContext& c) {
  const std::string form =
      "an HTTP status (404), a class (\"4xx\") or a range (\"500-599\") from 100 to 599";
  auto s = ReadString(n, c, form);
  if (!s) return std::nullopt;
  auto r = ParseStatusSpec(*s);
  if (!r) c.diag.Error(ValuePosition(n, c), "expected " + form + ", got \"" + *s + "\"");
  return r;
}

void ReadRules(const YAML::Node& n, ReadContext& c, std::vector<GenericResponseRule>& out) {
  if (!n.IsSequence()) {
    c.diag.Error(ValuePosition(n, c),
                 "expected a list of statuses (404, \"4xx\", \"500-599\") or of "
                 "{status, pointer, equals}");
    return;
  }
  constexpr std::array<std::string_view, 3> kRuleKeys = {"status", "pointer", "equals"};
  for (const YAML::Node& item : n) {
    GenericResponseRule rule;
    if (!item.IsMap()) {
      auto r = ReadStatusSpec(item, c);
      if (!r) continue;
      rule.status_min = r->first;
      rule.status_max = r->second;
      out.push_back(rule);
      continue;
    }
    bool ok = true;
    bool has_status = false;
    bool has_equals = false;
    std::map<std::string, Position> seen;
    for (auto it = item.begin(); it != item.end(); ++it) {
      const std::string key = it->first.IsScalar() ? it->first.Scalar() : "";
      if (it->first.IsScalar() && !FirstOccurrence(seen, key, PositionOf(it->first), c)) {
        ok = false;
        continue;
      }
      if (key == "status") {
        auto r = ReadStatusSpec(it->second, c);
        ok = ok && r.has_value();
        if (r) {
          rule.status_min = r->first;
          rule.status_max = r->second;
        }
        has_status = true;
      } else if (key == "pointer") {
        auto p = ReadPointer(it->second, c, false);
        ok = ok && p.has_value();
        if (p) rule.pointer = *p;
      } else if (key == "equals") {
        has_equals = true;
        if (!it->second.IsScalar()) {
          c.diag.Error(ValuePosition(it->second, c), "expected a string, number or boolean");
          ok = false;
        } else {
          rule.equals_json = ScalarJson(it->second).dump();
        }
      } else {
        c.diag.Error(PositionOf(it->first), "unknown key '" + key + "' in a response rule" +
                                                DidYouMean(key, kRuleKeys) +
                                                "; a rule takes status, pointer, equals");
        ok = false;
      }
    }
    if (!has_status) {
      c.diag.Error(PositionOf(item), "a response rule needs 'status' (404, \"4xx\", \"500-599\")");
      ok = false;
    }
    if (has_equals && rule.pointer.empty()) {
      c.diag.Error(PositionOf(item), "'equals' compares the body at 'pointer': add a pointer");
      ok = false;
    }
    if (ok) out.push_back(rule);
  }
}

Field<GenericResponses> RulesField(std::string_view key,
                                   std::vector<GenericResponseRule> GenericResponses::*member) {
  return Field<GenericResponses>{key, Presence::kOptional,
                                 [member](const YAML::Node& n, ReadContext& c,
                                          GenericResponses& out) { ReadRules(n, c, out.*member); }};
}

const Section<GenericResponses>& ResponsesSection() {
  static const Section<GenericResponses> s(
      "connectors.*.responses",
      {RulesField("retryable", &GenericResponses::retryable),
       RulesField("permanent", &GenericResponses::permanent),
       RulesField("blocked_by_target", &GenericResponses::blocked_by_target),
       Field<GenericResponses>{"already_gone", Presence::kOptional,
                               [](const YAML::Node& n, ReadContext& c, GenericResponses& out) {
                                 out.already_gone_written = true;
                                 ReadRules(n, c, out.already_gone);
                               }}});
  return s;
}

// ---- auth ----

struct AuthEntry {
  GenericAuth auth;
  std::vector<std::pair<std::string, Position>> written;  // the kinds written
};

template <GenericAuthKind kKind>
Field<AuthEntry> SecretField(std::string_view key) {
  return Field<AuthEntry>{key, Presence::kRequired,
                          [](const YAML::Node& n, ReadContext& c, AuthEntry& out) {
                            if (auto f = ReadSecretFile(n, c)) {
                              if constexpr (kKind == GenericAuthKind::kStandardWebhooks) {
                                CheckStandardWebhooksSecret(n, c, *f);
                              }
                              if (out.auth.kind == kKind) out.auth.secret_file = *f;
                            }
                          }};
}

template <GenericAuthKind kKind>
const Section<AuthEntry>& AuthKindSection(std::string_view path) {
  if constexpr (kKind == GenericAuthKind::kBearer) {
    static const Section<AuthEntry> s(std::string(path), {SecretField<kKind>("token_file")});
    return s;
  } else if constexpr (kKind == GenericAuthKind::kBasic) {
    static const Section<AuthEntry> s(
        std::string(path),
        {Field<AuthEntry>{"username", Presence::kRequired,
                          [](const YAML::Node& n, ReadContext& c, AuthEntry& out) {
                            auto u = ReadString(n, c, "a user name");
                            if (!u) return;
                            if (u->find(':') != std::string::npos) {
                              c.diag.Error(ValuePosition(n, c),
                                           "a basic-auth user name cannot hold ':'");
                              return;
                            }
                            if (out.auth.kind == kKind) out.auth.username = *u;
                          }},
         SecretField<kKind>("password_file")});
    return s;
  } else if constexpr (kKind == GenericAuthKind::kApiKey) {
    static const Section<AuthEntry> s(
        std::string(path),
        {Field<AuthEntry>{"header", Presence::kRequired,
                          [](const YAML::Node& n, ReadContext& c, AuthEntry& out) {
                            auto h = ReadString(n, c, "an HTTP header name");
                            if (!h) return;
                            if (!HeaderNameOk(*h)) {
                              c.diag.Error(ValuePosition(n, c),
                                           "\"" + *h + "\" is not an HTTP header name");
                              return;
                            }
                            if (out.auth.kind == kKind) out.auth.header = *h;
                          }},
         SecretField<kKind>("key_file")});
    return s;
  } else {
    static const Section<AuthEntry> s(std::string(path), {SecretField<kKind>("secret_file")});
    return s;
  }
}

template <GenericAuthKind kKind>
Field<AuthEntry> AuthKindField(std::string_view key, std::string_view path) {
  return Field<AuthEntry>{key, Presence::kOptional,
                          [key, path](const YAML::Node& n, ReadContext& c, AuthEntry& out) {
                            out.written.emplace_back(std::string(key), c.key_at);
                            if (out.auth.kind == GenericAuthKind::kNone) out.auth.kind = kKind;
                            AuthKindSection<kKind>(path).Read(n, c, out);
                          },
                          Shape::kMapping, &AuthKindSection<kKind>(path)};
}

const Section<AuthEntry>& AuthSection() {
  static const Section<AuthEntry> s(
      "connectors.*.auth",
      {AuthKindField<GenericAuthKind::kBearer>("bearer", "connectors.*.auth.bearer"),
       AuthKindField<GenericAuthKind::kBasic>("basic", "connectors.*.auth.basic"),
       AuthKindField<GenericAuthKind::kApiKey>("api_key", "connectors.*.auth.api_key"),
       AuthKindField<GenericAuthKind::kStandardWebhooks>("standard_webhooks",
                                                         "connectors.*.auth.standard_webhooks")});
  return s;
}

// ---- poll, read, check, list_topics ----

// One item field: a JSON pointer ("/contact/id") or {const: value}.
std::optional<GenericItemField> ReadItemField(const YAML::Node& n, ReadContext& c,
                                              std::string field) {
  GenericItemField f;
  f.field = std::move(field);
  if (n.IsMap()) {
    if (n.size() == 1 && n.begin()->first.IsScalar() && n.begin()->first.Scalar() == "const") {
      const YAML::Node v = n.begin()->second;
      if (v.IsScalar()) {
        f.const_json = ScalarJson(v).dump();
        return f;
      }
      c.diag.Error(ValuePosition(v, c), "expected a constant string, number or boolean");
      return std::nullopt;
    }
    c.diag.Error(ValuePosition(n, c),
                 "expected a JSON pointer into the item (\"/id\") or {const: value}");
    return std::nullopt;
  }
  auto p = ReadPointer(n, c, false);
  if (!p) return std::nullopt;
  f.pointer = *p;
  return f;
}

Field<GenericPoll> ItemKey(std::string_view key, Presence presence) {
  return Field<GenericPoll>{key, presence,
                            [key](const YAML::Node& n, ReadContext& c, GenericPoll& out) {
                              if (auto f = ReadItemField(n, c, std::string(key))) {
                                out.item.push_back(std::move(*f));
                              }
                            }};
}

const Section<GenericPoll>& ItemSection() {
  static const Section<GenericPoll> s(
      "connectors.*.poll.item",
      {
          ItemKey("id", Presence::kOptional),
          ItemKey("type", Presence::kRequired),
          ItemKey("occurred_at", Presence::kRequired),
          ItemKey("system_id", Presence::kOptional),
          ItemKey("email", Presence::kOptional),
          Field<GenericPoll>{
              "data", Presence::kOptional,
              [](const YAML::Node& n, ReadContext& c, GenericPoll& out) {
                if (!n.IsMap()) {
                  c.diag.Error(ValuePosition(n, c),
                               "expected a mapping of event data field to a JSON pointer or "
                               "{const: value}");
                  return;
                }
                std::map<std::string, Position> seen;
                for (auto it = n.begin(); it != n.end(); ++it) {
                  const std::string key = it->first.IsScalar() ? it->first.Scalar() : "";
                  if (it->first.IsScalar() &&
                      !FirstOccurrence(seen, key, PositionOf(it->first), c, "event data field")) {
                    continue;
                  }
                  if (std::find(kDataKeys.begin(), kDataKeys.end(), key) == kDataKeys.end()) {
                    std::string all;
                    for (std::string_view k : kDataKeys)
                      all += (all.empty() ? "" : ", ") + std::string(k);
                    c.diag.Error(PositionOf(it->first), "unknown event data field '" + key + "'" +
                                                            DidYouMean(key, kDataKeys) +
                                                            "; the protocol's are " + all);
                    continue;
                  }
                  if (auto f = ReadItemField(it->second, c, "data/" + key)) {
                    out.item.push_back(std::move(*f));
                  }
                }
              }},
      });
  return s;
}

const Section<GenericPoll>& PollSection() {
  static const Section<GenericPoll> s(
      "connectors.*.poll",
      {UrlField<GenericPoll>(PollRequest, gen::kPollPlaceholders),
       HeadersField<GenericPoll>(PollRequest, gen::kPollPlaceholders),
       PointerField<GenericPoll>("items", Presence::kRequired, &GenericPoll::items_pointer, true),
       PointerField<GenericPoll>("next_cursor", Presence::kOptional,
                                 &GenericPoll::next_cursor_pointer, false),
       PointerField<GenericPoll>("more", Presence::kOptional, &GenericPoll::more_pointer, false),
       Field<GenericPoll>{"item", Presence::kRequired,
                          [](const YAML::Node& n, ReadContext& c, GenericPoll& out) {
                            ItemSection().Read(n, c, out);
                          },
                          Shape::kMapping, &ItemSection()}});
  return s;
}

const Section<GenericRead>& ReadSection() {
  static const Section<GenericRead> s(
      "connectors.*.read",
      {UrlField<GenericRead>(ReadRequest, gen::kReadPlaceholders),
       HeadersField<GenericRead>(ReadRequest, gen::kReadPlaceholders),
       PointerField<GenericRead>("items", Presence::kOptional, &GenericRead::items_pointer, true)});
  return s;
}

constexpr std::string_view kNoPlaceholders[] = {"none"};  // "{none}" is not a real one

const Section<GenericRequest>& CheckSection() {
  static const Section<GenericRequest> s(
      "connectors.*.check",
      {MethodField<GenericRequest>(Self, Presence::kOptional),
       UrlField<GenericRequest>(Self, std::span(kNoPlaceholders).first(0)),
       HeadersField<GenericRequest>(Self, std::span(kNoPlaceholders).first(0))});
  return s;
}

const Section<GenericListTopics>& ListTopicsSection() {
  static const Section<GenericListTopics> s(
      "connectors.*.list_topics",
      {UrlField<GenericListTopics>(TopicsRequest, std::span(kNoPlaceholders).first(0)),
       HeadersField<GenericListTopics>(TopicsRequest, std::span(kNoPlaceholders).first(0)),
       PointerField<GenericListTopics>("items", Presence::kRequired,
                                       &GenericListTopics::items_pointer, true),
       PointerField<GenericListTopics>("id", Presence::kRequired, &GenericListTopics::id_pointer,
                                       false),
       PointerField<GenericListTopics>("name", Presence::kOptional,
                                       &GenericListTopics::name_pointer, false),
       PointerField<GenericListTopics>("channel", Presence::kOptional,
                                       &GenericListTopics::channel_pointer, false)});
  return s;
}

std::vector<GenericKeyField> MakeFields() {
  using G = GenericConnectorConfig;
  return {
      {"webhook_secret_files", Shape::kValue, nullptr,
       [](const YAML::Node& n, ReadContext& c, G& out) {
         if (!n.IsSequence() || n.size() == 0) {
           c.diag.Error(ValuePosition(n, c),
                        "expected a list of secret files (Standard Webhooks \"whsec_...\" "
                        "secrets; several while a key is rotated)");
           return;
         }
         for (const YAML::Node& item : n) {
           if (auto f = ReadSecretFile(item, c)) {
             CheckStandardWebhooksSecret(item, c, *f);
             out.webhook_secret_files.push_back(*f);
           }
         }
       }},
      {"auth", Shape::kMapping, &AuthSection(),
       [](const YAML::Node& n, ReadContext& c, G& out) {
         AuthEntry e;
         AuthSection().Read(n, c, e);
         if (e.written.size() > 1) {
           for (std::size_t i = 1; i < e.written.size(); ++i) {
             c.diag.Error(e.written[i].second,
                          "auth takes exactly one of bearer, basic, api_key, "
                          "standard_webhooks; '" +
                              e.written[0].first + "' is set already");
           }
         } else if (e.written.empty()) {
           c.diag.Error(c.key_at,
                        "auth takes exactly one of bearer, basic, api_key, standard_webhooks");
         }
         out.auth = e.auth;
       }},
      {"write", Shape::kMapping, &WritesSection(),
       [](const YAML::Node& n, ReadContext& c, G& out) {
         WriteEntry e{&out};
         WritesSection().Read(n, c, e);
       }},
      {"responses", Shape::kMapping, &ResponsesSection(),
       [](const YAML::Node& n, ReadContext& c, G& out) {
         ResponsesSection().Read(n, c, out.responses);
       }},
      {"poll", Shape::kMapping, &PollSection(),
       [](const YAML::Node& n, ReadContext& c, G& out) {
         out.poll.declared = true;
         out.poll.request.at = c.key_at;
         PollSection().Read(n, c, out.poll);
       }},
      {"read", Shape::kMapping, &ReadSection(),
       [](const YAML::Node& n, ReadContext& c, G& out) {
         out.read.declared = true;
         out.read.request.at = c.key_at;
         ReadSection().Read(n, c, out.read);
       }},
      {"check", Shape::kMapping, &CheckSection(),
       [](const YAML::Node& n, ReadContext& c, G& out) {
         CheckSection().Read(n, c, out.check);
         out.check.declared = true;
       }},
      {"list_topics", Shape::kMapping, &ListTopicsSection(),
       [](const YAML::Node& n, ReadContext& c, G& out) {
         out.list_topics.declared = true;
         ListTopicsSection().Read(n, c, out.list_topics);
       }},
  };
}

bool HasField(const GenericPoll& p, std::string_view field) {
  return std::any_of(p.item.begin(), p.item.end(),
                     [&](const GenericItemField& f) { return f.field == field; });
}

void CheckBody(const GenericRequest& r, std::string_view where, ReadContext& c) {
  if (r.declared && r.method == "GET" && r.body_written) {
    c.diag.Error(r.at,
                 std::string(where) + ": a GET request takes no body; use POST, PUT or PATCH");
  }
}

}  // namespace

const std::vector<GenericKeyField>& GenericConnectorFields() {
  static const std::vector<GenericKeyField> fields = MakeFields();
  return fields;
}

void FinishGenericConnector(GenericConnectorConfig& g, Position at,
                            const std::map<std::string, Position, std::less<>>& keys_at,
                            ReadContext& c) {
  for (auto [w, name] : {std::pair{&g.consent, "write.consent"}, std::pair{&g.block, "write.block"},
                         std::pair{&g.erasure, "write.erasure"}}) {
    CheckBody(w->request, name, c);
    CheckBody(w->batch, std::string(name) + ".batch", c);
    if (w->batch.declared && !w->batch.body_written) {
      c.diag.Error(w->batch.at,
                   std::string(name) + ".batch: a batch needs a body holding \"{items}\"");
    } else if (w->batch.declared && !w->batch.body_json.empty() &&
               w->batch.body_json.find("\"{items}\"") == std::string::npos) {
      c.diag.Error(w->batch.at, std::string(name) +
                                    ".batch: the batch body must hold \"{items}\" (the list of "
                                    "the per-record bodies)");
    }
    if (w->batch.declared && !w->request.body_written) {
      c.diag.Error(w->batch.at, std::string(name) +
                                    ".batch: a batch sends the per-record bodies, so " + name +
                                    " needs a body");
    }
    if (w->batch.declared && !w->system_id_pointer.empty()) {
      // One answer for many records cannot say which id is whose.
      c.diag.Warning(w->batch.at, std::string(name) +
                                      ": system_id is read from single answers only; with a "
                                      "batch it is never read");
    }
  }
  CheckBody(g.check, "check", c);
  if (g.poll.declared && !HasField(g.poll, "system_id") && !HasField(g.poll, "email")) {
    c.diag.Error(g.poll.request.at,
                 "poll.item needs system_id or email (or both): which record an item is about");
  }
  if (g.read.declared && !g.poll.declared) {
    const auto it = keys_at.find("read");
    c.diag.Error(it != keys_at.end() ? it->second : at,
                 "read maps what it gets with poll.item: declare poll (with item) as well");
  }
}

}  // namespace consentd::config::internal
