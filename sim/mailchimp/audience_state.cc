// Save/restore of the simulated Mailchimp audience and its webhook settings
// for consentd-sim --state-file.
#include <nlohmann/json.hpp>

#include "sim/mailchimp/audience.h"
#include "sim/mailchimp/mailchimp_sim.h"
#include "sim/mailchimp/webhooks.h"

namespace consentd::sim::mailchimp {

using nlohmann::json;

namespace {

json MemberToState(const Member& m) {
  json j = {{"email", m.email},
            {"hash", m.hash},
            {"uniqueEmailId", m.unique_email_id},
            {"webId", m.web_id},
            {"seq", m.seq},
            {"status", StatusName(m.status)},
            {"statusBeforeArchive", StatusName(m.status_before_archive)},
            {"emailType", m.email_type},
            {"mergeFields", m.merge_fields},
            {"interests", m.interests},
            {"permissions", m.permissions},
            {"ipSignup", m.ip_signup},
            {"ipOpt", m.ip_opt},
            {"timestampSignup", m.timestamp_signup},
            {"timestampOpt", m.timestamp_opt},
            {"language", m.language},
            {"vip", m.vip},
            {"tags", m.tags},
            {"location", nullptr},
            {"unsubscribeReason", m.unsubscribe_reason},
            {"source", m.source},
            {"lastChanged", m.last_changed}};
  if (m.location) j["location"] = {m.location->first, m.location->second};
  return j;
}

MemberStatus StatusFrom(const json& j) {
  auto s = ParseStatus(j.get<std::string>());
  if (!s) throw std::invalid_argument("unknown member status " + j.get<std::string>());
  return *s;
}

Member MemberFromState(const json& j) {
  Member m;
  m.email = j.at("email").get<std::string>();
  m.hash = j.at("hash").get<std::string>();
  m.unique_email_id = j.at("uniqueEmailId").get<std::string>();
  m.web_id = j.at("webId").get<std::int64_t>();
  m.seq = j.at("seq").get<std::int64_t>();
  m.status = StatusFrom(j.at("status"));
  m.status_before_archive = StatusFrom(j.at("statusBeforeArchive"));
  m.email_type = j.at("emailType").get<std::string>();
  m.merge_fields = j.at("mergeFields");
  m.interests = j.at("interests").get<std::map<std::string, bool>>();
  m.permissions = j.at("permissions").get<std::map<std::string, bool>>();
  m.ip_signup = j.at("ipSignup").get<std::string>();
  m.ip_opt = j.at("ipOpt").get<std::string>();
  m.timestamp_signup = j.at("timestampSignup").get<std::string>();
  m.timestamp_opt = j.at("timestampOpt").get<std::string>();
  m.language = j.at("language").get<std::string>();
  m.vip = j.at("vip").get<bool>();
  m.tags = j.at("tags").get<std::vector<std::string>>();
  if (const json& loc = j.at("location"); !loc.is_null()) {
    m.location = std::make_pair(loc.at(0).get<double>(), loc.at(1).get<double>());
  }
  m.unsubscribe_reason = j.at("unsubscribeReason").get<std::string>();
  m.source = j.at("source").get<std::string>();
  m.last_changed = j.at("lastChanged").get<TimestampMs>();
  return m;
}

}  // namespace

json Audience::SaveState() const {
  json categories = json::array();
  for (const auto& c : categories_) {
    categories.push_back(
        {{"id", c.id}, {"title", c.title}, {"type", c.type}, {"displayOrder", c.display_order}});
  }
  json interests = json::array();
  for (const auto& i : interests_) {
    interests.push_back({{"id", i.id},
                         {"categoryId", i.category_id},
                         {"name", i.name},
                         {"displayOrder", i.display_order}});
  }
  json permissions = json::array();
  for (const auto& p : permissions_) permissions.push_back({{"id", p.id}, {"text", p.text}});
  json members = json::array();
  for (const auto& [hash, m] : members_) members.push_back(MemberToState(m));
  json confirmations = json::array();
  for (const auto& [token, c] : confirmations_) {
    confirmations.push_back({{"token", c.token}, {"hash", c.hash}, {"created", c.created}});
  }
  return {{"listId", list_id_},
          {"dateCreated", date_created_},
          {"interestCategories", categories},
          {"interests", interests},
          {"marketingPermissions", permissions},
          {"members", members},
          {"forgotten", forgotten_},
          {"confirmations", confirmations},
          {"nextSeq", next_seq_},
          {"confirmationCounter", confirmation_counter_}};
}

std::optional<std::string> Audience::LoadState(const json& state) {
  try {
    Reset();
    if (state.at("listId").get<std::string>() != list_id_) {
      const std::string saved = state.at("listId").get<std::string>();
      Reset();
      return "mailchimp state: list id " + saved + " is not this audience's " + list_id_;
    }
    date_created_ = state.at("dateCreated").get<TimestampMs>();
    categories_.clear();
    for (const json& c : state.at("interestCategories")) {
      categories_.push_back({c.at("id").get<std::string>(), c.at("title").get<std::string>(),
                             c.at("type").get<std::string>(), c.at("displayOrder").get<int>()});
    }
    interests_.clear();
    for (const json& i : state.at("interests")) {
      interests_.push_back({i.at("id").get<std::string>(), i.at("categoryId").get<std::string>(),
                            i.at("name").get<std::string>(), i.at("displayOrder").get<int>()});
    }
    permissions_.clear();
    for (const json& p : state.at("marketingPermissions")) {
      permissions_.push_back({p.at("id").get<std::string>(), p.at("text").get<std::string>()});
    }
    members_.clear();
    for (const json& j : state.at("members")) {
      Member m = MemberFromState(j);
      std::string hash = m.hash;
      members_.emplace(std::move(hash), std::move(m));
    }
    ReindexChanged();
    forgotten_ = state.at("forgotten").get<std::set<std::string>>();
    confirmations_.clear();
    for (const json& c : state.at("confirmations")) {
      Confirmation conf{c.at("token").get<std::string>(), c.at("hash").get<std::string>(),
                        c.at("created").get<TimestampMs>()};
      std::string token = conf.token;
      confirmations_.emplace(std::move(token), std::move(conf));
    }
    next_seq_ = state.at("nextSeq").get<std::int64_t>();
    confirmation_counter_ = state.at("confirmationCounter").get<std::int64_t>();
  } catch (const std::exception& e) {
    Reset();
    return std::string("mailchimp state: ") + e.what();
  }
  return std::nullopt;
}

json MailchimpSim::SaveState() const {
  return {{"audience", audience_.SaveState()}, {"webhook", WebhookConfigJson(webhook_)}};
}

Status MailchimpSim::LoadState(const json& state) {
  if (!state.is_object() || !state.contains("audience") || !state.contains("webhook")) {
    return InvalidArgument("mailchimp state: 'audience' and 'webhook' are required");
  }
  if (auto err = audience_.LoadState(state["audience"])) return InvalidArgument(*err);
  WebhookConfig saved = webhook_;
  if (auto err = UpdateWebhookConfig(state["webhook"], saved)) {
    return InvalidArgument("mailchimp state: webhook: " + *err);
  }
  if (!options_.webhook_url.empty()) saved.url = options_.webhook_url;
  webhook_ = saved;
  webhook_log_.clear();
  return Status::Ok();
}

}  // namespace consentd::sim::mailchimp
