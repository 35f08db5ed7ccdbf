// HubSpot connector: construction, Check and webhook parsing.
#include <algorithm>
#include <charconv>
#include <set>
#include <string>

#include "connectors/common/webhook_signatures.h"
#include "connectors/hubspot/hubspot_internal.h"
#include "core/normalise.h"
#include "mapping/policy.h"

namespace consentd::connectors {

std::unique_ptr<Connector> MakeHubSpotConnector(HubSpotSettings s,
                                                std::shared_ptr<const mapping::MappingSpec> spec,
                                                HttpClient& http) {
  return std::make_unique<hubspot_internal::HubSpotConnector>(std::move(s), std::move(spec), http);
}

namespace hubspot_internal {

HubSpotConnector::HubSpotConnector(HubSpotSettings s,
                                   std::shared_ptr<const mapping::MappingSpec> spec,
                                   HttpClient& http)
    : settings_(std::move(s)),
      spec_(std::move(spec)),
      http_(http),
      mapper_(*spec_, settings_.name),
      mapping_hash_(mapping::MappingHash(*spec_)) {
  for (const mapping::TopicSpec& t : spec_->topics) {
    auto b = t.bindings.find(settings_.name);
    if (b == t.bindings.end()) continue;
    for (const auto& [channel, id] : b->second.subscriptions) {
      mapped_ids_.insert(id);
      if (std::string native = spec_->NativeChannel(channel, settings_.name); !native.empty()) {
        status_channels_.insert(native);
      }
    }
  }
  for (const mapping::BlockSpec& b : spec_->blocks) {
    auto side = b.sides.find(settings_.name);
    if (side == b.sides.end()) continue;
    if (b.scope == BlockScope::Kind::kChannel && side->second.unsubscribe_all) {
      for (const auto& [channel, c] : spec_->channels) {
        if (auto n = c.native.find(settings_.name); n != c.native.end()) {
          wide_channels_.insert(n->second);
        }
      }
    } else if (!side->second.property.empty()) {
      block_properties_.insert(side->second.property);
    }
  }
}

int HubSpotConnector::max_batch() const {
  return settings_.batch_size > 0 ? std::min(settings_.batch_size, kApiBatchLimit) : kApiBatchLimit;
}

Status HubSpotConnector::Check() {
  try {
    return CheckImpl();
  } catch (const json::exception& e) {
    return Unavailable(std::string("HubSpot definitions: unexpected answer: ") + e.what());
  }
}

Result<std::vector<NativeTopic>> HubSpotConnector::Definitions() const {
  CallResult r = Call("GET", "/communication-preferences/v4/definitions", nullptr);
  if (!r.ok()) {
    if (r.error.status.code() == StatusCode::kUnauthenticated) {
      return Unauthenticated("HubSpot rejected the access token of connector '" + settings_.name +
                             "' (401)");
    }
    return r.error.status;
  }
  std::vector<NativeTopic> out;
  const json& results = ArrayAt(r.reply->body, "results");
  for (const json& d : results) {
    if (!d.is_object() || !d.contains("id")) continue;
    const json& id = d["id"];
    std::int64_t n = 0;
    if (id.is_number_integer()) {
      n = id.get<std::int64_t>();
    } else if (id.is_string()) {
      const std::string text = id.get<std::string>();
      auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
      if (ec != std::errc() || p != text.data() + text.size()) continue;
    }
    if (!BoolAt(d, "isActive", true)) continue;
    out.push_back({std::to_string(n), StringAt(d, "name"), StringAt(d, "communicationMethod"),
                   mapped_ids_.contains(n)});
  }
  return out;
}

Result<std::vector<NativeTopic>> HubSpotConnector::ListNativeTopics() {
  try {
    return Definitions();
  } catch (const json::exception& e) {
    return Unavailable(std::string("HubSpot definitions: unexpected answer: ") + e.what());
  }
}

Status HubSpotConnector::CheckImpl() {
  Result<std::vector<NativeTopic>> definitions = Definitions();
  if (!definitions.ok()) return definitions.status();
  // id -> communicationMethod (channel)
  std::map<std::string, std::string> defined;
  for (const NativeTopic& d : *definitions) defined[d.id] = d.channel;
  for (const mapping::TopicSpec& t : spec_->topics) {
    auto b = t.bindings.find(settings_.name);
    if (b == t.bindings.end()) continue;
    for (const auto& [channel, id] : b->second.subscriptions) {
      auto it = defined.find(std::to_string(id));
      if (it == defined.end()) {
        return FailedPrecondition("HubSpot has no active subscription type " + std::to_string(id) +
                                  " (topic '" + t.name + "', channel " + channel + ")");
      }
      const std::string native = spec_->NativeChannel(channel, settings_.name);
      if (!it->second.empty() && !native.empty() && it->second != native) {
        return FailedPrecondition("HubSpot subscription type " + std::to_string(id) + " (topic '" +
                                  t.name + "') is on channel " + it->second +
                                  ", the mapping says " + native);
      }
    }
  }
  return Status::Ok();
}

namespace {

std::string IdText(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  // Ids above INT64_MAX are unsigned in nlohmann's model: read as signed,
  // they would come out negative and name another record.
  if (v.is_number_unsigned()) return std::to_string(v.get<std::uint64_t>());
  if (v.is_number_integer()) return std::to_string(v.get<std::int64_t>());
  return {};
}

// A field's text, or "" when it is absent, null or not a string
// (nlohmann's value() throws on a present null).
std::string StringField(const json& e, const char* key) {
  auto it = e.find(key);
  return it != e.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// An id field's text, or "" when it is absent, null or not an id.
std::string IdField(const json& e, const char* key) {
  auto it = e.find(key);
  return it != e.end() ? IdText(*it) : std::string();
}

// The event types a ref is made of (after object.* of contacts is renamed);
// every other event is skipped whatever its shape.
const std::set<std::string, std::less<>> kContactEvents = {
    "contact.creation",        "contact.restore", "contact.deletion",
    "contact.privacyDeletion", "contact.merge",   "contact.propertyChange"};

// The inbox key of an event. HubSpot documents eventId as "not guaranteed
// to be unique", and a retry of one notification repeats every field but
// attemptNumber; so the key is the eventId with the fields that name the
// notification: two events sharing an eventId are both kept, a retry is
// still a duplicate.
std::string InboxEventId(const json& e, const std::string& event_id, const std::string& object_id) {
  return event_id + ":" + IdField(e, "subscriptionId") + ":" + object_id + ":" +
         IdField(e, "occurredAt") + ":" + StringField(e, "propertyName");
}

}  // namespace

Result<std::vector<RecordRef>> HubSpotConnector::ParseWebhook(const net::HttpRequest& req,
                                                              std::string_view public_url,
                                                              TimestampMs now) const {
  auto signature = req.Header("X-HubSpot-Signature-v3");
  auto timestamp = req.Header("X-HubSpot-Request-Timestamp");
  if (!signature || !timestamp) {
    return Unauthenticated("HubSpot webhook without X-HubSpot-Signature-v3 / timestamp");
  }
  if (Status s = HubSpotVerifyV3(settings_.client_secret, req.method, public_url, req.body,
                                 *signature, *timestamp, now);
      !s.ok()) {
    return Unauthenticated("HubSpot webhook signature rejected: " + s.message());
  }
  return ParseEvents(req.body, now);
}

Result<std::vector<RecordRef>> HubSpotConnector::ParseWebhookUnverified(std::string_view body,
                                                                        TimestampMs now) const {
  return ParseEvents(body, now);
}

Result<std::vector<RecordRef>> HubSpotConnector::ParseEvents(std::string_view body,
                                                             TimestampMs now) const {
  const json events = json::parse(body, nullptr, false);
  if (events.is_discarded()) return InvalidArgument("HubSpot webhook body is not JSON");
  if (!events.is_array()) return InvalidArgument("HubSpot webhook body is not a JSON array");
  std::vector<RecordRef> refs;
  try {
    for (size_t i = 0; i < events.size(); ++i) {
      const json& e = events[i];
      const std::string where = "HubSpot webhook event " + std::to_string(i);
      if (!e.is_object()) return InvalidArgument(where + " is not an object");
      // The type first: an app's subscriptions share one target URL, and
      // events consentd does not read (associations, other objects) need
      // not have the fields of a contact event; refusing the batch for
      // them would refuse its contact events with it, at every retry.
      std::string type = StringField(e, "subscriptionType");
      // Apps subscribed through the generic object events get "object.*"
      // with the object type's id; contacts are "0-1" and carry the same
      // fields as the contact.* events.
      if (type.starts_with("object.")) {
        if (IdField(e, "objectTypeId") != "0-1") continue;
        type = "contact." + type.substr(7);
      }
      if (!kContactEvents.contains(type)) continue;
      const std::string event_id = IdField(e, "eventId");
      const std::string object_id = IdField(e, "objectId");
      if (event_id.empty()) return InvalidArgument(where + ": eventId missing or not a number");
      if (object_id.empty()) return InvalidArgument(where + ": objectId missing or not a number");
      RecordRef ref;
      ref.event_id = InboxEventId(e, event_id, object_id);
      ref.system_id = object_id;
      ref.occurred_at =
          e.contains("occurredAt") ? ParseHubSpotTime(e["occurredAt"]).value_or(now) : now;
      if (type == "contact.creation" || type == "contact.restore") {
        ref.hint = RecordHint::kChanged;
      } else if (type == "contact.deletion") {
        ref.hint = RecordHint::kDeleted;
      } else if (type == "contact.privacyDeletion") {
        ref.hint = RecordHint::kPrivacyDeletion;
      } else if (type == "contact.merge") {
        ref.hint = RecordHint::kMerged;
        // The record the merge resulted in is newObjectId; HubSpot may give
        // it an id of its own, and then the primary's id is merged away too.
        const std::string primary = IdField(e, "primaryObjectId");
        const std::string result = IdField(e, "newObjectId");
        if (!result.empty()) {
          ref.system_id = result;
        } else if (!primary.empty()) {
          ref.system_id = primary;
        }
        auto merged_away = [&](std::string id) {
          if (!id.empty() && id != ref.system_id &&
              std::find(ref.merged_ids.begin(), ref.merged_ids.end(), id) == ref.merged_ids.end()) {
            ref.merged_ids.push_back(std::move(id));
          }
        };
        merged_away(primary);
        if (auto merged = e.find("mergedObjectIds"); merged != e.end() && merged->is_array()) {
          for (const json& m : *merged) merged_away(IdText(m));
        }
      } else if (type == "contact.propertyChange") {
        const std::string property = StringField(e, "propertyName");
        if (property == "email") {
          ref.hint = RecordHint::kEmailChanged;
          const std::string value = StringField(e, "propertyValue");  // null: the address cleared
          if (auto email = NormaliseEmail(value); email.ok()) ref.email = *email;
        } else if (property.find("_optout") == std::string::npos &&
                   !block_properties_.contains(property)) {
          continue;  // firstname and the like: nothing about consent
        }
      }
      refs.push_back(std::move(ref));
    }
  } catch (const json::exception& e) {
    return InvalidArgument(std::string("HubSpot webhook event of an unexpected shape: ") +
                           e.what());
  }
  return refs;
}

}  // namespace hubspot_internal
}  // namespace consentd::connectors
