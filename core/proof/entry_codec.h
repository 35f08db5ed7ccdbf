// Canonical bytes of a stored proof-log entry: what the Merkle leaf hash
// covers, so the same entry must give the same bytes on every machine.
//
// Format "consentd-proof-entry/1": one JSON object (RFC 8259), UTF-8, no
// whitespace, members in ascending byte order of their names, each name at
// most once; integers as plain decimal (no sign for non-negative, no
// exponent, no leading zeros); strings escape only '"', '\\' and U+0000..
// U+001F (\b \t \n \f \r short forms, others \u00xx lower-case hex), as RFC
// 8785 (JCS) does. Optional members are omitted when empty (event_time when
// 0); so each entry has exactly one spelling, and DecodeEntry rejects every
// other one. Member names follow ISO/IEC TS 27560 / W3C DPV where one fits:
//
//   schema_version   dct:conformsTo         "consentd-proof-entry/1"
//   record_id        27560 record id        ProofEntry::record_id
//   sequence         leaf index, 0-based    ProofEntry::sequence
//   recorded_at      ms since epoch         ProofEntry::recorded_at
//   event_time       27560 event time       ProofEntry::occurred_at
//   event_type       27560 event type       ProofKindName(kind)
//   pii_principal_id 27560 / dpv:DataSubject ProofEntry::subject (pseudonym)
//   purpose          dpv:hasPurpose         ProofEntry::topic
//   channel                                 ProofEntry::channel
//   previous_state   dpv:hasConsentStatus   ProofEntry::old_status
//   event_state      27560 event state      ProofEntry::new_status
//   lawful_basis     dpv:hasLegalBasis      ProofEntry::legal_basis
//   collection_method 27560                 ProofEntry::method
//   privacy_notice   dpv:hasNotice          ProofEntry::notice_version
//   source_system, source_event_id, signature_scheme, mapping_hash, reason
//   pii_information  dpv:hasPersonalData    sealed evidence only:
//                    {"alg":"A256GCM","ciphertext":b64,"nonce":b64,"tag":b64}
//
// Clear evidence is never encoded: EncodeEntry refuses an entry whose
// evidence map is not empty. Pure functions, thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "core/proof_entry.h"
#include "core/status.h"

namespace consentd::proof {

inline constexpr std::string_view kEntrySchema = "consentd-proof-entry/1";

// AES-256-GCM output for one entry's evidence (raw bytes).
struct SealedEvidence {
  std::string nonce;       // 12 bytes
  std::string ciphertext;  // same length as the canonical evidence plaintext
  std::string tag;         // 16 bytes
  bool empty() const { return nonce.empty() && ciphertext.empty() && tag.empty(); }
  bool operator==(const SealedEvidence&) const = default;
};

struct DecodedEntry {
  ProofEntry entry;  // evidence map always empty
  SealedEvidence sealed;
};

std::optional<ProofKind> ParseProofKind(std::string_view name);

// InvalidArgument if the entry carries clear evidence or a string is not
// valid UTF-8.
Result<std::string> EncodeEntry(const ProofEntry& entry, const SealedEvidence& sealed);

// InvalidArgument for anything but the canonical bytes of some entry.
Result<DecodedEntry> DecodeEntry(std::string_view bytes);

// The "sequence" member of canonical entry bytes without a full parse (for
// fast audits): a '"' inside a string is always escaped, so the pattern
// ,"sequence": occurs once. nullopt if absent or malformed.
std::optional<std::uint64_t> ExtractSequence(std::string_view bytes);

// Canonical JSON object of the evidence map (the plaintext that is sealed),
// and its inverse (strict, like DecodeEntry).
Result<std::string> EncodeEvidence(const std::map<std::string, std::string>& evidence);
Result<std::map<std::string, std::string>> DecodeEvidence(std::string_view bytes);

}  // namespace consentd::proof
