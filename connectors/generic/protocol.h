// consentd's open event protocol (issue #9, docs/protocol.md): the JSON
// events a generic system sends to POST /webhooks/<connector>, signed per
// Standard Webhooks, and the mapping of one event to canonical changes.
//
// Envelope (docs/protocol/event.schema.json):
//   {"id": "evt-1", "type": "consent.changed",
//    "occurred_at": "2026-03-01T10:00:00Z",            RFC 3339
//    "subject": {"id": "c-42", "email": "a@example.org"},  at least one
//    "data": {...}}                                     per type, below
// A body holds one event or {"events": [ ... ]} (at most kMaxBatchEvents).
//
// data per type (docs/protocol/<type>.schema.json); names are the generic
// system's own (the mapping's `topic:`, `block:` and channel names):
//   consent.changed  topic, channel, status (granted|withdrawn|refused|
//                    pending), [address], [legal_basis "eu-gdpr:A6-1-a"],
//                    [method form|double_opt_in|unsubscribe_link|admin|api|
//                    import; default form], [notice_version],
//                    [evidence {string: string}, <= kMaxEvidenceBytes]
//   block.changed    block, active (bool), [reason unsubscribed|bounced|
//                    complaint|manual|legal], [channel] (channel blocks),
//                    [address] (address blocks), [until RFC 3339]
//   subject.erased   {} (no fields)
//   subject.merged   merged_ids: [system ids now part of subject.id]
//   identity.changed old_email (the new one is subject.email)
//
// Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/status.h"
#include "mapping/map_result.h"
#include "mapping/spec.h"
#include "net/http_types.h"

namespace consentd::connectors::generic {

inline constexpr std::size_t kMaxBatchEvents = 500;
inline constexpr std::size_t kMaxEvidenceBytes = 4096;  // serialised data/evidence
inline constexpr std::size_t kMaxIdBytes = 256;         // event id, subject id
inline constexpr std::string_view kSignatureScheme = "standard-webhooks";

// The event types, as written in "type".
inline constexpr std::string_view kConsentChanged = "consent.changed";
inline constexpr std::string_view kBlockChanged = "block.changed";
inline constexpr std::string_view kSubjectErased = "subject.erased";
inline constexpr std::string_view kSubjectMerged = "subject.merged";
inline constexpr std::string_view kIdentityChanged = "identity.changed";

// One protocol event, validated; the native vocabulary of a generic system.
struct ProtocolEvent {
  std::string id;
  std::string type;  // consent.changed|block.changed|subject.erased|subject.merged|identity.changed
  TimestampMs occurred_at = 0;
  std::string system_id;  // subject.id ("" if only the address was sent)
  std::string email;      // subject.email, normalised (core/normalise.h); "" if absent
  nlohmann::json data;    // type-specific, validated (addresses normalised)
};

// Parses and validates a body holding one event (or {"events":[...]} batch).
// InvalidArgument whose message names the failing field as a JSON pointer
// ("/data/status: must be one of granted, withdrawn, refused, pending";
// in a batch "/events/3/data/status: ...").
Result<std::vector<ProtocolEvent>> ParseEvents(std::string_view body);

// Validates one already-parsed event object (pointers relative to it).
Result<ProtocolEvent> ParseEvent(const nlohmann::json& event);

// The JSON of an event (the envelope above): ParseEvent(EventJson(e)) == e.
// Used by polling: a poll item declared by pointers becomes a ProtocolEvent,
// and a stored RecordRef::event_json is read back with ParseEvent.
nlohmann::json EventJson(const ProtocolEvent& e);

// Verifies the Standard Webhooks headers (webhook-id, webhook-timestamp,
// webhook-signature) of `req` against any of `secrets` (key rotation: any
// secret matching any v1 entry accepts), tolerance 5 minutes around `now`.
// Unauthenticated for a missing, bad or stale signature; InvalidArgument
// for malformed headers. `secrets` empty: Unauthenticated.
Status VerifyEventRequest(const net::HttpRequest& req, const std::vector<std::string>& secrets,
                          TimestampMs now);

// Maps one event to canonical changes for the generic system `system` of
// the mapping (topic/block native names -> canonical), with notes for what
// is ignored (unmapped topic, direction, ...). subject.merged and
// identity.changed yield no change (identity only: RecordRef carries them).
// Changes: key.subject empty, provenance {occurred_at, source_system =
// system, source_event_id = id}, mapping_hash = mapping::MappingHash(spec);
// signature_scheme is left empty (a polled event is not signed: the caller
// sets it for events that came through VerifyEventRequest).
mapping::MapResult MapEvent(const ProtocolEvent& e, const mapping::MappingSpec& spec,
                            std::string_view system);

// RFC 3339 date-time ("2026-03-01T10:00:00Z", "...10:00:00.123+01:00") to
// Unix milliseconds; InvalidArgument otherwise. And back (UTC, "Z", ms).
Result<TimestampMs> ParseRfc3339(std::string_view text);
std::string FormatRfc3339(TimestampMs t);

}  // namespace consentd::connectors::generic
