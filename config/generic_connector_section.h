// Internal to config/: the keys a `kind: generic` connector adds to the
// connector table (docs/connectors-generic.md), read into
// GenericConnectorConfig, and the checks that need the whole entry.
// connectors_section.cc puts these fields into its table.
//
// Thread-compatible, like the rest of the toolkit.
#pragma once

#include <yaml-cpp/yaml.h>

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "config/generic_connector_config.h"
#include "config/yaml_reader.h"

namespace consentd::config::internal {

struct GenericKeyField {
  std::string_view key;
  Shape shape;
  const KeyTree* sub;
  std::function<void(const YAML::Node&, ReadContext&, GenericConnectorConfig&)> read;
};

// A Standard Webhooks secret ("whsec_" and base64, or base64 alone) is
// checked when the file is read (after ReadSecretFile gave `path`), so a
// wrong one is a configuration error at its key, not a refused signature
// later: an error at `n`'s value.
void CheckStandardWebhooksSecret(const YAML::Node& n, ReadContext& c, const std::string& path);

// webhook_secret_files, auth, write, responses, poll, read, check, list_topics.
const std::vector<GenericKeyField>& GenericConnectorFields();

// The largest batch_size a generic connector takes, and its default.
inline constexpr int kGenericMaxBatch = 1000;
inline constexpr int kGenericDefaultBatch = 100;

// Checks that need the whole entry (e.g. `read` maps items with
// `poll.item`). `at` is the connector's key; `keys_at` every key written.
void FinishGenericConnector(GenericConnectorConfig& g, Position at,
                            const std::map<std::string, Position, std::less<>>& keys_at,
                            ReadContext& c);

}  // namespace consentd::config::internal
