// The generic connector (issue #9): speaks to any system that sends
// consentd's open event protocol (connectors/generic/protocol.h,
// docs/protocol.md) and whose API is declared in the configuration
// (config/generic_connector_config.h, docs/connectors-generic.md): how to
// write a consent, a block and an erasure, how to authenticate, how to
// classify answers, how to poll, check and list topics.
//
// Webhook events are self-contained and signed, so ParseWebhook keeps each
// verified event in RecordRef::event_json and Read maps it without calling
// the system (DESIGN §3's hint-then-read is for vendors whose webhooks
// cannot be trusted as state). Thread-safety: as connector.h states.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "config/generic_connector_config.h"
#include "connectors/common/connector.h"
#include "connectors/common/http_client.h"
#include "mapping/spec.h"

namespace consentd::connectors {

struct GenericSettings {
  std::string name;      // the connector instance (mapping system) name
  std::string base_url;  // a trailing '/' is ignored
  config::GenericConnectorConfig declaration;
  // Secrets, read from the declaration's *_file keys by the caller.
  std::vector<std::string> webhook_secrets;  // "whsec_..."; any verifies
  std::string auth_secret;                   // token | password | API key | signing secret
  std::chrono::milliseconds timeout{10000};
  std::chrono::milliseconds poll_overlap{5000};
  int batch_size = 0;  // 0: 100
};

// `spec` must name `settings.name` as a generic system. `http` is borrowed
// and outlives the connector.
std::unique_ptr<Connector> MakeGenericConnector(GenericSettings settings,
                                                std::shared_ptr<const mapping::MappingSpec> spec,
                                                HttpClient& http);

}  // namespace consentd::connectors
