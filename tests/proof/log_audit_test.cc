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
    in.saved_checkpoints = saved_;
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
  std::vector<std::string> saved_;  // checkpoints kept outside the database
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

// Whoever can rewrite the file can delete the newest entries together
// with the checkpoints covering them and recompute the stored tree state:
// the rest is a consistent, shorter log. Only a checkpoint kept elsewhere
// shows that the log once held more.
TEST_F(AuditTest, ATruncationThatDeletesItsCheckpointsIsCaughtOnlyByASavedCheckpoint) {
  const std::string saved = checkpoints_[2];  // 15 entries, kept by an auditor
  rows_.resize(12);
  checkpoints_.resize(2);
  MerkleFrontier shorter;
  for (const StoredRow& row : rows_) shorter.Append(*row.leaf_hash);
  state_ = shorter;
  InMemoryTree nodes;
  for (const StoredRow& row : rows_) nodes.Append(*row.leaf_hash);
  tree_ = nodes;
  AuditResult blind = Audit();
  EXPECT_TRUE(blind.ok()) << "without a saved checkpoint this is a valid log: " << blind.problem;

  saved_ = {saved};
  AuditResult r = Audit();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.first_bad_sequence, 12U) << r.problem;
  EXPECT_NE(r.problem.find("saved outside the database covers 15"), std::string::npos) << r.problem;
}

// The tail rewritten after its checkpoint was deleted, then signed again
// with the real key (consentd signs whatever tree it finds): the saved
// checkpoint of the same size has the old root.
TEST_F(AuditTest, ATailRewrittenAndSignedAgainDisagreesWithTheSavedCheckpoint) {
  const std::string saved = checkpoints_[2];
  rows_[12].bytes[20] ^= 1;
  rows_[12].leaf_hash = HashLeaf(rows_[12].bytes);
  MerkleFrontier rewritten;
  InMemoryTree nodes;
  for (const StoredRow& row : rows_) {
    rewritten.Append(*row.leaf_hash);
    nodes.Append(*row.leaf_hash);
  }
  state_ = rewritten;
  tree_ = nodes;
  checkpoints_[2] = *SignCheckpoint({signer_.name(), 15, rewritten.Root(), {}}, signer_);
  EXPECT_TRUE(Audit().ok()) << "consistent in itself";

  saved_ = {saved};
  AuditResult r = Audit();
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.problem.find("forked or was rolled back"), std::string::npos) << r.problem;
  EXPECT_EQ(r.first_bad_sequence, 14U) << r.problem;
}

TEST_F(AuditTest, ASavedCheckpointTheLogStillContainsPassesAndOneFromAnotherKeyFails) {
  saved_ = {checkpoints_[0], checkpoints_[1]};
  AuditResult r = Audit();
  EXPECT_TRUE(r.ok()) << r.problem;
  EXPECT_EQ(r.saved_checkpoints, 2U);
  EXPECT_EQ(r.largest_saved, 10U);

  NoteSigner other = *NoteSigner::Generate("consentd.test/log");
  saved_ = {*SignCheckpoint({other.name(), 10, tree_.Root(), {}}, other)};
  r = Audit();
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.problem.find("saved checkpoint #1 does not verify with this key"), std::string::npos)
      << r.problem;
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

// The audit hashes leaves on other threads in batches of rows
// (AuditOptions). A log of 10 signed checkpoints, 7 entries apart, read in
// batches of 8: batches and checkpoints cross at different rows, and the
// last batch is partial (rows 64..69).
class BatchedAuditTest : public ::testing::Test {
 protected:
  static constexpr std::size_t kRows = 70;
  static constexpr std::size_t kPerBatch = 8;

