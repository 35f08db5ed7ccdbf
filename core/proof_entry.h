// ProofEntry: one record of the proof log (DESIGN.md §4), as the reconciler
// produces it and before the store assigns its sequence number.
//
// Field names follow ISO/IEC TS 27560 and W3C DPV where they exist (see
// tests/data/consent/iso27560-dpv-gdpr-field-map.json). Personal evidence
// (address, IP, user agent, form data) travels here in clear only until the
// proof-log writer encrypts it under the subject's key; the stored entry
// and its leaf hash cover the ciphertext only.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "core/clock.h"

namespace consentd {

// What happened, one word each; stable strings are part of the log format.
enum class ProofKind {
  kObserved,         // a change was received from a system
  kDecided,          // the reconciler applied it to the canonical state
  kSuperseded,       // changed nothing: an older change arriving late, a lost tie, a
                     // repeat, or a delivery the target kept out or that came too late
  kEcho,             // a system reported back what consentd wrote
  kPropagated,       // a write to a target succeeded
  kRejected,         // refused: unmapped, unsigned, invalid, erased subject
  kBlockedByTarget,  // the target refused the transition (terminal)
  kHeldPending,      // a grant without required evidence was held as pending
  kErasureRequested,
  kErasureCompleted,
  kReconsentRequired,
  kConfigChanged,  // a new mapping/config came into force
  // A grant given for an older notice version than the topic's current one
  // now requires re-consent (issue #7), or no longer does (the version was
  // lowered again). Not kReconsentRequired, which is a target's double
  // opt-in for a re-subscription.
  kNoticeReconsentRequired,
};

std::string_view ProofKindName(ProofKind kind);

struct ProofEntry {
  std::uint64_t sequence = 0;       // assigned by the store on append
  TimestampMs recorded_at = 0;      // when consentd recorded it
  TimestampMs occurred_at = 0;      // source's capture time (0 if none)
  std::string subject;              // pseudonym: never an address in clear
  ProofKind kind = ProofKind::kObserved;
  std::string topic;                // canonical topic ("Thema"), may be empty
  std::string channel;              // email, sms, ... may be empty
  std::string old_status;           // canonical status names, may be empty
  std::string new_status;
  std::string legal_basis;          // e.g. "eu-gdpr:A6-1-a"
  std::string method;               // how expressed: form, double_opt_in, ...
  std::string notice_version;       // purpose / notice version
  std::string source_system;        // connector name, "admin", "consentd"
  std::string source_event_id;
  std::string signature_scheme;     // verified webhook signature scheme
  std::string mapping_hash;         // hash of the mapping in force
  std::string reason;               // free text: why (no personal data)
  // Personal evidence in clear (address, ip, user_agent, form fields...).
  // Encrypted before it is stored; empty after crypto-shredding.
  std::map<std::string, std::string> evidence;
  // ISO/IEC TS 27560 record id: unique per entry, assigned by the proof-log
  // writer if empty; with `sequence` it is the evidence cipher's associated
  // data, so ciphertext cannot be moved to another entry.
  std::string record_id;
};

}  // namespace consentd
