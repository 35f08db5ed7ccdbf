// One connector's Check() as the answer to a reload reports it
// (SyncComponent::WhenChecksAnswer, POST /api/v1/reload).
#pragma once

#include <optional>
#include <string>

#include "core/status.h"

namespace consentd::daemon {

struct ConnectorCheck {
  std::string name;
  // The answer of the check the reload started; nullopt if it had not
  // answered when the reload's answer was due.
  std::optional<Status> status;
};

}  // namespace consentd::daemon
