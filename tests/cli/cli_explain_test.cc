// consentctl explain, run as the real binary against a real SQLite store
// that the real sync engine filled in a temporary directory: a CRM grant
// and a Mailchimp withdrawal captured within the skew window.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "config/config.h"
#include "store/proof_log_store.h"
#include "store/sqlite_store.h"
#include "sync/sync_engine.h"
#include "tests/support/child_process.h"
#include "tests/sync/sync_test_util.h"

namespace consentd::cli {
namespace {

using consentd::testing::RunConsentctl;
using sync::testing::Consent;
using sync::testing::Record;
using sync::testing::T;
using ::testing::HasSubstr;
using ::testing::Not;

const std::string kAnna = "anna@example.org";

class CliExplainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_path_ = (dir_.path() / "consentd.db").string();
    key_path_ = (dir_.path() / "identity.key").string();
    config_path_ = (dir_.path() / "consentd.yaml").string();
    consentd::testing::WriteTextFile(
        config_path_,
        "store:\n  path: " + db_path_ + "\n" + "sync:\n  identity_key_file: " + key_path_ + "\n" +
            "mapping:\n"
            "  systems:\n"
            "    hubspot: {kind: hubspot, role: crm}\n"
            "    mailchimp: {kind: mailchimp, role: journey, confirms_double_opt_in: true}\n"
            "  identity:\n    keys: [email]\n"
            "  skew_window: 2s\n"
            "  channels:\n    email: {hubspot: EMAIL, mailchimp: email}\n"
            "  topics:\n"
            "    - name: newsletter\n      notice_version: \"2026-01\"\n"
            "      double_opt_in: true\n      channels: [email]\n      direction: both\n"
            "      systems:\n"
            "        hubspot: {subscriptions: {email: 1011}}\n"
            "        mailchimp: {interest: \"9a1c2e3f4b\"}\n");
    Result<config::Config> config = config::LoadConfigFile(config_path_);
    ASSERT_TRUE(config.ok()) << config.status().ToString();
    Result<std::string> key = sync::LoadOrCreateIdentityKey(key_path_);
    ASSERT_TRUE(key.ok()) << key.status().ToString();
    store::SqliteStoreOptions options;
    options.path = db_path_;
    Result<std::unique_ptr<store::SqliteStore>> db = store::SqliteStore::Open(options);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    store_ = std::move(*db);
    engine_ = std::make_unique<sync::SyncEngine>(
        sync::EngineSettings{std::make_shared<const mapping::MappingSpec>(config->mapping), *key});
  }

  void TearDown() override {
    if (store_) {
      EXPECT_TRUE(store_->Close().ok());
    }
  }

