// consentd-sim's control API for the HubSpot side (/_sim/hubspot/...) and
// the webhooks it sends.
#include <nlohmann/json.hpp>

#include "connectors/common/webhook_signatures.h"
#include "sim/hubspot/hubspot_system.h"

namespace consentd::sim::hubspot {

using net::HttpRequest;
using net::HttpResponse;
using nlohmann::json;

namespace {

HttpResponse Json(int status, const json& body) {
  HttpResponse r;
  r.status = status;
  r.content_type = "application/json";
  r.body = body.dump();
  return r;
}

HttpResponse Bad(const std::string& detail) { return net::Problem(400, "Bad Request", detail); }

// A stable subscription id per subscribed event type (and property).
std::int64_t SubscriptionIdFor(const ChangeEvent& e) {
  std::uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (char c : e.subscription_type + "/" + e.property_name) {
    h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  }
  return 100000 + static_cast<std::int64_t>(h % 900000);
}

constexpr size_t kMaxEventsPerRequest = 100;  // HubSpot batches up to 100
constexpr int kWebhooksInFlight = 2;

}  // namespace

HubSpotSystem::HubSpotSystem(const Clock& clock, HubSpotOptions options)
    : clock_(clock),
      options_(std::move(options)),
      model_(clock, options_.block_property),
      rng_(options_.seed) {
  if (options_.seed_contacts > 0) Seed({{"count", options_.seed_contacts}});
}

void HubSpotSystem::FlushWebhooks() {
  std::vector<ChangeEvent> events = model_.TakeEvents();
  if (options_.webhook_url.empty() || !sink_) {
    queued_events_.clear();  // no subscriber: HubSpot sends nothing
    return;
  }
  for (ChangeEvent& e : events) queued_events_.push_back(std::move(e));
  while (!queued_events_.empty() && webhooks_in_flight_ < kWebhooksInFlight) SendWebhookBatch();
}

void HubSpotSystem::SendWebhookBatch() {
  json batch = json::array();
  while (!queued_events_.empty() && batch.size() < kMaxEventsPerRequest) {
    const ChangeEvent e = std::move(queued_events_.front());
    queued_events_.pop_front();
    json j = {{"eventId", next_event_id_++},
              {"subscriptionId", SubscriptionIdFor(e)},
              {"portalId", options_.portal_id},
              {"appId", options_.app_id},
              {"occurredAt", e.occurred_at},
              {"subscriptionType", e.subscription_type},
              {"attemptNumber", 0},
              {"objectId", e.object_id},
              {"changeSource", e.change_source}};
    if (!e.source_id.empty()) j["sourceId"] = e.source_id;
    if (e.subscription_type == "contact.propertyChange") {
      j["propertyName"] = e.property_name;
      j["propertyValue"] = e.property_value;
    }
    if (e.subscription_type == "contact.merge") {
      j["primaryObjectId"] = e.primary_object_id;
      j["mergedObjectIds"] = e.merged_object_ids;
      j["newObjectId"] = e.primary_object_id;
      j["numberOfPropertiesMoved"] = 0;
    }
    batch.push_back(std::move(j));
  }
  OutgoingWebhook hook;
  hook.url = options_.webhook_url;
  hook.content_type = "application/json";
  hook.body = batch.dump();
  // attemptNumber lives in the body, so each retry carries a new body.
  hook.body_for_attempt = [batch](int attempt) mutable {
    for (auto& e : batch) e["attemptNumber"] = attempt;
    return batch.dump();
  };
  hook.sign = [secret = options_.client_secret](const OutgoingWebhook& h, TimestampMs now) {
    const std::string ts = std::to_string(now);
    return net::HeaderList{
        {"X-HubSpot-Signature-v3", connectors::HubSpotSignV3(secret, "POST", h.url, h.body, ts)},
        {"X-HubSpot-Request-Timestamp", ts},
        {"X-HubSpot-Signature-Version", "v3"}};
  };
  hook.max_attempts = options_.webhook_max_attempts;
  hook.first_retry_delay_ms = options_.webhook_first_retry_ms;
  hook.on_first_answer = [weak = std::weak_ptr<HubSpotSystem*>(self_)] {
    auto self = weak.lock();
    if (!self) return;
    HubSpotSystem& hs = **self;
    --hs.webhooks_in_flight_;
    hs.FlushWebhooks();
  };
  ++webhooks_in_flight_;
  sink_(std::move(hook));
}

HttpResponse HubSpotSystem::Seed(const json& body) {
  if (!body.contains("count") || !body["count"].is_number_integer()) {
    return Bad("'count' (integer) is required");
  }
  const std::int64_t count = body["count"];
  if (count < 0 || count > 1'000'000) return Bad("'count' must be in [0, 1000000]");
  const std::uint64_t seed = body.value("seed", options_.seed);
  const std::string domain = body.value("domain", "example.com");
  std::mt19937_64 rng(seed);
  static const char* kFirst[] = {"Anna", "Ben",   "Clara", "David",
                                 "Eva",  "Felix", "Greta", "Hannes"};
  static const char* kLast[] = {"Schmidt", "Meyer", "Weber", "Fischer", "Wagner", "Becker"};
  const Actor actor{"IMPORT", "import:seed", "IMPORT"};
  json ids = json::array();
  for (std::int64_t i = 0; i < count; ++i) {
    const std::uint64_t r = rng();
    const std::string email = "contact" + std::to_string(i + 1) + "@" + domain;
    if (model_.FindByEmail(email) || model_.IsBlocklisted(email)) continue;
    Properties props = {
        {"email", email}, {"firstname", kFirst[r % 8]}, {"lastname", kLast[(r >> 8) % 6]}};
    // The mix: ~1/2 subscribed to some topics, ~1/6 unsubscribed from all,
    // ~1/10 with the global advertising block, the rest never asked.
    const unsigned mix = static_cast<unsigned>((r >> 16) % 60);
    if (mix < 6) props[model_.block_property()] = "true";
    auto created = model_.Create(props, actor);
    if (!created.ok()) continue;
    ids.push_back(std::to_string(created.value()->id));
    if (mix < 30) {
      for (const auto& d : model_.definitions()) {
        if (d.channel == "EMAIL" && ((r >> (24 + d.id % 8)) & 1)) {
          model_.SetStatus("EMAIL", email, d.id, "SUBSCRIBED", "CONSENT_WITH_NOTICE",
                           "Signed up with double opt-in (seed)", actor);
        }
      }
    } else if (mix < 40) {
      model_.UnsubscribeAll("EMAIL", email, actor);
    }
  }
  model_.TakeEvents();  // seeding is the starting point, not a change to report
  return Json(200, {{"created", ids.size()}, {"ids", ids}});
}

HttpResponse HubSpotSystem::HandleControl(const HttpRequest& req) {
  HttpResponse r = [&]() -> HttpResponse {
    const std::string& p = req.path;
    if (p == "/state" && req.method == "GET") {
      json s = model_.ToJson();
      s["webhookUrl"] = options_.webhook_url;
      s["definitions"] = json::array();
      for (const auto& d : model_.definitions()) {
        s["definitions"].push_back({{"id", d.id}, {"name", d.name}, {"channel", d.channel}});
      }
      return Json(200, s);
    }
    if (p == "/reset" && req.method == "POST") {
      model_.Reset();
      queued_events_.clear();
      recent_requests_.clear();
      recent_searches_.clear();
      indexed_late_.clear();
      next_event_id_ = 1;
      rng_.seed(options_.seed);
      if (options_.seed_contacts > 0) Seed({{"count", options_.seed_contacts}});
      return Json(200, {{"reset", true}});
    }
    json body = req.body.empty() ? json::object() : json::parse(req.body, nullptr, false);
    if (!body.is_object()) return Bad("body must be a JSON object");
    if (p == "/seed" && req.method == "POST") return Seed(body);
    if (p == "/search-lag") {
      if (req.method == "POST") {
        if (!body.contains("ms") || !body["ms"].is_number_integer() ||
            body["ms"].get<std::int64_t>() < 0) {
          return Bad("'ms' must be a non-negative integer");
        }
        const std::int64_t ms = body["ms"];
        if (body.contains("email")) {
          // This contact's latest write is indexed `ms` from now.
          const Contact* c = model_.FindByEmail(Model::Lower(body.value("email", "")));
          if (c == nullptr) return net::Problem(404, "Not Found", "no such contact");
          indexed_late_[c->id] = clock_.NowMs() + ms;
          return Json(200, {{"email", body["email"]}, {"ms", ms}});
        }
        options_.search_lag_ms = ms;
      }
      return Json(200, {{"ms", options_.search_lag_ms}});
    }
    if (p == "/webhook") {
      if (req.method == "POST") {
        if (!body.contains("url") || !body["url"].is_string()) return Bad("'url' is required");
        options_.webhook_url = body["url"];
      }
      return Json(200, {{"url", options_.webhook_url}});
    }
    if (req.method != "POST") return net::Problem(404, "Not Found", "no control route " + p);
    const std::string email = Model::Lower(body.value("email", ""));
    if (email.empty()) return Bad("'email' is required");
    const std::string channel = body.value("channel", "EMAIL");
    std::int64_t sub_id = body.value("subscriptionId", std::int64_t{0});
    if (sub_id == 0) {
      for (const auto& d : model_.definitions()) {
        if (d.channel == channel && d.is_default) sub_id = d.id;
      }
    }
    if (!model_.FindDefinition(sub_id)) return Bad("unknown subscriptionId");
    if (p == "/person/signup") {
      // A form sign-up: creates the contact and subscribes, with the form's
      // consent text as the legal basis explanation.
      const Actor form{"FORM", "form:" + body.value("formId", std::string("signup")), "FORM"};
      if (model_.IsBlocklisted(email)) return Bad(email + " was GDPR-deleted");
      if (!model_.FindByEmail(email)) {
        Properties props{{"email", email}};
        for (const char* f : {"firstname", "lastname"}) {
          if (body.contains(f) && body[f].is_string()) props[f] = body[f];
        }
        auto c = model_.Create(props, form);
        if (!c.ok()) return Bad(c.status().message());
      }
      model_.SetStatus(channel, email, sub_id, "SUBSCRIBED", "CONSENT_WITH_NOTICE",
                       body.value("legalBasisExplanation", "Form sign-up with consent notice"),
                       form);
      return Json(200, {{"subscribed", sub_id}});
    }
    if (p == "/person/unsubscribe") {
      // The unsubscribe link in an e-mail: one topic, or all when "all".
      const Actor link{"EMAIL", "unsubscribe-link", "EMAIL_UNSUBSCRIBE"};
      if (body.value("all", false)) {
        model_.UnsubscribeAll(channel, email, link);
      } else {
        model_.SetStatus(channel, email, sub_id, "UNSUBSCRIBED", "", "", link);
      }
      return Json(200, {{"unsubscribed", body.value("all", false) ? json("all") : json(sub_id)}});
    }
    const Actor admin{"CRM_UI", "userId:1", "CRM_UI"};
    if (p == "/admin/subscription") {
      const std::string state = body.value("status", "");
      if (state != "SUBSCRIBED" && state != "UNSUBSCRIBED" && state != "NOT_SPECIFIED") {
        return Bad("'status' must be SUBSCRIBED, UNSUBSCRIBED or NOT_SPECIFIED");
      }
      model_.SetStatus(channel, email, sub_id, state, body.value("legalBasis", ""),
                       body.value("legalBasisExplanation", ""), admin);
      return Json(200, {{"status", state}});
    }
    if (p == "/read-failure") {
      // A fault: HubSpot failing this subscriber's statuses reads on its
      // side until cleared (docs/simulator.md).
      const bool failing = body.value("failing", true);
      model_.SetReadFailing(email, failing);
      return Json(200, {{"readFailing", failing}});
    }
    if (p == "/admin/unsubscribe-all") {
      model_.UnsubscribeAll(channel, email, admin);
      return Json(200, {{"unsubscribedFromAll", channel}});
    }
    Contact* c = model_.FindByEmail(email);
    if (!c) return net::Problem(404, "Not Found", "no contact " + email);
    if (p == "/admin/block") {
      const bool blocked = body.value("blocked", true);
      model_.Update(*c, {{model_.block_property(), blocked ? "true" : "false"}}, admin);
      return Json(200, {{model_.block_property(), blocked}});
    }
    if (p == "/admin/archive") {
      model_.Archive(*c, admin);
      return Json(200, {{"archived", c->id}});
    }
    if (p == "/admin/gdpr-delete") {
      const std::int64_t id = c->id;
      model_.GdprDelete(*c, admin);
      return Json(200, {{"gdprDeleted", id}});
    }
    return net::Problem(404, "Not Found", "no control route " + p);
  }();
  FlushWebhooks();
  return r;
}

}  // namespace consentd::sim::hubspot
