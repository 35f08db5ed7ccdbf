// Builds the connector for one `connectors.<name>` entry: reads its secrets
// (config::LoadSecret; errors name the file, never the content) and picks
// the implementation by kind.
//
// Thread-safety: a free function; the connector borrows `http`, which must
// outlive it.
#pragma once

#include <memory>

#include "config/config.h"
#include "connectors/common/connector.h"
#include "connectors/common/http_client.h"

namespace consentd::daemon {

Result<std::unique_ptr<connectors::Connector>> MakeConnector(
    const config::ConnectorConfig& config, std::shared_ptr<const mapping::MappingSpec> mapping,
    connectors::HttpClient& http);

// A digest of the contents of every secret file the connector reads (token,
// keys, webhook secrets), so a reload can tell a rotated secret from an
// unchanged one and rebuild only the connectors whose secrets changed.
// Errors as MakeConnector's: they name the file, never the content.
Result<std::string> ConnectorSecretsDigest(const config::ConnectorConfig& config);

}  // namespace consentd::daemon