  // Ingests one record from `source`; returns the sequence number of the
  // first proof entry it appended.
  std::uint64_t Ingest(const std::string& source, connectors::InboundRecord record,
                       TimestampMs now) {
    std::uint64_t first = 0;
    Status s = store_->Run([&](store::Transaction& txn) -> Status {
      Result<std::uint64_t> size = store::ProofTreeSize(txn);
      if (!size.ok()) return size.status();
      first = *size;
      return engine_->Ingest(txn, source, {record}, now).status();
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return first;
  }

  // The CRM grant captured 1.5 s after the journey's withdrawal, which
  // arrives second: the withdrawal wins the tie.
  void GrantThenEarlierWithdrawal() {
    grant_seq_ = Ingest(
        "hubspot",
        Record("ev-1", "101", kAnna, {Consent("newsletter", ConsentStatus::kGranted, T + 1500)}),
        T + 2000);
    withdrawal_seq_ =
        Ingest("mailchimp",
               Record("mc-ev-1", "mc-1", kAnna,
                      {Consent("newsletter", ConsentStatus::kWithdrawn, T, "mailchimp", "mc-ev-1",
                               ConsentMethod::kUnsubscribeLink)}),
               T + 3000);
  }

  consentd::testing::TempDir dir_{"consentd-cli-explain"};
  std::string db_path_;
  std::string key_path_;
  std::string config_path_;
  std::unique_ptr<store::SqliteStore> store_;
  std::unique_ptr<sync::SyncEngine> engine_;
  std::uint64_t grant_seq_ = 0;
  std::uint64_t withdrawal_seq_ = 0;
};

TEST_F(CliExplainTest, NamesTheWithdrawalWinningTheTieWithSequenceNumbers) {
  GrantThenEarlierWithdrawal();
  const auto r = RunConsentctl({"explain", "--email", kAnna, "--config", config_path_});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("linked: hubspot 101, mailchimp mc-1"));
  EXPECT_THAT(r.output, HasSubstr("erased: no"));
  EXPECT_THAT(r.output, HasSubstr("newsletter/email: withdrawn since 2025-06-15 15:06:40"));
  EXPECT_THAT(r.output, HasSubstr("#" + std::to_string(grant_seq_) +
                                  " 2025-06-15 15:06:41.500 granted via hubspot"));
  EXPECT_THAT(r.output,
              HasSubstr("#" + std::to_string(withdrawal_seq_) +
                        " 15:06:40 withdrawn via mailchimp (unsubscribe link), was "
                        "granted; the hubspot grant of 15:06:41.500 (#" +
                        std::to_string(grant_seq_) + ") lost the tie: withdrawal wins within 2 s"));
  EXPECT_THAT(r.output, Not(HasSubstr(kAnna))) << "the address is never printed";
}

TEST_F(CliExplainTest, DbAndIdentityKeyWorkWithoutConfig) {
  GrantThenEarlierWithdrawal();
  const auto r = RunConsentctl({"explain", "--email", "Anna@Example.ORG", "--db", db_path_,
                                "--identity-key", key_path_, "--topic", "newsletter"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // Without the mapping the window's length is not known, only named.
  EXPECT_THAT(r.output, HasSubstr("lost the tie: withdrawal wins within the skew window"));
}

TEST_F(CliExplainTest, JsonParsesAndHasTheStates) {
  GrantThenEarlierWithdrawal();
  const auto r = RunConsentctl({"explain", "--email", kAnna, "--config", config_path_, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const nlohmann::json j = nlohmann::json::parse(r.output, nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(j.is_discarded()) << r.output;
  EXPECT_EQ(j["erased"], false);
  ASSERT_EQ(j["consents"].size(), 1u);
  EXPECT_EQ(j["consents"][0]["topic"], "newsletter");
  EXPECT_EQ(j["consents"][0]["channel"], "email");
  EXPECT_EQ(j["consents"][0]["status"], "withdrawn");
  EXPECT_EQ(j["consents"][0]["source_system"], "mailchimp");
  EXPECT_EQ(j["consents"][0]["method"], "unsubscribe_link");
  ASSERT_GE(j["history"].size(), 2u);
  EXPECT_EQ(j["history"][1]["sequence"], withdrawal_seq_);
  EXPECT_THAT(j["history"][1]["text"].get<std::string>(), HasSubstr("lost the tie"));
}

TEST_F(CliExplainTest, UnknownAddressExitsThree) {
  GrantThenEarlierWithdrawal();
  const auto r = RunConsentctl({"explain", "--email", "bob@example.org", "--config", config_path_});
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_THAT(r.output, HasSubstr("no subject with this address; it may never have been seen, "
                                  "or it was erased"));
}

TEST_F(CliExplainTest, InvalidAddressExitsOneWithTheReason) {
  const auto r = RunConsentctl({"explain", "--email", "no-at-sign", "--config", config_path_});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("consentctl explain: "));
  EXPECT_THAT(r.output, HasSubstr("e-mail address has no '@'")) << r.output;
}

TEST_F(CliExplainTest, MissingOptionsAreAUsageError) {
  EXPECT_EQ(RunConsentctl({"explain", "--config", config_path_}).exit_code, 2);
  EXPECT_EQ(RunConsentctl({"explain", "--email", kAnna, "--db", db_path_}).exit_code, 2);
  EXPECT_EQ(
      RunConsentctl({"explain", "--email", kAnna, "--config", config_path_, "extra"}).exit_code, 2);
}

}  // namespace
}  // namespace consentd::cli
