// Save/restore of the simulated HubSpot portal for consentd-sim --state-file.
// Times are kept as integer milliseconds (exact), unlike the ISO rendering of
// /_sim/state.
#include <nlohmann/json.hpp>

#include "sim/hubspot/hubspot_model.h"
#include "sim/hubspot/hubspot_system.h"

namespace consentd::sim::hubspot {

using nlohmann::json;

json Model::SaveState() const {
  json contacts = json::array();
  for (const auto& [id, c] : contacts_) {
    contacts.push_back({{"id", id},
                        {"properties", c.properties},
                        {"createdAt", c.created_at},
                        {"updatedAt", c.updated_at},
                        {"archived", c.archived},
                        {"archivedAt", c.archived_at}});
  }
  json definitions = json::array();
  for (const auto& d : definitions_) {
    definitions.push_back({{"id", d.id},
                           {"name", d.name},
                           {"description", d.description},
                           {"purpose", d.purpose},
                           {"channel", d.channel},
                           {"isDefault", d.is_default}});
  }
  json statuses = json::array();
  for (const auto& [key, subs] : statuses_) {
    for (const auto& [id, s] : subs) {
      statuses.push_back({{"channel", key.first},
                          {"subscriber", key.second},
                          {"subscriptionId", id},
                          {"status", s.state},
                          {"legalBasis", s.legal_basis},
                          {"legalBasisExplanation", s.legal_basis_explanation},
                          {"source", s.source},
                          {"timestamp", s.timestamp}});
    }
  }
  json wide = json::array();
  for (const auto& [key, w] : wide_) {
    wide.push_back({{"channel", key.first},
                    {"subscriber", key.second},
                    {"unsubscribed", w.unsubscribed},
                    {"timestamp", w.timestamp}});
  }
  json merged = json::array();
  for (const auto& [from, to] : merged_into_) merged.push_back({from, to});
  return {{"nextId", next_id_},         {"contacts", contacts},    {"definitions", definitions},
          {"statuses", statuses},       {"unsubscribedAll", wide}, {"mergedInto", merged},
          {"gdprBlocklist", blocklist_}};
}

Status Model::LoadState(const json& state) {
  try {
    Reset();
    next_id_ = state.at("nextId").get<std::int64_t>();
    definitions_.clear();
    for (const json& d : state.at("definitions")) {
      definitions_.push_back({d.at("id").get<std::int64_t>(), d.at("name").get<std::string>(),
                              d.at("description").get<std::string>(),
                              d.at("purpose").get<std::string>(),
                              d.at("channel").get<std::string>(), d.at("isDefault").get<bool>()});
    }
    for (const json& j : state.at("contacts")) {
      Contact c;
      c.id = j.at("id").get<std::int64_t>();
      c.properties = j.at("properties").get<Properties>();
      c.created_at = j.at("createdAt").get<TimestampMs>();
      c.updated_at = j.at("updatedAt").get<TimestampMs>();
      c.archived = j.at("archived").get<bool>();
      c.archived_at = j.at("archivedAt").get<TimestampMs>();
      if (c.id >= next_id_)
        return InvalidArgument("contact id " + std::to_string(c.id) + " is not below nextId");
      // The times are authoritative; the ISO properties are their rendering
      // (the search compares the parsed times).
      c.properties["createdate"] = FormatTime(c.created_at);
      c.properties["lastmodifieddate"] = FormatTime(c.updated_at);
      if (c.archived) {
        archived_ids_.insert(c.id);
      } else {
        by_modified_.insert(ModifiedKey{c.updated_at, c.id});
        if (auto e = c.properties.find("email"); e != c.properties.end() && !e->second.empty()) {
          by_email_[e->second] = c.id;
        }
      }
      contacts_.emplace(c.id, std::move(c));
    }
    for (const json& j : state.at("statuses")) {
      SubscriptionStatus s;
      s.state = j.at("status").get<std::string>();
      s.legal_basis = j.at("legalBasis").get<std::string>();
      s.legal_basis_explanation = j.at("legalBasisExplanation").get<std::string>();
      s.source = j.at("source").get<std::string>();
      s.timestamp = j.at("timestamp").get<TimestampMs>();
      statuses_[{j.at("channel").get<std::string>(), j.at("subscriber").get<std::string>()}]
               [j.at("subscriptionId").get<std::int64_t>()] = s;
    }
    for (const json& j : state.at("unsubscribedAll")) {
      wide_[{j.at("channel").get<std::string>(), j.at("subscriber").get<std::string>()}] = {
          j.at("unsubscribed").get<bool>(), j.at("timestamp").get<TimestampMs>()};
    }
    for (const json& j : state.at("mergedInto")) {
      merged_into_[j.at(0).get<std::int64_t>()] = j.at(1).get<std::int64_t>();
    }
    blocklist_ = state.at("gdprBlocklist").get<std::set<std::string>>();
  } catch (const json::exception& e) {
    Reset();
    return InvalidArgument(std::string("hubspot state: ") + e.what());
  }
  return Status::Ok();
}

json HubSpotSystem::SaveState() const {
  return {{"model", model_.SaveState()},
          {"nextEventId", next_event_id_},
          {"webhookUrl", options_.webhook_url}};
}

Status HubSpotSystem::LoadState(const json& state) {
  if (!state.is_object()) return InvalidArgument("hubspot state: not an object");
  try {
    CONSENTD_RETURN_IF_ERROR(model_.LoadState(state.at("model")));
    next_event_id_ = state.at("nextEventId").get<std::int64_t>();
    if (options_.webhook_url.empty())
      options_.webhook_url = state.at("webhookUrl").get<std::string>();
  } catch (const json::exception& e) {
    return InvalidArgument(std::string("hubspot state: ") + e.what());
  }
  recent_requests_.clear();
  recent_searches_.clear();
  return Status::Ok();
}

}  // namespace consentd::sim::hubspot
