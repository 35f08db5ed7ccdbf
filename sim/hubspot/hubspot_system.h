// The simulated HubSpot portal (consentd-sim's CRM): communication
// preferences v3/v4, contacts v3, private-app bearer auth, HubSpot's rate
// limits and error bodies, and webhooks as HubSpot sends them (batched
// JSON arrays, signature v3, retried on non-2xx). See docs/simulator.md.
//
// Not thread-safe: driven on the simulator's io thread (SimSystem contract).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <random>
#include <string>

#include "core/clock.h"
#include "sim/hubspot/hubspot_model.h"
#include "sim/sim_system.h"

namespace consentd::sim::hubspot {

struct HubSpotOptions {
  std::string access_token = "sim-hubspot-token";           // private-app token
  std::string client_secret = "sim-hubspot-client-secret";  // signs webhooks
  std::string webhook_url;  // empty: no webhooks until set via the control API
  bool rate_limits = true;
  int requests_per_ten_seconds = 100;
  std::int64_t rate_window_ms = 10'000;  // the rolling window (tests shorten it)
  int searches_per_second = 4;
  std::int64_t portal_id = 62515;
  std::int64_t app_id = 54321;
  std::string block_property = "consentd_werbesperre";
  int webhook_max_attempts = 10;  // HubSpot: up to 10 attempts
  std::int64_t webhook_first_retry_ms = 1000;
  std::uint64_t seed = 1;
  int seed_contacts = 0;  // contacts seeded at start and on reset
  // The search index's lag behind writes: a contact modified less than this
  // long ago is not found by the search yet (0: found at once). Set through
  // the control API (/_sim/hubspot/search-lag).
  std::int64_t search_lag_ms = 0;
};

class HubSpotSystem final : public SimSystem {
 public:
  HubSpotSystem(const Clock& clock, HubSpotOptions options);

  std::string Name() const override { return "hubspot"; }
  net::HttpResponse HandleApi(const net::HttpRequest& req) override;
  net::HttpResponse HandleControl(const net::HttpRequest& req) override;
  void SetWebhookSink(WebhookSink sink) override { sink_ = std::move(sink); }
  net::HttpResponse FaultResponse(int status) const override;
  // Model state, webhook event id counter and webhook URL (a URL given in
  // the options wins over a saved one). hubspot_state.cc.
  nlohmann::json SaveState() const override;
  Status LoadState(const nlohmann::json& state) override;

  Model& model() { return model_; }

  // Error bodies in HubSpot's format: {status:"error", message,
  // correlationId, category, ...extra}.
  net::HttpResponse Error(int status, const std::string& category, const std::string& message,
                          nlohmann::json extra) const;
  std::string CorrelationId() const;

 private:
  // hubspot_api.cc
  net::HttpResponse Route(const net::HttpRequest& req);
  net::HttpResponse ContactsApi(const net::HttpRequest& req, const std::string& rest);
  net::HttpResponse PreferencesV3(const net::HttpRequest& req, const std::string& rest);
  net::HttpResponse PreferencesV4(const net::HttpRequest& req, const std::string& rest);
  net::HttpResponse Search(const net::HttpRequest& req);
  Actor ApiActor() const;
  std::optional<net::HttpResponse> CheckRateLimit(bool search);

  // hubspot_control.cc
  net::HttpResponse Seed(const nlohmann::json& body);
  // Queues the model's new events and sends them as HubSpot does: JSON
  // arrays of up to 100 events, with at most kWebhooksInFlight requests
  // awaiting their first answer; events arriving meanwhile wait and go out
  // together (batches grow with load instead of one request per change).
  void FlushWebhooks();
  void SendWebhookBatch();

  const Clock& clock_;
  HubSpotOptions options_;
  Model model_;
  WebhookSink sink_;
  std::deque<TimestampMs> recent_requests_;
  std::deque<TimestampMs> recent_searches_;
  // Contacts whose latest write the search index holds only from the given
  // time on (/_sim/hubspot/search-lag with an email).
  std::map<std::int64_t, TimestampMs> indexed_late_;
  std::int64_t next_event_id_ = 1;
  std::deque<ChangeEvent> queued_events_;
  int webhooks_in_flight_ = 0;
  // Webhook callbacks hold a weak reference: they may outlive the system.
  std::shared_ptr<HubSpotSystem*> self_ = std::make_shared<HubSpotSystem*>(this);
  mutable std::mt19937_64 rng_;
};

}  // namespace consentd::sim::hubspot
