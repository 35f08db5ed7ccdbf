// The inbox payload of a webhook hint: a connectors::RecordRef, so a
// stored hint can be read again after a restart (SyncEngine::AcceptHints
// writes it, PendingHints reads it). Part of the database format.
//
// Written compactly (one per accepted webhook event, on the store thread):
//   "h2" then each field as <decimal byte length> ':' <bytes>, in the order
//   event_id, system_id, email, hint, old_email, occurred_at (decimal),
//   event_json, then one field per merged id.
// Read in that form and in the JSON form written before it:
//   {"event_id":..,"system_id":..,"email":..,"hint":"changed",
//    "merged_ids":[..],"old_email":..,"occurred_at":..[,"event_json":".."]}
// A new field is appended after event_json's position only with a new
// prefix ("h3"), so older rows keep decoding. Pure; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "connectors/common/connector.h"

namespace consentd::sync {

std::string EncodeRecordRef(const connectors::RecordRef& ref);
// Either form. InvalidArgument naming the field for anything malformed.
Result<connectors::RecordRef> DecodeRecordRef(std::string_view payload);

}  // namespace consentd::sync
