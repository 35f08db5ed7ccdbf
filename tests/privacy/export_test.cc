// The access export (privacy/export.h) and its offline verifier
// (privacy/verify_export.h) over a real SQLite store filled through the
// real sync engine, with real signed checkpoints.
#include "privacy/export.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "../sync/sync_test_util.h"
#include "core/proof/bytes.h"
#include "core/proof/checkpoint.h"
#include "core/proof/entry_codec.h"
#include "core/proof/note.h"
#include "privacy/verify_export.h"

namespace consentd::privacy {
namespace {

using sync::testing::Block;
using sync::testing::Consent;
using sync::testing::Erasure;
using sync::testing::kKey;
using sync::testing::Record;
using sync::testing::T;
using Json = nlohmann::json;

constexpr char kAnna[] = "anna@example.org";

class ExportTest : public sync::testing::SyncEngineTest {
 protected:
  void SetUp() override {
    SyncEngineTest::SetUp();
    signer_.emplace(*proof::NoteSigner::Generate("consentd.test/log"));
    verifier_.emplace(*proof::NoteVerifier::FromVerifierKey(signer_->VerifierKey()));
  }

  // Anna grants the newsletter by double opt-in (with evidence), then a
  // channel block arrives: a few entries of hers among Bob's.
  void FillHistory() {
    Change grant = Consent("newsletter", ConsentStatus::kGranted, T, "hubspot", "ev-1");
    grant.evidence = {{"ip", "192.0.2.7"}, {"user_agent", "Mozilla/5.0 (X11)"}};
    Ingest("hubspot", {Record("ev-1", "101", kAnna, {grant})}, T + 100);
    Ingest("hubspot",
           {Record("ev-b", "202", "bob@example.org",
                   {Consent("newsletter", ConsentStatus::kGranted, T)})},
           T + 150);
    Ingest("hubspot",
           {Record("ev-2", "101", kAnna, {Block(BlockScope::Channel("sms"), true, T + 1000)})},
           T + 1100);
  }

  void Checkpoint() {
    Run([&](store::Transaction& txn) -> Status {
      return store::WriteProofCheckpoint(txn, *signer_, T + 5000).status();
    });
  }

