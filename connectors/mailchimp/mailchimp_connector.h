// The Mailchimp Marketing API 3.0 connector (one audience): webhooks by
// URL secret, member reads, a last_changed poll with an overlap window,
// batch-subscribe writes with Mailchimp's compliance rules (re-consent
// through its double opt-in, forgotten addresses) and erasure.
// docs/connectors-mailchimp.md describes endpoints, cursor and errors.
//
// Thread-safety: as connectors::Connector. The HttpClient is borrowed and
// must outlive the connector; so must nothing else (spec is shared).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "connectors/common/connector.h"
#include "connectors/common/http_client.h"
#include "mapping/spec.h"

namespace consentd::connectors {

struct MailchimpSettings {
  std::string name;      // connector instance name (the mapping's system)
  std::string base_url;  // "https://us21.api.mailchimp.com" (no "/3.0")
  std::string api_key;   // "<key>-us21"
  std::string list_id;   // the audience
  // The `secret` query parameter of the webhook URL registered at
  // Mailchimp (it does not sign its webhooks). Empty: every webhook is
  // refused.
  std::string webhook_secret;
  std::chrono::milliseconds timeout{10000};  // per request
  int batch_size = 0;                        // items per Deliver; 0 or > 500: 500
  // Poll windows start this much before the previous upper bound:
  // last_changed has one-second resolution, and the two clocks differ.
  std::chrono::milliseconds poll_overlap{5000};
  // Read calls the daemon may run at once on slices of one set of hinted
  // members (Connector::read_parallelism): Mailchimp limits connections,
  // not requests, and Read costs one request per member, so one member
  // after another would leave most connections idle. The daemon sets half
  // the connector's in-flight budget, as deliveries get.
  int read_parallelism = 1;
  // Calls one Deliver may run at once (its members side by side). The
  // daemon sets the whole in-flight budget: deliveries use the connections
  // reads leave idle, and beyond half of them yield to reads waiting for
  // one (RateLimiter, CallPriority).
  int delivery_parallelism = 1;
};

// REQUIRES: `spec` declares a mailchimp system named `s.name`.
std::unique_ptr<Connector> MakeMailchimpConnector(MailchimpSettings s,
                                                  std::shared_ptr<const mapping::MappingSpec> spec,
                                                  HttpClient& http);

}  // namespace consentd::connectors
