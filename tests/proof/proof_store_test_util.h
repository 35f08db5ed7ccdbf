// A real SQLite proof log in a temp directory, and raw SQL access to it
// for tampering the way an attacker with the file would.
#pragma once

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "core/proof/key_file.h"
#include "core/proof/note.h"
#include "store/proof_log_store.h"
#include "store/sqlite_store.h"

namespace consentd::proof::testing {

class ProofStoreFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("proof_store_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    db_path_ = (dir_ / "consentd.db").string();
    signer_ = std::make_unique<NoteSigner>(
        *LoadOrCreateSigningKey(DefaultSigningKeyPath(db_path_), "consentd.test/log"));
    verifier_ =
        std::make_unique<NoteVerifier>(*NoteVerifier::FromVerifierKey(signer_->VerifierKey()));
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<store::SqliteStore> Open() {
    store::SqliteStoreOptions o;
    o.path = db_path_;
    auto s = store::SqliteStore::Open(o);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return std::move(s).value();
  }

  static ProofEntry Entry(const std::string& subject, int i, bool with_evidence = true) {
    ProofEntry e;
    e.recorded_at = 1764400000000 + i;
    e.occurred_at = 1764399999000 + i;
    e.subject = subject;
    e.kind = ProofKind::kDecided;
    e.topic = "newsletter";
    e.channel = "email";
    e.old_status = "not_asked";
    e.new_status = "granted";
    e.legal_basis = "eu-gdpr:A6-1-a";
    e.source_system = "hubspot";
    e.source_event_id = "evt-" + std::to_string(i);
    if (with_evidence) e.evidence = {{"email", subject + "@example.com"}, {"ip", "192.0.2.1"}};
    return e;
  }

  // Appends `batches` batches of `per_batch` entries, each followed by a
  // signed checkpoint, through the real store.
  void Fill(int batches, int per_batch) {
    auto store = Open();
    int n = 0;
    for (int b = 0; b < batches; ++b) {
      std::vector<ProofEntry> entries;
      for (int i = 0; i < per_batch; ++i, ++n)
        entries.push_back(Entry("s" + std::to_string(n % 7), n));
      Status s = store->Run([&](store::Transaction& txn) -> Status {
        Result<store::ProofAppendResult> r = store::AppendProofEntries(txn, entries, 1000 + b);
        if (!r.ok()) return r.status();
        Result<std::optional<std::string>> cp =
            store::WriteProofCheckpoint(txn, *signer_, 1000 + b);
        return cp.ok() ? Status::Ok() : cp.status();
      });
      ASSERT_TRUE(s.ok()) << s.ToString();
    }
    ASSERT_TRUE(store->Close().ok());
  }

  AuditResult Audit() {
    auto store = Open();
    AuditResult result;
    Status s = store->Run([&](store::Transaction& txn) -> Status {
      Result<AuditResult> r = store::AuditProofLog(txn, *verifier_);
      if (!r.ok()) return r.status();
      result = *r;
      return Status::Ok();
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    EXPECT_TRUE(store->Close().ok());
    return result;
  }

  // Runs SQL on the file directly. With `as_attacker`, first drops the
  // append-only triggers, as someone with write access to the file could.
  int Sql(const std::string& sql, bool as_attacker = true) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(db_path_.c_str(), &db), SQLITE_OK);
    std::string all = as_attacker ? "DROP TRIGGER IF EXISTS proof_entries_no_update;"
                                    "DROP TRIGGER IF EXISTS proof_entries_no_delete;" +
                                        sql
                                  : sql;
    char* err = nullptr;
    int rc = sqlite3_exec(db, all.c_str(), nullptr, nullptr, &err);
    sqlite3_free(err);
    sqlite3_close(db);
    return rc;
  }

  std::filesystem::path dir_;
  std::string db_path_;
  std::unique_ptr<NoteSigner> signer_;
  std::unique_ptr<NoteVerifier> verifier_;
};

}  // namespace consentd::proof::testing
