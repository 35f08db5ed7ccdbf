// What a native ⇄ canonical mapping yields: changes, or the reasons it
// yields none (shown by `consentctl map`, logged by the connectors).
#pragma once

#include <string>
#include <vector>

#include "core/change.h"

namespace consentd::mapping {

// The canonical changes read from one native record or event. Each change
// has key.subject EMPTY (the identity step resolves the subject), and
// provenance.source_system, occurred_at and source_event_id set from the
// native record, mapping_hash set to the mapping in force.
// `notes` says, one line each, what part of the input yielded no change
// and why ("unmapped: subscription type 123 on EMAIL is not in the
// mapping"); no personal data in notes.
struct MapResult {
  std::vector<Change> changes;
  std::vector<std::string> notes;
};

}  // namespace consentd::mapping
