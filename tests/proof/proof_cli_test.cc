// consentctl verify / log key / log checkpoint / log prove / log
// check-proof, run as the real binary against a real database file.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "tests/proof/proof_store_test_util.h"

namespace consentd::proof {
namespace {

struct Outcome {
  int exit_code = -1;
  std::string out;  // stdout and stderr together
};

Outcome Consentctl(const std::string& args) {
  std::string cmd = std::string(CONSENTD_BINARY_DIR) + "/cli/consentctl " + args + " 2>&1";
  Outcome o;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return o;
  std::array<char, 4096> buf;
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) o.out.append(buf.data(), n);
  int status = ::pclose(p);
  o.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return o;
}

class ProofCliTest : public testing::ProofStoreFixture {};

TEST_F(ProofCliTest, LogKeyPrintsTheVerifierKeyOfTheKeyFile) {
  Outcome o = Consentctl("log key --db " + db_path_);
  EXPECT_EQ(o.exit_code, 0) << o.out;
  EXPECT_EQ(o.out, signer_->VerifierKey() + "\n");
}

TEST_F(ProofCliTest, LogKeyCreatesAMissingKeyWithMode0600) {
  std::string key = (dir_ / "new.key").string();
  Outcome o = Consentctl("log key --key-file " + key + " --origin example.org/log");
  EXPECT_EQ(o.exit_code, 0) << o.out;
  EXPECT_EQ(o.out.rfind("example.org/log+", 0), 0U) << o.out;
  EXPECT_EQ(std::filesystem::status(key).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

// A log with signed checkpoints was signed by a key somewhere: a missing
// key file means a wrong path, and a new key there would pass for the
// log's own (its checkpoints would then fail to verify, or a verifier key
// that never signed anything would be published).
TEST_F(ProofCliTest, LogKeyMakesNoNewKeyForALogWithCheckpoints) {
  Fill(1, 3);
  const std::string wrong = (dir_ / "wrong.key").string();
  Outcome o = Consentctl("log key --db " + db_path_ + " --key-file " + wrong);
  EXPECT_EQ(o.exit_code, 1) << o.out;
  EXPECT_NE(o.out.find("no signing key at " + wrong + ", but the proof log in " + db_path_ +
                       " has checkpoints signed by consentd.test/log's key"),
            std::string::npos)
      << o.out;
  EXPECT_FALSE(std::filesystem::exists(wrong));

  // A --db that names no database makes no key beside it either.
  const std::string nowhere = (dir_ / "elsewhere" / "consentd.db").string();
  std::filesystem::create_directory(dir_ / "elsewhere");
  Outcome none = Consentctl("log key --db " + nowhere);
  EXPECT_EQ(none.exit_code, 1) << none.out;
  EXPECT_NE(none.out.find("no database at " + nowhere), std::string::npos) << none.out;
  EXPECT_TRUE(std::filesystem::is_empty(dir_ / "elsewhere"));
}

// A log without checkpoints yet and no key beside the database: consentd's
// key may be configured elsewhere, so a bare --db makes none (a checkpoint
// it signed would make consentd refuse to start).
TEST_F(ProofCliTest, NoKeyIsMadeBesideABareDatabase) {
  ASSERT_TRUE(Open()->Close().ok());
  const std::filesystem::path key = proof::DefaultSigningKeyPath(db_path_);
  std::filesystem::remove(key);
  for (const std::string& args :
       {"log key --db " + db_path_, "log checkpoint --write --db " + db_path_}) {
    Outcome o = Consentctl(args);
    EXPECT_EQ(o.exit_code, 1) << args << ": " << o.out;
    EXPECT_NE(o.out.find("none is made beside --db"), std::string::npos) << o.out;
    EXPECT_FALSE(std::filesystem::exists(key)) << args;
  }
}

// "no database" only when nothing is there: a directory given for the
// file is named as such.
TEST_F(ProofCliTest, ADirectoryGivenAsTheDatabaseIsNamedAsOne) {
  Outcome o = Consentctl("log prove --seq 0 --db " + dir_.string());
  EXPECT_EQ(o.exit_code, 1) << o.out;
  EXPECT_NE(o.out.find(dir_.string() + " is a directory, not a database file"), std::string::npos)
      << o.out;
  Outcome missing = Consentctl("log prove --seq 0 --db " + (dir_ / "missing.db").string());
  EXPECT_EQ(missing.exit_code, 1) << missing.out;
  EXPECT_NE(missing.out.find("no database at "), std::string::npos) << missing.out;
}

// A directory where a file belongs is said in those words: it used to
// abort consentctl (an exception from a stream) or give another file's
// complaint ("readable by others", "not a checkpoint").
TEST_F(ProofCliTest, AFileOptionThatNamesADirectoryIsNamedAsOne) {
  Fill(1, 3);
  const std::string d = dir_.string();
  Outcome cp = Consentctl("verify --db " + db_path_ + " --checkpoint " + d);
  EXPECT_EQ(cp.exit_code, 2) << cp.out;
  EXPECT_NE(cp.out.find("saved checkpoint " + d + " is a directory, not a file"), std::string::npos)
      << cp.out;
  Outcome key = Consentctl("verify --db " + db_path_ + " --key-file " + d);
  EXPECT_EQ(key.exit_code, 1) << key.out;
  EXPECT_NE(key.out.find("signing key " + d + " is a directory, not a file"), std::string::npos)
      << key.out;
  Outcome vkey = Consentctl("log key --db " + db_path_);
  ASSERT_EQ(vkey.exit_code, 0) << vkey.out;
  const std::string verifier_key = vkey.out.substr(0, vkey.out.find('\n'));
  Outcome proof = Consentctl("log check-proof " + d + " --vkey " + verifier_key);
  EXPECT_EQ(proof.exit_code, 1) << proof.out;
  EXPECT_NE(proof.out.find("proof bundle " + d + " is a directory, not a file"), std::string::npos)
      << proof.out;
  const std::string out = (dir_ / "backup").string();
  Outcome backup = Consentctl("backup --db " + db_path_ + " --identity-key-file " + d + " " + out);
  EXPECT_EQ(backup.exit_code, 1) << backup.out;
  EXPECT_NE(backup.out.find(d + " is a directory, not a key file"), std::string::npos)
      << backup.out;
  EXPECT_FALSE(std::filesystem::exists(out)) << backup.out;
}

// A backup that fails part way (here: after the database was copied, on
// an identity key too large to be one) takes back what it wrote, so that
// the same command can be rerun into the same directory.
TEST_F(ProofCliTest, ABackupThatFailsPartWayLeavesNothingBehind) {
  Fill(1, 3);
  const std::string identity = (dir_ / "identity.key").string();
  {
    std::ofstream big(identity, std::ios::binary);
    big << std::string((1 << 20) + 1, 'k');
  }
  const std::string out = (dir_ / "backup").string();
  Outcome failed = Consentctl("backup --db " + db_path_ + " " + out);
  EXPECT_EQ(failed.exit_code, 1) << failed.out;
  EXPECT_NE(failed.out.find("identity.key"), std::string::npos) << failed.out;
  EXPECT_FALSE(std::filesystem::exists(out)) << failed.out;

  // A directory the operator made stays, empty as it was given.
  std::filesystem::create_directory(out);
  Outcome into_own = Consentctl("backup --db " + db_path_ + " " + out);
  EXPECT_EQ(into_own.exit_code, 1) << into_own.out;
  EXPECT_TRUE(std::filesystem::is_directory(out)) << into_own.out;
  EXPECT_TRUE(std::filesystem::is_empty(out)) << into_own.out;

  std::filesystem::resize_file(identity, 32);
  Outcome again = Consentctl("backup --db " + db_path_ + " " + out);
  EXPECT_EQ(again.exit_code, 0) << again.out;
  EXPECT_TRUE(std::filesystem::exists(std::filesystem::path(out) / "MANIFEST")) << again.out;
}

// Entries after the newest signed checkpoint verify against the tree only:
// verify says how many no signature covers yet.
TEST_F(ProofCliTest, VerifySaysHowManyEntriesNoCheckpointCoversYet) {
  Fill(1, 10);
  Outcome covered = Consentctl("verify --db " + db_path_);
  EXPECT_EQ(covered.exit_code, 0) << covered.out;
  EXPECT_EQ(covered.out.find("not yet covered"), std::string::npos) << covered.out;
  {
    auto store = Open();
    std::vector<ProofEntry> entries = {Entry("s1", 100), Entry("s2", 101)};
    Status s = store->Run([&](store::Transaction& txn) -> Status {
      return store::AppendProofEntries(txn, entries, 2000).status();
    });
    ASSERT_TRUE(s.ok()) << s.ToString();
    ASSERT_TRUE(store->Close().ok());
  }
  Outcome tail = Consentctl("verify --db " + db_path_);
  EXPECT_EQ(tail.exit_code, 0) << tail.out;
  EXPECT_NE(tail.out.find("OK: 12 entries, 1 checkpoint verified"), std::string::npos) << tail.out;
  EXPECT_NE(tail.out.find("the newest 2 entries are not yet covered by a signed checkpoint"),
            std::string::npos)
      << tail.out;
}

TEST_F(ProofCliTest, VerifyPassesOnAnUntouchedLogAndNamesTheFirstBadSequence) {
  Fill(3, 10);
  Outcome ok = Consentctl("verify --db " + db_path_);
  EXPECT_EQ(ok.exit_code, 0) << ok.out;
  EXPECT_NE(ok.out.find("OK: 30 entries, 3 checkpoints"), std::string::npos) << ok.out;

  ASSERT_EQ(Sql("DELETE FROM proof_entries WHERE sequence = 4"), SQLITE_OK);
  Outcome bad = Consentctl("verify --db " + db_path_);
  EXPECT_EQ(bad.exit_code, 1) << bad.out;
  EXPECT_NE(bad.out.find("FAILED at sequence 4"), std::string::npos) << bad.out;
}

// An older copy of the database put back is a valid, shorter log; the
// checkpoint an auditor saved after it shows the rollback.
TEST_F(ProofCliTest, VerifyWithASavedCheckpointCatchesARollbackToAnOlderCopy) {
  Fill(1, 10);
  const std::string older = (dir_ / "older.db").string();
  std::filesystem::copy_file(db_path_, older);
  Fill(2, 10);
  Outcome cp = Consentctl("log checkpoint --db " + db_path_);
  ASSERT_EQ(cp.exit_code, 0) << cp.out;
  const std::string saved = (dir_ / "saved.checkpoint").string();
  std::ofstream(saved) << cp.out;
  Outcome extends = Consentctl("verify --db " + db_path_ + " --checkpoint " + saved);
  EXPECT_EQ(extends.exit_code, 0) << extends.out;
  EXPECT_NE(extends.out.find("contains 1 saved checkpoint (largest 30 entries)"), std::string::npos)
      << extends.out;

  std::filesystem::copy_file(older, db_path_, std::filesystem::copy_options::overwrite_existing);
  Outcome blind = Consentctl("verify --db " + db_path_);
  EXPECT_EQ(blind.exit_code, 0) << "a consistent older log: " << blind.out;
  Outcome caught = Consentctl("verify --db " + db_path_ + " --checkpoint " + saved);
  EXPECT_EQ(caught.exit_code, 1) << caught.out;
  EXPECT_NE(caught.out.find("covers 30 entries but the log has only 10"), std::string::npos)
      << caught.out;
}

TEST_F(ProofCliTest, AnUnreadableOrMalformedSavedCheckpointIsAUsageError) {
  Fill(1, 3);
  Outcome missing = Consentctl("verify --db " + db_path_ + " --checkpoint " +
                               (dir_ / "nope.checkpoint").string());
  EXPECT_EQ(missing.exit_code, 2) << missing.out;
  EXPECT_NE(missing.out.find("no saved checkpoint at "), std::string::npos) << missing.out;
  const std::string junk = (dir_ / "junk.checkpoint").string();
  std::ofstream(junk) << "not a checkpoint\n";
  Outcome malformed = Consentctl("verify --db " + db_path_ + " --checkpoint " + junk);
  EXPECT_EQ(malformed.exit_code, 2) << malformed.out;
  EXPECT_NE(malformed.out.find("is not a signed checkpoint"), std::string::npos) << malformed.out;
}

TEST_F(ProofCliTest, VerifyWithAnotherKeyFails) {
  Fill(1, 3);
  NoteSigner other = *NoteSigner::Generate(signer_->name());
  Outcome o = Consentctl("verify --db " + db_path_ + " --vkey " + other.VerifierKey());
  EXPECT_EQ(o.exit_code, 1) << o.out;
}

TEST_F(ProofCliTest, ProveWritesABundleThatChecksOfflineWithTheVerifierKeyOnly) {
  Fill(2, 5);
  Outcome cp = Consentctl("log checkpoint --db " + db_path_);
  EXPECT_EQ(cp.exit_code, 0) << cp.out;
  EXPECT_EQ(cp.out.rfind(signer_->name() + "\n10\n", 0), 0U) << cp.out;

  // An entry that does not exist is said to be missing, not "not covered yet".
  Outcome none = Consentctl("log prove --seq 99 --db " + db_path_);
  EXPECT_EQ(none.exit_code, 1) << none.out;
  EXPECT_NE(none.out.find("no entry 99: the log holds 10 entries, 0 to 9"), std::string::npos)
      << none.out;

  Outcome bundle = Consentctl("log prove --seq 7 --db " + db_path_);
  ASSERT_EQ(bundle.exit_code, 0) << bundle.out;
  EXPECT_EQ(bundle.out.rfind("c2sp.org/tlog-proof@v1\n", 0), 0U);
  std::string file = (dir_ / "entry7.tlog-proof").string();
  std::ofstream(file) << bundle.out;
  Outcome check = Consentctl("log check-proof " + file + " --vkey " + signer_->VerifierKey());
  EXPECT_EQ(check.exit_code, 0) << check.out;
  EXPECT_NE(check.out.find("OK: entry 7"), std::string::npos) << check.out;

  std::string tampered = bundle.out;
  tampered.replace(tampered.find("index 7"), 7, "index 6");
  std::ofstream(file) << tampered;
  EXPECT_EQ(Consentctl("log check-proof " + file + " --vkey " + signer_->VerifierKey()).exit_code,
            1);
}

TEST_F(ProofCliTest, CheckpointWriteSignsOnlyWhenTheTreeGrew) {
  Fill(1, 3);
  auto s = Open();
  ASSERT_TRUE(s->Run([&](store::Transaction& txn) -> Status {
                 return store::AppendProofEntries(txn, {Entry("x", 1)}, 1).status();
               }).ok());
  ASSERT_TRUE(s->Close().ok());
  Outcome o = Consentctl("log checkpoint --write --db " + db_path_);
  EXPECT_EQ(o.exit_code, 0) << o.out;
  EXPECT_EQ(o.out.rfind(signer_->name() + "\n4\n", 0), 0U) << o.out;
  EXPECT_EQ(Consentctl("verify --db " + db_path_).exit_code, 0);
}

TEST_F(ProofCliTest, MissingDatabaseIsAOneLineError) {
  Outcome o = Consentctl("verify --db " + (dir_ / "none.db").string());
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_NE(o.out.find("no database at"), std::string::npos) << o.out;
}

}  // namespace
}  // namespace consentd::proof
