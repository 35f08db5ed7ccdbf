// consentctl export / verify-export run as the real binary against a real
// SQLite store filled through the real sync engine: the export verifies
// offline; a byte changed in the database, or a value changed in the
// document, fails naming the entry; a wrong key fails; an unknown address
// is exit 3.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>
#include <string>

#include "core/proof/bytes.h"
#include "core/proof/key_file.h"
#include "tests/support/child_process.h"
#include "tests/sync/sync_test_util.h"

namespace consentd::cli {
namespace {

using consentd::testing::RunConsentctl;
using sync::testing::Consent;
using sync::testing::kKey;
using sync::testing::Record;
using sync::testing::T;
using ::testing::HasSubstr;
using Json = nlohmann::json;

constexpr char kAnna[] = "anna@example.org";

class CliExportTest : public sync::testing::SyncEngineTest {
 protected:
  void SetUp() override {
    SyncEngineTest::SetUp();
    db_ = dir_.File("consentd.db");
    // Where a config with only store.path puts both keys (beside the db).
    consentd::testing::WriteTextFile(dir_.File("identity.key"), kKey);
    ::chmod(dir_.File("identity.key").c_str(), 0600);
    signer_.emplace(
        *proof::LoadOrCreateSigningKey(proof::DefaultSigningKeyPath(db_), "consentd.test/log"));
    Change grant = Consent("newsletter", ConsentStatus::kGranted, T, "hubspot", "ev-1");
    grant.evidence = {{"ip", "192.0.2.7"}};
    Ingest("hubspot", {Record("ev-1", "101", kAnna, {grant})}, T + 100);
    Ingest("hubspot",
           {Record("ev-2", "202", "bob@example.org",
                   {Consent("newsletter", ConsentStatus::kGranted, T)})},
           T + 200);
    Run([&](store::Transaction& txn) -> Status {
      return store::WriteProofCheckpoint(txn, *signer_, T + 300).status();
    });
    ASSERT_TRUE(store_->Close().ok());
    store_.reset();
  }

  std::string VerifierKey() const { return signer_->VerifierKey(); }

  // export --db --identity-key into `out`.
  consentd::testing::CommandResult ExportTo(const std::string& out,
                                            const std::string& email = kAnna) {
    return RunConsentctl({"export", "--email", email, "--db", db_, "--identity-key",
                          dir_.File("identity.key"), "--out", out});
  }

  consentd::testing::CommandResult VerifyFile(const std::string& file) {
    return RunConsentctl({"verify-export", file, "--vkey", VerifierKey()});
  }

  Json ReadJson(const std::string& file) {
    return Json::parse(consentd::testing::ReadTextFile(file));
  }

  // Replaces entry `seq` in the database file, as someone with write
  // access to it could (the append-only trigger dropped first).
  void OverwriteEntry(std::uint64_t seq, const std::string& bytes) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(db_.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "DROP TRIGGER IF EXISTS proof_entries_no_update", nullptr, nullptr,
                           nullptr),
              SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, "UPDATE proof_entries SET entry = ? WHERE sequence = ?", -1,
                                 &st, nullptr),
              SQLITE_OK);
    sqlite3_bind_text(st, 1, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, static_cast<sqlite3_int64>(seq));
    EXPECT_EQ(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    EXPECT_EQ(sqlite3_changes(db), 1);
    sqlite3_close(db);
  }

