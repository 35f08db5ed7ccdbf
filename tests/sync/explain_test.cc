// `consentctl explain`'s unit (sync/explain.h): the decisions of the real
// sync engine on a real SQLite store, read back and told in plain words.
// Each test names the rule it explains.
#include "sync/explain.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "mapping/policy.h"
#include "sync_test_util.h"

namespace consentd::sync {
namespace {

using testing::Consent;
using testing::Erasure;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::Record;
using testing::T;
constexpr ConsentStatus kGranted = ConsentStatus::kGranted;
constexpr ConsentStatus kWithdrawn = ConsentStatus::kWithdrawn;
const std::string kAnna = "anna@example.org";

class SyncExplainTest : public testing::SyncEngineTest {
 protected:
  void SetUp() override {
    SyncEngineTest::SetUp();
    policy_ = mapping::ToPolicy(*spec_);
    options_.skew_window_ms = policy_.skew_window_ms;
  }

  ExplainLookup Lookup(const std::string& email, const ExplainOptions& options) {
    ExplainLookup out;
    Run([&](store::Transaction& txn) -> Status {
      Result<ExplainLookup> r = ExplainSubjectByEmail(txn, testing::kKey, email, options);
      if (!r.ok()) return r.status();
      out = std::move(*r);
      return Status::Ok();
    });
    return out;
  }

  // The explanation of kAnna's subject (fails the test if there is none).
  SubjectExplanation Explain() { return Explain(options_); }
  SubjectExplanation Explain(const ExplainOptions& options) {
    ExplainLookup l = Lookup(kAnna, options);
    EXPECT_TRUE(l.found.has_value());
    return l.found.value_or(SubjectExplanation{});
  }

  static std::vector<std::string> Texts(const SubjectExplanation& x) {
    std::vector<std::string> out;
    for (const ExplainedStep& s : x.history) out.push_back(s.text);
    return out;
  }

