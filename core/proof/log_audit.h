// AuditLog: the check behind `consentctl verify`. Recomputes the Merkle
// tree from the stored entries (in sequence order), checks every
// checkpoint's signature and root, the consistency between consecutive
// checkpoints, and reports the first problem with the first sequence number
// that cannot be trusted. Pure: rows come from a reader callback.
//
// Per row it checks, in O(1) hashing per entry: sequences are contiguous
// from 0 (a deleted or inserted row shows here), the entry bytes carry the
// row's own sequence (a moved or reordered entry shows here), the stored
// leaf hash equals the recomputed one (a flipped byte shows here). An entry
// rewritten together with its leaf hash is caught by the first signed
// checkpoint after it; the report then names the first sequence that
// checkpoint no longer vouches for.
//
// Speed: the caller's thread reads rows, copies them into batches and folds
// the tree; leaf hashing (the larger half of the work) runs on
// `AuditOptions::hash_threads` threads of its own, batch by batch. Every
// check is still made in sequence order on the caller's thread, so the
// result (problem text and first bad sequence) is the same as a serial run.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/proof/hash.h"
#include "core/proof/merkle.h"
#include "core/proof/note.h"
#include "core/status.h"

namespace consentd::proof {

struct StoredRow {
  std::uint64_t sequence = 0;
  std::string bytes;
  std::optional<Hash> leaf_hash;  // as stored, if the store keeps it
};

// Fills `row` and returns true, or returns false at the end.
using RowReader = std::function<Result<bool>(StoredRow& row)>;

// The same row without owning its bytes: a store can point into its own
// buffers, so a full audit neither copies nor allocates per entry.
struct RowView {
  std::uint64_t sequence = 0;
  std::string_view bytes;         // valid until the reader is called again
  std::optional<Hash> leaf_hash;  // as stored, if the store keeps it
};
using RowViewReader = std::function<Result<bool>(RowView& row)>;

// Tuning only: no option changes what an audit reports.
struct AuditOptions {
  // Threads that hash leaves while the caller's thread reads and folds;
  // 0 does everything on the caller's thread. Threads start only once a
  // full batch has been read (a small log never starts one), and stop
  // before the audit returns.
  int hash_threads = 1;
  // Rows handed to a hashing thread at a time. Large enough that handing
  // over costs nothing per row; small enough that a batch stays in cache.
  std::size_t rows_per_batch = 256;
};

struct AuditInput {
  const NoteVerifier* verifier = nullptr;     // REQUIRED
  std::vector<std::string> checkpoint_notes;  // signed checkpoints, any order
  // Signed checkpoints kept outside the database (an auditor's copy of an
  // earlier `consentctl log checkpoint`). The stored ones come from the
  // same file as the entries, so whoever can rewrite entries can delete
  // them too; a saved one is the only proof that the log once held more,
  // or other entries (truncation, rollback to a backup, a rewritten tail
  // re-signed after its checkpoints were deleted). Checked like the stored
  // ones: signature, root at its size, no fork.
  std::vector<std::string> saved_checkpoints;
  // Optional: stored tree nodes; consecutive checkpoints are then also
  // checked with a consistency proof built from them (what `log prove`
  // and auditors are served).
  const NodeSource* nodes = nullptr;
  // Optional: the tree state the store recorded with its last append.
  std::optional<MerkleFrontier> recorded_state;
  AuditOptions options;
};

struct AuditResult {
  std::uint64_t entries = 0;
  std::uint64_t checkpoints = 0;
  std::uint64_t saved_checkpoints = 0;
  std::uint64_t largest_saved = 0;  // the largest saved checkpoint's size
  std::uint64_t largest_signed = 0;  // the newest signed checkpoint's size
  Hash root{};
  std::string problem;  // empty when everything verified
  std::optional<std::uint64_t> first_bad_sequence;
  bool ok() const { return problem.empty(); }
};

// A non-OK status only when `read` fails (after the rows before the failing
// one were checked); problems found are in the result. `read` is called on
// the caller's thread only.
Result<AuditResult> AuditLog(const RowReader& read, const AuditInput& input);
// The same audit over borrowed rows (what the SQLite store uses).
Result<AuditResult> AuditLogRows(const RowViewReader& read, const AuditInput& input);

}  // namespace consentd::proof
