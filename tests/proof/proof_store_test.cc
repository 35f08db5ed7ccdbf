// The proof log in a real SQLite file: appends commit with their state
// change, proofs verify offline, erasure shreds, and every kind of tampering
// with the file is found by the audit behind `consentctl verify`.
#include <gtest/gtest.h>

#include "core/proof/bytes.h"
#include "core/proof/checkpoint.h"
#include "core/proof/entry_codec.h"
#include "core/proof/log_writer.h"
#include "core/proof/merkle.h"
#include "store/sqlite_db.h"
#include "store/sqlite_migrations.h"
#include "tests/proof/proof_store_test_util.h"

namespace consentd::proof {
namespace {

using store::Transaction;

class ProofStoreTest : public testing::ProofStoreFixture {};

TEST_F(ProofStoreTest, UntouchedDatabaseVerifies) {
  Fill(3, 10);
  AuditResult r = Audit();
  EXPECT_TRUE(r.ok()) << r.problem;
  EXPECT_EQ(r.entries, 30U);
  EXPECT_EQ(r.checkpoints, 3U);
}

TEST_F(ProofStoreTest, EntriesCommitWithTheStateChangeOrNotAtAll) {
  auto s = Open();
  store::ConsentRow row;
  row.key = {"s1", "newsletter", "email", ""};
  row.status = "granted";
  Status failed = s->Run([&](Transaction& txn) -> Status {
    CONSENTD_RETURN_IF_ERROR(txn.Upsert(row));
    Result<store::ProofAppendResult> r = store::AppendProofEntries(txn, {Entry("s1", 1)}, 1);
    if (!r.ok()) return r.status();
    return Unavailable("the state change failed after the entry was written");
  });
  EXPECT_FALSE(failed.ok());
  std::uint64_t size = 99;
  std::optional<store::ConsentRow> stored;
  ASSERT_TRUE(s->Run([&](Transaction& txn) -> Status {
                 size = *store::ProofTreeSize(txn);
                 stored = *txn.GetConsent(row.key);
                 return Status::Ok();
               }).ok());
  EXPECT_EQ(size, 0U);
  EXPECT_FALSE(stored.has_value());

  ASSERT_TRUE(s->Run([&](Transaction& txn) -> Status {
                 CONSENTD_RETURN_IF_ERROR(txn.Upsert(row));
                 return store::AppendProofEntries(txn, {Entry("s1", 1)}, 1).status();
               }).ok());
  ASSERT_TRUE(s->Run([&](Transaction& txn) -> Status {
                 size = *store::ProofTreeSize(txn);
                 stored = *txn.GetConsent(row.key);
                 return Status::Ok();
               }).ok());
  EXPECT_EQ(size, 1U);
  EXPECT_TRUE(stored.has_value());
}

TEST_F(ProofStoreTest, SequenceContinuesAcrossRestarts) {
  Fill(1, 5);
  Fill(1, 5);
  auto s = Open();
  std::string entry;
  ASSERT_TRUE(s->Run([&](Transaction& txn) -> Status {
                 entry = *store::ReadProofEntry(txn, 9);
                 return Status::Ok();
               }).ok());
  EXPECT_EQ(ExtractSequence(entry), 9U);
  ASSERT_TRUE(s->Close().ok());
  EXPECT_TRUE(Audit().ok());
}

TEST_F(ProofStoreTest, SqlCannotUpdateOrDeleteEntries) {
  Fill(1, 3);
  EXPECT_NE(Sql("UPDATE proof_entries SET entry = 'x' WHERE sequence = 1", false), SQLITE_OK);
  EXPECT_NE(Sql("DELETE FROM proof_entries WHERE sequence = 1", false), SQLITE_OK);
  EXPECT_TRUE(Audit().ok());
}

TEST_F(ProofStoreTest, FlippedByteIsReportedAtItsSequence) {
  Fill(3, 10);
  ASSERT_EQ(Sql("UPDATE proof_entries SET entry = replace(entry, '\"granted\"', '\"grantee\"') "
                "WHERE sequence = 13"),
            SQLITE_OK);
  AuditResult r = Audit();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.first_bad_sequence, 13U) << r.problem;
}

TEST_F(ProofStoreTest, RewrittenEntryWithRecomputedLeafHashFailsAtItsCheckpoint) {
  Fill(3, 10);
  std::string bytes;
  {
    auto s = Open();
    ASSERT_TRUE(s->Run([&](Transaction& txn) -> Status {
                   bytes = *store::ReadProofEntry(txn, 13);
                   return Status::Ok();
                 }).ok());
  }
  bytes.replace(bytes.find("\"granted\""), 9, "\"refused\"");
  std::string hash = HexEncode(AsBytes(HashLeaf(bytes)));
  ASSERT_EQ(Sql("UPDATE proof_entries SET entry = '" + bytes + "', leaf_hash = X'" + hash +
                "' WHERE sequence = 13"),
            SQLITE_OK);
  AuditResult r = Audit();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.first_bad_sequence, 10U) << r.problem;  // the checkpoint at 10 still holds
}

