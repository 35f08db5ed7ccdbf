#include "sim/hubspot/hubspot_model.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <ctime>
#include <nlohmann/json.hpp>

namespace consentd::sim::hubspot {

using nlohmann::json;

std::string FormatTime(TimestampMs ms) {
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[128];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000));
  return buf;
}

std::optional<TimestampMs> ParseTime(const std::string& text) {
  TimestampMs ms = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), ms);
  if (ec == std::errc() && p == text.data() + text.size()) return ms;
  std::tm tm{};
  int millis = 0;
  char tail[8] = {0};
  int n = std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3d%7s", &tm.tm_year, &tm.tm_mon,
                      &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &millis, tail);
  if (n < 6) {
    n = std::sscanf(text.c_str(), "%4d-%2d-%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday);
    if (n != 3 || text.size() != 10) return std::nullopt;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<TimestampMs>(timegm(&tm)) * 1000 + millis;
}

Model::Model(const Clock& clock, std::string block_property)
    : clock_(clock), block_property_(std::move(block_property)) {
  Reset();
}

void Model::Reset() {
  // A fixed set of subscription types ("Themen"), so that a mapping can name them.
  definitions_ = {
      {101, "Newsletter", "Monthly newsletter", "Marketing", "EMAIL", true},
      {102, "Product updates", "News about products and features", "Marketing", "EMAIL", false},
      {103, "Events", "Invitations to events and webinars", "Marketing", "EMAIL", false},
      {201, "SMS offers", "Offers by text message", "Marketing", "SMS", true},
      {301, "WhatsApp news", "News on WhatsApp", "Marketing", "WHATSAPP", true},
  };
  next_id_ = 1001;
  contacts_.clear();
  merged_into_.clear();
  by_email_.clear();
  by_modified_.clear();
  archived_ids_.clear();
  blocklist_.clear();
  failing_reads_.clear();
  statuses_.clear();
  wide_.clear();
  events_.clear();
}

std::string Model::Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Model::OptOutProperty(const std::string& channel, std::int64_t id) {
  return GlobalOptOutProperty(channel) + "_" + std::to_string(id);
}

std::string Model::GlobalOptOutProperty(const std::string& channel) {
  return "hs_" + Lower(channel) + "_optout";
}

bool Model::Watched(const std::string& p) const {
  // The properties the simulated app subscribes to (contact.propertyChange).
  return p == block_property_ || p == "email" || p == "firstname" || p == "lastname" ||
         p.find("_optout") != std::string::npos;
}

void Model::Emit(ChangeEvent e) { events_.push_back(std::move(e)); }

std::vector<ChangeEvent> Model::TakeEvents() {
  std::vector<ChangeEvent> out;
  out.swap(events_);
  return out;
}

void Model::SetProperty(Contact& c, const std::string& name, const std::string& value,
                        const Actor& actor, TimestampMs now) {
  auto it = c.properties.find(name);
  if (it != c.properties.end() && it->second == value) return;
  c.properties[name] = value;
  if (Watched(name)) {
    Emit({"contact.propertyChange",
          c.id,
          name,
          value,
          actor.change_source,
          actor.source_id,
          now,
          {},
          0});
  }
}

void Model::SetReadFailing(const std::string& subscriber, bool failing) {
  if (failing) {
    failing_reads_.insert(Lower(subscriber));
  } else {
    failing_reads_.erase(Lower(subscriber));
  }
}

bool Model::IsBlocklisted(const std::string& email) const {
  return blocklist_.count(Lower(email)) > 0;
}

Result<Contact*> Model::Create(const Properties& props, const Actor& actor) {
  auto email_it = props.find("email");
  if (email_it != props.end() && !email_it->second.empty()) {
    if (IsBlocklisted(email_it->second)) {
      return FailedPrecondition("the address " + email_it->second +
                                " was permanently deleted (GDPR) and cannot be re-created");
    }
    if (Contact* existing = FindByEmail(email_it->second)) {
      return AlreadyExists("Contact already exists. Existing ID: " + std::to_string(existing->id));
    }
  }
  const TimestampMs now = clock_.NowMs();
  Contact c;
  c.id = next_id_++;
  c.created_at = c.updated_at = now;
  for (const auto& [k, v] : props) c.properties[k] = k == "email" ? Lower(v) : v;
  c.properties["hs_object_id"] = std::to_string(c.id);
  c.properties["createdate"] = c.properties["lastmodifieddate"] = FormatTime(now);
  auto [it, inserted] = contacts_.emplace(c.id, std::move(c));
  Contact& stored = it->second;
  by_modified_.insert(ModifiedKey{stored.updated_at, stored.id});
  Emit({"contact.creation", stored.id, "", "", actor.change_source, actor.source_id, now, {}, 0});
  // Opt-out properties reflect statuses recorded before the contact existed.
  if (auto e = stored.properties.find("email"); e != stored.properties.end()) {
    by_email_[e->second] = stored.id;
    if (auto subs_it = statuses_.find({"EMAIL", e->second}); subs_it != statuses_.end()) {
      for (const auto& [id, s] : subs_it->second) {
        if (s.state != "NOT_SPECIFIED") {
          stored.properties[OptOutProperty("EMAIL", id)] =
              s.state == "UNSUBSCRIBED" ? "true" : "false";
        }
      }
    }
    if (GetWide("EMAIL", e->second).unsubscribed) stored.properties["hs_email_optout"] = "true";
  }
  return &stored;
}

Contact* Model::Find(std::int64_t id, bool include_archived) {
  for (int hops = 0; hops < 16; ++hops) {
    auto m = merged_into_.find(id);
    if (m == merged_into_.end()) break;
    id = m->second;
  }
  auto it = contacts_.find(id);
  if (it == contacts_.end() || (it->second.archived && !include_archived)) return nullptr;
  return &it->second;
}

void Model::Touch(Contact& c, TimestampMs now) {
  if (!c.archived) {
    by_modified_.erase(ModifiedKey{c.updated_at, c.id});
    by_modified_.insert(ModifiedKey{now, c.id});
  }
  c.updated_at = now;
  c.properties["lastmodifieddate"] = FormatTime(now);
}

void Model::Unindex(const Contact& c) {
  auto e = c.properties.find("email");
  if (e == c.properties.end()) return;
  auto it = by_email_.find(e->second);
  if (it != by_email_.end() && it->second == c.id) by_email_.erase(it);
}

Contact* Model::FindByEmail(const std::string& email, bool include_archived) {
  const std::string e = Lower(email);
  if (!include_archived) {
    auto it = by_email_.find(e);
    return it == by_email_.end() ? nullptr : &contacts_.at(it->second);
  }
  for (auto& [id, c] : contacts_) {
    if (c.archived && !include_archived) continue;
    auto it = c.properties.find("email");
    if (it != c.properties.end() && it->second == e) return &c;
  }
  return nullptr;
}

Contact* Model::FindByPhone(const std::string& phone) {
  for (auto& [id, c] : contacts_) {
    if (c.archived) continue;
    for (const char* p : {"phone", "mobilephone"}) {
      auto it = c.properties.find(p);
      if (it != c.properties.end() && it->second == phone) return &c;
    }
  }
  return nullptr;
}

void Model::Update(Contact& c, const Properties& props, const Actor& actor) {
  const TimestampMs now = clock_.NowMs();
  bool changed = false;
  for (const auto& [k, v] : props) {
    const std::string value = k == "email" ? Lower(v) : v;
    auto it = c.properties.find(k);
    if (it != c.properties.end() && it->second == value) continue;
    if (k == "email") {
      Unindex(c);
      if (!value.empty()) by_email_[value] = c.id;
    }
    SetProperty(c, k, value, actor, now);
    changed = true;
  }
  if (changed) Touch(c, now);
}

void Model::Archive(Contact& c, const Actor& actor) {
  const TimestampMs now = clock_.NowMs();
  Unindex(c);
  by_modified_.erase(ModifiedKey{c.updated_at, c.id});
  archived_ids_.insert(c.id);
  c.archived = true;
  c.archived_at = now;
  Emit({"contact.deletion", c.id, "", "", actor.change_source, actor.source_id, now, {}, 0});
}

void Model::GdprDelete(Contact& c, const Actor& actor) {
  const TimestampMs now = clock_.NowMs();
  const std::int64_t id = c.id;
  Unindex(c);
  if (auto e = c.properties.find("email"); e != c.properties.end()) {
    blocklist_.insert(e->second);
    statuses_.erase({"EMAIL", e->second});
    wide_.erase({"EMAIL", e->second});
  }
  by_modified_.erase(ModifiedKey{c.updated_at, id});
  archived_ids_.erase(id);
  contacts_.erase(id);
  for (auto it = merged_into_.begin(); it != merged_into_.end();) {
    it = it->second == id ? merged_into_.erase(it) : std::next(it);
  }
  Emit({"contact.privacyDeletion", id, "", "", "GDPR", actor.source_id, now, {}, 0});
}

Contact* Model::Merge(Contact& primary, Contact& merged, const Actor& actor) {
  const TimestampMs now = clock_.NowMs();
  Properties fill;
  for (const auto& [k, v] : merged.properties) {
    if (k == "hs_object_id" || k == "createdate" || k == "lastmodifieddate") continue;
    auto it = primary.properties.find(k);
    if (it == primary.properties.end() || it->second.empty()) fill[k] = v;
  }
  const std::int64_t merged_id = merged.id;
  Unindex(merged);
  by_modified_.erase(ModifiedKey{merged.updated_at, merged_id});
  contacts_.erase(merged_id);
  merged_into_[merged_id] = primary.id;
  for (auto& [from, to] : merged_into_) {
    if (to == merged_id) to = primary.id;
  }
  Update(primary, fill, actor);
  Touch(primary, now);
  ChangeEvent e{"contact.merge", primary.id, "",          "",        actor.change_source,
                actor.source_id, now,        {merged_id}, primary.id};
  Emit(std::move(e));
  return &primary;
}

const Definition* Model::FindDefinition(std::int64_t id) const {
  for (const auto& d : definitions_) {
    if (d.id == id) return &d;
  }
  return nullptr;
}

SubscriptionStatus Model::GetStatus(const std::string& channel, const std::string& subscriber,
                                    std::int64_t id) const {
  auto it = statuses_.find({channel, Lower(subscriber)});
  if (it == statuses_.end()) return {};
  auto s = it->second.find(id);
  return s == it->second.end() ? SubscriptionStatus{} : s->second;
}

const std::map<std::int64_t, SubscriptionStatus>* Model::StatusesOf(
    const std::string& channel, const std::string& lower_subscriber) const {
  auto it = statuses_.find({channel, lower_subscriber});
  return it == statuses_.end() ? nullptr : &it->second;
}

WideStatus Model::GetWide(const std::string& channel, const std::string& subscriber) const {
  auto it = wide_.find({channel, Lower(subscriber)});
  return it == wide_.end() ? WideStatus{} : it->second;
}

Contact* Model::ContactForSubscriber(const std::string& channel, const std::string& subscriber,
                                     const Actor& actor) {
  if (channel != "EMAIL") return FindByPhone(subscriber);
  if (Contact* c = FindByEmail(subscriber)) return c;
  // HubSpot creates a contact for an address it gets a status for.
  auto created = Create({{"email", subscriber}}, actor);
  return created.ok() ? created.value() : nullptr;
}

std::string Model::SetStatus(const std::string& channel, const std::string& subscriber_in,
                             std::int64_t id, const std::string& state,
                             const std::string& legal_basis, const std::string& explanation,
                             const Actor& actor) {
  const std::string subscriber = Lower(subscriber_in);
  const TimestampMs now = clock_.NowMs();
  // The contact first: a new contact must see the change as a change.
  Contact* c = ContactForSubscriber(channel, subscriber, actor);
  SubscriptionStatus& s = statuses_[{channel, subscriber}][id];
  WideStatus& wide = wide_[{channel, subscriber}];
  std::string reason = "REQUESTED_CHANGE_OCCURRED";
  const bool resubscribe =
      state == "SUBSCRIBED" && (wide.unsubscribed || s.state == "UNSUBSCRIBED");
  if (s.state == state && !(state == "SUBSCRIBED" && wide.unsubscribed)) {
    reason = "NO_STATUS_CHANGE";
  } else if (resubscribe) {
    reason = "RESUBSCRIBE_OCCURRED";
  }
  s.state = state;
  if (!legal_basis.empty()) s.legal_basis = legal_basis;
  if (!explanation.empty()) s.legal_basis_explanation = explanation;
  s.source = actor.status_source;
  s.timestamp = now;
  if (state == "SUBSCRIBED" && wide.unsubscribed) {
    wide = {false, now};
    if (c) SetProperty(*c, GlobalOptOutProperty(channel), "false", actor, now);
  }
  if (c && reason != "NO_STATUS_CHANGE") {
    SetProperty(*c, OptOutProperty(channel, id), state == "UNSUBSCRIBED" ? "true" : "false", actor,
                now);
    Touch(*c, now);
  }
  return reason;
}

void Model::UnsubscribeAll(const std::string& channel, const std::string& subscriber_in,
                           const Actor& actor) {
  const std::string subscriber = Lower(subscriber_in);
  const TimestampMs now = clock_.NowMs();
  Contact* c = ContactForSubscriber(channel, subscriber, actor);
  auto& subs = statuses_[{channel, subscriber}];
  for (const auto& d : definitions_) {
    if (d.channel != channel) continue;
    SubscriptionStatus& s = subs[d.id];
    if (s.state == "UNSUBSCRIBED") continue;
    s.state = "UNSUBSCRIBED";
    s.source = actor.status_source;
    s.timestamp = now;
    if (c) SetProperty(*c, OptOutProperty(channel, d.id), "true", actor, now);
  }
  wide_[{channel, subscriber}] = {true, now};
  if (c) {
    SetProperty(*c, GlobalOptOutProperty(channel), "true", actor, now);
    Touch(*c, now);
  }
}

json Model::ToJson() const {
  json contacts = json::array();
  for (const auto& [id, c] : contacts_) {
    contacts.push_back({{"id", std::to_string(id)},
                        {"properties", c.properties},
                        {"createdAt", FormatTime(c.created_at)},
                        {"updatedAt", FormatTime(c.updated_at)},
                        {"archived", c.archived}});
  }
  json statuses = json::array();
  for (const auto& [key, subs] : statuses_) {
    for (const auto& [id, s] : subs) {
      statuses.push_back({{"channel", key.first},
                          {"subscriberIdString", key.second},
                          {"subscriptionId", id},
                          {"status", s.state},
                          {"legalBasis", s.legal_basis},
                          {"legalBasisExplanation", s.legal_basis_explanation},
                          {"source", s.source},
                          {"timestamp", FormatTime(s.timestamp)}});
    }
  }
  json wide = json::array();
  for (const auto& [key, w] : wide_) {
    if (w.unsubscribed) {
      wide.push_back({{"channel", key.first},
                      {"subscriberIdString", key.second},
                      {"timestamp", FormatTime(w.timestamp)}});
    }
  }
  json merged = json::object();
  for (const auto& [from, to] : merged_into_) merged[std::to_string(from)] = std::to_string(to);
  return {{"contacts", contacts},
          {"subscriptionStatuses", statuses},
          {"unsubscribedFromAll", wide},
          {"mergedInto", merged},
          {"gdprBlocklist", blocklist_}};
}

}  // namespace consentd::sim::hubspot
