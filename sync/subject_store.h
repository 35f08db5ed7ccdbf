// The sync engine's view of one subject in the store: its canonical state
// (consent and block rows hold whole records as JSON, in the desired-state
// record form), its identifiers, and new subject ids. Internal to sync/.
//
// Every function runs inside the caller's unit of work; store thread only.
#pragma once

#include <map>
#include <set>
#include <string>
#include <string_view>

#include "core/model.h"
#include "core/status.h"
#include "store/store.h"

namespace consentd::sync {

// The pseudo-system under which a subject's normalised e-mail addresses
// are linked (identity_links), so outbound writes can name the person.
// Lookups go through the keyed hash (email_hashes), never through this.
inline constexpr std::string_view kEmailLinkSystem = "email";

struct SubjectIdentity {
  std::string email;                                      // the latest linked address
  std::set<std::string> emails;                           // every linked address
  std::map<std::string, std::string> system_ids;          // system -> latest linked live id
  std::set<std::pair<std::string, std::string>> all_ids;  // every (system, id)
  // system -> its records' addresses (record id -> address; a record whose
  // address is not known, or that was merged away, is left out).
  std::map<std::string, std::map<std::string, std::string>> record_addresses;
  // system -> the addresses its retired records had (IdentityLink::
  // retired_address): nothing is written there unless a live record has it.
  std::map<std::string, std::set<std::string>> retired_addresses;
  // The same per record: system -> record id -> the address it had.
  std::map<std::string, std::map<std::string, std::string>> retired_record_addresses;
  // system -> record id -> when it was retired (IdentityLink::retired_at),
  // for records retired since schema v17.
  std::map<std::string, std::map<std::string, TimestampMs>> retired_at;
};

Result<SubjectIdentity> LoadIdentity(store::Transaction& txn, std::string_view subject);

// Keyed hashes of every identifier in `identity` (the tombstone's input).
Result<std::set<std::string>> IdentityHashes(std::string_view identity_key,
                                             const SubjectIdentity& identity);

// Consents, blocks, identifier hashes, the erased marker and target
// deletions of `subject`. DataLoss if a stored record does not decode.
Result<SubjectState> LoadSubjectState(store::Transaction& txn, std::string_view subject,
                                      std::string_view identity_key);

Status SaveConsent(store::Transaction& txn, const ConsentRecord& record, TimestampMs now);
Status SaveBlock(store::Transaction& txn, const BlockRecord& record, TimestampMs now);

// "s-" + 16 lower-case hex digits: the minting second, then a counter from a
// random per-process start. Never derived from an identifier, so the
// pseudonym reveals nothing about the person; it does reveal when the
// subject was first seen (as its first proof entry does) and sorts subjects
// by that, which keeps writes of a sync local in every subject-keyed table.
Result<std::string> MintSubjectId();

}  // namespace consentd::sync
