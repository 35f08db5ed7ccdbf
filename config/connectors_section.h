// Internal to config/: the `connectors:` and `sync:` sections' tables, and
// the check of `connectors:` against `mapping.systems` (config.h has the
// typed structs, docs/configuration.md the reference).
//
// A connector's keys depend on its kind (token_file is HubSpot's, list_id
// Mailchimp's), and `kind` may come after them in the file, so an entry is
// read whole first and checked against its kind afterwards: keys of the
// other kind, keys the kind requires, and the kind's rate-limit defaults.
//
// Thread-compatible, like the rest of the toolkit.
#pragma once

#include <yaml-cpp/yaml.h>

#include "config/config.h"
#include "config/yaml_reader.h"

namespace consentd::config::internal {

// The root table's "connectors" field (a map of named connectors) and the
// "sync" field.
Field<Config> ConnectorsField();
Field<Config> SyncField();

// An http:// or https:// URL with a host and a valid port, without
// credentials, spaces or a fragment (and without a query unless
// `allow_query`); errors at the value. A trailing '/' of the path is
// dropped. The connectors' base URLs use it, and so does every other URL
// consentd calls.
std::optional<std::string> ReadHttpUrlWithHost(const YAML::Node& n, ReadContext& c,
                                               bool allow_query);

// After the whole file is read: connectors without a mapping, and mapping
// systems and connectors that do not pair up by name and kind. `root` is the
// parsed file (for positions), `config` what was read from it. Then fills
// the defaults that depend on other sections (sync.identity_key_file).
void FinishConnectorsAndSync(const YAML::Node& root, ReadContext& c, Config& config);

}  // namespace consentd::config::internal
