#include "sim/mailchimp/webhooks.h"

#include "sim/mailchimp/mc_time.h"

namespace consentd::sim::mailchimp {
namespace {

using nlohmann::json;

std::string MergeValue(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object()) {
    // Address merge fields are sent as "addr1  addr2  city  state  zip  country".
    std::string out;
    for (const char* k : {"addr1", "addr2", "city", "state", "zip", "country"}) {
      if (!out.empty()) out += "  ";
      auto it = v.find(k);
      if (it != v.end() && it->is_string()) out += it->get<std::string>();
    }
    return out;
  }
  return v.dump();
}

}  // namespace

json WebhookConfigJson(const WebhookConfig& c) {
  return {{"url", c.url},
          {"sources", {{"user", c.user}, {"admin", c.admin}, {"api", c.api}}},
          {"events",
           {{"subscribe", c.subscribe},
            {"unsubscribe", c.unsubscribe},
            {"profile", c.profile},
            {"cleaned", c.cleaned},
            {"upemail", c.upemail}}},
          {"max_attempts", c.max_attempts},
          {"first_retry_delay_ms", c.first_retry_delay_ms}};
}

std::optional<std::string> UpdateWebhookConfig(const json& body, WebhookConfig& c) {
  if (!body.is_object()) return "body must be a JSON object";
  WebhookConfig next = c;
  if (auto it = body.find("url"); it != body.end()) {
    if (!it->is_string()) return "url must be a string";
    next.url = it->get<std::string>();
  }
  struct Flag {
    const char* group;
    const char* name;
    bool* out;
  };
  const Flag flags[] = {{"sources", "user", &next.user},
                        {"sources", "admin", &next.admin},
                        {"sources", "api", &next.api},
                        {"events", "subscribe", &next.subscribe},
                        {"events", "unsubscribe", &next.unsubscribe},
                        {"events", "profile", &next.profile},
                        {"events", "cleaned", &next.cleaned},
                        {"events", "upemail", &next.upemail}};
  for (const Flag& f : flags) {
    auto g = body.find(f.group);
    if (g == body.end()) continue;
    if (!g->is_object()) return std::string(f.group) + " must be an object";
    auto it = g->find(f.name);
    if (it == g->end()) continue;
    if (!it->is_boolean()) return std::string(f.group) + "." + f.name + " must be a boolean";
    *f.out = it->get<bool>();
  }
  if (auto it = body.find("max_attempts"); it != body.end()) {
    if (!it->is_number_integer() || it->get<int>() < 1)
      return "max_attempts must be an integer >= 1";
    next.max_attempts = it->get<int>();
  }
  if (auto it = body.find("first_retry_delay_ms"); it != body.end()) {
    if (!it->is_number_integer() || it->get<std::int64_t>() < 0)
      return "first_retry_delay_ms must be an integer >= 0";
    next.first_retry_delay_ms = it->get<std::int64_t>();
  }
  c = next;
  return std::nullopt;
}

std::string_view EventTypeName(MemberEvent::Kind kind) {
  switch (kind) {
    case MemberEvent::Kind::kSubscribe:
      return "subscribe";
    case MemberEvent::Kind::kUnsubscribe:
      return "unsubscribe";
    case MemberEvent::Kind::kProfile:
      return "profile";
    case MemberEvent::Kind::kUpEmail:
      return "upemail";
    case MemberEvent::Kind::kCleaned:
      return "cleaned";
  }
  return "profile";
}

bool ShouldNotify(const MemberEvent& e, const WebhookConfig& c) {
  if (c.url.empty()) return false;
  const bool source_on = e.source == Source::kUser    ? c.user
                         : e.source == Source::kAdmin ? c.admin
                                                      : c.api;
  if (!source_on) return false;
  switch (e.kind) {
    case MemberEvent::Kind::kSubscribe:
      return c.subscribe;
    case MemberEvent::Kind::kUnsubscribe:
      return c.unsubscribe;
    case MemberEvent::Kind::kProfile:
      return c.profile;
    case MemberEvent::Kind::kUpEmail:
      return c.upemail;
    case MemberEvent::Kind::kCleaned:
      return c.cleaned;
  }
  return false;
}

std::vector<std::pair<std::string, std::string>> WebhookFields(const MemberEvent& e,
                                                               const Audience& audience,
                                                               TimestampMs fired_at) {
  const Member& m = e.member;
  std::vector<std::pair<std::string, std::string>> f;
  f.emplace_back("type", EventTypeName(e.kind));
  f.emplace_back("fired_at", FormatFiredAt(fired_at));
  auto merges = [&] {
    f.emplace_back("data[merges][EMAIL]", m.email);
    for (auto it = m.merge_fields.begin(); it != m.merge_fields.end(); ++it) {
      f.emplace_back("data[merges][" + it.key() + "]", MergeValue(it.value()));
    }
    std::string names;
    for (const Interest& i : audience.interests()) {
      auto on = m.interests.find(i.id);
      if (on == m.interests.end() || !on->second) continue;
      if (!names.empty()) names += ", ";
      names += i.name;
    }
    f.emplace_back("data[merges][INTERESTS]", names);
  };
  switch (e.kind) {
    case MemberEvent::Kind::kSubscribe:
    case MemberEvent::Kind::kProfile:
    case MemberEvent::Kind::kUnsubscribe:
      if (e.kind == MemberEvent::Kind::kUnsubscribe) {
        f.emplace_back("data[action]", e.action);
        f.emplace_back("data[reason]", e.reason);
      }
      f.emplace_back("data[id]", m.unique_email_id);
      f.emplace_back("data[list_id]", audience.list_id());
      f.emplace_back("data[email]", m.email);
      f.emplace_back("data[email_type]", m.email_type);
      f.emplace_back("data[web_id]", std::to_string(m.web_id));
      merges();
      f.emplace_back("data[ip_opt]", m.ip_opt);
      if (e.kind == MemberEvent::Kind::kSubscribe) f.emplace_back("data[ip_signup]", m.ip_signup);
      if (e.kind == MemberEvent::Kind::kUnsubscribe)
        f.emplace_back("data[campaign_id]", e.campaign_id);
      break;
    case MemberEvent::Kind::kUpEmail:
      f.emplace_back("data[list_id]", audience.list_id());
      f.emplace_back("data[new_id]", m.unique_email_id);
      f.emplace_back("data[new_email]", m.email);
      f.emplace_back("data[old_email]", e.old_email);
      break;
    case MemberEvent::Kind::kCleaned:
      f.emplace_back("data[list_id]", audience.list_id());
      f.emplace_back("data[campaign_id]", e.campaign_id);
      f.emplace_back("data[reason]", e.reason);
      f.emplace_back("data[email]", m.email);
      break;
  }
  return f;
}

OutgoingWebhook BuildWebhook(const MemberEvent& e, const Audience& audience,
                             const WebhookConfig& config, TimestampMs fired_at) {
  OutgoingWebhook w;
  w.url = config.url;
  w.content_type = "application/x-www-form-urlencoded";
  w.headers = {{"User-Agent", "MailChimp"}};
  w.body = FormEncode(WebhookFields(e, audience, fired_at));
  w.max_attempts = config.max_attempts;
  w.first_retry_delay_ms = config.first_retry_delay_ms;
  return w;
}

}  // namespace consentd::sim::mailchimp
