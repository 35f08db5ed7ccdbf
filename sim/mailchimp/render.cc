#include "sim/mailchimp/render.h"

#include <map>

#include "sim/mailchimp/mc_time.h"
#include "sim/mailchimp/member_text.h"
#include "sim/mailchimp/subscriber_hash.h"

namespace consentd::sim::mailchimp {
namespace {

using nlohmann::json;

// Path tree of a projection: "members.email_address" → {members: {email_address: {}}}.
struct PathTree {
  std::map<std::string, PathTree> children;
};

PathTree BuildTree(const std::vector<std::string>& paths) {
  PathTree root;
  for (const std::string& p : paths) {
    PathTree* node = &root;
    size_t start = 0;
    while (start <= p.size()) {
      size_t dot = p.find('.', start);
      std::string part =
          p.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      if (part.empty()) break;
      node = &node->children[part];
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
  }
  return root;
}

json Keep(const json& doc, const PathTree& tree) {
  if (tree.children.empty()) return doc;
  if (doc.is_array()) {
    json out = json::array();
    for (const json& e : doc) out.push_back(Keep(e, tree));
    return out;
  }
  if (!doc.is_object()) return doc;
  json out = json::object();
  for (const auto& [key, sub] : tree.children) {
    auto it = doc.find(key);
    if (it != doc.end()) out[key] = Keep(*it, sub);
  }
  return out;
}

void Drop(json& doc, const PathTree& tree) {
  if (doc.is_array()) {
    for (json& e : doc) Drop(e, tree);
    return;
  }
  if (!doc.is_object()) return;
  for (const auto& [key, sub] : tree.children) {
    auto it = doc.find(key);
    if (it == doc.end()) continue;
    if (sub.children.empty()) {
      doc.erase(it);
    } else {
      Drop(*it, sub);
    }
  }
}

}  // namespace

json MemberJson(const Member& m, const Audience& a, const std::set<std::string>* keys) {
  std::string text;
  JsonWriter w(text);
  WriteMemberJson(w, m, a, keys);
  return json::parse(text);
}

json ListJson(const Audience& a, bool include_total_contacts) {
  int subscribed = 0, unsubscribed = 0, cleaned = 0;
  TimestampMs last_sub = 0, last_unsub = 0;
  const auto members = a.Members();
  for (const Member* m : members) {
    if (m->status == MemberStatus::kSubscribed) {
      ++subscribed;
      last_sub = std::max(last_sub, m->last_changed);
    } else if (m->status == MemberStatus::kUnsubscribed) {
      ++unsubscribed;
      last_unsub = std::max(last_unsub, m->last_changed);
    } else if (m->status == MemberStatus::kCleaned) {
      ++cleaned;
    }
  }
  json stats = {{"member_count", subscribed},
                {"unsubscribe_count", unsubscribed},
                {"cleaned_count", cleaned},
                {"member_count_since_send", subscribed},
                {"unsubscribe_count_since_send", unsubscribed},
                {"cleaned_count_since_send", cleaned},
                {"campaign_count", 0},
                {"campaign_last_sent", ""},
                {"merge_field_count", 2},
                {"avg_sub_rate", 0},
                {"avg_unsub_rate", 0},
                {"target_sub_rate", 0},
                {"open_rate", 0},
                {"click_rate", 0},
                {"last_sub_date", last_sub ? FormatIso(last_sub) : ""},
                {"last_unsub_date", last_unsub ? FormatIso(last_unsub) : ""}};
  if (include_total_contacts) stats["total_contacts"] = members.size();
  return {
      {"id", a.list_id()},
      {"web_id", 100001},
      {"name", "consentd-sim audience"},
      {"contact",
       {{"company", "consentd-sim"},
        {"address1", "1 Example Street"},
        {"address2", ""},
        {"city", "Berlin"},
        {"state", ""},
        {"zip", "10115"},
        {"country", "DE"},
        {"phone", ""}}},
      {"permission_reminder", "You signed up on our website."},
      {"use_archive_bar", false},
      {"campaign_defaults",
       {{"from_name", "consentd-sim"},
        {"from_email", "news@example.org"},
        {"subject", ""},
        {"language", "en"}}},
      {"notify_on_subscribe", ""},
      {"notify_on_unsubscribe", ""},
      {"date_created", FormatIso(a.date_created())},
      {"list_rating", 0},
      {"email_type_option", false},
      {"subscribe_url_short", "http://eepurl.com/sim"},
      {"subscribe_url_long", "https://example.us1.list-manage.com/subscribe?id=" + a.list_id()},
      {"beamer_address", ""},
      {"visibility", "prv"},
      {"double_optin", true},
      {"has_welcome", false},
      {"marketing_permissions", true},
      {"modules", json::array()},
      {"stats", stats},
      {"_links", json::array()},
  };
}

json CategoryJson(const InterestCategory& c, const Audience& a) {
  return {{"list_id", a.list_id()},           {"id", c.id},     {"title", c.title},
          {"display_order", c.display_order}, {"type", c.type}, {"_links", json::array()}};
}

json InterestJson(const Interest& i, const Audience& a) {
  int count = 0;
  for (const Member* m : a.Members()) {
    auto it = m->interests.find(i.id);
    if (m->status == MemberStatus::kSubscribed && it != m->interests.end() && it->second) ++count;
  }
  // Mailchimp types subscriber_count as a string.
  return {{"category_id", i.category_id},
          {"list_id", a.list_id()},
          {"id", i.id},
          {"name", i.name},
          {"subscriber_count", std::to_string(count)},
          {"display_order", i.display_order},
          {"_links", json::array()}};
}

json StateJson(const Audience& a) {
  json members = json::array();
  for (const Member* m : a.Members()) {
    json doc = MemberJson(*m, a);
    doc["_sim"] = {{"seq", m->seq},
                   {"status_before_archive", StatusName(m->status_before_archive)},
                   {"last_changed_ms", m->last_changed}};
    members.push_back(std::move(doc));
  }
  json categories = json::array();
  for (const InterestCategory& c : a.categories()) {
    json doc = CategoryJson(c, a);
    json interests = json::array();
    for (const Interest& i : a.interests()) {
      if (i.category_id == c.id) interests.push_back(InterestJson(i, a));
    }
    doc["interests"] = std::move(interests);
    categories.push_back(std::move(doc));
  }
  json permissions = json::array();
  for (const MarketingPermissionDef& p : a.permissions()) {
    permissions.push_back({{"marketing_permission_id", p.id}, {"text", p.text}});
  }
  json confirmations = json::array();
  for (const auto& [token, c] : a.confirmations()) {
    const Member* m = a.Find(c.hash);
    confirmations.push_back({{"token", token},
                             {"subscriber_hash", c.hash},
                             {"email_address", m ? m->email : ""},
                             {"created", FormatIso(c.created)}});
  }
  return {{"list", ListJson(a, true)},
          {"interest_categories", categories},
          {"marketing_permissions", permissions},
          {"members", members},
          {"forgotten", a.forgotten()},
          {"confirmations", confirmations}};
}

json Project(json doc, const std::vector<std::string>& fields,
             const std::vector<std::string>& exclude_fields) {
  if (!fields.empty()) doc = Keep(doc, BuildTree(fields));
  if (!exclude_fields.empty()) Drop(doc, BuildTree(exclude_fields));
  return doc;
}

}  // namespace consentd::sim::mailchimp
