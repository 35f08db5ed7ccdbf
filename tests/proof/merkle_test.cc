#include "core/proof/merkle.h"

#include <gtest/gtest.h>

#include <optional>

#include "core/proof/bytes.h"
#include "tests/proof/test_data.h"

namespace consentd::proof {
namespace {

using testing::HexHash;
using testing::LoadJson;

std::vector<std::string> LeafInputs() {
  std::vector<std::string> leaves;
  const nlohmann::json vectors = LoadJson("merkle/rfc6962_tree_vectors.json");
  for (const auto& hex : vectors["leaf_inputs_hex"]) {
    leaves.push_back(*HexDecode(hex.get<std::string>()));
  }
  return leaves;
}

TEST(MerkleFrontier, EmptyTreeRootIsHashOfEmptyString) {
  auto v = LoadJson("merkle/rfc6962_tree_vectors.json");
  EXPECT_EQ(MerkleFrontier().Root(), HexHash(v["empty_tree_root_hex"]));
}

TEST(MerkleFrontier, IncrementalRootsMatchEveryRfc6962Vector) {
  auto v = LoadJson("merkle/rfc6962_tree_vectors.json");
  MerkleFrontier f;
  int checked = 0;
  for (const std::string& leaf : LeafInputs()) {
    f.Append(HashLeaf(leaf));
    EXPECT_EQ(f.Root(), HexHash(v["root_hash_by_tree_size_hex"][std::to_string(f.size())]))
        << "size " << f.size();
    ++checked;
  }
  EXPECT_EQ(checked, 8);
}

TEST(MerkleFrontier, AppendReportsEveryCompletedSubtreeHash) {
  auto v = LoadJson("merkle/rfc6962_tree_vectors.json");
  InMemoryTree tree;
  for (const std::string& leaf : LeafInputs()) tree.Append(HashLeaf(leaf));
  const auto& levels = v["node_hashes_by_level_hex"];
  for (std::size_t level = 0; level < levels.size(); ++level) {
    for (std::size_t i = 0; i < levels[level].size(); ++i) {
      Result<Hash> got = tree.Node(static_cast<int>(level), i);
      ASSERT_TRUE(got.ok()) << level << "/" << i;
      EXPECT_EQ(*got, HexHash(levels[level][i])) << level << "/" << i;
    }
  }
}

TEST(MerkleFrontier, SerializeRestoreContinuesTheSameTree) {
  MerkleFrontier a;
  for (int i = 0; i < 13; ++i) a.Append(HashLeaf(std::to_string(i)));
  Result<MerkleFrontier> b = MerkleFrontier::Restore(a.Serialize());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*b, a);
  a.Append(HashLeaf("x"));
  b->Append(HashLeaf("x"));
  EXPECT_EQ(a.Root(), b->Root());
}

TEST(MerkleFrontier, RestoreRejectsTruncatedState) {
  MerkleFrontier a;
  for (int i = 0; i < 5; ++i) a.Append(HashLeaf(std::to_string(i)));
  std::string bytes = a.Serialize();
  EXPECT_FALSE(MerkleFrontier::Restore(bytes.substr(0, bytes.size() - 1)).ok());
  EXPECT_FALSE(MerkleFrontier::Restore("abc").ok());
}

std::optional<std::vector<Hash>> ParseProof(const nlohmann::json& j) {
  std::vector<Hash> out;
  if (j.is_null()) return out;
  for (const auto& e : j) {
    auto b = Base64Decode(e.get<std::string>());
    if (!b || b->size() != kHashSize) return std::nullopt;
    out.push_back(HashFromBytes(*b));
  }
  return out;
}

// A malformed encoding in a probe counts as a rejection by the verifier.
bool AcceptsInclusion(const nlohmann::json& p) {
  auto proof = ParseProof(p["proof"]);
  auto leaf = Base64Decode(p["leafHash"].get<std::string>());
  auto root = Base64Decode(p["root"].get<std::string>());
  if (!proof || !leaf || !root) return false;
  return VerifyInclusion(p["leafIdx"].get<std::uint64_t>(), p["treeSize"].get<std::uint64_t>(),
                         *leaf, *proof, *root)
      .ok();
}

bool AcceptsConsistency(const nlohmann::json& p) {
  auto proof = ParseProof(p["proof"]);
  auto root1 = Base64Decode(p["root1"].get<std::string>());
  auto root2 = Base64Decode(p["root2"].get<std::string>());
  if (!proof || !root1 || !root2) return false;
  return VerifyConsistency(p["size1"].get<std::uint64_t>(), p["size2"].get<std::uint64_t>(), *proof,
                           *root1, *root2)
      .ok();
}

TEST(MerkleVerify, InclusionAcceptsExactlyTheValidProbes) {
  auto probes = LoadJson("merkle/inclusion_probes.json")["probes"];
  ASSERT_EQ(probes.size(), 98U);
  int accepted = 0;
  for (const auto& p : probes) {
    bool want_ok = !p["wantErr"].get<bool>();
    EXPECT_EQ(AcceptsInclusion(p), want_ok) << p["source_file"] << ": " << p["desc"];
    accepted += want_ok ? 1 : 0;
  }
  EXPECT_EQ(accepted, 6);
}

TEST(MerkleVerify, ConsistencyAcceptsExactlyTheValidProbes) {
  auto probes = LoadJson("merkle/consistency_probes.json")["probes"];
  ASSERT_EQ(probes.size(), 98U);
  int accepted = 0;
  for (const auto& p : probes) {
    bool want_ok = !p["wantErr"].get<bool>();
    EXPECT_EQ(AcceptsConsistency(p), want_ok) << p["source_file"] << ": " << p["desc"];
    accepted += want_ok ? 1 : 0;
  }
  EXPECT_EQ(accepted, 6);
}

// Generated proofs verify for every (index, size) and (size1, size2) pair of
// a tree large enough to have every shape of ragged right edge.
TEST(MerkleProofs, GeneratedProofsVerifyForEveryPairUpTo70) {
  InMemoryTree tree;
  std::vector<Hash> roots{tree.Root()};
  for (int i = 0; i < 70; ++i) {
    tree.Append(HashLeaf("leaf " + std::to_string(i)));
    roots.push_back(tree.Root());
  }
  for (std::uint64_t size = 1; size <= 70; ++size) {
    Result<Hash> whole = RangeHash(tree, 0, size);
    ASSERT_TRUE(whole.ok());
    EXPECT_EQ(*whole, roots[size]);
    for (std::uint64_t index = 0; index < size; ++index) {
      Result<std::vector<Hash>> proof = InclusionProof(tree, index, size);
      ASSERT_TRUE(proof.ok());
      Hash leaf = *tree.Node(0, index);
      EXPECT_TRUE(VerifyInclusion(index, size, AsBytes(leaf), *proof, AsBytes(roots[size])).ok())
          << index << "/" << size;
      if (index + 1 < size) {
        EXPECT_FALSE(
            VerifyInclusion(index + 1, size, AsBytes(leaf), *proof, AsBytes(roots[size])).ok());
      }
    }
    for (std::uint64_t size1 = 1; size1 <= size; ++size1) {
      Result<std::vector<Hash>> proof = ConsistencyProof(tree, size1, size);
      ASSERT_TRUE(proof.ok());
      EXPECT_TRUE(
          VerifyConsistency(size1, size, *proof, AsBytes(roots[size1]), AsBytes(roots[size])).ok())
          << size1 << "->" << size;
      if (size1 < size) {
        EXPECT_FALSE(
            VerifyConsistency(size1, size, *proof, AsBytes(roots[size1 - 1]), AsBytes(roots[size]))
                .ok());
      }
    }
  }
}

TEST(MerkleProofs, StridedSourceFoldsUnstoredLevelsFromStoredOnes) {
  InMemoryTree full;
  for (int i = 0; i < 300; ++i) full.Append(HashLeaf(std::to_string(i)));
  int fetches_of_unstored_level = 0;
  StridedNodeSource strided(
      [&](int level, std::uint64_t first, std::uint64_t count) -> Result<std::vector<Hash>> {
        if (!IsStoredLevel(level)) ++fetches_of_unstored_level;
        std::vector<Hash> row;
        for (std::uint64_t i = first; i < first + count; ++i) {
          Result<Hash> h = full.Node(level, i);
          if (!h.ok()) return h.status();
          row.push_back(*h);
        }
        return row;
      });
  for (int level = 0; level <= 8; ++level) {
    for (std::uint64_t i = 0; (i + 1) << level <= 300; ++i) {
      EXPECT_EQ(*strided.Node(level, i), *full.Node(level, i)) << level << "/" << i;
    }
  }
  EXPECT_EQ(fetches_of_unstored_level, 0);
  Result<std::vector<Hash>> proof = InclusionProof(strided, 123, 300);
  ASSERT_TRUE(proof.ok());
  EXPECT_TRUE(
      VerifyInclusion(123, 300, AsBytes(*full.Node(0, 123)), *proof, AsBytes(full.Root())).ok());
}

}  // namespace
}  // namespace consentd::proof