  void SetUp() override {
    ProofLogWriter writer({}, keys_);
    InMemoryTree tree;
    for (std::size_t i = 0; i < kRows / 7; ++i) {
      std::vector<ProofEntry> entries;
      for (int j = 0; j < 7; ++j) {
        ProofEntry e;
        e.subject = "s" + std::to_string(j);
        e.kind = ProofKind::kDecided;
        e.recorded_at = 1000 + static_cast<std::int64_t>(i * 7) + j;
        entries.push_back(e);
      }
      PreparedBatch b = *writer.Prepare(entries);
      for (const auto& r : b.entries) {
        rows_.push_back({r.sequence, r.bytes, r.leaf_hash});
        tree.Append(r.leaf_hash);
      }
      writer.Commit(std::move(b));
      checkpoints_.push_back(
          *SignCheckpoint({signer_.name(), tree.size(), tree.Root(), {}}, signer_));
    }
    state_ = writer.frontier();
  }

  // `fail_read_at`: the reader returns an error instead of that row.
  Result<AuditResult> Audit(const AuditOptions& options,
                            std::optional<std::size_t> fail_read_at = std::nullopt) {
    std::size_t next = 0;
    AuditInput in;
    in.verifier = &verifier_;
    in.checkpoint_notes = checkpoints_;
    in.recorded_state = state_;
    in.options = options;
    return AuditLogRows(
        [&](RowView& row) -> Result<bool> {
          if (fail_read_at == next) return Unavailable("disk went away");
          if (next >= rows_.size()) return false;
          row.sequence = rows_[next].sequence;
          row.bytes = rows_[next].bytes;
          row.leaf_hash = rows_[next].leaf_hash;
          ++next;
          return true;
        },
        in);
  }

  static AuditOptions Serial() {
    AuditOptions o;
    o.hash_threads = 0;
    return o;
  }
  static AuditOptions Batched(int threads, std::size_t per_batch = kPerBatch) {
    AuditOptions o;
    o.hash_threads = threads;
    o.rows_per_batch = per_batch;
    return o;
  }

  std::uint64_t FirstBad(const AuditOptions& options) {
    Result<AuditResult> r = Audit(options);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) return UINT64_MAX;
    EXPECT_FALSE(r->ok());
    return r->first_bad_sequence.value_or(UINT64_MAX);
  }

  InMemorySubjectKeyStore keys_;
  NoteSigner signer_ = *NoteSigner::Generate("consentd.test/log");
  NoteVerifier verifier_ = *NoteVerifier::FromVerifierKey(signer_.VerifierKey());
  std::vector<StoredRow> rows_;
  std::vector<std::string> checkpoints_;
  MerkleFrontier state_;
};

TEST_F(BatchedAuditTest, UntouchedLogVerifiesWithAnyNumberOfHashingThreads) {
  for (const AuditOptions& o :
       {Serial(), Batched(1), Batched(2), Batched(2, 1), Batched(1, 1000)}) {
    Result<AuditResult> r = Audit(o);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_TRUE(r->ok()) << r->problem;
    EXPECT_EQ(r->entries, kRows);
    EXPECT_EQ(r->root, state_.Root());
  }
}

TEST_F(BatchedAuditTest, FlippedByteInTheFirstRowOfTheFirstBatchIsReportedThere) {
  rows_[0].bytes[20] ^= 1;
  EXPECT_EQ(FirstBad(Batched(1)), 0U);
}

TEST_F(BatchedAuditTest, FlippedByteOnEitherSideOfABatchBoundaryIsReportedThere) {
  rows_[kPerBatch - 1].bytes[20] ^= 1;
  EXPECT_EQ(FirstBad(Batched(1)), kPerBatch - 1);
  rows_[kPerBatch - 1].bytes[20] ^= 1;
  rows_[kPerBatch].bytes[20] ^= 1;
  EXPECT_EQ(FirstBad(Batched(1)), kPerBatch);
}

TEST_F(BatchedAuditTest, FlippedByteInTheLastRowOfThePartialLastBatchIsReportedThere) {
  rows_[kRows - 1].bytes[20] ^= 1;
  EXPECT_EQ(FirstBad(Batched(1)), kRows - 1);
  EXPECT_EQ(FirstBad(Batched(2)), kRows - 1);
}

