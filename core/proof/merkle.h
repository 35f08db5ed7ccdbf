// RFC 9162 Merkle tree: the incremental frontier (compact range), proof
// generation over stored subtree hashes, and proof verification
// (§2.1.3.2 inclusion, §2.1.4.2 consistency).
//
// Addressing: node (level, index) is the root of the perfect subtree over
// leaves [index << level, (index + 1) << level); level 0 is the leaf hash.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/proof/hash.h"
#include "core/status.h"

namespace consentd::proof {

// The hashes of the perfect subtrees that together cover leaves [0, size),
// largest first: append is amortised O(1) (O(log n) worst case) and the
// root costs O(log n). Value type; thread-compatible.
class MerkleFrontier {
 public:
  // Called for every perfect subtree an append completes, level >= 1.
  using NodeSink = std::function<void(int level, std::uint64_t index, const Hash& hash)>;

  std::uint64_t size() const { return size_; }
  void Append(const Hash& leaf_hash, const NodeSink& on_node = nullptr);
  Hash Root() const;

  // Persisted form: 8-byte big-endian size, then the frontier hashes.
  std::string Serialize() const;
  static Result<MerkleFrontier> Restore(std::string_view bytes);

  bool operator==(const MerkleFrontier&) const = default;

 private:
  std::uint64_t size_ = 0;
  std::vector<Hash> hashes_;  // one per set bit of size_, highest bit first
};

// Read access to stored node hashes of a tree. Errors: NotFound when a
// node is not (yet) stored, or whatever the backing store reports.
class NodeSource {
 public:
  virtual ~NodeSource() = default;
  virtual Result<Hash> Node(int level, std::uint64_t index) const = 0;
};

// MTH(D[begin:end]) from perfect-subtree hashes; O(log n) lookups.
// REQUIRES: begin < end and the range is one RFC 9162 subtree (begin a
// multiple of the largest power of two below end - begin, or of that size).
Result<Hash> RangeHash(const NodeSource& nodes, std::uint64_t begin, std::uint64_t end);

// RFC 9162 §2.1.3.1 PATH(index, D[0:size]); InvalidArgument if index >= size.
Result<std::vector<Hash>> InclusionProof(const NodeSource& nodes, std::uint64_t index,
                                         std::uint64_t size);
// RFC 9162 §2.1.4.1 PROOF(size1, D[0:size2]); InvalidArgument unless
// 0 < size1 <= size2 (size1 == size2 gives an empty proof).
Result<std::vector<Hash>> ConsistencyProof(const NodeSource& nodes, std::uint64_t size1,
                                           std::uint64_t size2);

// Verifiers take hashes as raw bytes so malformed input is rejected here,
// not trusted by a caller's conversion. OK only for a valid proof;
// otherwise kDataLoss (proof does not match) or kInvalidArgument.
Status VerifyInclusion(std::uint64_t index, std::uint64_t size, std::string_view leaf_hash,
                       std::span<const Hash> proof, std::string_view root);
Status VerifyConsistency(std::uint64_t size1, std::uint64_t size2, std::span<const Hash> proof,
                         std::string_view root1, std::string_view root2);

// Every node of a tree in memory, for tests, tools and benchmarks.
// Not thread-safe.
class InMemoryTree final : public NodeSource {
 public:
  void Append(const Hash& leaf_hash);
  std::uint64_t size() const { return frontier_.size(); }
  Hash Root() const { return frontier_.Root(); }
  const MerkleFrontier& frontier() const { return frontier_; }
  Result<Hash> Node(int level, std::uint64_t index) const override;

 private:
  MerkleFrontier frontier_;
  std::vector<std::vector<Hash>> levels_;
};

// Persisting every node doubles the rows; the store keeps level 0 and
// every kStoredLevelStride-th level, and a node in between is folded from
// at most 2^(kStoredLevelStride-1) hashes of the stored level below it.
inline constexpr int kStoredLevelStride = 4;
inline bool IsStoredLevel(int level) { return level % kStoredLevelStride == 0; }

class StridedNodeSource final : public NodeSource {
 public:
  // Returns `count` consecutive hashes of a stored level from `first`.
  using Fetch =
      std::function<Result<std::vector<Hash>>(int level, std::uint64_t first, std::uint64_t count)>;
  explicit StridedNodeSource(Fetch fetch) : fetch_(std::move(fetch)) {}
  Result<Hash> Node(int level, std::uint64_t index) const override;

 private:
  Fetch fetch_;
};

}  // namespace consentd::proof
