#include "daemon/connector_factory.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "connectors/generic/generic_connector.h"
#include "connectors/hubspot/hubspot_connector.h"
#include "connectors/mailchimp/mailchimp_connector.h"
#include "core/keyed_hash.h"

namespace consentd::daemon {
namespace {

// An optional secret: empty when the key was not configured.
Result<std::string> OptionalSecret(const std::string& path) {
  if (path.empty()) return std::string();
  return config::LoadSecret(path);
}

}  // namespace

connectors::QuotaRefusalOf429 QuotaRefusalOf(mapping::ConnectorKind kind) {
  if (kind == mapping::ConnectorKind::kHubSpot) return connectors::HubSpotDailyLimitRefusal;
  return nullptr;
}

Result<std::unique_ptr<connectors::Connector>> MakeConnector(
    const config::ConnectorConfig& config, std::shared_ptr<const mapping::MappingSpec> mapping,
    connectors::HttpClient& http) {
  switch (config.kind) {
    case mapping::ConnectorKind::kHubSpot: {
      connectors::HubSpotSettings s;
      s.name = config.name;
      s.base_url = config.base_url;
      {
        Result<std::string> v = OptionalSecret(config.token_file);
        if (!v.ok()) return v.status();
        s.token = std::move(v).value();
      }
      {
        Result<std::string> v = OptionalSecret(config.client_secret_file);
        if (!v.ok()) return v.status();
        s.client_secret = std::move(v).value();
      }
      s.timeout = config.request_timeout;
      s.batch_size = config.batch_size;
      s.poll_overlap = config.poll_overlap;
      return connectors::MakeHubSpotConnector(std::move(s), std::move(mapping), http);
    }
    case mapping::ConnectorKind::kMailchimp: {
      connectors::MailchimpSettings s;
      s.name = config.name;
      s.base_url = config.base_url;
      {
        Result<std::string> v = OptionalSecret(config.api_key_file);
        if (!v.ok()) return v.status();
        s.api_key = std::move(v).value();
      }
      {
        Result<std::string> v = OptionalSecret(config.webhook_secret_file);
        if (!v.ok()) return v.status();
        s.webhook_secret = std::move(v).value();
      }
      s.list_id = config.list_id;
      s.timeout = config.request_timeout;
      s.batch_size = config.batch_size;
      s.poll_overlap = config.poll_overlap;
      s.read_parallelism =
          std::clamp(config.rate_limit.max_in_flight > 0 ? config.rate_limit.max_in_flight / 2 : 4,
                     1, kMaxPoolShareOfAConnector);
      // Threads of its own (helpers) for one Deliver: at most 16 whatever
      // the cap, as the worker pool is bounded too.
      s.delivery_parallelism =
          config.rate_limit.max_in_flight > 0 ? std::min(config.rate_limit.max_in_flight, 16) : 8;
      return connectors::MakeMailchimpConnector(std::move(s), std::move(mapping), http);
    }
    case mapping::ConnectorKind::kGeneric: {
      connectors::GenericSettings s;
      s.name = config.name;
      s.base_url = config.base_url;
      s.declaration = config.generic;
      for (const std::string& path : config.generic.webhook_secret_files) {
        Result<std::string> v = config::LoadSecret(path);
        if (!v.ok()) return v.status();
        s.webhook_secrets.push_back(std::move(v).value());
      }
      {
        Result<std::string> v = OptionalSecret(config.generic.auth.secret_file);
        if (!v.ok()) return v.status();
        s.auth_secret = std::move(v).value();
      }
      s.timeout = config.request_timeout;
      s.batch_size = config.batch_size;
      s.poll_overlap = config.poll_overlap;
      return connectors::MakeGenericConnector(std::move(s), std::move(mapping), http);
    }
  }
  // Every kind returns above; this is for a value outside the enum.
  return FailedPrecondition("connector " + config.name + ": unknown kind " +
                            std::string(mapping::ConnectorKindName(config.kind)));
}

Result<std::string> ConnectorSecretsDigest(const config::ConnectorConfig& config) {
  std::vector<std::string> paths = {config.token_file, config.client_secret_file,
                                    config.api_key_file, config.webhook_secret_file,
                                    config.generic.auth.secret_file};
  paths.insert(paths.end(), config.generic.webhook_secret_files.begin(),
               config.generic.webhook_secret_files.end());
  std::string all;
  for (const std::string& path : paths) {
    Result<std::string> v = OptionalSecret(path);
    if (!v.ok()) return v.status();
    // Length-prefixed: moving bytes from one file to the next is a change.
    all += std::to_string(v->size()) + ":" + *v + ";";
  }
  return Sha256Hex(all);
}

}  // namespace consentd::daemon
