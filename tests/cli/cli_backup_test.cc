// consentctl backup, run as the real binary against a real store that is
// being written at the same time (as consentd would), and what a backup
// refuses: a directory in use, a missing key, a damaged database.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "sync/sync_engine.h"
#include "tests/proof/proof_store_test_util.h"
#include "tests/support/child_process.h"

namespace consentd::cli {
namespace {

namespace fs = std::filesystem;
using testing::CommandResult;
using ::testing::HasSubstr;
using testing::RunConsentctl;

unsigned Mode(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 0777;
}

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class CliBackupTest : public proof::testing::ProofStoreFixture {
 protected:
  void SetUp() override {
    ProofStoreFixture::SetUp();
    std::ofstream(dir_ / "identity.key", std::ios::binary) << std::string(32, 'k');
    fs::permissions(dir_ / "identity.key", fs::perms::owner_read | fs::perms::owner_write);
    backup_ = dir_ / "backup";
  }

  // The number of entries `consentctl verify` finds in the database at
  // `db` (verified with the key beside it); -1 if it does not verify.
  static long long VerifiedEntries(const fs::path& db) {
    CommandResult r = RunConsentctl({"verify", "--db", db.string()});
    const auto at = r.output.find("OK: ");
    if (r.exit_code != 0 || at == std::string::npos) return -1;
    return std::stoll(r.output.substr(at + 4));
  }

  fs::path backup_;
};

TEST_F(CliBackupTest, ACopyTakenWhileTheStoreIsWrittenIsConsistentAndVerifies) {
  Fill(2, 50);
  // A writer appending entries and checkpoints the whole time, through its
  // own open store (consentd's role): its newest commits sit in the WAL.
  auto writer_store = Open();
  std::atomic<bool> stop{false};
  std::atomic<int> committed{100};
  std::atomic<bool> writer_ended{false};
  std::thread writer([&] {
    struct Ended {
      std::atomic<bool>& flag;
      ~Ended() { flag = true; }
    } ended{writer_ended};
    for (int b = 0; !stop.load(); ++b) {
      std::vector<ProofEntry> entries;
      for (int i = 0; i < 20; ++i)
        entries.push_back(Entry("w" + std::to_string(i % 5), 1000 + b * 20 + i));
      Status s = writer_store->Run([&](store::Transaction& txn) -> Status {
        Result<store::ProofAppendResult> r = store::AppendProofEntries(txn, entries, 5000 + b);
        if (!r.ok()) return r.status();
        Result<std::optional<std::string>> cp =
            store::WriteProofCheckpoint(txn, *signer_, 5000 + b);
        return cp.ok() ? Status::Ok() : cp.status();
      });
      ASSERT_TRUE(s.ok()) << s.ToString();
      committed += 20;
    }
  });
  while (committed.load() < 400 && !writer_ended.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_FALSE(writer_ended.load()) << "the writer failed before the backup";
  const int before = committed.load();
  CommandResult r = RunConsentctl({"backup", "--db", db_path_, backup_.string()});
  const int after = committed.load();
  stop = true;
  writer.join();
  ASSERT_TRUE(writer_store->Close().ok());

  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("proof log verified"));
  // The copy is the log as of one commit during the command: at least what
  // was committed before it started, at most what was after it ended, and
  // whole batches only.
  const long long entries = VerifiedEntries(backup_ / "consentd.db");
  EXPECT_GE(entries, before);
  EXPECT_LE(entries, after);
  EXPECT_EQ(entries % 10, 0);
  EXPECT_EQ(ReadFile(backup_ / "proof_signing.key"), ReadFile(dir_ / "proof_signing.key"));
  EXPECT_EQ(ReadFile(backup_ / "identity.key"), std::string(32, 'k'));
  EXPECT_EQ(Mode(backup_), 0700U);
  for (const char* f : {"consentd.db", "proof_signing.key", "identity.key", "MANIFEST"}) {
    EXPECT_EQ(Mode(backup_ / f), 0600U) << f;
  }
  const std::string manifest = ReadFile(backup_ / "MANIFEST");
  EXPECT_THAT(manifest, HasSubstr("proof_log " + std::to_string(entries) + " entries"));
  // SHA-256 of the 32 bytes 'k' (python3: hashlib.sha256(b'k' * 32)).
  EXPECT_THAT(manifest,
              HasSubstr("file identity.key sha256 "
                        "5e318f8cf9cbe249a30812b8ca132d691ded7a91991413558db5758575f5e01f "
                        "bytes 32"));
}

TEST_F(CliBackupTest, ADirectoryThatIsNotEmptyIsRefusedAndLeftAlone) {
  Fill(1, 5);
  fs::create_directories(backup_);
  std::ofstream(backup_ / "earlier.db") << "an earlier backup";
  CommandResult r = RunConsentctl({"backup", "--db", db_path_, backup_.string()});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("is not empty"));
  EXPECT_EQ(ReadFile(backup_ / "earlier.db"), "an earlier backup");
  EXPECT_FALSE(fs::exists(backup_ / "consentd.db"));
}

TEST_F(CliBackupTest, AMissingIdentityKeyFailsBeforeAnythingIsWritten) {
  Fill(1, 5);
  fs::remove(dir_ / "identity.key");
  CommandResult r = RunConsentctl({"backup", "--db", db_path_, backup_.string()});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr((dir_ / "identity.key").string()));
  EXPECT_FALSE(fs::exists(backup_));
}

// The identity key beside the database is not the one its identifiers
// were hashed with (a stale file, a wrong --identity-key-file): a restore
// would refuse to start, so the backup fails and writes no MANIFEST.
TEST_F(CliBackupTest, AnIdentityKeyThatDoesNotFitTheDatabaseIsNotPassedOffAsABackup) {
  Fill(1, 5);
  {
    auto store = Open();
    Status bound = store->Run([&](store::Transaction& txn) -> Status {
      return sync::OpenIdentityKey(txn, (dir_ / "identity.key").string(),
                                   sync::IdentityKeyUse::kBind, 1000)
          .status();
    });
    ASSERT_TRUE(bound.ok()) << bound.ToString();
    ASSERT_TRUE(store->Close().ok());
  }
  std::ofstream(dir_ / "identity.key", std::ios::binary | std::ios::trunc) << std::string(32, 'x');
  CommandResult r = RunConsentctl({"backup", "--db", db_path_, backup_.string()});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("does not fit the copy"));
  EXPECT_FALSE(fs::exists(backup_ / "MANIFEST"));
}

TEST_F(CliBackupTest, ADamagedDatabaseIsNotPassedOffAsABackup) {
  Fill(3, 200);
  // Overwrite a page in the middle of the (checkpointed) file, as a failing
  // disk would; SQLite reads the header and first pages fine.
  const auto size = fs::file_size(db_path_);
  ASSERT_GT(size, 8U * 4096);
  {
    std::fstream f(db_path_, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>((size / 4096 / 2) * 4096));
    const std::string junk(4096, '\x5a');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  CommandResult r = RunConsentctl({"backup", "--db", db_path_, backup_.string()});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("quick_check"));
  EXPECT_FALSE(fs::exists(backup_ / "MANIFEST"));
  EXPECT_FALSE(fs::exists(backup_ / "consentd.db"));
  EXPECT_FALSE(fs::exists(backup_ / "consentd.db.partial"));
}

}  // namespace
}  // namespace consentd::cli
