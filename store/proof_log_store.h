// The proof log in the SQLite store (DESIGN.md §4). Every function runs
// inside a unit of work (store.h `Work`), so proof-log entries become
// durable in the same transaction as the state change that caused them,
// and a rolled-back unit leaves no entry, node, key or tree-state change
// behind. The tree state lives in the database (proof_state), so there is
// no in-memory state to keep in step with commits and rollbacks.
//
// Entries can only be appended: there is no update or delete here.
// REQUIRES: a Transaction of the SQLite backend (FailedPrecondition
// otherwise). Thread-safety: that of the Transaction (store thread only).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/proof/evidence.h"
#include "core/proof/log_audit.h"
#include "core/proof/note.h"
#include "core/proof_entry.h"
#include "store/store.h"

namespace consentd::store {

struct ProofAppendResult {
  std::uint64_t first_sequence = 0;
  std::uint64_t tree_size = 0;  // after the append
  int evidence_dropped = 0;     // evidence of erased subjects, not stored
};

// Seals evidence, assigns sequences, writes entries, tree nodes and state.
// An erasure_completed entry shreds its subject's evidence key.
Result<ProofAppendResult> AppendProofEntries(Transaction& txn, std::vector<ProofEntry> entries,
                                             TimestampMs now);

Result<std::uint64_t> ProofTreeSize(Transaction& txn);

// Signs and stores a checkpoint of the current tree if it grew since the
// last checkpoint; returns the note, or nullopt when there was nothing new.
Result<std::optional<std::string>> WriteProofCheckpoint(Transaction& txn,
                                                        const proof::NoteSigner& signer,
                                                        TimestampMs now);

// All signed checkpoints, by tree size; the latest, if any.
Result<std::vector<std::string>> ListProofCheckpoints(Transaction& txn);
Result<std::optional<std::string>> LatestProofCheckpoint(Transaction& txn);
// The latest checkpoint's tree size and when it was written (for the
// checkpoint metrics); nullopt before the first.
struct ProofCheckpointInfo {
  std::uint64_t tree_size = 0;
  TimestampMs created_at = 0;
};
Result<std::optional<ProofCheckpointInfo>> LatestProofCheckpointInfo(Transaction& txn);

// The canonical bytes of entry `sequence`. NotFound past the end.
Result<std::string> ReadProofEntry(Transaction& txn, std::uint64_t sequence);

// Calls `fn(sequence, canonical bytes)` for every entry whose subject
// (pii_principal_id) is `subject`, in sequence order; stops at the first
// error `fn` returns. There is no per-subject index (it would slow every
// append); a substring filter in SQLite skips the other entries, and each
// candidate is decoded to confirm the match. Cost: one pass over the log.
Status ForEachSubjectProofEntry(
    Transaction& txn, std::string_view subject,
    const std::function<Status(std::uint64_t sequence, std::string_view bytes)>& fn);

// A C2SP tlog-proof bundle for entry `sequence` (its bytes in `extra`)
// against the latest checkpoint. FailedPrecondition if no checkpoint
// covers the entry yet.
Result<std::string> ProveProofEntry(Transaction& txn, std::uint64_t sequence);

// The full audit of `consentctl verify` (core/proof/log_audit.h) over the
// stored entries, checkpoints, tree nodes and state. Rows are read on the
// calling (store) thread; `options` only tunes the hashing threads.
// `saved_checkpoints`: signed checkpoints kept outside the database
// (proof::AuditInput::saved_checkpoints).
Result<proof::AuditResult> AuditProofLog(Transaction& txn, const proof::NoteVerifier& verifier,
                                         const proof::AuditOptions& options = {},
                                         std::vector<std::string> saved_checkpoints = {});

// The decrypted evidence of entry `sequence`: empty if it has none;
// FailedPrecondition once its subject was erased (the key is gone).
Result<std::map<std::string, std::string>> OpenProofEvidence(Transaction& txn,
                                                             std::uint64_t sequence);

// Evidence keys in the subject_keys table, inside the caller's unit of
// work. Borrowed transaction; lives no longer than the unit of work, and
// caches what it read or wrote there (a batch asks for the same subject's
// key many times); the cached keys are wiped when it is destroyed.
class SqliteSubjectKeyStore final : public proof::SubjectKeyStore {
 public:
  SqliteSubjectKeyStore(Transaction& txn, TimestampMs now) : txn_(txn), now_(now) {}
  ~SqliteSubjectKeyStore() override;
  SqliteSubjectKeyStore(const SqliteSubjectKeyStore&) = delete;
  SqliteSubjectKeyStore& operator=(const SqliteSubjectKeyStore&) = delete;
  Result<proof::SubjectKey> KeyForSealing(std::string_view subject) override;
  Result<proof::SubjectKey> KeyForOpening(std::string_view subject) const override;
  Status Shred(std::string_view subject) override;
  bool IsErased(std::string_view subject) const override;

 private:
  struct Cached {
    bool present = false;  // a key is stored
    bool erased = false;   // shredded: never a key again
    proof::SubjectKey key{};
  };
  Result<const Cached*> Find(std::string_view subject) const;

  Transaction& txn_;
  TimestampMs now_;
  mutable std::map<std::string, Cached, std::less<>> cache_;
};

}  // namespace consentd::store
