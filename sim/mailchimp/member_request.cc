#include "sim/mailchimp/member_request.h"

#include <arpa/inet.h>

#include <charconv>

#include "sim/mailchimp/mc_time.h"

namespace consentd::sim::mailchimp {
namespace {

using nlohmann::json;

std::string TypeName(const json& v) {
  if (v.is_null()) return "NULL";
  if (v.is_boolean()) return "boolean";
  if (v.is_number_integer()) return "integer";
  if (v.is_number()) return "number";
  if (v.is_string()) return "string";
  if (v.is_array()) return "array";
  return "object";
}

ApiError WrongType(const std::string& field, const char* expected, const json& v) {
  return InvalidResource(
      field, std::string("Schema describes ") + expected + ", " + TypeName(v) + " found instead");
}

ApiError Blank(const std::string& field) {
  return InvalidResource(field, "This value should not be blank.");
}

bool IsIp(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

// Reads an optional string field; sets `error` when present with another type.
std::optional<std::string> StringField(const json& body, const char* name,
                                       std::optional<ApiError>& error) {
  auto it = body.find(name);
  if (it == body.end() || error) return std::nullopt;
  if (!it->is_string()) {
    error = WrongType(name, "string", *it);
    return std::nullopt;
  }
  return it->get<std::string>();
}

std::optional<MemberStatus> StatusField(const json& body, const char* name,
                                        bool allow_transactional, std::optional<ApiError>& error) {
  std::optional<std::string> s = StringField(body, name, error);
  if (!s) return std::nullopt;
  std::optional<MemberStatus> st = ParseStatus(*s);
  if (!st || *st == MemberStatus::kArchived ||
      (!allow_transactional && *st == MemberStatus::kTransactional)) {
    error = InvalidResource(name, "Schema describes enum, \"" + *s +
                                      "\" is not one of: subscribed, unsubscribed, cleaned, "
                                      "pending" +
                                      (allow_transactional ? ", transactional" : ""));
    return std::nullopt;
  }
  return st;
}

std::optional<std::string> TimestampField(const json& body, const char* name,
                                          std::optional<ApiError>& error) {
  std::optional<std::string> s = StringField(body, name, error);
  if (!s || s->empty()) return s;
  std::optional<TimestampMs> t = ParseDateTime(*s);
  if (!t) {
    error = InvalidResource(name, "Data did not match any of the schemas described in anyOf.");
    return std::nullopt;
  }
  return FormatIso(*t);
}

}  // namespace

std::variant<json, ApiError> ParseJsonBody(std::string_view body) {
  json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    return ApiError{400, "JSON Parse Error", "We encountered an unspecified JSON parsing error.",
                    nullptr, "ERROR_GENERIC"};
  }
  return doc;
}

bool IsValidEmail(std::string_view email) {
  if (email.empty() || email.size() > 254) return false;
  size_t at = email.find('@');
  if (at == 0 || at == std::string_view::npos || email.find('@', at + 1) != std::string_view::npos)
    return false;
  std::string_view domain = email.substr(at + 1);
  size_t dot = domain.rfind('.');
  if (domain.empty() || dot == 0 || dot == std::string_view::npos || dot + 1 >= domain.size())
    return false;
  for (char c : email) {
    if (static_cast<unsigned char>(c) <= ' ' || c == ',' || c == ';' || c == '<' || c == '>')
      return false;
  }
  return true;
}

std::variant<MemberUpdate, ApiError> ParseMemberUpdate(const json& body, BodyKind kind,
                                                       const Audience& audience) {
  if (!body.is_object()) return WrongType("", "object", body);
  MemberUpdate u;
  std::optional<ApiError> error;
  u.email_address = StringField(body, "email_address", error);
  if (error) return *error;
  if (!u.email_address && kind != BodyKind::kPatch) return Blank("email_address");
  if (u.email_address && !IsValidEmail(*u.email_address)) {
    return InvalidResourceDetail("Please provide a valid email address.");
  }
  if (kind != BodyKind::kControl) {
    u.status = StatusField(body, "status", kind != BodyKind::kPatch, error);
    if (error) return *error;
  }
  if (kind == BodyKind::kPut) {
    u.status_if_new = StatusField(body, "status_if_new", true, error);
    if (error) return *error;
    if (!u.status_if_new) return Blank("status_if_new");
  }
  if (kind == BodyKind::kPost && !u.status) return Blank("status");

  u.email_type = StringField(body, "email_type", error);
  if (!error && u.email_type && *u.email_type != "html" && *u.email_type != "text") {
    error = InvalidResource(
        "email_type", "Schema describes enum, \"" + *u.email_type + "\" is not one of: html, text");
  }
  u.language = StringField(body, "language", error);
  u.ip_signup = StringField(body, "ip_signup", error);
  if (!error && u.ip_signup && !u.ip_signup->empty() && !IsIp(*u.ip_signup)) {
    error = InvalidResource("ip_signup", "This value is not a valid IP address.");
  }
  u.ip_opt = StringField(body, "ip_opt", error);
  if (!error && u.ip_opt && !u.ip_opt->empty() && !IsIp(*u.ip_opt)) {
    error = InvalidResource("ip_opt", "This value is not a valid IP address.");
  }
  u.timestamp_signup = TimestampField(body, "timestamp_signup", error);
  u.timestamp_opt = TimestampField(body, "timestamp_opt", error);
  if (error) return *error;

  if (auto it = body.find("vip"); it != body.end()) {
    if (!it->is_boolean()) return WrongType("vip", "boolean", *it);
    u.vip = it->get<bool>();
  }
  if (auto it = body.find("merge_fields"); it != body.end()) {
    if (!it->is_object()) return WrongType("merge_fields", "object", *it);
    // The spec copy types values as objects; the real API (and Mailchimp's
    // newer spec) takes strings, numbers and address objects.
    for (auto f = it->begin(); f != it->end(); ++f) {
      if (!f->is_string() && !f->is_number() && !f->is_object()) {
        return WrongType("merge_fields." + f.key(), "string", *f);
      }
    }
    u.merge_fields = *it;
  }
  if (auto it = body.find("interests"); it != body.end()) {
    if (!it->is_object()) return WrongType("interests", "object", *it);
    for (auto f = it->begin(); f != it->end(); ++f) {
      if (!f->is_boolean()) return WrongType("interests." + f.key(), "boolean", *f);
      if (!audience.IsKnownInterest(f.key())) {
        return InvalidResource("interests", "Invalid interest ID: '" + f.key() + "'.");
      }
      u.interests[f.key()] = f->get<bool>();
    }
  }
  if (auto it = body.find("marketing_permissions"); it != body.end()) {
    if (!it->is_array()) return WrongType("marketing_permissions", "array", *it);
    for (const json& p : *it) {
      if (!p.is_object()) return WrongType("marketing_permissions", "object", p);
      auto id = p.find("marketing_permission_id");
      auto enabled = p.find("enabled");
      if (id == p.end()) return Blank("marketing_permissions.marketing_permission_id");
      if (!id->is_string()) return WrongType("marketing_permission_id", "string", *id);
      if (enabled == p.end()) return Blank("marketing_permissions.enabled");
      if (!enabled->is_boolean()) return WrongType("enabled", "boolean", *enabled);
      if (!audience.IsKnownPermission(id->get<std::string>())) {
        return InvalidResource("marketing_permissions", "Invalid marketing permission ID: '" +
                                                            id->get<std::string>() + "'.");
      }
      u.permissions[id->get<std::string>()] = enabled->get<bool>();
    }
  }
  if (auto it = body.find("tags"); it != body.end() && kind == BodyKind::kPost) {
    if (!it->is_array()) return WrongType("tags", "array", *it);
    std::vector<std::string> tags;
    for (const json& t : *it) {
      if (!t.is_string()) return WrongType("tags", "string", t);
      tags.push_back(t.get<std::string>());
    }
    u.tags = std::move(tags);
  }
  if (auto it = body.find("location"); it != body.end()) {
    if (!it->is_object()) return WrongType("location", "object", *it);
    auto lat = it->find("latitude");
    auto lon = it->find("longitude");
    if (lat != it->end() && !lat->is_number())
      return WrongType("location.latitude", "number", *lat);
    if (lon != it->end() && !lon->is_number())
      return WrongType("location.longitude", "number", *lon);
    u.location = std::make_pair(lat != it->end() ? lat->get<double>() : 0.0,
                                lon != it->end() ? lon->get<double>() : 0.0);
  }
  return u;
}

std::variant<BatchRequest, ApiError> ParseBatchRequest(const json& body) {
  if (!body.is_object()) return WrongType("", "object", body);
  BatchRequest r;
  auto members = body.find("members");
  if (members == body.end()) return Blank("members");
  if (!members->is_array()) return WrongType("members", "array", *members);
  if (members->size() > 500) {
    return InvalidResource("members", "You may only add or update 500 members at a time.");
  }
  for (const json& m : *members) r.members.push_back(m);
  for (auto [name, out] :
       {std::pair{"update_existing", &r.update_existing}, std::pair{"sync_tags", &r.sync_tags}}) {
    auto it = body.find(name);
    if (it == body.end()) continue;
    if (!it->is_boolean()) return WrongType(name, "boolean", *it);
    *out = it->get<bool>();
  }
  return r;
}

std::optional<ApiError> ParseIntParam(std::string_view name, std::string_view value, long min,
                                      long max, long& out) {
  long v = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
  if (ec != std::errc() || ptr != value.data() + value.size()) {
    return InvalidResource(std::string(name), "Schema describes integer, string found instead");
  }
  if (v < min || v > max) {
    return InvalidResource(std::string(name), "Value must be between " + std::to_string(min) +
                                                  " and " + std::to_string(max) + ".");
  }
  out = v;
  return std::nullopt;
}

std::optional<ApiError> ParseBoolParam(std::string_view name, std::string_view value, bool& out) {
  if (value == "true" || value == "1") {
    out = true;
  } else if (value == "false" || value == "0") {
    out = false;
  } else {
    return InvalidResource(std::string(name), "Schema describes boolean, string found instead");
  }
  return std::nullopt;
}

void AppendCsv(std::string_view value, std::vector<std::string>& out) {
  while (!value.empty()) {
    size_t comma = value.find(',');
    std::string_view part = value.substr(0, comma);
    if (!part.empty()) out.emplace_back(part);
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
}

}  // namespace consentd::sim::mailchimp
