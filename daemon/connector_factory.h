// Builds the connector for one `connectors.<name>` entry: reads its secrets
// (config::LoadSecret; errors name the file, never the content) and picks
// the implementation by kind.
//
// Thread-safety: a free function; the connector borrows `http`, which must
// outlive it.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "config/config.h"
#include "connectors/common/budgeted_http_client.h"
#include "connectors/common/connector.h"
#include "connectors/common/http_client.h"

namespace consentd::daemon {

// The most worker-pool threads one connector's work of one kind may hold
// at once (delivery batches; read slices of one hint batch). The pool is
// shared by every connector and bounded (32 threads), and a call waiting
// out a 429 pause holds its thread: without a cap, a connector configured
// with a large max_in_flight could take every thread and stall the other
// direction. The defaults (Mailchimp's 10 in flight: 5) stay below it.
inline constexpr int kMaxPoolShareOfAConnector = 8;

// The cursors row that keeps a connector's LearntState across restarts
// (read by the daemon and by consentctl resync).
inline std::string LearntStateKey(std::string_view connector) {
  return "learnt:" + std::string(connector);
}

// The vendor's quota refusals for the connector's BudgetedHttpClient
// (HubSpot's daily limit); empty for other kinds.
connectors::QuotaRefusalOf429 QuotaRefusalOf(mapping::ConnectorKind kind);

Result<std::unique_ptr<connectors::Connector>> MakeConnector(
    const config::ConnectorConfig& config, std::shared_ptr<const mapping::MappingSpec> mapping,
    connectors::HttpClient& http);

// A digest of the contents of every secret file the connector reads (token,
// keys, webhook secrets), so a reload can tell a rotated secret from an
// unchanged one and rebuild only the connectors whose secrets changed.
// Errors as MakeConnector's: they name the file, never the content.
Result<std::string> ConnectorSecretsDigest(const config::ConnectorConfig& config);

}  // namespace consentd::daemon