  // A configuration naming this store (the keys beside it).
  std::string WriteConfig() {
    const std::string config = dir_.File("consentd.yaml");
    consentd::testing::WriteTextFile(
        config, "store:\n  path: " + db_ + "\nproof_log:\n  origin: consentd.test/log\n");
    return config;
  }
  std::uint64_t Checkpoints() {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(db_.c_str(), &db), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM proof_checkpoints", -1, &st, nullptr),
              SQLITE_OK);
    EXPECT_EQ(sqlite3_step(st), SQLITE_ROW);
    const auto n = static_cast<std::uint64_t>(sqlite3_column_int64(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
  }
  void AppendAnEntry() {
    store_ = store::testing::OpenOrDie(db_);
    Ingest("hubspot",
           {Record("ev-3", "101", kAnna,
                   {Consent("newsletter", ConsentStatus::kWithdrawn, T + 5000)})},
           T + 5100);
    ASSERT_TRUE(store_->Close().ok());
    store_.reset();
  }

  std::string db_;
  std::optional<proof::NoteSigner> signer_;
};

TEST_F(CliExportTest, ExportWritesAPrivateDocumentThatVerifiesOffline) {
  const std::string out = dir_.File("anna.json");
  auto r = ExportTo(out);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  struct stat st {};
  ASSERT_EQ(::stat(out.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const Json doc = ReadJson(out);
  EXPECT_EQ(doc["format"], "consentd-export/1");
  EXPECT_EQ(doc["identities"]["email_addresses"][0], kAnna);

  auto v = VerifyFile(out);
  EXPECT_EQ(v.exit_code, 0) << v.output;
  EXPECT_THAT(v.output, HasSubstr("OK: subject " + doc["pii_principal_id"].get<std::string>()));
  EXPECT_THAT(v.output, HasSubstr("1 decrypted and matching"));
}

TEST_F(CliExportTest, OneByteChangedInTheDatabaseFailsNamingThatEntry) {
  const std::string out = dir_.File("anna.json");
  ASSERT_EQ(ExportTo(out).exit_code, 0);
  const Json doc = ReadJson(out);
  const Json& first = doc["history"][0];
  const auto seq = first["sequence"].get<std::uint64_t>();
  std::string bytes = *proof::Base64Decode(first["logged_entry"].get<std::string>());
  const std::size_t at = bytes.find("\"recorded_at\":") + 14;
  bytes[at] = bytes[at] == '1' ? '2' : '1';
  OverwriteEntry(seq, bytes);

  const std::string again = dir_.File("anna2.json");
  auto r = ExportTo(again);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto v = VerifyFile(again);
  EXPECT_EQ(v.exit_code, 1) << v.output;
  EXPECT_THAT(v.output, HasSubstr("FAILED: entry " + std::to_string(seq) + ": inclusion proof"));
}

TEST_F(CliExportTest, EvidenceValueChangedInTheDocumentFails) {
  const std::string out = dir_.File("anna.json");
  ASSERT_EQ(ExportTo(out).exit_code, 0);
  Json doc = ReadJson(out);
  std::string seq;
  for (Json& e : doc["history"]) {
    if (!e.contains("evidence")) continue;
    e["evidence"]["ip"] = "198.51.100.9";
    seq = std::to_string(e["sequence"].get<std::uint64_t>());
    break;
  }
  ASSERT_FALSE(seq.empty());
  consentd::testing::WriteTextFile(out, doc.dump(2));
  auto v = VerifyFile(out);
  EXPECT_EQ(v.exit_code, 1) << v.output;
  EXPECT_THAT(v.output, HasSubstr("FAILED: entry " + seq + ": evidence shown differs"));
}

TEST_F(CliExportTest, AnotherVerifierKeyFails) {
  const std::string out = dir_.File("anna.json");
  ASSERT_EQ(ExportTo(out).exit_code, 0);
  proof::NoteSigner other = *proof::NoteSigner::Generate("consentd.test/log");
  auto v = RunConsentctl({"verify-export", out, "--vkey", other.VerifierKey()});
  EXPECT_EQ(v.exit_code, 1) << v.output;
  EXPECT_THAT(v.output, HasSubstr("FAILED: checkpoint"));
}

TEST_F(CliExportTest, UnknownAddressExitsThreeWithAClearMessage) {
  auto r = ExportTo(dir_.File("x.json"), "nobody@example.org");
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_THAT(r.output, HasSubstr("consentctl export: consentd holds no data about this address"));
}

// Without a checkpoint to sign, an export only reads: it answers while
// another connection holds the write lock (a busy consentd's commit)
// instead of waiting for it and failing with "database is locked".
TEST_F(CliExportTest, AnExportWithoutACheckpointOnlyReadsAndDoesNotWaitForTheWriteLock) {
  sqlite3* writer = nullptr;
  ASSERT_EQ(sqlite3_open(db_.c_str(), &writer), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(writer, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  auto r = ExportTo(dir_.File("locked.json"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(ReadJson(dir_.File("locked.json"))["identities"]["email_addresses"][0], kAnna);
  sqlite3_exec(writer, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(writer);
}

// With --config (which names the signing key) the export first signs a
// checkpoint, so entries newer than the last one get a proof too.
TEST_F(CliExportTest, ExportWithConfigCheckpointsFirstSoEveryEntryIsProven) {
  AppendAnEntry();
  const std::string config = WriteConfig();

  auto plain = ExportTo(dir_.File("db.json"));
  ASSERT_EQ(plain.exit_code, 0) << plain.output;
  EXPECT_GE(ReadJson(dir_.File("db.json"))["history_summary"]["not_yet_checkpointed"].get<int>(),
            1);
  // Its unproven entries are said to be so, and fail --require-proven.
  auto unproven = VerifyFile(dir_.File("db.json"));
  EXPECT_EQ(unproven.exit_code, 0) << unproven.output;
  EXPECT_THAT(unproven.output, HasSubstr("content is not proven"));
  auto required = RunConsentctl(
      {"verify-export", dir_.File("db.json"), "--vkey", VerifierKey(), "--require-proven"});
  EXPECT_EQ(required.exit_code, 1) << required.output;
  EXPECT_THAT(required.output, HasSubstr("carry no proof"));

  const std::string out = dir_.File("anna.json");
  auto r = RunConsentctl({"export", "--email", kAnna, "--config", config, "--out", out});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const Json doc = ReadJson(out);
  EXPECT_EQ(doc["history_summary"]["not_yet_checkpointed"], 0);
  EXPECT_EQ(doc["history_summary"]["proven"], doc["history"].size());
  auto v = VerifyFile(out);
  EXPECT_EQ(v.exit_code, 0) << v.output;
  EXPECT_THAT(v.output, HasSubstr(", 0 not yet checkpointed"));
  EXPECT_EQ(
      RunConsentctl({"verify-export", out, "--vkey", VerifierKey(), "--require-proven"}).exit_code,
      0);
}

// Only the key that signed the log's latest checkpoint adds one, as in
// consentd: a key file replaced since (same name, another key) signs
// nothing, and the export fails rather than answer without the proof.
TEST_F(CliExportTest, AReplacedSigningKeySignsNoCheckpoint) {
  AppendAnEntry();
  const std::string key = proof::DefaultSigningKeyPath(db_);
  ASSERT_EQ(::unlink(key.c_str()), 0);
  ASSERT_TRUE(proof::LoadOrCreateSigningKey(key, "consentd.test/log").ok());
  const std::string config = WriteConfig();
  const std::uint64_t before = Checkpoints();
  auto r = RunConsentctl(
      {"export", "--email", kAnna, "--config", config, "--out", dir_.File("anna.json")});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("no checkpoint signed"));
  EXPECT_EQ(Checkpoints(), before);
}

// --db names a store other than the configuration's (a restored copy): the
// configured key signs nothing in it.
TEST_F(CliExportTest, AnExportOfAnotherDatabaseSignsNothingInIt) {
  AppendAnEntry();
  const std::string config = WriteConfig();
  const std::uint64_t before = Checkpoints();
  auto r = RunConsentctl({"export", "--email", kAnna, "--config", config, "--db", db_, "--out",
                          dir_.File("anna.json")});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(Checkpoints(), before);
  EXPECT_GE(ReadJson(dir_.File("anna.json"))["history_summary"]["not_yet_checkpointed"].get<int>(),
            1);
}

}  // namespace
}  // namespace consentd::cli
