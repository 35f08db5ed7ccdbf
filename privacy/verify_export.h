// Checks an access export (privacy/export.h, "consentd-export/1") with
// nothing but the log's public verifier key: no database, no consentd.
//
// For every history entry (the person's, and those of each pseudonym
// merged into them, `merged_subjects`, with that pseudonym's own key and the
// same checkpoint): the logged bytes decode as a canonical proof-log
// entry of the document's subject at the stated sequence; the fields shown
// are exactly those bytes; its tlog-proof proves those bytes at that index
// against the document's checkpoint, whose signed note verifies under the
// key (one checkpoint for all entries); an entry without a proof must lie
// beyond that checkpoint; and, where the document carries the evidence key,
// the sealed evidence in the bytes opens with it (AES-256-GCM, the entry's
// associated data) to exactly the evidence shown.
//
// What it cannot show: that no entry was left out (that needs the whole
// log, `consentctl verify`), nor that the current state is right.
// Pure; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/proof/note.h"
#include "core/status.h"

namespace consentd::privacy {

struct ExportCheck {
  std::string subject;  // empty for an erased person found by address only
  bool erased = false;
  std::uint64_t entries = 0;
  std::uint64_t proven = 0;  // tlog-proof verified
  std::uint64_t not_yet_checkpointed = 0;
  std::uint64_t evidence_opened = 0;      // decrypted and equal to what is shown
  std::uint64_t evidence_unreadable = 0;  // sealed, key destroyed or not given
  std::uint64_t merged_subjects = 0;      // pseudonyms merged into the person
  std::string origin;                     // the checkpoint's log, if any
  std::uint64_t tree_size = 0;
};

// OK with the counts, or the first problem: InvalidArgument for a document
// that is not a consentd-export/1 document; Unauthenticated for a bad
// checkpoint signature; DataLoss for an entry that fails, its message
// starting "entry <sequence>: ".
Result<ExportCheck> VerifyExport(std::string_view document, const proof::NoteVerifier& verifier);

}  // namespace consentd::privacy
