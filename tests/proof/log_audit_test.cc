#include "core/proof/log_audit.h"

#include <gtest/gtest.h>

#include "core/proof/checkpoint.h"
#include "core/proof/evidence.h"
#include "core/proof/log_writer.h"

namespace consentd::proof {
namespace {

class AuditTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ProofLogWriter writer({}, keys_);
    for (int batch = 0; batch < 3; ++batch) {
      std::vector<ProofEntry> entries;
      for (int i = 0; i < 5; ++i) {
        ProofEntry e;
        e.subject = "s" + std::to_string(i);
        e.kind = ProofKind::kDecided;
        e.recorded_at = 1000 + batch * 10 + i;
        e.evidence = {{"email", "p" + std::to_string(i) + "@example.com"}};
        entries.push_back(e);
      }
      PreparedBatch b = *writer.Prepare(entries);
      for (const auto& r : b.entries) {
        rows_.push_back({r.sequence, r.bytes, r.leaf_hash});
        tree_.Append(r.leaf_hash);
      }
      writer.Commit(std::move(b));
      checkpoints_.push_back(
          *SignCheckpoint({signer_.name(), tree_.size(), tree_.Root(), {}}, signer_));
    }
    state_ = writer.frontier();
  }

  AuditResult Audit() {
    std::size_t next = 0;
    RowReader read = [&](StoredRow& row) -> Result<bool> {
      if (next >= rows_.size()) return false;
      row = rows_[next++];
      return true;
    };
    AuditInput in;
    in.verifier = &verifier_;
    in.checkpoint_notes = checkpoints_;
    in.nodes = &tree_;
    in.recorded_state = state_;
    Result<AuditResult> r = AuditLog(read, in);
    EXPECT_TRUE(r.ok());
    return *r;
  }

  InMemorySubjectKeyStore keys_;
  NoteSigner signer_ = *NoteSigner::Generate("consentd.test/log");
  NoteVerifier verifier_ = *NoteVerifier::FromVerifierKey(signer_.VerifierKey());
  std::vector<StoredRow> rows_;
  std::vector<std::string> checkpoints_;
  InMemoryTree tree_;
  MerkleFrontier state_;
};

TEST_F(AuditTest, UntouchedLogVerifies) {
  AuditResult r = Audit();
  EXPECT_TRUE(r.ok()) << r.problem;
  EXPECT_EQ(r.entries, 15U);
  EXPECT_EQ(r.checkpoints, 3U);
  EXPECT_EQ(r.root, tree_.Root());
}

TEST_F(AuditTest, FlippedByteIsReportedAtItsSequence) {
  rows_[7].bytes[20] ^= 1;
  AuditResult r = Audit();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.first_bad_sequence, 7U) << r.problem;
}

TEST_F(AuditTest, RewrittenEntryWithFixedLeafHashFailsAtTheNextCheckpoint) {
  rows_[7].bytes[20] ^= 1;
  rows_[7].leaf_hash = HashLeaf(rows_[7].bytes);
  AuditResult r = Audit();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.first_bad_sequence, 5U) << r.problem;  // checkpoint 5 still holds
}

TEST_F(AuditTest, DeletedEntryIsReportedAsMissing) {
  rows_.erase(rows_.begin() + 3);
  AuditResult r = Audit();
  EXPECT_EQ(r.first_bad_sequence, 3U) << r.problem;
}

TEST_F(AuditTest, InsertedEntryIsDetected) {
  StoredRow extra = rows_[4];
  rows_.insert(rows_.begin() + 5, extra);
  for (std::size_t i = 5; i < rows_.size(); ++i) rows_[i].sequence = i;  // renumbered
  AuditResult r = Audit();
  EXPECT_EQ(r.first_bad_sequence, 5U) << r.problem;
}

TEST_F(AuditTest, ReorderedEntriesAreDetected) {
  std::swap(rows_[2].bytes, rows_[3].bytes);
  std::swap(rows_[2].leaf_hash, rows_[3].leaf_hash);
  AuditResult r = Audit();
  EXPECT_EQ(r.first_bad_sequence, 2U) << r.problem;
}

TEST_F(AuditTest, ForgedCheckpointIsDetected) {
  NoteSigner forger = *NoteSigner::Generate("consentd.test/log");
  checkpoints_[1] = *SignCheckpoint({forger.name(), 10, tree_.Root(), {}}, forger);
  AuditResult r = Audit();
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.problem.find("forged"), std::string::npos) << r.problem;
}

TEST_F(AuditTest, TruncatedTailIsDetected) {
  rows_.resize(12);
  AuditResult r = Audit();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.first_bad_sequence, 12U) << r.problem;
}

TEST_F(AuditTest, CorruptStoredNodesFailTheConsistencyCheck) {
  InMemoryTree other;
  for (std::size_t i = 0; i < rows_.size(); ++i) other.Append(HashLeaf(std::to_string(i)));
  AuditInput in;
  in.verifier = &verifier_;
  in.checkpoint_notes = checkpoints_;
  in.nodes = &other;
  std::size_t next = 0;
  Result<AuditResult> r = AuditLog(
      [&](StoredRow& row) -> Result<bool> {
        if (next >= rows_.size()) return false;
        row = rows_[next++];
        return true;
      },
      in);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->ok());
  EXPECT_NE(r->problem.find("consistency"), std::string::npos) << r->problem;
}

}  // namespace
}  // namespace consentd::proof