namespace consentd::proof {
namespace {

// Seeded random pairs over a tree with ragged edges at every level, proofs
// served through the strided store layout; any one-bit change is rejected.
TEST(MerkleProofs, RandomProofsFromStridedLayoutVerifyAndMutationsFail) {
  InMemoryTree full;
  std::vector<Hash> roots{full.Root()};
  for (int i = 0; i < 1500; ++i) {
    full.Append(HashLeaf("entry " + std::to_string(i)));
    roots.push_back(full.Root());
  }
  StridedNodeSource strided(
      [&](int level, std::uint64_t first, std::uint64_t count) -> Result<std::vector<Hash>> {
        if (!IsStoredLevel(level)) return Internal("unstored level fetched");
        std::vector<Hash> row;
        for (std::uint64_t i = first; i < first + count; ++i) {
          Result<Hash> h = full.Node(level, i);
          if (!h.ok()) return h.status();
          row.push_back(*h);
        }
        return row;
      });
  std::uint64_t state = 12345;
  auto next = [&state](std::uint64_t bound) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (state >> 33) % bound;
  };
  for (int round = 0; round < 300; ++round) {
    std::uint64_t size = 1 + next(1500);
    std::uint64_t index = next(size);
    Result<std::vector<Hash>> inc = InclusionProof(strided, index, size);
    ASSERT_TRUE(inc.ok()) << inc.status().ToString();
    Hash leaf = *full.Node(0, index);
    ASSERT_TRUE(VerifyInclusion(index, size, AsBytes(leaf), *inc, AsBytes(roots[size])).ok());
    if (!inc->empty()) {
      std::vector<Hash> bad = *inc;
      bad[next(bad.size())][next(kHashSize)] ^= static_cast<std::uint8_t>(1U << next(8));
      EXPECT_FALSE(VerifyInclusion(index, size, AsBytes(leaf), bad, AsBytes(roots[size])).ok());
    }
    std::uint64_t size1 = 1 + next(size);
    Result<std::vector<Hash>> con = ConsistencyProof(strided, size1, size);
    ASSERT_TRUE(con.ok()) << con.status().ToString();
    ASSERT_TRUE(
        VerifyConsistency(size1, size, *con, AsBytes(roots[size1]), AsBytes(roots[size])).ok())
        << size1 << "->" << size;
    if (!con->empty()) {
      std::vector<Hash> bad = *con;
      bad[next(bad.size())][next(kHashSize)] ^= static_cast<std::uint8_t>(1U << next(8));
      EXPECT_FALSE(
          VerifyConsistency(size1, size, bad, AsBytes(roots[size1]), AsBytes(roots[size])).ok());
    }
  }
}

}  // namespace
}  // namespace consentd::proof
