// Loading and validating the `mapping:` section of the consentd
// configuration (docs/mapping.md is the reference).
//
// Every problem is reported at its own position, all in one pass, as
// "FILE:LINE:COLUMN: message" (warnings "...: warning: message"), with a
// "did you mean" for misspelt keys and for misspelt names (systems,
// channels, topics, legal bases, modes). Cross-references are checked
// after reading: unknown channels and systems, one native subscription
// type / interest / permission claimed by two topics, duplicate topic and
// block names, a block with no side, an erasure mode the connector kind
// does not support (CapabilitiesOf in mapping/spec.h).
//
// Pure apart from yaml-cpp; nothing throws. Thread-compatible.
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

#include "config/yaml_reader.h"
#include "core/status.h"
#include "mapping/spec.h"

namespace consentd::mapping {

// The hook for the config loader: reads the VALUE of the `mapping:` key
// into `out`, reporting into c.diag (c.key_at = position of `mapping:`).
// `out` is only meaningful when c.diag has no errors afterwards.
void ReadMapping(const YAML::Node& node, config::ReadContext& c, MappingSpec& out);

// The keys ReadMapping accepts, for the schema/doc check
// (config::KeyPaths(MappingKeys()) -> "systems", "systems.*.kind", ...).
const config::KeyTree& MappingKeys();

// Loads the value of a `mapping:` key on its own. `file` names the file in
// messages. On error: InvalidArgument with every error line (sorted). The
// warnings (formatted lines) go to `warnings` when given.
Result<MappingSpec> LoadMapping(const YAML::Node& node, const std::string& file,
                                std::vector<std::string>* warnings = nullptr);

// Loads the `mapping:` section of a whole consentd configuration given as
// text (other top-level keys are ignored here: the config loader checks
// them). Missing `mapping:` is an error.
Result<MappingSpec> LoadMappingFromConfigString(const std::string& yaml, const std::string& file,
                                                std::vector<std::string>* warnings = nullptr);
// Same, reading the file at `path`.
Result<MappingSpec> LoadMappingFromConfigFile(const std::string& path,
                                              std::vector<std::string>* warnings = nullptr);

}  // namespace consentd::mapping
