#include "sim/hubspot/hubspot_answers.h"

#include <algorithm>
#include <array>
#include <optional>
#include <string_view>

namespace consentd::sim::hubspot {
namespace {

constexpr std::array<std::string_view, 6> kDefaultProperties = {
    "createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"};
constexpr std::array<std::string_view, 3> kAlwaysReturned = {"createdate", "hs_object_id",
                                                             "lastmodifieddate"};

}  // namespace

void WriteContact(JsonWriter& w, const Contact& c, const std::vector<std::string>& requested) {
  // Sorted and without repeats, as an object's keys (nlohmann's order).
  std::vector<std::string_view> names;
  if (requested.empty()) {
    names.assign(kDefaultProperties.begin(), kDefaultProperties.end());
  } else {
    names.assign(requested.begin(), requested.end());
    names.insert(names.end(), kAlwaysReturned.begin(), kAlwaysReturned.end());
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
  }
  w.BeginObject();
  w.Field("archived", c.archived);
  if (c.archived) w.Field("archivedAt", FormatTime(c.archived_at));
  w.Field("createdAt", FormatTime(c.created_at));
  w.Field("id", std::to_string(c.id));
  w.Key("properties").BeginObject();
  for (std::string_view n : names) {
    w.Key(n);
    const auto it = c.properties.find(std::string(n));
    if (it == c.properties.end()) {
      w.Null();
    } else {
      w.String(it->second);
    }
  }
  w.EndObject();
  w.Field("updatedAt", FormatTime(c.updated_at));
  w.EndObject();
}

void WriteStatus(JsonWriter& w, const Definition& d, const std::string& subscriber,
                 const SubscriptionStatus& s, const std::string& reason) {
  w.BeginObject();
  w.Field("businessUnitId", 0);
  w.Field("channel", d.channel);
  if (!s.legal_basis.empty()) w.Field("legalBasis", s.legal_basis);
  if (!s.legal_basis_explanation.empty()) {
    w.Field("legalBasisExplanation", s.legal_basis_explanation);
  }
  if (!reason.empty()) w.Field("setStatusSuccessReason", reason);
  w.Field("source", s.source.empty() ? std::string_view("NONE") : std::string_view(s.source));
  w.Field("status", s.state);
  w.Field("subscriberIdString", subscriber);
  w.Field("subscriptionId", d.id);
  w.Field("subscriptionName", d.name);
  w.Field("timestamp", FormatTime(s.timestamp));
  w.EndObject();
}

namespace {

// The list and search pages share one shape: {paging?, results, total?}.
std::string ContactPage(const std::vector<const Contact*>& contacts,
                        const std::vector<std::string>& requested, std::int64_t next,
                        std::optional<std::int64_t> total) {
  std::string out;
  out.reserve(256 + 512 * contacts.size());
  JsonWriter w(out);
  w.BeginObject();
  if (next != 0) {
    w.Key("paging").BeginObject();
    w.Key("next").BeginObject().Field("after", std::to_string(next)).EndObject();
    w.EndObject();
  }
  w.Key("results").BeginArray();
  for (const Contact* c : contacts) WriteContact(w, *c, requested);
  w.EndArray();
  if (total) w.Field("total", *total);
  w.EndObject();
  return out;
}

}  // namespace

std::string ContactsPageBody(const std::vector<const Contact*>& page,
                             const std::vector<std::string>& requested, std::int64_t next_after) {
  return ContactPage(page, requested, next_after, std::nullopt);
}

std::string SearchPageBody(const SearchPage& page, const std::vector<std::string>& requested,
                           std::int64_t next_offset) {
  return ContactPage(page.results, requested, next_offset, page.total);
}

std::string StatusesBatchReadBody(const Model& model, const std::string& channel,
                                  const std::vector<std::string>& subscribers, TimestampMs now) {
  const std::string stamp = FormatTime(now);
  const SubscriptionStatus kNotSpecified;
  std::string out;
  out.reserve(256 + 1024 * subscribers.size());
  JsonWriter w(out);
  w.BeginObject();
  w.Field("completedAt", stamp);
  w.Field("requestedAt", stamp);
  w.Key("results").BeginArray();
  for (const std::string& s : subscribers) {
    const std::string lower = Model::Lower(s);
    const auto* recorded = model.StatusesOf(channel, lower);
    w.BeginObject();
    w.Key("statuses").BeginArray();
    for (const Definition& d : model.definitions()) {
      if (d.channel != channel) continue;
      const SubscriptionStatus* status = &kNotSpecified;
      if (recorded != nullptr) {
        if (const auto it = recorded->find(d.id); it != recorded->end()) status = &it->second;
      }
      WriteStatus(w, d, lower, *status, "");
    }
    w.EndArray();
    w.Field("subscriberIdString", lower);
    w.EndObject();
  }
  w.EndArray();
  w.Field("startedAt", stamp);
  w.Field("status", "COMPLETE");
  w.EndObject();
  return out;
}

}  // namespace consentd::sim::hubspot