  Result<std::string> Export(const std::string& email, const std::string& subject = "") {
    ExportRequest req;
    req.email = email;
    req.subject = subject;
    req.identity_key = kKey;
    req.now = T + 9000;
    std::optional<Result<std::string>> out;
    Status s = store_->Run([&](store::Transaction& txn) -> Status {
      out.emplace(BuildSubjectExport(txn, req));
      return Status::Ok();
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return *out;
  }

  Json ExportJson(const std::string& email, const std::string& subject = "") {
    Result<std::string> text = Export(email, subject);
    EXPECT_TRUE(text.ok()) << text.status().ToString();
    return text.ok() ? Json::parse(*text) : Json();
  }

  Result<ExportCheck> Verify(const Json& doc) { return VerifyExport(doc.dump(), *verifier_); }

  // Delivers every row queued to `target` (the erasure's there): its
  // target settles and the rows that held the address go.
  void SettleErasureRows(const std::string& target) {
    Run([&](store::Transaction& txn) -> Status {
      Result<std::vector<store::OutboxRow>> claimed =
          txn.ClaimOutbox(target, T + 20'000, 100, T + 80'000);
      if (!claimed.ok()) return claimed.status();
      std::vector<connectors::DeliveryResult> results;
      for (const store::OutboxRow& row : *claimed) {
        connectors::DeliveryResult ok;
        ok.outbox_id = row.id;
        results.push_back(ok);
      }
      return engine_->RecordDeliveries(txn, target, *claimed, results, {}, 3, T + 20'100).status();
    });
    EXPECT_TRUE(Outbox(target).empty());
  }

  // Index in doc["history"] of the first entry with sealed evidence.
  static std::size_t FirstWithEvidence(const Json& doc) {
    for (std::size_t i = 0; i < doc["history"].size(); ++i) {
      if (doc["history"][i].contains("evidence_aad")) return i;
    }
    ADD_FAILURE() << "no entry with evidence";
    return 0;
  }

  std::optional<proof::NoteSigner> signer_;
  std::optional<proof::NoteVerifier> verifier_;
};

// A record retired (deleted at its system while the person lives on, or
// moved to another address) keeps the address it had, so that no write
// goes there again: the export shows it, and when.
TEST_F(ExportTest, ExportShowsTheAddressesOfRetiredRecords) {
  FillHistory();
  const std::string anna = SubjectOf("hubspot", "101");
  Run([&](store::Transaction& txn) -> Status {
    CONSENTD_RETURN_IF_ERROR(
        txn.LinkSystemId({anna, "mailchimp", "mc-7", T + 500, "anna.old@example.org"}));
    return txn.RetireSystemId("mailchimp", "mc-7", T + 700);
  });
  const Json doc = ExportJson(kAnna);
  EXPECT_EQ(doc["identities"]["retired_records"], Json::array({{{"system", "mailchimp"},
                                                                {"id", "mc-7"},
                                                                {"address", "anna.old@example.org"},
                                                                {"retired_at", T + 700}}}))
      << doc["identities"].dump();
}

TEST_F(ExportTest, ExportHoldsIdentitiesStateAndHistoryAndVerifiesWithTheVerifierKey) {
  FillHistory();
  Checkpoint();
  const Json doc = ExportJson(kAnna);
  EXPECT_EQ(doc["format"], "consentd-export/1");
  EXPECT_EQ(doc["generated_at"], "2025-06-15T15:06:49.000Z");
  EXPECT_EQ(doc["pii_principal_id"], SubjectOf("hubspot", "101"));
  EXPECT_EQ(doc["erased"], false);
  EXPECT_EQ(doc["identities"]["email_addresses"], Json::array({kAnna}));
  EXPECT_EQ(doc["identities"]["system_ids"][0],
            Json({{"system", "hubspot"}, {"id", "101"}, {"address", kAnna}}));
  ASSERT_EQ(doc["consents"].size(), 1u);
  EXPECT_EQ(doc["consents"][0]["purpose"], "newsletter");
  EXPECT_EQ(doc["consents"][0]["event_state"], "granted");
  EXPECT_EQ(doc["consents"][0]["may_contact"]["allowed"], true);
  ASSERT_EQ(doc["blocks"].size(), 1u);
  EXPECT_EQ(doc["blocks"][0]["scope"], "channel:sms");
  EXPECT_EQ(doc["evidence_key_status"], "present");
  // Only Anna's entries: Bob's are in the log, not in her export.
  ASSERT_GE(doc["history"].size(), 2u);
  for (const Json& e : doc["history"]) {
    EXPECT_EQ(e["fields"]["pii_principal_id"], doc["pii_principal_id"]);
    EXPECT_EQ(e["proof_status"], "included");
  }
  EXPECT_EQ(doc.dump().find("bob@"), std::string::npos);
  const Json& with_evidence = doc["history"][FirstWithEvidence(doc)];
  EXPECT_EQ(with_evidence["evidence"]["ip"], "192.0.2.7");

  Result<ExportCheck> check = Verify(doc);
  ASSERT_TRUE(check.ok()) << check.status().ToString();
  EXPECT_EQ(check->entries, doc["history"].size());
  EXPECT_EQ(check->proven, check->entries);
  EXPECT_GE(check->evidence_opened, 1u);
  EXPECT_EQ(check->origin, "consentd.test/log");
}

// Art. 15 asks for everything held: the writes consentd is sending (or
// failed to send) about the person carry an address and a state, and its
// echo memory says what it last wrote where. Bob's are not in Anna's export.
TEST_F(ExportTest, ExportHoldsThePersonsQueuedWritesAndWhatWasWrittenWhereButNoOneElses) {
  FillHistory();
  const std::string anna = SubjectOf("hubspot", "101");
  Run([&](store::Transaction& txn) -> Status {
    auto claimed = txn.ClaimOutbox("mailchimp", T + 2000, 10, T + 60'000);
    if (!claimed.ok()) return claimed.status();
    for (const store::OutboxRow& r : *claimed) {
      if (r.key == anna) {
        CONSENTD_RETURN_IF_ERROR(txn.MarkDead(r.id, "400 invalid", T + 2100));
      }
    }
    return Status::Ok();
  });
  const Json doc = ExportJson(kAnna);
  ASSERT_FALSE(doc["outbox"].empty()) << doc.dump(2);
  bool dead = false;
  for (const Json& w : doc["outbox"]) {
    EXPECT_EQ(w["system"], "mailchimp");
    EXPECT_EQ(w["address"], kAnna);
    EXPECT_EQ(w["desired_state"]["email"], kAnna);
    dead |= w["status"] == "dead";
  }
  EXPECT_TRUE(dead) << "the dead letter is the person's data too";
  ASSERT_FALSE(doc["last_written"].empty()) << doc.dump(2);
  for (const Json& e : doc["last_written"]) {
    EXPECT_TRUE(e["key"].get<std::string>().starts_with(doc["pii_principal_id"].get<std::string>()))
        << e.dump();
  }
  EXPECT_TRUE(doc["erasure_request"].is_null());
  EXPECT_EQ(doc.dump().find("bob@"), std::string::npos);
}

// What docs/export.md tells a reader to do, with OpenSSL and the document
// alone: AES-256-GCM with the given key, nonce, tag and associated data.
TEST_F(ExportTest, EvidenceOpensWithPlainAesGcmFromTheDocumentAlone) {
  FillHistory();
  Checkpoint();
  const Json doc = ExportJson(kAnna);
  const Json& e = doc["history"][FirstWithEvidence(doc)];
  const std::string key = *proof::Base64Decode(doc["evidence_key"]["key"].get<std::string>());
  const Json sealed = e["fields"]["pii_information"];
  EXPECT_EQ(sealed["alg"], "A256GCM");
  const std::string nonce = *proof::Base64Decode(sealed["nonce"].get<std::string>());
  const std::string ct = *proof::Base64Decode(sealed["ciphertext"].get<std::string>());
  std::string tag = *proof::Base64Decode(sealed["tag"].get<std::string>());
  const std::string aad = *proof::Base64Decode(e["evidence_aad"].get<std::string>());

  auto u = [](const std::string& s) { return reinterpret_cast<const unsigned char*>(s.data()); };
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  std::string plain(ct.size(), '\0');
  int len = 0;
  int plain_len = 0;
  bool ok = EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(nonce.size()),
                                nullptr) == 1 &&
            EVP_DecryptInit_ex(ctx, nullptr, nullptr, u(key), u(nonce)) == 1 &&
            EVP_DecryptUpdate(ctx, nullptr, &len, u(aad), static_cast<int>(aad.size())) == 1 &&
            EVP_DecryptUpdate(ctx, reinterpret_cast<unsigned char*>(plain.data()), &plain_len,
                              u(ct), static_cast<int>(ct.size())) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, static_cast<int>(tag.size()),
                                tag.data()) == 1 &&
            EVP_DecryptFinal_ex(ctx, reinterpret_cast<unsigned char*>(plain.data()), &len) == 1;
  EVP_CIPHER_CTX_free(ctx);
  ASSERT_TRUE(ok);
  EXPECT_EQ(Json::parse(plain), e["evidence"]);
}

TEST_F(ExportTest, EntriesNewerThanTheLatestCheckpointCarryNoProofAndSaySo) {
  FillHistory();
  Checkpoint();
  Ingest("hubspot",
         {Record("ev-3", "101", kAnna,
                 {Consent("newsletter", ConsentStatus::kWithdrawn, T + 3000, "hubspot", "ev-3")})},
         T + 3100);
  Json doc = ExportJson(kAnna);
  EXPECT_GE(doc["history_summary"]["not_yet_checkpointed"].get<int>(), 1);
  EXPECT_EQ(doc["history"].back()["proof_status"], "not_yet_checkpointed");
  EXPECT_FALSE(doc["history"].back().contains("tlog_proof"));
  Result<ExportCheck> check = Verify(doc);
  ASSERT_TRUE(check.ok()) << check.status().ToString();
  EXPECT_GE(check->not_yet_checkpointed, 1u);

  // Dropping a covered entry's proof by calling it "not yet checkpointed"
  // is caught: the checkpoint covers it.
  Json& first = doc["history"][0];
  first.erase("tlog_proof");
  first["proof_status"] = "not_yet_checkpointed";
  doc["history_summary"]["proven"] = doc["history_summary"]["proven"].get<int>() - 1;
  doc["history_summary"]["not_yet_checkpointed"] =
      doc["history_summary"]["not_yet_checkpointed"].get<int>() + 1;
  check = Verify(doc);
  ASSERT_FALSE(check.ok());
  EXPECT_NE(check.status().message().find("entry " + std::to_string(first["sequence"].get<int>()) +
                                          ": carries no proof"),
            std::string::npos)
      << check.status().ToString();
}

TEST_F(ExportTest, AFieldChangedInTheDocumentFailsNamingTheEntry) {
  FillHistory();
  Checkpoint();
  Json doc = ExportJson(kAnna);
  Json& e = doc["history"][0];
  e["fields"]["event_state"] = "refused";
  Result<ExportCheck> check = Verify(doc);
  ASSERT_FALSE(check.ok());
  EXPECT_EQ(check.status().message(), "entry " + std::to_string(e["sequence"].get<int>()) +
                                          ": fields shown differ from the logged bytes");
}

TEST_F(ExportTest, ADecryptedEvidenceValueChangedInTheDocumentFails) {
  FillHistory();
  Checkpoint();
  Json doc = ExportJson(kAnna);
  Json& e = doc["history"][FirstWithEvidence(doc)];
  e["evidence"]["ip"] = "198.51.100.1";
  Result<ExportCheck> check = Verify(doc);
  ASSERT_FALSE(check.ok());
  EXPECT_EQ(check.status().message(),
            "entry " + std::to_string(e["sequence"].get<int>()) +
                ": evidence shown differs from the evidence in the logged bytes");
}

// Someone rewrites a logged entry consistently in the document (bytes and
// fields agree, the entry still decodes): only the proof can catch it.
TEST_F(ExportTest, ALoggedEntryRewrittenInTheDocumentFailsItsInclusionProof) {
  FillHistory();
  Checkpoint();
  Json doc = ExportJson(kAnna);
  Json& e = doc["history"][0];
  std::string bytes = *proof::Base64Decode(e["logged_entry"].get<std::string>());
  const std::size_t at = bytes.find("\"recorded_at\":") + 14;
  bytes[at] = bytes[at] == '1' ? '2' : '1';
  ASSERT_TRUE(proof::DecodeEntry(bytes).ok());
  e["logged_entry"] = proof::Base64Encode(bytes);
  e["fields"] = Json::parse(bytes);
  e.erase("leaf_hash");
  Result<proof::TlogProof> bundle = proof::ParseTlogProof(e["tlog_proof"].get<std::string>());
  ASSERT_TRUE(bundle.ok());
  bundle->extra = bytes;
  e["tlog_proof"] = proof::FormatTlogProof(*bundle);
  Result<ExportCheck> check = Verify(doc);
  ASSERT_FALSE(check.ok());
  EXPECT_EQ(check.status().message().rfind(
                "entry " + std::to_string(e["sequence"].get<int>()) + ": inclusion proof fails", 0),
            0u)
      << check.status().ToString();
}

TEST_F(ExportTest, AnotherVerifierKeyFailsAtTheCheckpointSignature) {
  FillHistory();
  Checkpoint();
  const Json doc = ExportJson(kAnna);
  proof::NoteSigner other = *proof::NoteSigner::Generate("consentd.test/log");
  Result<ExportCheck> check =
      VerifyExport(doc.dump(), *proof::NoteVerifier::FromVerifierKey(other.VerifierKey()));
  ASSERT_FALSE(check.ok());
  EXPECT_EQ(check.status().code(), StatusCode::kUnauthenticated) << check.status().ToString();
}

// A CRM merge files the merged person's earlier history, evidence and
// leftover writes under their old pseudonym; the person's export holds
// them too (Art. 15 asks for everything held), each history proven against
// the same checkpoint and its evidence opened with that pseudonym's key.
TEST_F(ExportTest, ExportHoldsTheHistoryOfEveryPseudonymMergedIntoThePerson) {
  FillHistory();
  Change grant = Consent("newsletter", ConsentStatus::kGranted, T + 50, "hubspot", "ev-3");
  grant.evidence = {{"ip", "198.51.100.4"}};
  Ingest("hubspot", {Record("ev-3", "102", "anna.b@example.org", {grant})}, T + 200);
  const std::string merged_away = SubjectOf("hubspot", "102");
  connectors::InboundRecord merge = Record("ev-4", "101", kAnna, {});
  merge.merged_ids = {"102"};
  Ingest("hubspot", {merge}, T + 300);
  const std::string anna = SubjectOf("hubspot", "101");
  ASSERT_NE(anna, merged_away);
  Checkpoint();

  const Json doc = ExportJson(kAnna);
  ASSERT_EQ(doc["merged_subjects"].size(), 1u) << doc.dump(2);
  const Json& m = doc["merged_subjects"][0];
  EXPECT_EQ(m["pii_principal_id"], merged_away);
  EXPECT_EQ(m["evidence_key_status"], "present");
  ASSERT_GE(m["history"].size(), 1u);
  bool opened = false;
  for (const Json& e : m["history"]) {
    EXPECT_EQ(e["fields"]["pii_principal_id"], merged_away);
    EXPECT_EQ(e["proof_status"], "included");
    if (e.contains("evidence") && e["evidence"]["ip"] == "198.51.100.4") opened = true;
  }
  EXPECT_TRUE(opened) << "the merged pseudonym's evidence is opened with its own key";

  Result<ExportCheck> check = Verify(doc);
  ASSERT_TRUE(check.ok()) << check.status().ToString();
  EXPECT_EQ(check->merged_subjects, 1u);
  EXPECT_EQ(check->entries, doc["history"].size() + m["history"].size());
  EXPECT_EQ(check->proven, check->entries);

  // The merged history is checked as strictly as the person's own: an entry
  // of the person's moved into it is about another pseudonym.
  Json forged = doc;
  forged["merged_subjects"][0]["history"].push_back(doc["history"].back());
  forged["merged_subjects"][0]["history_summary"]["entries"] =
      forged["merged_subjects"][0]["history"].size();
  Result<ExportCheck> refused = Verify(forged);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("merged subject " + merged_away), std::string::npos)
      << refused.status().ToString();
  // And its evidence must open with the key shown for it.
  Json wrong_key = doc;
  wrong_key["merged_subjects"][0]["evidence_key"] = doc["evidence_key"];
  EXPECT_FALSE(Verify(wrong_key).ok());
  // Another person's history, genuinely logged, does not pass as merged:
  // the merge is in the merged pseudonym's own logged history.
  const Json bob = ExportJson("bob@example.org");
  Json foreign = doc;
  foreign["merged_subjects"].push_back({{"pii_principal_id", bob["pii_principal_id"]},
                                        {"evidence_key", bob["evidence_key"]},
                                        {"history_summary", bob["history_summary"]},
                                        {"history", bob["history"]}});
  Result<ExportCheck> not_merged = Verify(foreign);
  ASSERT_FALSE(not_merged.ok());
  EXPECT_NE(not_merged.status().message().find("shows no merge into this person"),
            std::string::npos)
      << not_merged.status().ToString();
  // Nor with a made-up entry saying it was merged: one beyond the
  // checkpoint carries no proof, so it vouches for nothing.
  Json made_up = bob["history"].back();
  Json fields = Json::parse(*proof::Base64Decode(made_up["logged_entry"].get<std::string>()));
  fields["sequence"] = doc["checkpoint"]["tree_size"].get<std::uint64_t>() + 100;
  fields["reason"] = "merged into " + anna + " (hubspot)";
  const std::string made_up_bytes = fields.dump();
  ASSERT_TRUE(proof::DecodeEntry(made_up_bytes).ok()) << made_up_bytes;
  made_up["sequence"] = fields["sequence"];
  made_up["logged_entry"] = proof::Base64Encode(made_up_bytes);
  made_up["fields"] = fields;
  made_up["proof_status"] = "not_yet_checkpointed";
  made_up.erase("tlog_proof");
  made_up.erase("leaf_hash");
  made_up.erase("evidence");
  made_up.erase("evidence_aad");
  Json claimed = foreign;
  claimed["merged_subjects"].back()["history"].push_back(made_up);
  claimed["merged_subjects"].back()["history_summary"] = {
      {"entries", claimed["merged_subjects"].back()["history"].size()},
      {"proven", bob["history_summary"]["proven"]},
      {"not_yet_checkpointed", bob["history_summary"]["not_yet_checkpointed"].get<int>() + 1}};
  Result<ExportCheck> claimed_check = Verify(claimed);
  ASSERT_FALSE(claimed_check.ok()) << "a made-up merge entry passed";
  EXPECT_NE(claimed_check.status().message().find("shows no merge into this person"),
            std::string::npos)
      << claimed_check.status().ToString();
  // Nor is one pseudonym counted twice.
  Json twice = doc;
  twice["merged_subjects"].push_back(doc["merged_subjects"][0]);
  EXPECT_FALSE(Verify(twice).ok());
}

TEST_F(ExportTest, ErasedSubjectByPseudonymKeepsProvableHistoryWithUnreadableEvidence) {
  FillHistory();
  const std::string subject = SubjectOf("hubspot", "101");
  Ingest("hubspot", {Record("ev-9", "101", kAnna, {Erasure(T + 10'000)})}, T + 10'100);
  Checkpoint();
  const Json doc = ExportJson("", subject);
  EXPECT_EQ(doc["erased"], true);
  EXPECT_EQ(doc["evidence_key"], nullptr);
  EXPECT_EQ(doc["evidence_key_status"], "destroyed");
  EXPECT_TRUE(doc["identities"]["email_addresses"].empty());
  EXPECT_TRUE(doc["consents"].empty());
  // The address is held only where the erasure still needs it: the rows
  // that carry it to the other systems, until each has settled.
  Json without_outbox = doc;
  without_outbox.erase("outbox");
  EXPECT_EQ(without_outbox.dump().find(kAnna), std::string::npos);
  for (const Json& w : doc["outbox"]) EXPECT_EQ(w["desired_state"]["erase"], true) << w.dump();
  EXPECT_EQ(doc["erasure_request"]["source"], "hubspot");
  EXPECT_FALSE(doc["erasure_request"]["targets"].empty());
  const Json& e = doc["history"][FirstWithEvidence(doc)];
  EXPECT_FALSE(e.contains("evidence"));
  EXPECT_EQ(e["evidence_status"].get<std::string>().rfind("unreadable", 0), 0u);
  EXPECT_EQ(doc["history"].back()["fields"]["event_type"], "erasure_completed");

  Result<ExportCheck> check = Verify(doc);
  ASSERT_TRUE(check.ok()) << check.status().ToString();
  EXPECT_TRUE(check->erased);
  EXPECT_EQ(check->proven, check->entries);
  EXPECT_GE(check->evidence_unreadable, 1u);
}

TEST_F(ExportTest, ErasedAddressIsReportedErasedWithoutPersonalData) {
  FillHistory();
  Ingest("hubspot", {Record("ev-9", "101", kAnna, {Erasure(T + 10'000)})}, T + 10'100);
  SettleErasureRows("mailchimp");
  const Json doc = ExportJson(kAnna);
  EXPECT_EQ(doc["erased"], true);
  EXPECT_EQ(doc["erased_at"], T + 10'000);
  EXPECT_EQ(doc["pii_principal_id"], nullptr);
  EXPECT_FALSE(doc.contains("history"));
  EXPECT_EQ(doc.dump().find("anna"), std::string::npos);
  Result<ExportCheck> check = Verify(doc);
  ASSERT_TRUE(check.ok()) << check.status().ToString();
  EXPECT_TRUE(check->subject.empty());
}

// Until every system has settled the erasure, the rows that carry it
// there hold the address: asked by that address, the export shows them
// (the erased subject's document) instead of saying nothing is held.
TEST_F(ExportTest, AnErasedAddressStillCarriedByAnOpenErasureShowsWhatHoldsIt) {
  FillHistory();
  const std::string subject = SubjectOf("hubspot", "101");
  Ingest("hubspot", {Record("ev-9", "101", kAnna, {Erasure(T + 10'000)})}, T + 10'100);
  const Json doc = ExportJson("Anna@Example.org");
  EXPECT_EQ(doc["erased"], true);
  EXPECT_EQ(doc["pii_principal_id"], subject);
  ASSERT_FALSE(doc["outbox"].empty()) << doc.dump(2);
  for (const Json& w : doc["outbox"]) {
    EXPECT_EQ(w["desired_state"]["erase"], true) << w.dump();
    EXPECT_EQ(w["desired_state"]["email"], kAnna) << w.dump();
  }
  EXPECT_NE(doc["statement"].get<std::string>().find("has not settled at every system"),
            std::string::npos)
      << doc["statement"];
  EXPECT_FALSE(doc["erasure_request"]["targets"].empty());
  EXPECT_EQ(doc.dump().find("bob@"), std::string::npos);
}

// After a CRM merge the person has two addresses; the journey platform
// keeps a member per address, so its erasure row names one and erases the
// other with it (also_erase). An access request by either address shows
// the rows that still hold them, not "nothing held".
TEST_F(ExportTest, EveryAddressAnOpenErasureStillCarriesShowsWhatHoldsIt) {
  FillHistory();
  const std::string second = "anna.b@example.org";
  Ingest("hubspot",
         {Record("ev-3", "102", second,
                 {Consent("newsletter", ConsentStatus::kGranted, T + 50, "hubspot", "ev-3")})},
         T + 200);
  connectors::InboundRecord merge = Record("ev-4", "101", kAnna, {});
  merge.merged_ids = {"102"};
  Ingest("hubspot", {merge}, T + 300);
  const std::string subject = SubjectOf("hubspot", "101");
  // A member for each address at the journey platform.
  int n = 0;
  for (const std::string& address : {std::string(kAnna), second}) {
    const std::string id = "mc-" + std::to_string(++n);
    Ingest("mailchimp",
           {Record(
               "ev-" + id, id, address,
               {Consent("newsletter", ConsentStatus::kGranted, T + 400, "mailchimp", "ev-" + id)})},
           T + 500 + n);
  }
  ASSERT_EQ(SubjectOf("mailchimp", "mc-2"), subject);
  Ingest("hubspot", {Record("ev-9", "101", kAnna, {Erasure(T + 10'000)})}, T + 10'100);
  bool also_erased = false;
  for (const std::string& address : {std::string(kAnna), second}) {
    SCOPED_TRACE(address);
    const Json doc = ExportJson(address);
    EXPECT_EQ(doc["erased"], true);
    EXPECT_EQ(doc["pii_principal_id"], subject) << doc.dump(2);
    ASSERT_FALSE(doc["outbox"].empty()) << doc.dump(2);
    for (const Json& w : doc["outbox"]) {
      also_erased |= w["desired_state"].contains("also_erase");
    }
  }
  EXPECT_TRUE(also_erased) << "no erasure row erases a second address: the case is not made";
}

TEST_F(ExportTest, UnknownAddressIsNotFound) {
  FillHistory();
  Result<std::string> r = Export("nobody@example.org");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  r = Export("", "s-0000000000000000");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
}

TEST_F(ExportTest, RequestNamesExactlyOnePerson) {
  EXPECT_EQ(Export("", "").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Export(kAnna, "s-0000000000000000").status().code(), StatusCode::kInvalidArgument);
}

TEST_F(ExportTest, AnythingButAnExportDocumentIsRejected) {
  EXPECT_EQ(VerifyExport("not json", *verifier_).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifyExport(R"({"format":"other/1"})", *verifier_).status().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace consentd::privacy
