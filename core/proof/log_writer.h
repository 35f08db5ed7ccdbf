// ProofLogWriter: turns the reconciler's ProofEntry values into stored
// proof-log rows. For each entry, in order: assign the next sequence (= leaf
// index) and a record id if it has none, seal its evidence under the
// subject's key, encode it canonically, hash the leaf and extend the tree.
// An erasure_completed entry shreds its subject's key after it is logged.
//
// Two phases so the tree only moves with its data (STYLE.md habit 8):
// Prepare() computes the rows against a copy of the tree state; the caller
// writes them in its transaction and calls Commit() once that is durable
// (or drops the batch if it is not). The key-store effects of Prepare
// (new keys, shredding) belong to that same transaction.
//
// Not thread-safe: one writer per log, used from the store's thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/proof/evidence.h"
#include "core/proof/hash.h"
#include "core/proof/merkle.h"
#include "core/proof_entry.h"
#include "core/status.h"

namespace consentd::proof {

struct PreparedEntry {
  std::uint64_t sequence = 0;
  std::string subject;
  std::string bytes;  // canonical entry (see entry_codec.h)
  Hash leaf_hash{};
};

// A tree node the store keeps (IsStoredLevel(level), level >= 1).
struct PreparedNode {
  int level = 0;
  std::uint64_t index = 0;
  Hash hash{};
};

struct PreparedBatch {
  std::vector<PreparedEntry> entries;
  std::vector<PreparedNode> nodes;
  MerkleFrontier frontier;  // the tree state after this batch
  // Entries whose evidence was discarded because their subject is erased:
  // an erased person's data is never stored again, and never under a new key.
  int evidence_dropped = 0;
};

class ProofLogWriter {
 public:
  // `keys` is borrowed and must outlive the writer.
  ProofLogWriter(MerkleFrontier state, SubjectKeyStore& keys)
      : frontier_(std::move(state)), keys_(keys) {}

  // Errors: InvalidArgument for an entry that cannot be encoded (invalid
  // UTF-8), or what the key store reports; nothing is committed then.
  Result<PreparedBatch> Prepare(std::vector<ProofEntry> entries);

  // REQUIRES: `batch` came from Prepare() on the current state.
  void Commit(PreparedBatch batch) { frontier_ = std::move(batch.frontier); }

  const MerkleFrontier& frontier() const { return frontier_; }

 private:
  MerkleFrontier frontier_;
  SubjectKeyStore& keys_;
};

// A random RFC 9562 version-4 UUID, lower-case.
Result<std::string> NewRecordId();

}  // namespace consentd::proof