TEST_F(BatchedAuditTest, EntriesSwappedAcrossABatchBoundaryAreReportedAtTheFirst) {
  std::swap(rows_[kPerBatch - 1].bytes, rows_[kPerBatch].bytes);
  std::swap(rows_[kPerBatch - 1].leaf_hash, rows_[kPerBatch].leaf_hash);
  EXPECT_EQ(FirstBad(Batched(1)), kPerBatch - 1);
}

TEST_F(BatchedAuditTest, RowDeletedAtTheStartOfABatchIsReportedMissing) {
  rows_.erase(rows_.begin() + static_cast<std::ptrdiff_t>(2 * kPerBatch));
  EXPECT_EQ(FirstBad(Batched(1)), 2 * kPerBatch);
}

TEST_F(BatchedAuditTest, OnlyTheFirstOfTwoProblemsInDifferentBatchesIsReported) {
  rows_[5 * kPerBatch + 3].bytes[20] ^= 1;
  rows_[kPerBatch + 2].bytes[20] ^= 1;
  EXPECT_EQ(FirstBad(Batched(2, 1)), kPerBatch + 2);
  EXPECT_EQ(FirstBad(Batched(1)), kPerBatch + 2);
}

TEST_F(BatchedAuditTest, ReadErrorIsReturnedOnlyWhenEveryEarlierRowPassed) {
  Result<AuditResult> r = Audit(Batched(1), 2 * kPerBatch + 1);
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  rows_[3].bytes[20] ^= 1;  // before the failing read, in an earlier batch
  r = Audit(Batched(1), 2 * kPerBatch + 1);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->first_bad_sequence, 3U) << r->problem;
}

// The batched audit must report exactly what the serial one does: the
// same problem at the same sequence, for every kind of tampering at every
// row of the first three batches (which hold checkpoints 7, 14 and 21),
// around a boundary in the middle, and in the partial last batch.
TEST_F(BatchedAuditTest, EveryTamperingNearBatchesAndCheckpointsIsReportedAsSerially) {
  std::vector<std::size_t> positions;
  for (std::size_t at = 0; at < 3 * kPerBatch; ++at) positions.push_back(at);
  for (std::size_t at : {31, 32, 33, 34, 35, 36}) positions.push_back(at);
  for (std::size_t at = 8 * kPerBatch - 1; at < kRows; ++at) positions.push_back(at);
  const std::vector<StoredRow> original = rows_;
  enum Tamper { kFlip, kRewriteWithLeafHash, kDelete, kSwapWithNext, kDuplicate };
  for (Tamper t : {kFlip, kRewriteWithLeafHash, kDelete, kSwapWithNext, kDuplicate}) {
    for (std::size_t at : positions) {
      rows_ = original;
      switch (t) {
        case kFlip:
          rows_[at].bytes[20] ^= 1;
          break;
        case kRewriteWithLeafHash:
          rows_[at].bytes[20] ^= 1;
          rows_[at].leaf_hash = HashLeaf(rows_[at].bytes);
          break;
        case kDelete:
          rows_.erase(rows_.begin() + static_cast<std::ptrdiff_t>(at));
          break;
        case kSwapWithNext:
          if (at + 1 < kRows) std::swap(rows_[at].bytes, rows_[at + 1].bytes);
          break;
        case kDuplicate:
          rows_.insert(rows_.begin() + static_cast<std::ptrdiff_t>(at), rows_[at]);
          break;
      }
      Result<AuditResult> serial = Audit(Serial());
      // Two hashers: batches may finish out of order and still fold in order.
      Result<AuditResult> batched = Audit(Batched(2));
      ASSERT_TRUE(serial.ok());
      ASSERT_TRUE(batched.ok());
      SCOPED_TRACE("tamper " + std::to_string(t) + " at " + std::to_string(at));
      EXPECT_EQ(batched->problem, serial->problem);
      EXPECT_EQ(batched->first_bad_sequence, serial->first_bad_sequence);
      EXPECT_EQ(batched->entries, serial->entries);
      EXPECT_EQ(batched->root, serial->root);
    }
  }
}

}  // namespace
}  // namespace consentd::proof