TEST_F(ProofStoreTest, StoredLeafHashThatIsNot32BytesIsReportedAtItsSequence) {
  Fill(3, 10);
  ASSERT_EQ(Sql("UPDATE proof_entries SET leaf_hash = substr(leaf_hash, 1, 31) WHERE sequence = 7;"
                "UPDATE proof_entries SET leaf_hash = hex(leaf_hash) WHERE sequence = 8;"),
            SQLITE_OK);
  AuditResult r = Audit();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.first_bad_sequence, 7U) << r.problem;
}

TEST_F(ProofStoreTest, DeletedEntryIsReported) {
  Fill(3, 10);
  ASSERT_EQ(Sql("DELETE FROM proof_entries WHERE sequence = 4"), SQLITE_OK);
  AuditResult r = Audit();
  EXPECT_EQ(r.first_bad_sequence, 4U) << r.problem;
}

TEST_F(ProofStoreTest, InsertedEntryIsReported) {
  Fill(3, 10);
  ASSERT_EQ(Sql("UPDATE proof_entries SET sequence = sequence + 1000 WHERE sequence >= 17;"
                "UPDATE proof_entries SET sequence = sequence - 999 WHERE sequence >= 1017;"
                "INSERT INTO proof_entries SELECT 17, entry, leaf_hash "
                "FROM proof_entries WHERE sequence = 16;"),
            SQLITE_OK);
  AuditResult r = Audit();
  EXPECT_EQ(r.first_bad_sequence, 17U) << r.problem;
}

TEST_F(ProofStoreTest, ReorderedEntriesAreReported) {
  Fill(3, 10);
  ASSERT_EQ(Sql("UPDATE proof_entries SET sequence = -1 WHERE sequence = 5;"
                "UPDATE proof_entries SET sequence = 5 WHERE sequence = 6;"
                "UPDATE proof_entries SET sequence = 6 WHERE sequence = -1;"),
            SQLITE_OK);
  AuditResult r = Audit();
  EXPECT_EQ(r.first_bad_sequence, 5U) << r.problem;
}

TEST_F(ProofStoreTest, AppendedEntryWithoutTreeStateIsReported) {
  Fill(3, 10);
  ASSERT_EQ(Sql("INSERT INTO proof_entries SELECT 30, "
                "replace(entry, ',\"sequence\":29,', ',\"sequence\":30,'), leaf_hash "
                "FROM proof_entries WHERE sequence = 29;"),
            SQLITE_OK);
  AuditResult r = Audit();
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(r.first_bad_sequence.has_value()) << r.problem;
}

TEST_F(ProofStoreTest, ForgedCheckpointIsReported) {
  Fill(3, 10);
  NoteSigner forger = *NoteSigner::Generate(signer_->name());
  std::string forged = *SignCheckpoint({forger.name(), 20, HashLeaf("x"), {}}, forger);
  ASSERT_EQ(Sql("UPDATE proof_checkpoints SET note = '" + forged + "' WHERE tree_size = 20"),
            SQLITE_OK);
  AuditResult r = Audit();
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.problem.find("forged"), std::string::npos) << r.problem;
}

TEST_F(ProofStoreTest, ProofBundleForEveryEntryVerifiesOffline) {
  Fill(2, 9);
  auto s = Open();
  for (std::uint64_t seq = 0; seq < 18; ++seq) {
    std::string bundle, entry;
    ASSERT_TRUE(s->Run([&](Transaction& txn) -> Status {
                   bundle = *store::ProveProofEntry(txn, seq);
                   entry = *store::ReadProofEntry(txn, seq);
                   return Status::Ok();
                 }).ok());
    Result<VerifiedTlogProof> v = VerifyTlogProof(bundle, *verifier_);
    ASSERT_TRUE(v.ok()) << seq << ": " << v.status().ToString();
    EXPECT_EQ(v->entry, entry);
    EXPECT_EQ(v->checkpoint.size, 18U);
  }
}

TEST_F(ProofStoreTest, ProveRefusesEntryNotYetCheckpointed) {
  Fill(1, 4);
  auto s = Open();
  ASSERT_TRUE(s->Run([&](Transaction& txn) -> Status {
                 return store::AppendProofEntries(txn, {Entry("s", 9)}, 1).status();
               }).ok());
  Status prove =
      s->Run([&](Transaction& txn) -> Status { return store::ProveProofEntry(txn, 4).status(); });
  EXPECT_EQ(prove.code(), StatusCode::kFailedPrecondition);
}

