// What else the store holds about one subject besides state, identities and
// the proof log, for the access export (GDPR Art. 15, privacy/export.h):
// the subject's outbox rows (what consentd is sending or failed to send to
// each system, with the address and state it carries), its echo memory
// (what consentd last wrote to each system about it) and what each
// system's record of it was last seen showing off. Off the hot path.
//
// Store thread only, inside a unit of work; SQLite backend only
// (FailedPrecondition otherwise).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/status.h"
#include "store/store.h"

namespace consentd::store {

// Every outbox row whose key is `subject` (any status), by id.
Result<std::vector<OutboxRow>> ListOutboxOfSubject(Transaction& txn, std::string_view subject);

// Every echo memory row of `subject` (its keys start with "<subject>|"),
// by system and key.
Result<std::vector<EchoRow>> ListEchoWritesOfSubject(Transaction& txn, std::string_view subject);

// What each system's record of `subject` was last seen showing off
// (Transaction::RememberShownOff), by system, address and key.
Result<std::vector<ShownOffRow>> ListShownOffOfSubject(Transaction& txn, std::string_view subject);

}  // namespace consentd::store