  Policy policy_;
  ExplainOptions options_;
};

TEST_F(SyncExplainTest, TieLostToWithdrawalIsExplained) {
  // The CRM grant is captured after the journey's withdrawal, within 2 s.
  Ingest("hubspot", {Record("ev-1", "101", kAnna, {Consent("newsletter", kGranted, T)})}, T + 100);
  Ingest("mailchimp",
         {Record("mc-ev-1", "mc-1", kAnna,
                 {Consent("newsletter", kWithdrawn, T - 1000, "mailchimp", "mc-ev-1",
                          ConsentMethod::kUnsubscribeLink)})},
         T + 200);
  const SubjectExplanation x = Explain();
  ASSERT_EQ(x.consents.size(), 1u);
  EXPECT_EQ(x.consents[0].status, kWithdrawn);
  ASSERT_GE(x.history.size(), 2u);
  const ExplainedStep& grant = x.history[0];
  const ExplainedStep& withdrawal = x.history[1];
  EXPECT_EQ(grant.chain, "newsletter/email");
  EXPECT_THAT(grant.text, HasSubstr("granted via hubspot (double opt-in confirmation)"));
  EXPECT_THAT(
      withdrawal.text,
      HasSubstr("#" + std::to_string(withdrawal.sequence) +
                " 15:06:39 withdrawn via mailchimp (unsubscribe link), was granted; "
                "the hubspot grant of 15:06:40 (#" +
                std::to_string(grant.sequence) + ") lost the tie: withdrawal wins within 2 s"));
}

TEST_F(SyncExplainTest, LaterGrantWithinTheWindowIsExplainedAsALostTie) {
  Ingest("mailchimp",
         {Record("mc-ev-1", "mc-1", kAnna,
                 {Consent("newsletter", kWithdrawn, T, "mailchimp", "mc-ev-1",
                          ConsentMethod::kUnsubscribeLink)})},
         T + 100);
  Ingest("hubspot", {Record("ev-1", "101", kAnna, {Consent("newsletter", kGranted, T + 1500)})},
         T + 200);
  const SubjectExplanation x = Explain();
  ASSERT_GE(x.history.size(), 2u);
  EXPECT_EQ(x.history[1].kind, ProofKind::kSuperseded);
  EXPECT_EQ(x.history[1].text, "#" + std::to_string(x.history[1].sequence) +
                                   " the hubspot grant of 15:06:41.500 lost the tie to #" +
                                   std::to_string(x.history[0].sequence) +
                                   ": withdrawal wins within 2 s; nothing changed");
}

TEST_F(SyncExplainTest, LateOlderEventIsExplainedAsArrivingLate) {
  Ingest("hubspot", {Record("ev-1", "101", kAnna, {Consent("newsletter", kGranted, T)})}, T + 100);
  Ingest("hubspot", {Record("ev-0", "101", kAnna, {Consent("newsletter", kWithdrawn, T - 60'000)})},
         T + 200);
  const SubjectExplanation x = Explain();
  ASSERT_GE(x.history.size(), 2u);
  EXPECT_THAT(x.history[1].text,
              HasSubstr("the hubspot withdrawal of 15:05:40 arrived late: older than the current "
                        "grant of 15:06:40 (#" +
                        std::to_string(x.history[0].sequence) + "); nothing changed"));
}

TEST_F(SyncExplainTest, RedeliveryIsExplainedAsARepeat) {
  Ingest("hubspot", {Record("ev-1", "101", kAnna, {Consent("newsletter", kGranted, T)})}, T + 100);
  Ingest("hubspot", {Record("ev-1b", "101", kAnna, {Consent("newsletter", kGranted, T)})}, T + 200);
  const SubjectExplanation x = Explain();
  ASSERT_EQ(x.history.size(), 2u);
  EXPECT_EQ(x.history[1].text, "#" + std::to_string(x.history[1].sequence) +
                                   " hubspot repeated the current granted (a redelivery or a "
                                   "second read); nothing changed");
}

TEST_F(SyncExplainTest, EchoIsExplainedAsOwnWrite) {
  Ingest("hubspot", {Record("ev-1", "101", kAnna, {Consent("newsletter", kGranted, T)})}, T + 100);
  Ingest(
      "mailchimp",
      {Record("mc-ev-1", "mc-1", kAnna, {Consent("newsletter", kGranted, T + 5000, "mailchimp")})},
      T + 5100);
  const SubjectExplanation x = Explain();
  ASSERT_GE(x.history.size(), 2u);
  EXPECT_EQ(x.history[1].kind, ProofKind::kEcho);
  EXPECT_THAT(x.history[1].text,
              HasSubstr("mailchimp reported back consentd's own write (granted): an echo, "
                        "neither applied nor sent again"));
}

TEST_F(SyncExplainTest, GrantWithoutConfirmationIsExplainedAsHeldPending) {
  Ingest("hubspot",
         {Record("ev-1", "101", kAnna,
                 {Consent("newsletter", kGranted, T, "hubspot", "ev-1", ConsentMethod::kForm)})},
         T + 100);
  const SubjectExplanation x = Explain();
  ASSERT_EQ(x.history.size(), 1u);
  EXPECT_THAT(x.history[0].text, HasSubstr("grant via hubspot (form) held as pending: the topic "
                                           "needs a double opt-in confirmation"));
  ASSERT_EQ(x.consents.size(), 1u);
  EXPECT_EQ(x.consents[0].status, ConsentStatus::kPending);
}

TEST_F(SyncExplainTest, StateNamesSubjectLinkedSystemsAndNoAddress) {
  Ingest("hubspot", {Record("ev-1", "101", kAnna, {Consent("newsletter", kGranted, T)})}, T + 100);
  Ingest(
      "mailchimp",
      {Record("mc-ev-1", "mc-1", kAnna, {Consent("newsletter", kGranted, T + 5000, "mailchimp")})},
      T + 5100);
  ExplainOptions options = options_;
  options.now = T + 1000;
  options.policy = &policy_;
  const SubjectExplanation x = Explain(options);
  EXPECT_EQ(x.subject, SubjectOf("hubspot", "101"));
  EXPECT_EQ(x.linked.at("hubspot"), std::set<std::string>{"101"});
  EXPECT_EQ(x.linked.at("mailchimp"), std::set<std::string>{"mc-1"});
  EXPECT_EQ(x.linked_addresses, 1);
  const std::string text = FormatExplanation(x, options);
  EXPECT_THAT(text, HasSubstr("subject " + x.subject));
  EXPECT_THAT(text, HasSubstr("linked: hubspot 101, mailchimp mc-1; 1 e-mail address"));
  EXPECT_THAT(text, HasSubstr("erased: no"));
  EXPECT_THAT(text, HasSubstr("newsletter/email: granted since 2025-06-15 15:06:40, legal basis "
                              "eu-gdpr:A6-1-a, method double_opt_in, source hubspot"));
  EXPECT_THAT(text, HasSubstr("may contact now: allowed"));
  EXPECT_THAT(text, Not(HasSubstr(kAnna)));
  EXPECT_THAT(FormatExplanationJson(x, options), Not(HasSubstr(kAnna)));
}

TEST_F(SyncExplainTest, TopicFilterKeepsOnlyThatTopic) {
  Ingest("hubspot",
         {Record("ev-1", "101", kAnna,
                 {Consent("newsletter", kGranted, T), Consent("product_news", kWithdrawn, T)})},
         T + 100);
  ExplainOptions options = options_;
  options.topic = "product_news";
  const SubjectExplanation x = Explain(options);
  ASSERT_EQ(x.consents.size(), 1u);
  EXPECT_EQ(x.consents[0].key.topic, "product_news");
  ASSERT_FALSE(x.history.empty());
  for (const ExplainedStep& s : x.history) EXPECT_EQ(s.chain, "product_news/email") << s.text;
  EXPECT_EQ(Explain().consents.size(), 2u);
}

TEST_F(SyncExplainTest, JsonCarriesTheStatesAndTheHistory) {
  Ingest("hubspot", {Record("ev-1", "101", kAnna, {Consent("newsletter", kGranted, T)})}, T + 100);
  const SubjectExplanation x = Explain();
  const nlohmann::json j = nlohmann::json::parse(FormatExplanationJson(x, options_));
  EXPECT_EQ(j["subject"], x.subject);
  EXPECT_EQ(j["erased"], false);
  ASSERT_EQ(j["consents"].size(), 1u);
  EXPECT_EQ(j["consents"][0]["topic"], "newsletter");
  EXPECT_EQ(j["consents"][0]["status"], "granted");
  EXPECT_EQ(j["consents"][0]["since"], "2025-06-15T15:06:40Z");
  EXPECT_EQ(j["consents"][0]["legal_basis"], "eu-gdpr:A6-1-a");
  ASSERT_EQ(j["history"].size(), x.history.size());
  EXPECT_EQ(j["history"][0]["kind"], "decided");
  EXPECT_EQ(j["history"][0]["sequence"], x.history[0].sequence);
}

TEST_F(SyncExplainTest, BlockIsExplainedInItsOwnChainAndCoversEveryTopic) {
  Ingest("hubspot", {Record("ev-1", "101", kAnna, {Consent("newsletter", kGranted, T)})}, T + 100);
  Ingest("hubspot",
         {Record("ev-2", "101", kAnna, {testing::Block(BlockScope::All(), true, T + 60'000)})},
         T + 60'100);
  ExplainOptions options = options_;
  options.topic = "newsletter";
  const SubjectExplanation x = Explain(options);
  ASSERT_EQ(x.blocks.size(), 1u);
  EXPECT_TRUE(x.blocks[0].active);
  ASSERT_EQ(x.history.size(), 2u);
  EXPECT_EQ(x.history[1].chain, "block all");
  EXPECT_THAT(x.history[1].text, HasSubstr("15:07:40 block set via hubspot"));
  EXPECT_THAT(FormatExplanation(x, options),
              HasSubstr("all: active since 2025-06-15 15:07:40, reason manual, source hubspot"));
}

TEST_F(SyncExplainTest, DeliveryIsExplainedUnderTheSubject) {
  Ingest("hubspot", {Record("ev-1", "101", kAnna, {Consent("newsletter", kGranted, T)})}, T + 100);
  const std::vector<store::OutboxRow> rows = Outbox("mailchimp");
  ASSERT_EQ(rows.size(), 1u);
  Run([&](store::Transaction& txn) -> Status {
    Result<std::vector<store::OutboxRow>> claimed =
        txn.ClaimOutbox("mailchimp", T + 200, 10, T + 60'000);
    if (!claimed.ok()) return claimed.status();
    connectors::DeliveryResult ok;
    ok.outbox_id = rows[0].id;
    ok.system_id = "mc-1";
    return engine_->RecordDeliveries(txn, "mailchimp", *claimed, {ok}, {}, 3, T + 300).status();
  });
  const SubjectExplanation x = Explain();
  ASSERT_EQ(x.history.size(), 2u);
  EXPECT_EQ(x.history[1].chain, "subject");
  EXPECT_EQ(x.history[1].kind, ProofKind::kPropagated);
  EXPECT_THAT(x.history[1].text, HasSubstr("15:06:40.300 written to mailchimp"));
  EXPECT_EQ(x.linked.at("mailchimp"), std::set<std::string>{"mc-1"});
}

// The target held a newer withdrawal of its own and kept the whole write
// out: the history says it was not written, and why, in the target's words.
TEST_F(SyncExplainTest, AWriteTheTargetKeptOutIsExplainedAsNotWritten) {
  Ingest("hubspot", {Record("ev-1", "101", kAnna, {Consent("newsletter", kGranted, T)})}, T + 100);
  const std::vector<store::OutboxRow> rows = Outbox("mailchimp");
  ASSERT_EQ(rows.size(), 1u);
  const std::string subject = SubjectOf("hubspot", "101");
  Run([&](store::Transaction& txn) -> Status {
    Result<std::vector<store::OutboxRow>> claimed =
        txn.ClaimOutbox("mailchimp", T + 200, 10, T + 60'000);
    if (!claimed.ok()) return claimed.status();
    connectors::DeliveryResult kept;
    kept.outbox_id = rows[0].id;
    kept.system_id = "mc-1";
    kept.kept_out = {ConsentKeyString(ConsentKey{subject, "newsletter", "email", ""})};
    kept.nothing_written = true;
    kept.detail = "the member was unsubscribed by someone other than consentd";
    return engine_->RecordDeliveries(txn, "mailchimp", *claimed, {kept}, {}, 3, T + 300).status();
  });
  const SubjectExplanation x = Explain();
  ASSERT_EQ(x.history.size(), 2u);
  EXPECT_EQ(x.history[1].kind, ProofKind::kSuperseded);
  EXPECT_THAT(x.history[1].text,
              HasSubstr("15:06:40.300 not written to mailchimp: the member was unsubscribed by "
                        "someone other than consentd"));
  EXPECT_THAT(x.history[1].text, Not(HasSubstr("reported")));
}

TEST_F(SyncExplainTest, UnknownAddressIsNotFound) {
  Ingest("hubspot", {Record("ev-1", "101", kAnna, {Consent("newsletter", kGranted, T)})}, T + 100);
  const ExplainLookup l = Lookup("bob@example.org", options_);
  EXPECT_FALSE(l.found.has_value());
  EXPECT_FALSE(l.tombstone_erased_at.has_value());
  EXPECT_EQ(NotFoundMessage(l.tombstone_erased_at),
            "no subject with this address; it may never have been seen, or it was erased");
}

TEST_F(SyncExplainTest, ErasedIdentityIsNotFoundButItsTombstoneSaysWhen) {
  Ingest("hubspot", {Record("ev-1", "101", kAnna, {Consent("newsletter", kGranted, T)})}, T + 100);
  Ingest("hubspot", {Record("ev-2", "101", kAnna, {Erasure(T + 10'000)})}, T + 10'100);
  const ExplainLookup l = Lookup(kAnna, options_);
  EXPECT_FALSE(l.found.has_value());
  ASSERT_TRUE(l.tombstone_erased_at.has_value());
  EXPECT_THAT(NotFoundMessage(l.tombstone_erased_at),
              HasSubstr("an erased identity matches it: erased at 2025-06-15 15:06:50"));
}

TEST_F(SyncExplainTest, InvalidAddressIsRejected) {
  Status s = store_->Run([&](store::Transaction& txn) -> Status {
    return ExplainSubjectByEmail(txn, testing::kKey, "not an address", options_).status();
  });
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
}

// Pure formatting: no store needed.
TEST(SyncExplainFormatTest, ErasedSubjectSaysSo) {
  SubjectExplanation x;
  x.subject = "s-00000000000000aa";
  x.erased_at = T;
  const std::string text = FormatExplanation(x, {});
  EXPECT_THAT(text, HasSubstr("erased: yes, at 2025-06-15 15:06:40"));
  EXPECT_THAT(text, HasSubstr("consents: none (not asked)"));
  const nlohmann::json j = nlohmann::json::parse(FormatExplanationJson(x, {}));
  EXPECT_EQ(j["erased"], true);
  EXPECT_EQ(j["erased_at"], "2025-06-15T15:06:40Z");
}

TEST(SyncExplainFormatTest, UnknownSkewWindowIsNamedNotGuessed) {
  auto entry = [](std::uint64_t seq, std::string source, std::string status, TimestampMs at) {
    LoggedEntry l;
    l.sequence = seq;
    l.entry.kind = ProofKind::kDecided;
    l.entry.topic = "newsletter";
    l.entry.channel = "email";
    l.entry.source_system = std::move(source);
    l.entry.new_status = std::move(status);
    l.entry.occurred_at = at;
    return l;
  };
  const std::vector<ExplainedStep> steps =
      ExplainHistory({entry(1, "hubspot", "granted", T), entry(2, "mailchimp", "refused", T)}, {});
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_THAT(steps[1].text, HasSubstr("lost the tie: refusal wins within the skew window"));
}

TEST(SyncExplainFormatTest, AddressBlockIsMaskedAndBlocksShowTheirState) {
  SubjectExplanation x;
  x.subject = "s-00000000000000aa";
  BlockRecord b;
  b.subject = x.subject;
  b.scope = BlockScope::Address("anna@example.org");
  b.active = true;
  b.reason = BlockReason::kBounced;
  b.since = T;
  b.provenance.source_system = "mailchimp";
  x.blocks.push_back(b);
  const std::string text = FormatExplanation(x, {});
  EXPECT_THAT(text, HasSubstr("address:a***@example.org: active since 2025-06-15 15:06:40, reason "
                              "bounced, source mailchimp"));
  EXPECT_THAT(text, Not(HasSubstr("anna@")));
}

}  // namespace
}  // namespace consentd::sync
