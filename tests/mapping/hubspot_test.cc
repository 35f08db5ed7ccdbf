// HubSpot ⇄ canonical, each mapping line in both directions, through the
// worked example mapping.
#include "mapping/hubspot.h"

#include <gtest/gtest.h>

#include "mapping/policy.h"
#include "mapping_test_util.h"

namespace consentd::mapping::hubspot {
namespace {

class HubSpotMapping : public ::testing::Test {
 protected:
  MappingSpec spec_ = testing::LoadExample();
  Mapper mapper() const { return Mapper(spec_, "hubspot"); }

  static SubscriptionStatus Status(std::int64_t id, SubscriptionState s,
                                   std::string channel = "EMAIL") {
    SubscriptionStatus st;
    st.subscription_id = id;
    st.status = s;
    st.channel = std::move(channel);
    st.timestamp = 1'700'000'000'000;
    st.event_id = "evt-1";
    return st;
  }
  static ConsentRecord Record(std::string topic, ConsentStatus s, std::string channel = "email") {
    ConsentRecord r;
    r.key = {"s-1", std::move(topic), std::move(channel), ""};
    r.status = s;
    r.legal_basis = "eu-gdpr:A6-1-a";
    r.method = ConsentMethod::kDoubleOptIn;
    return r;
  }
};

TEST_F(HubSpotMapping, SubscribedIsAGrantForTheMappedTopicAndChannel) {
  SubscriptionStatus s = Status(1011, SubscriptionState::kSubscribed);
  s.legal_basis = "CONSENT_WITH_NOTICE";
  s.legal_basis_explanation = "signed up on the website";
  const MapResult r = mapper().FromStatus(s);
  ASSERT_EQ(r.changes.size(), 1u);
  const Change& c = r.changes[0];
  EXPECT_EQ(c.kind, ChangeKind::kConsent);
  EXPECT_EQ(c.key.subject, "");  // the identity step fills it in
  EXPECT_EQ(c.key.topic, "newsletter");
  EXPECT_EQ(c.key.channel, "email");
  EXPECT_EQ(c.status, ConsentStatus::kGranted);
  EXPECT_EQ(c.method, ConsentMethod::kForm);
  EXPECT_EQ(c.legal_basis, "eu-gdpr:A6-1-a");
  EXPECT_EQ(c.notice_version, "2026-01");
  EXPECT_EQ(c.provenance.occurred_at, 1'700'000'000'000);
  EXPECT_EQ(c.provenance.source_system, "hubspot");
  EXPECT_EQ(c.provenance.source_event_id, "evt-1");
  EXPECT_EQ(c.mapping_hash, MappingHash(spec_));
  EXPECT_EQ(c.evidence.at("legal_basis_explanation"), "signed up on the website");
}

TEST_F(HubSpotMapping, SubscribedThroughDoubleOptInCarriesTheConfirmation) {
  SubscriptionStatus s = Status(1011, SubscriptionState::kSubscribed);
  s.source_of_status = "DOUBLE_OPT_IN_CONFIRMATION";
  EXPECT_EQ(mapper().FromStatus(s).changes.at(0).method, ConsentMethod::kDoubleOptIn);
}

// consentd's own SUBSCRIBED write read back (after its echo memory has
// gone, a day later: a contact edit, a resync) carries HubSpot's source of
// the write, not the person's double opt-in: read as a plain form grant it
// would be held as pending and demote the confirmed grant. The explanation
// consentd wrote names the method it wrote; that is the method read back.
TEST_F(HubSpotMapping, ConsentdsOwnGrantReadBackKeepsTheMethodItWrote) {
  const Writes w = mapper().ToConsent(Record("newsletter", ConsentStatus::kGranted));
  ASSERT_EQ(w.statuses.size(), 1u);
  SubscriptionStatus s = Status(1011, SubscriptionState::kSubscribed);
  s.source_of_status = "INTEGRATION";
  s.legal_basis_explanation = w.statuses[0].legal_basis_explanation;
  // The connector tells consentd's writes apart (explanation and source);
  // an explanation alone may be one another change kept.
  EXPECT_EQ(mapper().FromStatus(s).changes.at(0).method, ConsentMethod::kForm);
  s.written_by_consentd = true;
  EXPECT_EQ(mapper().FromStatus(s).changes.at(0).method, ConsentMethod::kDoubleOptIn);
  EXPECT_EQ(mapper().FromStatus(s).changes.at(0).notice_version, "2026-01");
  // A grant for an older notice, written (or read back) after the topic's
  // notice changed, names the notice the person consented to: it is no
  // answer to the re-consent the new notice asks for.
  ConsentRecord older = Record("newsletter", ConsentStatus::kGranted);
  older.notice_version = "2025-06";
  const Writes old_notice = mapper().ToConsent(older);
  EXPECT_NE(old_notice.statuses.at(0).legal_basis_explanation.find(", notice 2025-06, "),
            std::string::npos)
      << old_notice.statuses.at(0).legal_basis_explanation;
  s.legal_basis_explanation = old_notice.statuses.at(0).legal_basis_explanation;
  EXPECT_EQ(mapper().FromStatus(s).changes.at(0).notice_version, "2025-06");
  // A title holding ", notice " is not taken for the notice.
  EXPECT_EQ(
      NoticeOfOwnExplanation(
          "consentd: SUBSCRIBED; News, notice board, notice 2025-06, eu-gdpr:A6-1-a, via form"),
      std::optional<std::string>("2025-06"));

  // Someone else's SUBSCRIBED over consentd's UNSUBSCRIBED explanation
  // (HubSpot keeps the explanation it replaced) is theirs: HubSpot's source.
  const Writes withdrawn = mapper().ToConsent(Record("newsletter", ConsentStatus::kWithdrawn));
  s.legal_basis_explanation = withdrawn.statuses[0].legal_basis_explanation;
  EXPECT_EQ(mapper().FromStatus(s).changes.at(0).method, ConsentMethod::kForm);
  EXPECT_EQ(mapper().FromStatus(s).changes.at(0).notice_version, "2026-01");  // the topic's
}

TEST_F(HubSpotMapping, SmsSubscriptionMapsToTheSmsChannel) {
  const MapResult r = mapper().FromStatus(Status(2012, SubscriptionState::kSubscribed, "SMS"));
  ASSERT_EQ(r.changes.size(), 1u);
  EXPECT_EQ(r.changes[0].key.topic, "product_news");
  EXPECT_EQ(r.changes[0].key.channel, "sms");
}

TEST_F(HubSpotMapping, UnsubscribedIsAWithdrawal) {
  SubscriptionStatus s = Status(1012, SubscriptionState::kUnsubscribed);
  s.source_of_status = "UNSUBSCRIBE_LINK";
  const MapResult r = mapper().FromStatus(s);
  ASSERT_EQ(r.changes.size(), 1u);
  EXPECT_EQ(r.changes[0].status, ConsentStatus::kWithdrawn);
  EXPECT_EQ(r.changes[0].method, ConsentMethod::kUnsubscribeLink);
  EXPECT_EQ(r.changes[0].legal_basis, "eu-gdpr:A6-1-a");  // the topic's basis
}

TEST_F(HubSpotMapping, NotSpecifiedYieldsNoChangeWithAReason) {
  const MapResult r = mapper().FromStatus(Status(1011, SubscriptionState::kNotSpecified));
  EXPECT_TRUE(r.changes.empty());
  ASSERT_EQ(r.notes.size(), 1u);
  EXPECT_EQ(r.notes[0],
            "NOT_SPECIFIED for topic 'newsletter': HubSpot states nothing, the canonical state is "
            "kept");
}

TEST_F(HubSpotMapping, UnmappedSubscriptionTypeYieldsNoChangeWithAReason) {
  const MapResult r = mapper().FromStatus(Status(123, SubscriptionState::kSubscribed));
  EXPECT_TRUE(r.changes.empty());
  EXPECT_EQ(r.notes, std::vector<std::string>{
                         "unmapped: subscription type 123 on EMAIL is not in the mapping"});
}

TEST_F(HubSpotMapping, UnmappedChannelYieldsNoChangeWithAReason) {
  const MapResult r = mapper().FromStatus(Status(1011, SubscriptionState::kSubscribed, "WHATSAPP"));
  EXPECT_TRUE(r.changes.empty());
  EXPECT_EQ(r.notes,
            std::vector<std::string>{"unmapped: HubSpot channel WHATSAPP is not in the mapping"});
}

TEST_F(HubSpotMapping, TopicThatDoesNotFlowFromTheCrmYieldsNoChange) {
  spec_.topics[0].direction = FlowDirection::kJourneyToCrm;
  const MapResult r = mapper().FromStatus(Status(1011, SubscriptionState::kSubscribed));
  EXPECT_TRUE(r.changes.empty());
  EXPECT_EQ(r.notes,
            std::vector<std::string>{"topic 'newsletter' does not flow from hubspot (direction "
                                     "journey_to_crm)"});
}

TEST_F(HubSpotMapping, LegalBasesTranslateBothWays) {
  EXPECT_EQ(LegalBasisFromHubSpot("CONSENT_WITH_NOTICE"), "eu-gdpr:A6-1-a");
  EXPECT_EQ(LegalBasisFromHubSpot("LEGITIMATE_INTEREST_PQL"), "eu-gdpr:A6-1-f");
  EXPECT_EQ(LegalBasisFromHubSpot("PERFORMANCE_OF_CONTRACT"), "eu-gdpr:A6-1-b");
  EXPECT_EQ(LegalBasisFromHubSpot("NON_GDPR"), "");
  EXPECT_EQ(LegalBasisToHubSpot("eu-gdpr:A6-1-a-explicit-consent"), "CONSENT_WITH_NOTICE");
  EXPECT_EQ(LegalBasisToHubSpot("eu-gdpr:A6-1-b"), "PERFORMANCE_OF_CONTRACT");
  EXPECT_EQ(LegalBasisToHubSpot("eu-gdpr:A6-1-f"), "LEGITIMATE_INTEREST_OTHER");
}

TEST_F(HubSpotMapping, UnsubscribeAllIsAChannelBlock) {
  UnsubscribeAll u;
  u.channel = "EMAIL";
  u.timestamp = 5;
  const MapResult set = mapper().FromUnsubscribeAll(u);
  ASSERT_EQ(set.changes.size(), 1u);
  EXPECT_EQ(set.changes[0].kind, ChangeKind::kBlockSet);
  EXPECT_EQ(set.changes[0].scope, BlockScope::Channel("email"));
  EXPECT_EQ(set.changes[0].block_reason, BlockReason::kUnsubscribed);
  u.unsubscribed = false;
  EXPECT_EQ(mapper().FromUnsubscribeAll(u).changes.at(0).kind, ChangeKind::kBlockCleared);
}

TEST_F(HubSpotMapping, BlockPropertyIsTheAdvertisingBlock) {
  PropertyChange p;
  p.property = "werbesperre";
  p.value = "true";
  p.timestamp = 7;
  const MapResult set = mapper().FromProperty(p);
  ASSERT_EQ(set.changes.size(), 1u);
  EXPECT_EQ(set.changes[0].kind, ChangeKind::kBlockSet);
  EXPECT_EQ(set.changes[0].scope, BlockScope::All());
  EXPECT_EQ(set.changes[0].block_reason, BlockReason::kManual);
  p.value = "false";
  EXPECT_EQ(mapper().FromProperty(p).changes.at(0).kind, ChangeKind::kBlockCleared);
  p.value = "";
  EXPECT_EQ(mapper().FromProperty(p).changes.at(0).kind, ChangeKind::kBlockCleared);
}

TEST_F(HubSpotMapping, BlockThatFlowsOnlyToTheCrmIsNotReadFromIt) {
  PropertyChange p;
  p.property = "email_bounced";  // bounced: journey_to_crm
  p.value = "true";
  p.email = "anna@example.org";
  const MapResult r = mapper().FromProperty(p);
  EXPECT_TRUE(r.changes.empty());
  EXPECT_EQ(r.notes, std::vector<std::string>{
                         "block 'bounced' does not flow from hubspot (direction journey_to_crm)"});
}

TEST_F(HubSpotMapping, UnknownPropertyYieldsNoChangeWithAReason) {
  PropertyChange p;
  p.property = "firstname";
  p.value = "Anna";
  EXPECT_EQ(mapper().FromProperty(p).notes,
            std::vector<std::string>{"unmapped: property firstname is not a block in the mapping"});
}

TEST_F(HubSpotMapping, GrantIsWrittenAsSubscribedWithLegalBasis) {
  const Writes w = mapper().ToConsent(Record("newsletter", ConsentStatus::kGranted));
  ASSERT_EQ(w.statuses.size(), 1u);
  const StatusWrite& s = w.statuses[0];
  EXPECT_EQ(s.subscription_id, 1011);
  EXPECT_EQ(s.channel, "EMAIL");
  EXPECT_EQ(s.status_state, SubscriptionState::kSubscribed);
  EXPECT_EQ(s.legal_basis, "CONSENT_WITH_NOTICE");
  EXPECT_EQ(s.legal_basis_explanation,
            "consentd: SUBSCRIBED; Newsletter, notice 2026-01, eu-gdpr:A6-1-a, via double_opt_in");
}

// HubSpot keeps an explanation when a later change brings none (the
// person's unsubscribe link): the state consentd names in it tells the two
// apart.
TEST_F(HubSpotMapping, TheExplanationConsentdWritesTellsItsWriteFromALaterChangeThatKeptIt) {
  const std::string granted = mapper()
                                  .ToConsent(Record("newsletter", ConsentStatus::kGranted))
                                  .statuses.at(0)
                                  .legal_basis_explanation;
  const std::string withdrawn = mapper()
                                    .ToConsent(Record("newsletter", ConsentStatus::kWithdrawn))
                                    .statuses.at(0)
                                    .legal_basis_explanation;
  EXPECT_EQ(WriterOfExplanation(granted, SubscriptionState::kSubscribed),
            ExplanationWriter::kConsentd);
  EXPECT_EQ(WriterOfExplanation(withdrawn, SubscriptionState::kUnsubscribed),
            ExplanationWriter::kConsentd);
  EXPECT_EQ(WriterOfExplanation(granted, SubscriptionState::kUnsubscribed),
            ExplanationWriter::kOther);
  EXPECT_EQ(WriterOfExplanation(withdrawn, SubscriptionState::kSubscribed),
            ExplanationWriter::kOther);
  EXPECT_EQ(WriterOfExplanation("Form sign-up with consent notice", SubscriptionState::kSubscribed),
            ExplanationWriter::kOther);
  EXPECT_EQ(WriterOfExplanation("", SubscriptionState::kUnsubscribed), ExplanationWriter::kOther);
  // As consentd wrote it before it named the state: the prefix alone.
  EXPECT_EQ(WriterOfExplanation("consentd: Newsletter, notice 2026-01, eu-gdpr:A6-1-a, via form",
                                SubscriptionState::kUnsubscribed),
            ExplanationWriter::kConsentdStateUnnamed);
  EXPECT_EQ(WriterOfExplanation("consentd: Tips; tricks, eu-gdpr:A6-1-a, via form",
                                SubscriptionState::kUnsubscribed),
            ExplanationWriter::kConsentdStateUnnamed);
}

TEST_F(HubSpotMapping, WithdrawalAndRefusalAreWrittenAsUnsubscribed) {
  EXPECT_EQ(mapper()
                .ToConsent(Record("newsletter", ConsentStatus::kWithdrawn))
                .statuses.at(0)
                .status_state,
            SubscriptionState::kUnsubscribed);
  const Writes sms = mapper().ToConsent(Record("product_news", ConsentStatus::kRefused, "sms"));
  ASSERT_EQ(sms.statuses.size(), 1u);
  EXPECT_EQ(sms.statuses[0].subscription_id, 2012);
  EXPECT_EQ(sms.statuses[0].channel, "SMS");
  EXPECT_EQ(sms.statuses[0].status_state, SubscriptionState::kUnsubscribed);
}

TEST_F(HubSpotMapping, PendingAndNotAskedAreNeverWritten) {
  const Writes p = mapper().ToConsent(Record("newsletter", ConsentStatus::kPending));
  EXPECT_TRUE(p.empty());
  EXPECT_EQ(p.notes, std::vector<std::string>{
                         "pending for topic 'newsletter': HubSpot has no pending status; written "
                         "once confirmed"});
  EXPECT_TRUE(mapper().ToConsent(Record("newsletter", ConsentStatus::kNotAsked)).empty());
}

TEST_F(HubSpotMapping, UnmappedTopicIsNotWritten) {
  const Writes w = mapper().ToConsent(Record("webinars", ConsentStatus::kGranted));
  EXPECT_TRUE(w.empty());
  EXPECT_EQ(w.notes, std::vector<std::string>{
                         "unmapped: topic 'webinars' has no subscription type in hubspot"});
}

TEST_F(HubSpotMapping, AdvertisingBlockIsWrittenAsTheProperty) {
  BlockRecord b;
  b.scope = BlockScope::All();
  b.active = true;
  EXPECT_EQ(mapper().ToBlock(b).properties, (std::vector<PropertyWrite>{{"werbesperre", "true"}}));
  b.active = false;
  EXPECT_EQ(mapper().ToBlock(b).properties, (std::vector<PropertyWrite>{{"werbesperre", ""}}));
}

TEST_F(HubSpotMapping, AddressBlockFlowingToTheCrmIsWrittenAsItsProperty) {
  BlockRecord b;
  b.scope = BlockScope::Address("anna@example.org");
  b.active = true;
  EXPECT_EQ(mapper().ToBlock(b).properties,
            (std::vector<PropertyWrite>{{"email_bounced", "true"}}));
}

TEST_F(HubSpotMapping, ChannelBlockIsWrittenOnlyWhereItFlows) {
  BlockRecord b;
  b.scope = BlockScope::Channel("email");
  b.active = true;
  // channel_opt_out is crm_to_journey: never written to the CRM.
  Writes w = mapper().ToBlock(b);
  EXPECT_TRUE(w.empty());
  EXPECT_EQ(w.notes,
            std::vector<std::string>{"block 'channel_opt_out' does not flow to hubspot (direction "
                                     "crm_to_journey)"});
  spec_.blocks[1].direction = FlowDirection::kBoth;
  EXPECT_EQ(mapper().ToBlock(b).unsubscribe_all, (std::vector<UnsubscribeAllWrite>{{"EMAIL"}}));
}

TEST_F(HubSpotMapping, WholeStateGivesOneWritePerMappedRecord) {
  SubjectState st;
  st.subject = "s-1";
  for (const ConsentRecord& r : {Record("newsletter", ConsentStatus::kGranted),
                                 Record("product_news", ConsentStatus::kGranted, "sms"),
                                 Record("webinars", ConsentStatus::kGranted)}) {
    st.consents[r.key] = r;
  }
  BlockRecord b;
  b.subject = "s-1";
  b.scope = BlockScope::All();
  b.active = true;
  st.blocks[b.scope] = b;
  const Writes w = mapper().ToState(st);
  EXPECT_EQ(w.statuses.size(), 2u);
  EXPECT_EQ(w.properties.size(), 1u);
  EXPECT_EQ(w.notes.size(), 1u);  // webinars
}

}  // namespace
}  // namespace consentd::mapping::hubspot
