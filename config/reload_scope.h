// What a reload may change in a running consentd, and what needs a restart
// (docs/operations.md, "Reload"). A reload is applied completely or not at
// all, so a file that changes a key the running daemon cannot take over is
// refused as a whole, naming the key, rather than half applied. Pure.
#pragma once

#include <string>
#include <vector>

#include "config/config.h"

namespace consentd::config {

// The keys of `next` that differ from `running` and need a restart:
// connectors added or removed, every connector key but `rate_limit` (the
// connectors are built from their keys at start; the mapping is swapped
// on its own), and every `sync:` key. Each as a dotted path, e.g.
// "connectors.hubspot.poll_interval", by connector name. Empty: a reload can
// apply `next`.
std::vector<std::string> KeysNeedingRestart(const Config& running, const Config& next);

}  // namespace consentd::config
