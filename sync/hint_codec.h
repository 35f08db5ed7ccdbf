// The inbox payload of a webhook hint: a connectors::RecordRef as JSON, so
// a stored hint can be read again after a restart (SyncEngine::AcceptHints
// writes it, PendingHints reads it). Part of the database format: only add
// fields. Pure; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "connectors/common/connector.h"

namespace consentd::sync {

// {"event_id":..,"system_id":..,"email":..,"hint":"changed",
//  "merged_ids":[..],"old_email":..,"occurred_at":..[,"event_json":".."]}
std::string EncodeRecordRef(const connectors::RecordRef& ref);
// InvalidArgument naming the field for anything malformed.
Result<connectors::RecordRef> DecodeRecordRef(std::string_view json);

}  // namespace consentd::sync
