#include "core/proof/evidence.h"

#include <gtest/gtest.h>

#include "core/proof/entry_codec.h"
#include "core/proof/log_writer.h"
#include "core/proof/merkle.h"

namespace consentd::proof {
namespace {

const std::map<std::string, std::string> kEvidence{
    {"email", "alice@example.com"}, {"ip", "198.51.100.7"}, {"user_agent", "Mozilla/5.0"}};

TEST(Evidence, SealedEvidenceOpensWithTheSameKeyAndEntry) {
  SubjectKey key = *NewSubjectKey();
  Result<SealedEvidence> sealed = SealEvidence(kEvidence, key, 17, "rec-17");
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(sealed->nonce.size(), 12U);
  EXPECT_EQ(sealed->tag.size(), 16U);
  EXPECT_EQ(sealed->ciphertext.find("alice"), std::string::npos);
  Result<std::map<std::string, std::string>> opened = OpenEvidence(*sealed, key, 17, "rec-17");
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ(*opened, kEvidence);
}

TEST(Evidence, CiphertextIsBoundToItsEntrySequenceAndId) {
  SubjectKey key = *NewSubjectKey();
  SealedEvidence sealed = *SealEvidence(kEvidence, key, 17, "rec-17");
  EXPECT_EQ(OpenEvidence(sealed, key, 18, "rec-17").status().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(OpenEvidence(sealed, key, 17, "rec-18").status().code(), StatusCode::kUnauthenticated);
  EXPECT_FALSE(OpenEvidence(sealed, *NewSubjectKey(), 17, "rec-17").ok());
  SealedEvidence flipped = sealed;
  flipped.ciphertext[0] ^= 1;
  EXPECT_FALSE(OpenEvidence(flipped, key, 17, "rec-17").ok());
}

ProofEntry Decided(const std::string& subject, bool with_evidence) {
  ProofEntry e;
  e.recorded_at = 1764400000000;
  e.subject = subject;
  e.kind = ProofKind::kDecided;
  e.topic = "newsletter";
  e.channel = "email";
  e.new_status = "granted";
  e.legal_basis = "eu-gdpr:A6-1-a";
  if (with_evidence) e.evidence = kEvidence;
  return e;
}

ProofEntry Erasure(const std::string& subject) {
  ProofEntry e;
  e.recorded_at = 1764400001000;
  e.subject = subject;
  e.kind = ProofKind::kErasureCompleted;
  return e;
}

TEST(ProofLogWriter, StoredBytesCarryCiphertextNeverClearEvidence) {
  InMemorySubjectKeyStore keys;
  ProofLogWriter writer({}, keys);
  Result<PreparedBatch> batch = writer.Prepare({Decided("s1", true)});
  ASSERT_TRUE(batch.ok());
  const PreparedEntry& row = batch->entries[0];
  EXPECT_EQ(row.bytes.find("alice"), std::string::npos);
  EXPECT_EQ(row.bytes.find("198.51"), std::string::npos);
  EXPECT_NE(row.bytes.find("\"pii_information\":{\"alg\":\"A256GCM\""), std::string::npos);
  EXPECT_EQ(row.leaf_hash, HashLeaf(row.bytes));
  Result<DecodedEntry> d = DecodeEntry(row.bytes);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(
      *OpenEvidence(d->sealed, *keys.KeyForOpening("s1"), d->entry.sequence, d->entry.record_id),
      kEvidence);
}

TEST(ProofLogWriter, TreeMovesOnlyOnCommit) {
  InMemorySubjectKeyStore keys;
  ProofLogWriter writer({}, keys);
  Result<PreparedBatch> dropped = writer.Prepare({Decided("s1", false), Decided("s2", false)});
  ASSERT_TRUE(dropped.ok());
  EXPECT_EQ(writer.frontier().size(), 0U);
  Result<PreparedBatch> batch = writer.Prepare({Decided("s1", false)});
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ(batch->entries[0].sequence, 0U);
  writer.Commit(std::move(batch).value());
  EXPECT_EQ(writer.frontier().size(), 1U);
  Result<PreparedBatch> next = writer.Prepare({Decided("s1", false)});
  EXPECT_EQ(next->entries[0].sequence, 1U);
}

TEST(ProofLogWriter, NodesReportedAreExactlyTheStoredLevels) {
  InMemorySubjectKeyStore keys;
  ProofLogWriter writer({}, keys);
  std::vector<ProofEntry> entries(40, Decided("s", false));
  PreparedBatch batch = *writer.Prepare(entries);
  InMemoryTree tree;
  for (const auto& row : batch.entries) tree.Append(row.leaf_hash);
  ASSERT_EQ(batch.nodes.size(), 2U);  // level 4: leaves [0,16) and [16,32)
  for (const PreparedNode& n : batch.nodes) {
    EXPECT_EQ(n.level, 4);
    EXPECT_EQ(n.hash, *tree.Node(n.level, n.index));
  }
  EXPECT_EQ(batch.frontier.Root(), tree.Root());
}

// Crypto-shredding: after erasure every proof still verifies against the
// old checkpoint root, and the erased subject's evidence cannot be read.
TEST(ProofLogWriter, ShreddingKeepsEveryProofButMakesEvidenceUnreadable) {
  InMemorySubjectKeyStore keys;
  ProofLogWriter writer({}, keys);
  InMemoryTree tree;
  std::vector<std::string> bytes;
  auto append = [&](std::vector<ProofEntry> entries) {
    PreparedBatch b = *writer.Prepare(std::move(entries));
    for (const auto& row : b.entries) {
      tree.Append(row.leaf_hash);
      bytes.push_back(row.bytes);
    }
    writer.Commit(std::move(b));
  };
  append({Decided("alice", true), Decided("bob", true), Decided("alice", true)});
  Hash root_before = tree.Root();
  std::uint64_t size_before = tree.size();
  append({Erasure("alice")});
  EXPECT_TRUE(keys.IsErased("alice"));
  EXPECT_EQ(keys.KeyForOpening("alice").status().code(), StatusCode::kFailedPrecondition);

  for (std::uint64_t i = 0; i < tree.size(); ++i) {
    Hash leaf = HashLeaf(bytes[i]);
    EXPECT_TRUE(VerifyInclusion(i, tree.size(), AsBytes(leaf),
                                *InclusionProof(tree, i, tree.size()), AsBytes(tree.Root()))
                    .ok());
  }
  EXPECT_TRUE(VerifyConsistency(size_before, tree.size(),
                                *ConsistencyProof(tree, size_before, tree.size()),
                                AsBytes(root_before), AsBytes(tree.Root()))
                  .ok());
  DecodedEntry bob = *DecodeEntry(bytes[1]);
  EXPECT_EQ(*OpenEvidence(bob.sealed, *keys.KeyForOpening("bob"), 1, bob.entry.record_id),
            kEvidence);
  DecodedEntry alice = *DecodeEntry(bytes[0]);
  EXPECT_FALSE(alice.sealed.empty());
  EXPECT_FALSE(keys.KeyForOpening("alice").ok());
}

TEST(ProofLogWriter, EventAfterErasureGetsNoFreshKeyAndStoresNoEvidence) {
  InMemorySubjectKeyStore keys;
  ProofLogWriter writer({}, keys);
  writer.Commit(*writer.Prepare({Decided("alice", true), Erasure("alice")}));
  Result<PreparedBatch> late = writer.Prepare({Decided("alice", true)});
  ASSERT_TRUE(late.ok());
  EXPECT_EQ(late->evidence_dropped, 1);
  EXPECT_EQ(late->entries[0].bytes.find("pii_information"), std::string::npos);
  EXPECT_EQ(late->entries[0].bytes.find("alice@"), std::string::npos);
  EXPECT_EQ(keys.KeyForSealing("alice").status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(keys.KeyForOpening("alice").status().code(), StatusCode::kFailedPrecondition);
}

TEST(ProofLogWriter, RecordIdsAreUuidV4AndKeptWhenGiven) {
  InMemorySubjectKeyStore keys;
  ProofLogWriter writer({}, keys);
  ProofEntry given = Decided("s", false);
  given.record_id = "given-id";
  PreparedBatch b = *writer.Prepare({Decided("s", false), given});
  DecodedEntry first = *DecodeEntry(b.entries[0].bytes);
  ASSERT_EQ(first.entry.record_id.size(), 36U);
  EXPECT_EQ(first.entry.record_id[14], '4');
  EXPECT_EQ(DecodeEntry(b.entries[1].bytes)->entry.record_id, "given-id");
}

}  // namespace
}  // namespace consentd::proof

namespace consentd::proof {
namespace {

TEST(ProofLogWriter, EntryWithoutEvidenceNeedsNoKey) {
  InMemorySubjectKeyStore keys;
  ProofLogWriter writer({}, keys);
  PreparedBatch b = *writer.Prepare({Decided("nobody", false)});
  EXPECT_EQ(b.entries[0].bytes.find("pii_information"), std::string::npos);
  EXPECT_EQ(keys.KeyForOpening("nobody").status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace consentd::proof