TEST_F(ProofStoreTest, ErasureShredsTheKeyAndTheLogStillVerifies) {
  auto s = Open();
  ASSERT_TRUE(
      s->Run([&](Transaction& txn) -> Status {
         CONSENTD_RETURN_IF_ERROR(
             store::AppendProofEntries(txn, {Entry("alice", 0), Entry("bob", 1)}, 1).status());
         return store::WriteProofCheckpoint(txn, *signer_, 1).status();
       }).ok());
  std::map<std::string, std::string> before;
  ASSERT_TRUE(s->Run([&](Transaction& txn) -> Status {
                 before = *store::OpenProofEvidence(txn, 0);
                 return Status::Ok();
               }).ok());
  EXPECT_EQ(before.at("email"), "alice@example.com");

  ProofEntry erasure;
  erasure.subject = "alice";
  erasure.kind = ProofKind::kErasureCompleted;
  ASSERT_TRUE(s->Run([&](Transaction& txn) -> Status {
                 CONSENTD_RETURN_IF_ERROR(store::AppendProofEntries(txn, {erasure}, 2).status());
                 return store::WriteProofCheckpoint(txn, *signer_, 2).status();
               }).ok());
  Status opened =
      s->Run([&](Transaction& txn) -> Status { return store::OpenProofEvidence(txn, 0).status(); });
  EXPECT_EQ(opened.code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(s->Run([&](Transaction& txn) -> Status {
                 return store::OpenProofEvidence(txn, 1).status();
               }).ok());

  // A late event about alice: logged, but no new key and no evidence kept.
  int dropped = -1;
  ASSERT_TRUE(s->Run([&](Transaction& txn) -> Status {
                 Result<store::ProofAppendResult> r =
                     store::AppendProofEntries(txn, {Entry("alice", 3)}, 3);
                 if (!r.ok()) return r.status();
                 dropped = r->evidence_dropped;
                 return Status::Ok();
               }).ok());
  EXPECT_EQ(dropped, 1);
  ASSERT_TRUE(s->Close().ok());
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(db_path_.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db,
                               "SELECT count(*) FROM subject_keys WHERE subject = 'alice' AND key "
                               "IS NULL AND erased_at IS NOT NULL",
                               -1, &st, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(st, 0), 1);
  sqlite3_finalize(st);
  sqlite3_close(db);
  AuditResult r = Audit();
  EXPECT_TRUE(r.ok()) << r.problem;
  EXPECT_EQ(r.entries, 4U);
}

// The key store caches keys within a unit of work: an erasure in the
// middle of a batch must still keep the evidence of later entries out.
TEST_F(ProofStoreTest, ErasureInsideOneBatchDropsTheEvidenceOfLaterEntries) {
  auto s = Open();
  ProofEntry erasure;
  erasure.subject = "carol";
  erasure.kind = ProofKind::kErasureCompleted;
  int dropped = -1;
  ASSERT_TRUE(s->Run([&](Transaction& txn) -> Status {
                 Result<store::ProofAppendResult> r = store::AppendProofEntries(
                     txn, {Entry("carol", 0), erasure, Entry("carol", 2)}, 1);
                 if (!r.ok()) return r.status();
                 dropped = r->evidence_dropped;
                 return Status::Ok();
               }).ok());
  EXPECT_EQ(dropped, 1);
  std::string last;
  ASSERT_TRUE(s->Run([&](Transaction& txn) -> Status {
                 last = *store::ReadProofEntry(txn, 2);
                 return Status::Ok();
               }).ok());
  EXPECT_EQ(last.find("pii_information"), std::string::npos) << last;
  Status opened =
      s->Run([&](Transaction& txn) -> Status { return store::OpenProofEvidence(txn, 0).status(); });
  EXPECT_EQ(opened.code(), StatusCode::kFailedPrecondition);
}

// The log outlives any erasure, and its reasons quote vendors' errors: they
// are stored without addresses or subscriber hashes.
TEST_F(ProofStoreTest, ReasonsAreStoredWithoutAddressesOrSubscriberHashes) {
  auto s = Open();
  ProofEntry e = Entry("dora", 0);
  e.reason =
      "mailchimp refused the write: PUT /3.0/lists/L/members/"
      "449b53c3dd6752be7ec521753f7bbf7f: dora@example.com is invalid";
  ASSERT_TRUE(s->Run([&](Transaction& txn) -> Status {
                 return store::AppendProofEntries(txn, {e}, 1).status();
               }).ok());
  std::string stored;
  ASSERT_TRUE(s->Run([&](Transaction& txn) -> Status {
                 stored = *store::ReadProofEntry(txn, 0);
                 return Status::Ok();
               }).ok());
  EXPECT_NE(stored.find("members/<hash>: <address> is invalid"), std::string::npos) << stored;
  EXPECT_EQ(stored.find("449b53c3"), std::string::npos) << stored;
  EXPECT_EQ(stored.find("example.com"), std::string::npos) << stored;
}

// A log written in the first layout (schema version 3: hex hashes, subject
// column and index) is converted by migration 4 and keeps verifying and
// proving; a hash that was already damaged is still reported at its entry.
class ProofStoreMigrationTest : public ProofStoreTest {
 protected:
  // Writes `n` entries, their stored nodes, the tree state and one signed
  // checkpoint the way the version-3 store did. `damage_hash_of` gets a
  // leaf hash that is not hex.
  void WriteLegacyLog(std::uint64_t n, std::optional<std::uint64_t> damage_hash_of) {
    auto db = store::Db::Open(db_path_, nullptr);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    ASSERT_TRUE(store::MigrateTo(**db, 3, 1).ok());
    InMemorySubjectKeyStore keys;
    ProofLogWriter writer({}, keys);
    std::vector<ProofEntry> entries;
    for (std::uint64_t i = 0; i < n; ++i)
      entries.push_back(Entry("s" + std::to_string(i % 3), static_cast<int>(i), false));
    Result<PreparedBatch> batch = writer.Prepare(entries);
    ASSERT_TRUE(batch.ok()) << batch.status().ToString();
    std::string sql = "BEGIN;";
    for (const PreparedEntry& e : batch->entries) {
      std::string hash = HexEncode(AsBytes(e.leaf_hash));
      if (damage_hash_of == e.sequence) hash = "not hex";
      sql += "INSERT INTO proof_entries (sequence, subject, entry, leaf_hash) VALUES (" +
             std::to_string(e.sequence) + ", '" + e.subject + "', '" + e.bytes + "', '" + hash +
             "');";
    }
    for (const PreparedNode& node : batch->nodes) {
      sql += "INSERT INTO proof_nodes (level, idx, hash) VALUES (" + std::to_string(node.level) +
             ", " + std::to_string(node.index) + ", '" + HexEncode(AsBytes(node.hash)) + "');";
    }
    sql += "INSERT INTO proof_state (id, frontier) VALUES (1, '" +
           HexEncode(batch->frontier.Serialize()) + "');";
    std::string note = *SignCheckpoint(
        {signer_->name(), batch->frontier.size(), batch->frontier.Root(), {}}, *signer_);
    sql += "INSERT INTO proof_checkpoints (tree_size, created_at, note) VALUES (" +
           std::to_string(n) + ", 1, '" + note + "');COMMIT;";
    ASSERT_TRUE((*db)->Exec(sql).ok());
  }
};

TEST_F(ProofStoreMigrationTest, LegacyLogIsConvertedAndStillVerifiesAndProves) {
  WriteLegacyLog(40, std::nullopt);
  AuditResult r = Audit();  // opening the store runs migration 4
  EXPECT_TRUE(r.ok()) << r.problem;
  EXPECT_EQ(r.entries, 40U);
  auto s = Open();
  for (std::uint64_t seq : {0U, 17U, 39U}) {
    std::string bundle;
    ASSERT_TRUE(s->Run([&](Transaction& txn) -> Status {
                   Result<std::string> b = store::ProveProofEntry(txn, seq);
                   if (!b.ok()) return b.status();
                   bundle = *b;
                   return Status::Ok();
                 }).ok());
    EXPECT_TRUE(VerifyTlogProof(bundle, *verifier_).ok()) << seq;
  }
  // Appending continues the converted tree.
  ASSERT_TRUE(s->Run([&](Transaction& txn) -> Status {
                 CONSENTD_RETURN_IF_ERROR(
                     store::AppendProofEntries(txn, {Entry("s1", 40)}, 2).status());
                 return store::WriteProofCheckpoint(txn, *signer_, 2).status();
               }).ok());
  ASSERT_TRUE(s->Close().ok());
  r = Audit();
  EXPECT_TRUE(r.ok()) << r.problem;
  EXPECT_EQ(r.entries, 41U);
}

TEST_F(ProofStoreMigrationTest, DamagedLegacyHashIsStillReportedAtItsSequence) {
  WriteLegacyLog(20, 11);
  AuditResult r = Audit();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.first_bad_sequence, 11U) << r.problem;
}

}  // namespace
}  // namespace consentd::proof
