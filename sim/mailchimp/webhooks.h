// Mailchimp audience webhooks as Mailchimp sends them: a form-encoded POST
// (type, fired_at "YYYY-MM-DD HH:MM:SS", data[...]) without a signature; the
// receiver authenticates by a secret it put in the URL's query. Which
// changes notify is set per webhook by `events` and `sources` (a change
// made through the API notifies only when `api` is on). Pure; thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "connectors/mailchimp/wire_format.h"
#include "sim/mailchimp/audience.h"
#include "sim/sim_system.h"

namespace consentd::sim::mailchimp {

struct WebhookConfig {
  std::string url;  // empty: no webhook configured
  // sources: by default a person's and an admin's changes notify, the API's
  // do not (as when a webhook is set up in Mailchimp's UI).
  bool user = true;
  bool admin = true;
  bool api = false;
  // events
  bool subscribe = true;
  bool unsubscribe = true;
  bool profile = true;
  bool cleaned = true;
  bool upemail = true;
  // Delivery: Mailchimp retries a failed delivery three times (4 attempts);
  // it does not publish the intervals, we start at one minute, doubling.
  int max_attempts = 4;
  std::int64_t first_retry_delay_ms = 60'000;
};

// {"url", "sources": {...}, "events": {...}} and back (unknown keys ignored;
// error text when a value has the wrong type).
nlohmann::json WebhookConfigJson(const WebhookConfig& c);
std::optional<std::string> UpdateWebhookConfig(const nlohmann::json& body, WebhookConfig& c);

std::string_view EventTypeName(MemberEvent::Kind kind);

// Whether `config` sends this event at all (url set, event and source on).
bool ShouldNotify(const MemberEvent& e, const WebhookConfig& config);

// The form fields in Mailchimp's order.
std::vector<std::pair<std::string, std::string>> WebhookFields(const MemberEvent& e,
                                                               const Audience& audience,
                                                               TimestampMs fired_at);

// application/x-www-form-urlencoded (brackets are percent-encoded too).
using connectors::mailchimp::FormEncode;

OutgoingWebhook BuildWebhook(const MemberEvent& e, const Audience& audience,
                             const WebhookConfig& config, TimestampMs fired_at);

}  // namespace consentd::sim::mailchimp
