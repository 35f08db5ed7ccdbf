// The data subject's access export (GDPR Art. 15, "Auskunft"): ONE JSON
// document with everything consentd holds about a person, that the person
// or an auditor can check offline with nothing but the log's verifier key
// (docs/export.md; privacy/verify_export.h checks it).
//
// Document "consentd-export/1" (field names after ISO/IEC TS 27560 / DPV
// where one fits): identities (linked addresses, ids per system), current
// consents with the may-contact answer, blocks, the erased marker and
// target deletions, the subject's evidence key (AES-256-GCM, per subject),
// the latest signed checkpoint, and the full history: every proof-log
// entry of the subject with its exact logged bytes (base64), its fields as
// logged, its decrypted evidence and a C2SP tlog-proof against that ONE
// checkpoint. Entries appended after the checkpoint carry no proof and say
// so ("proof_status": "not_yet_checkpointed"); write a checkpoint first
// (store::WriteProofCheckpoint) to cover them.
//
// Pure over the caller's unit of work: reads only, writes nothing. Cost:
// one pass over the proof log (there is no per-subject index) plus
// O(log n) per entry of the subject. Thread-safety: that of the
// Transaction (store thread only).
#pragma once

#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/policy.h"
#include "core/status.h"
#include "store/store.h"

namespace consentd::privacy {

inline constexpr std::string_view kExportFormat = "consentd-export/1";

struct ExportRequest {
  // Exactly one of them: the person's e-mail address (normalised, then
  // found by its keyed hash), or a subject pseudonym ("s-...").
  std::string email;
  std::string subject;
  // Secret key of the identifier hashes (sync::LoadIdentityKey).
  std::string identity_key;
  // For the may-contact answers (double opt-in topics); may be null.
  const Policy* policy = nullptr;
  TimestampMs now = 0;  // generated_at, and the time may-contact is asked at
};

// The document as JSON text (two-space indent, trailing newline).
// Errors: InvalidArgument for a request naming neither or both, or an
// address that does not normalise; NotFound when consentd knows nothing
// about the address or subject (no subject, no tombstone, no log entry);
// DataLoss when a stored record does not decode; store errors as they are.
// An erased person found by address only through the tombstone gets a
// document that says so and holds no personal data and no history (the
// address no longer leads to the pseudonym); asked by pseudonym, the
// history is included, provable, with its evidence unreadable.
Result<std::string> BuildSubjectExport(store::Transaction& txn, const ExportRequest& request);

}  // namespace consentd::privacy
