// The HubSpot connector (connector.h port): communication preferences v4
// for subscription statuses and unsubscribe-all, contacts v3 for addresses,
// the block property, paging and GDPR deletion, webhook signature v3.
// Endpoints, cursor, error classes and erasure modes: docs/connectors-hubspot.md.
//
// Thread-safety: as the port (connector.h); the connector holds no mutable
// state, so every call may run concurrently with any other.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "connectors/common/budgeted_http_client.h"
#include "connectors/common/connector.h"
#include "connectors/common/http_client.h"
#include "mapping/spec.h"

namespace consentd::connectors {

struct HubSpotSettings {
  std::string name;                          // connector instance name (a system of the mapping)
  std::string base_url;                      // "https://api.hubapi.com", no trailing slash needed
  std::string token;                         // private-app access token (Bearer)
  std::string client_secret;                 // app client secret: verifies webhook signatures
  std::chrono::milliseconds timeout{10000};  // per HTTP request
  int batch_size = 0;                        // 0 = the API's limit (100)
  // Poll: how far behind the last seen lastmodifieddate each search starts
  // (HubSpot's search index lags behind writes).
  std::chrono::milliseconds poll_overlap{5000};
};

// REQUIRES: `spec` names `s.name` as a hubspot system; `http` outlives the
// connector (borrowed).
// HubSpot's daily request limit (a 429 whose body names policyName DAILY,
// or X-HubSpot-RateLimit-Daily-Remaining: 0) is restored only at midnight
// in the account's time zone, which consentd does not know: nothing is
// sent for kHubSpotDailyLimitProbe, then one call asks again. For
// BudgetedHttpClient; nullopt for any other answer.
inline constexpr std::chrono::minutes kHubSpotDailyLimitProbe{10};
std::optional<QuotaRefusal> HubSpotDailyLimitRefusal(const net::HttpResponse& response);

std::unique_ptr<Connector> MakeHubSpotConnector(HubSpotSettings s,
                                                std::shared_ptr<const mapping::MappingSpec> spec,
                                                HttpClient& http);

}  // namespace consentd::connectors
