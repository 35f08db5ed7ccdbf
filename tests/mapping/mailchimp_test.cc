// Mailchimp ⇄ canonical, each mapping line in both directions, through the
// worked example mapping (newsletter and product_news are interests,
// events a marketing permission flowing CRM -> journey only; werbesperre
// is the member status unsubscribed, bounced the status cleaned).
#include "mapping/mailchimp.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "mapping/policy.h"
#include "mapping_test_util.h"

namespace consentd::mapping::mailchimp {
namespace {

constexpr char kNewsletter[] = "9a1c2e3f4b";
constexpr char kProductNews[] = "7d8e9f0a1b";
constexpr char kEvents[] = "c3d4e5f6a7";

class MailchimpMapping : public ::testing::Test {
 protected:
  MappingSpec spec_ = testing::LoadExample();
  Mapper mapper() const { return Mapper(spec_, "mailchimp"); }

  static Member MemberWith(MemberStatus s) {
    Member m;
    m.email_address = "Anna@Example.ORG";
    m.status = s;
    m.last_changed = 1'700'000'000'000;
    m.event_id = "mc-1";
    return m;
  }
  static const Change* Find(const MapResult& r, std::string_view topic) {
    for (const Change& c : r.changes) {
      if (c.kind == ChangeKind::kConsent && c.key.topic == topic) return &c;
    }
    return nullptr;
  }
  static const Change* FindBlock(const MapResult& r, BlockScope::Kind kind) {
    for (const Change& c : r.changes) {
      if (c.kind != ChangeKind::kConsent && c.scope.kind == kind) return &c;
    }
    return nullptr;
  }
  static SubjectState State(std::initializer_list<std::pair<std::string, ConsentStatus>> consents) {
    SubjectState st;
    st.subject = "s-1";
    for (const auto& [topic, status] : consents) {
      ConsentRecord r;
      r.key = {"s-1", topic, "email", ""};
      r.status = status;
      st.consents[r.key] = r;
    }
    return st;
  }
  static void Block(SubjectState& st, BlockScope scope, bool active = true) {
    BlockRecord b;
    b.subject = st.subject;
    b.scope = scope;
    b.active = active;
    st.blocks[scope] = b;
  }
};

TEST_F(MailchimpMapping, SubscribedWithInterestIsAConfirmedGrant) {
  Member m = MemberWith(MemberStatus::kSubscribed);
  m.interests = {{kNewsletter, true}, {kProductNews, false}};
  const MapResult r = mapper().FromMember(m);
  const Change* nl = Find(r, "newsletter");
  ASSERT_NE(nl, nullptr);
  EXPECT_EQ(nl->status, ConsentStatus::kGranted);
  EXPECT_EQ(nl->method, ConsentMethod::kDoubleOptIn);  // confirms_double_opt_in
  EXPECT_EQ(nl->key.channel, "email");
  EXPECT_EQ(nl->key.subject, "");
  EXPECT_EQ(nl->legal_basis, "eu-gdpr:A6-1-a");
  EXPECT_EQ(nl->notice_version, "2026-01");
  EXPECT_EQ(nl->provenance.source_system, "mailchimp");
  EXPECT_EQ(nl->provenance.occurred_at, 1'700'000'000'000);
  EXPECT_EQ(nl->mapping_hash, MappingHash(spec_));
  const Change* pn = Find(r, "product_news");
  ASSERT_NE(pn, nullptr);
  EXPECT_EQ(pn->status, ConsentStatus::kWithdrawn);
  // An unticked box cannot tell "withdrawn" from "never asked".
  EXPECT_TRUE(pn->reports_absence);
  EXPECT_FALSE(nl->reports_absence);
}

TEST_F(MailchimpMapping, WithoutDoubleOptInAudienceTheGrantIsAFormGrant) {
  spec_.systems["mailchimp"].confirms_double_opt_in = false;
  Member m = MemberWith(MemberStatus::kSubscribed);
  m.interests = {{kNewsletter, true}};
  EXPECT_EQ(Find(mapper().FromMember(m), "newsletter")->method, ConsentMethod::kForm);
}

TEST_F(MailchimpMapping, SubscribedClearsTheBlocksCarriedAsMemberStatus) {
  Member m = MemberWith(MemberStatus::kSubscribed);
  const MapResult r = mapper().FromMember(m);
  const Change* all = FindBlock(r, BlockScope::Kind::kAll);
  ASSERT_NE(all, nullptr);
  EXPECT_EQ(all->kind, ChangeKind::kBlockCleared);
  const Change* address = FindBlock(r, BlockScope::Kind::kAddress);
  ASSERT_NE(address, nullptr);
  EXPECT_EQ(address->kind, ChangeKind::kBlockCleared);
  EXPECT_EQ(address->scope.value, "Anna@example.org");  // normalised: domain lower-cased
}

TEST_F(MailchimpMapping, InterestNotMentionedYieldsNoChangeForThatTopic) {
  Member m = MemberWith(MemberStatus::kSubscribed);
  m.interests = {{kNewsletter, true}};
  const MapResult r = mapper().FromMember(m);
  EXPECT_EQ(Find(r, "product_news"), nullptr);
  EXPECT_NE(std::find(r.notes.begin(), r.notes.end(),
                      "topic 'product_news': the member record does not mention interest " +
                          std::string(kProductNews)),
            r.notes.end());
}

TEST_F(MailchimpMapping, TopicFlowingOnlyToTheJourneyIsNotReadFromIt) {
  Member m = MemberWith(MemberStatus::kSubscribed);
  m.marketing_permissions = {{kEvents, true}};
  const MapResult r = mapper().FromMember(m);
  EXPECT_EQ(Find(r, "events"), nullptr);
  EXPECT_NE(std::find(r.notes.begin(), r.notes.end(),
                      "topic 'events' does not flow from mailchimp (direction crm_to_journey)"),
            r.notes.end());
}

TEST_F(MailchimpMapping, MarketingPermissionIsAGrantOrAWithdrawal) {
  spec_.topics[2].direction = FlowDirection::kBoth;
  Member m = MemberWith(MemberStatus::kSubscribed);
  m.marketing_permissions = {{kEvents, true}};
  EXPECT_EQ(Find(mapper().FromMember(m), "events")->status, ConsentStatus::kGranted);
  m.marketing_permissions = {{kEvents, false}};
  EXPECT_EQ(Find(mapper().FromMember(m), "events")->status, ConsentStatus::kWithdrawn);
}

TEST_F(MailchimpMapping, UnknownInterestIsNamedAndIgnored) {
  Member m = MemberWith(MemberStatus::kSubscribed);
  m.interests = {{"ffffffffff", true}};
  const MapResult r = mapper().FromMember(m);
  EXPECT_EQ(Find(r, "newsletter"), nullptr);
  EXPECT_EQ(r.notes.front(), "unmapped: interest ffffffffff is not in the mapping");
}

TEST_F(MailchimpMapping, UnsubscribedWithdrawsEveryTopicAndSetsTheAdvertisingBlock) {
  const MapResult r = mapper().FromMember(MemberWith(MemberStatus::kUnsubscribed));
  for (const char* topic : {"newsletter", "product_news"}) {
    const Change* c = Find(r, topic);
    ASSERT_NE(c, nullptr) << topic;
    EXPECT_EQ(c->status, ConsentStatus::kWithdrawn);
    EXPECT_EQ(c->method, ConsentMethod::kUnsubscribeLink);
  }
  const Change* all = FindBlock(r, BlockScope::Kind::kAll);
  ASSERT_NE(all, nullptr);
  EXPECT_EQ(all->kind, ChangeKind::kBlockSet);
  EXPECT_EQ(all->block_reason, BlockReason::kManual);
  EXPECT_EQ(r.changes.size(), 3u);
}

TEST_F(MailchimpMapping, UnsubscribedCanBeTheBlockAlone) {
  spec_.systems["mailchimp"].unsubscribe_withdraws_topics = false;
  const MapResult r = mapper().FromMember(MemberWith(MemberStatus::kUnsubscribed));
  ASSERT_EQ(r.changes.size(), 1u);
  EXPECT_EQ(r.changes[0].kind, ChangeKind::kBlockSet);
}

TEST_F(MailchimpMapping, PendingIsPendingForTheTickedTopics) {
  Member m = MemberWith(MemberStatus::kPending);
  m.interests = {{kNewsletter, true}, {kProductNews, false}};
  const MapResult r = mapper().FromMember(m);
  ASSERT_EQ(r.changes.size(), 1u);
  EXPECT_EQ(r.changes[0].key.topic, "newsletter");
  EXPECT_EQ(r.changes[0].status, ConsentStatus::kPending);
}

TEST_F(MailchimpMapping, CleanedIsABouncedAddressBlock) {
  const MapResult r = mapper().FromMember(MemberWith(MemberStatus::kCleaned));
  ASSERT_EQ(r.changes.size(), 1u);
  EXPECT_EQ(r.changes[0].kind, ChangeKind::kBlockSet);
  EXPECT_EQ(r.changes[0].scope, BlockScope::Address("Anna@example.org"));
  EXPECT_EQ(r.changes[0].block_reason, BlockReason::kBounced);
}

TEST_F(MailchimpMapping, ArchivedYieldsNoChangeWithAReason) {
  const MapResult r = mapper().FromMember(MemberWith(MemberStatus::kArchived));
  EXPECT_TRUE(r.changes.empty());
  ASSERT_EQ(r.notes.size(), 1u);
  EXPECT_EQ(r.notes[0].rfind("archived: ", 0), 0u);
}

TEST_F(MailchimpMapping, TransactionalYieldsNoChangeWithAReason) {
  const MapResult r = mapper().FromMember(MemberWith(MemberStatus::kTransactional));
  EXPECT_TRUE(r.changes.empty());
  EXPECT_EQ(r.notes,
            std::vector<std::string>{"transactional: not a marketing status; nothing changes"});
}

TEST_F(MailchimpMapping, MemberStatusTopicIsTheAudienceItself) {
  spec_.topics[0].bindings["mailchimp"].mailchimp_kind = MailchimpTopicKind::kMemberStatus;
  spec_.topics[0].bindings["mailchimp"].mailchimp_id = "";
  const MapResult r = mapper().FromMember(MemberWith(MemberStatus::kSubscribed));
  EXPECT_EQ(Find(r, "newsletter")->status, ConsentStatus::kGranted);
  const MemberWrite w = mapper().ToMember(State({{"newsletter", ConsentStatus::kWithdrawn}}),
                                          MemberStatus::kSubscribed);
  EXPECT_EQ(w.status, MemberStatus::kUnsubscribed);
}

TEST_F(MailchimpMapping, StatusNamesParseBothWays) {
  for (auto s : {MemberStatus::kSubscribed, MemberStatus::kUnsubscribed, MemberStatus::kCleaned,
                 MemberStatus::kPending, MemberStatus::kTransactional, MemberStatus::kArchived}) {
    EXPECT_EQ(*ParseMemberStatus(MemberStatusName(s)), s);
  }
  EXPECT_FALSE(ParseMemberStatus("Subscribed").ok());
}

// ---- canonical -> member PUT

TEST_F(MailchimpMapping, GrantIsWrittenAsSubscribedWithTheInterest) {
  const MemberWrite w = mapper().ToMember(
      State({{"newsletter", ConsentStatus::kGranted}, {"events", ConsentStatus::kGranted}}),
      std::nullopt);
  EXPECT_EQ(w.status, MemberStatus::kSubscribed);
  EXPECT_EQ(w.status_if_new, MemberStatus::kSubscribed);
  EXPECT_EQ(w.interests, (std::map<std::string, bool>{{kNewsletter, true}}));
  EXPECT_EQ(w.marketing_permissions, (std::vector<MarketingPermission>{{kEvents, true}}));
  EXPECT_FALSE(w.reconsent);
}

TEST_F(MailchimpMapping, WithdrawnTopicIsWrittenAsInterestFalse) {
  const MemberWrite w = mapper().ToMember(
      State({{"newsletter", ConsentStatus::kGranted}, {"product_news", ConsentStatus::kWithdrawn}}),
      MemberStatus::kSubscribed);
  EXPECT_EQ(w.status, MemberStatus::kSubscribed);
  EXPECT_EQ(w.interests, (std::map<std::string, bool>{{kNewsletter, true}, {kProductNews, false}}));
}

TEST_F(MailchimpMapping, EveryTopicWithdrawnIsWrittenAsUnsubscribed) {
  const MemberWrite w = mapper().ToMember(
      State({{"newsletter", ConsentStatus::kWithdrawn}, {"product_news", ConsentStatus::kRefused}}),
      MemberStatus::kSubscribed);
  EXPECT_EQ(w.status, MemberStatus::kUnsubscribed);
}

TEST_F(MailchimpMapping, PendingIsWrittenAsPending) {
  const MemberWrite w =
      mapper().ToMember(State({{"newsletter", ConsentStatus::kPending}}), std::nullopt);
  EXPECT_EQ(w.status, MemberStatus::kPending);
  EXPECT_EQ(w.interests, (std::map<std::string, bool>{{kNewsletter, true}}));
}

TEST_F(MailchimpMapping, PendingTopicStaysUntickedOnASubscribedMember) {
  // Ticked, the box would put the person in the newsletter before they
  // confirmed, and read back it would look like a confirmed grant.
  const MemberWrite w = mapper().ToMember(
      State({{"newsletter", ConsentStatus::kPending}, {"product_news", ConsentStatus::kGranted}}),
      std::nullopt);
  EXPECT_EQ(w.status, MemberStatus::kSubscribed);
  EXPECT_EQ(w.interests, (std::map<std::string, bool>{{kNewsletter, false}, {kProductNews, true}}));
}

TEST_F(MailchimpMapping, UnsubscribedMemberIsResubscribedOnlyThroughPending) {
  const MemberWrite w = mapper().ToMember(State({{"newsletter", ConsentStatus::kGranted}}),
                                          MemberStatus::kUnsubscribed);
  EXPECT_EQ(w.status, MemberStatus::kPending);
  EXPECT_EQ(w.status_if_new, MemberStatus::kPending);
  EXPECT_TRUE(w.reconsent);
}

TEST_F(MailchimpMapping, CleanedMemberIsBlockedByTarget) {
  const MemberWrite w =
      mapper().ToMember(State({{"newsletter", ConsentStatus::kGranted}}), MemberStatus::kCleaned);
  EXPECT_TRUE(w.blocked_by_target);
  EXPECT_TRUE(w.empty());
}

TEST_F(MailchimpMapping, AdvertisingBlockIsWrittenAsUnsubscribedWithEveryTopicOff) {
  SubjectState st = State({{"newsletter", ConsentStatus::kGranted}});
  Block(st, BlockScope::All());
  const MemberWrite w = mapper().ToMember(st, MemberStatus::kSubscribed);
  EXPECT_EQ(w.status, MemberStatus::kUnsubscribed);
  EXPECT_EQ(w.interests,
            (std::map<std::string, bool>{{kNewsletter, false}, {kProductNews, false}}));
  EXPECT_EQ(w.marketing_permissions, (std::vector<MarketingPermission>{{kEvents, false}}));
}

TEST_F(MailchimpMapping, ClearedBlockNoLongerUnsubscribes) {
  SubjectState st = State({{"newsletter", ConsentStatus::kGranted}});
  Block(st, BlockScope::All(), /*active=*/false);
  EXPECT_EQ(mapper().ToMember(st, std::nullopt).status, MemberStatus::kSubscribed);
}

TEST_F(MailchimpMapping, ChannelBlockFlowsToTheJourneyAsUnsubscribed) {
  SubjectState st = State({{"newsletter", ConsentStatus::kGranted}});
  Block(st, BlockScope::Channel("email"));
  // channel_opt_out has no mailchimp side: it is not carried by Mailchimp.
  EXPECT_EQ(mapper().ToMember(st, std::nullopt).status, MemberStatus::kSubscribed);
  spec_.blocks[1].sides["mailchimp"] =
      BlockSide{"mailchimp", ConnectorKind::kMailchimp, "", "", false, "unsubscribed", "", {}};
  spec_.blocks[0].sides.erase("mailchimp");
  EXPECT_EQ(mapper().ToMember(st, std::nullopt).status, MemberStatus::kUnsubscribed);
}

TEST_F(MailchimpMapping, AddressBlockIsNotWrittenButSaid) {
  SubjectState st = State({{"newsletter", ConsentStatus::kGranted}});
  Block(st, BlockScope::Address("anna@example.org"));
  const MemberWrite w = mapper().ToMember(st, std::nullopt);
  EXPECT_EQ(w.status, MemberStatus::kSubscribed);
  EXPECT_FALSE(w.notes.empty());
}

TEST_F(MailchimpMapping, NothingAskedWritesNothing) {
  const MemberWrite w = mapper().ToMember(State({}), std::nullopt);
  EXPECT_TRUE(w.empty());
  EXPECT_EQ(w.notes, std::vector<std::string>{"nothing asked: no member status is written"});
}

TEST_F(MailchimpMapping, TopicThatDoesNotFlowToTheJourneyIsNotWritten) {
  spec_.topics[0].direction = FlowDirection::kJourneyToCrm;
  const MemberWrite w =
      mapper().ToMember(State({{"newsletter", ConsentStatus::kGranted}}), std::nullopt);
  EXPECT_TRUE(w.empty());
  EXPECT_EQ(w.notes.front(),
            "topic 'newsletter' does not flow to mailchimp (direction journey_to_crm)");
}

}  // namespace
}  // namespace consentd::mapping::mailchimp
