#include "sim/mailchimp/member_text.h"

#include <nlohmann/json.hpp>

#include "sim/mailchimp/mc_time.h"
#include "sim/mailchimp/subscriber_hash.h"

namespace consentd::sim::mailchimp {
namespace {

std::string MergeString(const nlohmann::json& merge_fields, const char* key) {
  auto it = merge_fields.find(key);
  return it != merge_fields.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// A tag's numeric id, stable for its name.
std::int64_t TagId(const std::string& name) {
  return static_cast<std::int64_t>(std::stoull(Md5Hex("tag:" + name).substr(0, 7), nullptr, 16));
}

// A number as nlohmann writes it (shortest form that reads back the same).
std::string Number(double v) { return nlohmann::json(v).dump(); }

}  // namespace

void WriteMemberJson(JsonWriter& w, const Member& m, const Audience& a,
                     const std::set<std::string>* keys) {
  // Only the top-level keys asked for: a poll page projects members down to
  // a few fields, and writing the rest cost more than the whole answer.
  auto want = [keys](const char* key) { return keys == nullptr || keys->contains(key); };
  w.BeginObject();
  if (want("id")) w.Field("id", m.hash);
  if (want("email_address")) w.Field("email_address", m.email);
  if (want("unique_email_id")) w.Field("unique_email_id", m.unique_email_id);
  if (want("contact_id")) w.Field("contact_id", Md5Hex("contact:" + m.hash));
  if (want("full_name")) {
    std::string full_name = MergeString(m.merge_fields, "FNAME");
    const std::string lname = MergeString(m.merge_fields, "LNAME");
    if (!lname.empty()) full_name += (full_name.empty() ? "" : " ") + lname;
    w.Field("full_name", full_name);
  }
  if (want("web_id")) w.Field("web_id", m.web_id);
  if (want("email_type")) w.Field("email_type", m.email_type);
  if (want("status")) w.Field("status", StatusName(m.status));
  if (want("consents_to_one_to_one_messaging")) w.Field("consents_to_one_to_one_messaging", true);
  if (want("merge_fields")) w.Key("merge_fields").Raw(m.merge_fields.dump());
  if (want("interests")) {
    w.Key("interests").BeginObject();
    for (const auto& [id, on] : m.interests) w.Field(id, on);
    w.EndObject();
  }
  if (want("stats")) {
    w.Key("stats").BeginObject().Field("avg_click_rate", 0).Field("avg_open_rate", 0).EndObject();
  }
  if (want("ip_signup")) w.Field("ip_signup", m.ip_signup);
  if (want("timestamp_signup")) w.Field("timestamp_signup", m.timestamp_signup);
  if (want("ip_opt")) w.Field("ip_opt", m.ip_opt);
  if (want("timestamp_opt")) w.Field("timestamp_opt", m.timestamp_opt);
  if (want("member_rating")) w.Field("member_rating", 2);
  if (want("last_changed")) w.Field("last_changed", FormatIso(m.last_changed));
  if (want("language")) w.Field("language", m.language);
  if (want("vip")) w.Field("vip", m.vip);
  if (want("email_client")) w.Field("email_client", "");
  if (want("location")) {
    w.Key("location").BeginObject();
    w.Field("country_code", "").Field("dstoff", 0).Field("gmtoff", 0);
    w.Key("latitude").Raw(Number(m.location ? m.location->first : 0.0));
    w.Key("longitude").Raw(Number(m.location ? m.location->second : 0.0));
    w.Field("region", "").Field("timezone", "");
    w.EndObject();
  }
  if (want("marketing_permissions")) {
    w.Key("marketing_permissions").BeginArray();
    for (const MarketingPermissionDef& p : a.permissions()) {
      auto it = m.permissions.find(p.id);
      w.BeginObject();
      w.Field("enabled", it != m.permissions.end() && it->second);
      w.Field("marketing_permission_id", p.id);
      w.Field("text", p.text);
      w.EndObject();
    }
    w.EndArray();
  }
  if (want("source")) w.Field("source", m.source);
  if (want("tags_count")) w.Field("tags_count", static_cast<std::int64_t>(m.tags.size()));
  if (want("tags")) {
    w.Key("tags").BeginArray();
    for (const std::string& t : m.tags) {
      w.BeginObject().Field("id", TagId(t)).Field("name", t).EndObject();
    }
    w.EndArray();
  }
  if (want("list_id")) w.Field("list_id", a.list_id());
  if (want("_links")) w.Key("_links").BeginArray().EndArray();
  if (m.status == MemberStatus::kUnsubscribed && want("unsubscribe_reason")) {
    w.Field("unsubscribe_reason", m.unsubscribe_reason);
  }
  w.EndObject();
}

std::optional<std::string> MembersPageText(const std::vector<const Member*>& page,
                                           const Audience& a, std::size_t total_items,
                                           const std::vector<std::string>& fields,
                                           const std::vector<std::string>& exclude_fields) {
  if (!exclude_fields.empty()) return std::nullopt;
  static const std::set<std::string> kPageKeys = {"members", "list_id", "total_items", "_links"};
  std::set<std::string> page_keys;  // empty: all
  std::set<std::string> member_keys;
  bool whole_members = fields.empty();
  for (const std::string& f : fields) {
    if (f.starts_with("members.")) {
      const std::string key = f.substr(8);
      if (key.empty() || key.find('.') != std::string::npos) return std::nullopt;
      member_keys.insert(key);
      page_keys.insert("members");
    } else if (kPageKeys.contains(f)) {
      page_keys.insert(f);
      if (f == "members") whole_members = true;
    } else {
      return std::nullopt;  // another key (or a deeper path): the general path
    }
  }
  auto want = [&](const char* key) { return fields.empty() || page_keys.contains(key); };
  std::string out;
  out.reserve(64 + page.size() * (whole_members ? 1024 : 64 * (member_keys.size() + 1)));
  JsonWriter w(out);
  w.BeginObject();
  if (want("members")) {
    w.Key("members").BeginArray();
    for (const Member* m : page) WriteMemberJson(w, *m, a, whole_members ? nullptr : &member_keys);
    w.EndArray();
  }
  if (want("list_id")) w.Field("list_id", a.list_id());
  if (want("total_items")) w.Field("total_items", static_cast<std::int64_t>(total_items));
  if (want("_links")) w.Key("_links").BeginArray().EndArray();
  w.EndObject();
  return out;
}

const std::set<std::string>& BatchAnswerMemberKeys() {
  static const std::set<std::string> keys = {"_links",
                                             "contact_id",
                                             "email_address",
                                             "email_client",
                                             "email_type",
                                             "id",
                                             "interests",
                                             "ip_opt",
                                             "ip_signup",
                                             "language",
                                             "last_changed",
                                             "last_note",
                                             "list_id",
                                             "location",
                                             "member_rating",
                                             "merge_fields",
                                             "stats",
                                             "status",
                                             "tags",
                                             "tags_count",
                                             "timestamp_opt",
                                             "timestamp_signup",
                                             "unique_email_id",
                                             "vip"};
  return keys;
}

std::string BatchSubscribeBody(const std::vector<std::string>& created,
                               const std::vector<std::string>& updated,
                               const std::vector<BatchError>& errors) {
  std::size_t size = 512 + 256 * errors.size();
  for (const std::string& m : created) size += m.size() + 1;
  for (const std::string& m : updated) size += m.size() + 1;
  std::string out;
  out.reserve(size);
  JsonWriter w(out);
  w.BeginObject();
  w.Key("_links").BeginArray().EndArray();
  w.Field("error_count", static_cast<std::int64_t>(errors.size()));
  w.Key("errors").BeginArray();
  for (const BatchError& e : errors) {
    w.BeginObject();
    w.Field("email_address", e.email_address);
    w.Field("error", e.error);
    w.Field("error_code", e.error_code);
    w.Field("field", e.field);
    w.Field("field_message", e.field_message);
    w.EndObject();
  }
  w.EndArray();
  w.Key("new_members").BeginArray();
  for (const std::string& m : created) w.Raw(m);
  w.EndArray();
  w.Field("total_created", static_cast<std::int64_t>(created.size()));
  w.Field("total_updated", static_cast<std::int64_t>(updated.size()));
  w.Key("updated_members").BeginArray();
  for (const std::string& m : updated) w.Raw(m);
  w.EndArray();
  w.EndObject();
  return out;
}

}  // namespace consentd::sim::mailchimp
