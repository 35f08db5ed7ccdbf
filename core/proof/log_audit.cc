#include "core/proof/log_audit.h"

#include <algorithm>
#include <map>
#include <string_view>

#include "core/proof/checkpoint.h"
#include "core/proof/entry_codec.h"

namespace consentd::proof {
namespace {

void Fail(AuditResult& r, std::string problem, std::optional<std::uint64_t> seq) {
  if (!r.ok()) return;  // keep the first problem
  r.problem = std::move(problem);
  r.first_bad_sequence = seq;
}

}  // namespace

Result<AuditResult> AuditLog(const RowReader& read, const AuditInput& input) {
  StoredRow stored;
  return AuditLogRows(
      [&](RowView& row) -> Result<bool> {
        Result<bool> more = read(stored);
        if (!more.ok() || !*more) return more;
        row.sequence = stored.sequence;
        row.bytes = stored.bytes;
        row.leaf_hash = stored.leaf_hash;
        return true;
      },
      input);
}

Result<AuditResult> AuditLogRows(const RowViewReader& read, const AuditInput& input) {
  AuditResult result;
  if (input.verifier == nullptr) return InvalidArgument("audit: no verifier key");

  // 1. Every checkpoint must carry a valid signature by the log's key.
  std::map<std::uint64_t, Checkpoint> by_size;
  for (std::size_t i = 0; i < input.checkpoint_notes.size(); ++i) {
    Result<Checkpoint> c = OpenCheckpoint(input.checkpoint_notes[i], *input.verifier);
    if (!c.ok()) {
      Fail(
          result,
          "checkpoint #" + std::to_string(i + 1) + " is forged or corrupt: " + c.status().message(),
          std::nullopt);
      return result;
    }
    auto [it, fresh] = by_size.emplace(c->size, *c);
    if (!fresh && it->second.root != c->root) {
      Fail(
          result,
          "two signed checkpoints of size " + std::to_string(c->size) + " disagree: the log forked",
          c->size == 0 ? 0 : c->size - 1);
      return result;
    }
  }
  result.checkpoints = input.checkpoint_notes.size();

  // 2. Recompute the tree from the entries; check each checkpoint on the way.
  MerkleFrontier tree;
  auto next_cp = by_size.begin();
  std::uint64_t vouched = 0;  // entries [0, vouched) are covered by a checkpoint
  auto check_checkpoints = [&]() {
    while (next_cp != by_size.end() && next_cp->first == tree.size()) {
      if (next_cp->second.root != tree.Root()) {
        Fail(result,
             "entries " + std::to_string(vouched) + ".." + std::to_string(tree.size() - 1) +
                 " do not match the signed checkpoint of size " + std::to_string(tree.size()),
             vouched);
        return false;
      }
      vouched = tree.size();
      ++next_cp;
    }
    return true;
  };
  if (!check_checkpoints()) return result;
  // Rows are borrowed from the reader: nothing is copied or allocated
  // per entry.
  RowView row;
  for (;;) {
    Result<bool> more = read(row);
    if (!more.ok()) return more.status();
    if (!*more) break;
    std::uint64_t expected = tree.size();
    if (row.sequence != expected) {
      Fail(result,
           row.sequence > expected
               ? "entry " + std::to_string(expected) + " is missing"
               : "entry " + std::to_string(row.sequence) + " appears twice or out of order",
           std::min(row.sequence, expected));
      return result;
    }
    std::optional<std::uint64_t> inner = ExtractSequence(row.bytes);
    if (inner != row.sequence) {
      Fail(result,
           "entry " + std::to_string(row.sequence) + " holds the bytes of " +
               (inner ? "entry " + std::to_string(*inner) : std::string("no valid entry")),
           row.sequence);
      return result;
    }
    Hash leaf = HashLeaf(row.bytes);
    if (row.leaf_hash && *row.leaf_hash != leaf) {
      Fail(result, "entry " + std::to_string(row.sequence) + " was altered (leaf hash differs)",
           row.sequence);
      return result;
    }
    tree.Append(leaf);
    if (!check_checkpoints()) return result;
  }
  result.entries = tree.size();
  result.root = tree.Root();
  if (next_cp != by_size.end()) {
    Fail(result,
         "a signed checkpoint covers " + std::to_string(next_cp->first) +
             " entries but the log has only " + std::to_string(tree.size()) +
             ": entries were removed",
         tree.size());
    return result;
  }
  if (input.recorded_state && !(*input.recorded_state == tree)) {
    std::uint64_t recorded = input.recorded_state->size();
    Fail(result,
         "the recorded tree state (" + std::to_string(recorded) +
             " entries) does not match the entries (" + std::to_string(tree.size()) + ")",
         // Nothing after the last checkpoint, or after what the state
         // accounts for, can be trusted.
         std::min(vouched, recorded));
    return result;
  }

  // 3. Consecutive checkpoints: the proofs served from the stored nodes
  // must prove each one an extension of the previous.
  if (input.nodes != nullptr) {
    const Checkpoint* prev = nullptr;
    for (const auto& [size, cp] : by_size) {
      if (size == 0) continue;
      if (prev != nullptr) {
        Result<std::vector<Hash>> proof = ConsistencyProof(*input.nodes, prev->size, size);
        Status s = proof.ok() ? VerifyConsistency(prev->size, size, *proof, AsBytes(prev->root),
                                                  AsBytes(cp.root))
                              : proof.status();
        if (!s.ok()) {
          Fail(result,
               "no valid consistency proof from checkpoint " + std::to_string(prev->size) + " to " +
                   std::to_string(size) + ": " + s.message(),
               prev->size);
          return result;
        }
      }
      prev = &cp;
    }
  }
  return result;
}

}  // namespace consentd::proof
