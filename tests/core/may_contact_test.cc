// MayContact: granted AND no active block covering (channel, topic, address).
#include "core/may_contact.h"

#include <gtest/gtest.h>

#include "tests/core/fixtures.h"

namespace consentd {
namespace {

using testing::kSubject;

constexpr TimestampMs kNow = 1'700'000'000'000;

SubjectState GrantedOffersByEmail() {
  SubjectState s;
  s.subject = kSubject;
  ConsentRecord r;
  r.key = ConsentKey{kSubject, "offers", "email", ""};
  r.status = ConsentStatus::kGranted;
  r.legal_basis = std::string(kLegalBasisConsent);
  r.provenance = Provenance{kNow - 10'000, kNow - 9'000, "hubspot", "e1"};
  s.consents[r.key] = r;
  return s;
}

void AddBlock(SubjectState& s, BlockScope scope, TimestampMs since, TimestampMs until = 0,
              bool active = true) {
  BlockRecord b;
  b.subject = kSubject;
  b.scope = scope;
  b.active = active;
  b.reason = BlockReason::kBounced;
  b.since = since;
  b.until = until;
  b.provenance = Provenance{since, since, "mailchimp", "b1"};
  s.blocks[scope] = b;
}

MayContactAnswer Ask(const SubjectState& s, std::string_view channel = "email",
                     std::string_view topic = "offers",
                     std::string_view address = "jane@example.com", TimestampMs at = kNow) {
  return MayContact(s, kSubject, channel, topic, address, at);
}

TEST(MayContact, GrantedWithoutBlockIsAllowed) {
  const MayContactAnswer a = Ask(GrantedOffersByEmail());
  EXPECT_TRUE(a.allowed);
  EXPECT_EQ(a.reason, ContactReason::kGranted);
  EXPECT_EQ(a.status, ConsentStatus::kGranted);
}

TEST(MayContact, UnknownSubjectIsNotAsked) {
  const MayContactAnswer a = MayContact(SubjectState{}, "s-unknown", "email", "offers", "", kNow);
  EXPECT_FALSE(a.allowed);
  EXPECT_EQ(a.reason, ContactReason::kNotGranted);
  EXPECT_EQ(a.status, ConsentStatus::kNotAsked);
  // A state loaded for another subject never answers for this one.
  EXPECT_FALSE(MayContact(GrantedOffersByEmail(), "s-2", "email", "offers", "", kNow).allowed);
}

TEST(MayContact, EveryStatusButGrantedForbidsContact) {
  for (ConsentStatus st : {ConsentStatus::kNotAsked, ConsentStatus::kPending,
                           ConsentStatus::kWithdrawn, ConsentStatus::kRefused}) {
    SubjectState s = GrantedOffersByEmail();
    s.consents.begin()->second.status = st;
    const MayContactAnswer a = Ask(s);
    EXPECT_FALSE(a.allowed) << ConsentStatusName(st);
    EXPECT_EQ(a.reason, ContactReason::kNotGranted);
    EXPECT_EQ(a.status, st);
  }
}

TEST(MayContact, OtherTopicOrChannelIsNotAsked) {
  EXPECT_FALSE(Ask(GrantedOffersByEmail(), "email", "newsletter").allowed);
  EXPECT_FALSE(Ask(GrantedOffersByEmail(), "sms", "offers").allowed);
}

TEST(MayContact, BlockScopeAllCoversEverything) {
  SubjectState s = GrantedOffersByEmail();
  AddBlock(s, BlockScope::All(), kNow - 1000);
  const MayContactAnswer a = Ask(s);
  EXPECT_FALSE(a.allowed);
  EXPECT_EQ(a.reason, ContactReason::kBlocked);
  ASSERT_TRUE(a.block.has_value());
  EXPECT_EQ(a.block->scope, BlockScope::All());
  EXPECT_EQ(a.status, ConsentStatus::kGranted);  // still explained
  EXPECT_NE(a.Explain().find("all block (bounced)"), std::string::npos) << a.Explain();
}

TEST(MayContact, BlockScopeChannelCoversOnlyThatChannel) {
  SubjectState s = GrantedOffersByEmail();
  AddBlock(s, BlockScope::Channel("email"), kNow - 1000);
  EXPECT_EQ(Ask(s).reason, ContactReason::kBlocked);
  SubjectState t = GrantedOffersByEmail();
  AddBlock(t, BlockScope::Channel("sms"), kNow - 1000);
  EXPECT_TRUE(Ask(t).allowed);
}

TEST(MayContact, BlockScopeTopicCoversOnlyThatTopic) {
  SubjectState s = GrantedOffersByEmail();
  AddBlock(s, BlockScope::Topic("offers"), kNow - 1000);
  EXPECT_EQ(Ask(s).reason, ContactReason::kBlocked);
  SubjectState t = GrantedOffersByEmail();
  AddBlock(t, BlockScope::Topic("newsletter"), kNow - 1000);
  EXPECT_TRUE(Ask(t).allowed);
}

TEST(MayContact, BlockScopeAddressCoversThatAddressCaseInsensitively) {
  SubjectState s = GrantedOffersByEmail();
  AddBlock(s, BlockScope::Address("Jane@example.com"), kNow - 1000);
  EXPECT_EQ(Ask(s, "email", "offers", "jane@EXAMPLE.com").reason, ContactReason::kBlocked);
  EXPECT_TRUE(Ask(s, "email", "offers", "jane.work@example.com").allowed);
  // Not saying which address is treated as possibly the blocked one.
  EXPECT_EQ(Ask(s, "email", "offers", "").reason, ContactReason::kBlocked);
  // The explanation never names the address.
  EXPECT_EQ(Ask(s).Explain().find("example.com"), std::string::npos);
}

TEST(MayContact, BlockIsActiveOnlyBetweenSinceAndUntil) {
  SubjectState s = GrantedOffersByEmail();
  AddBlock(s, BlockScope::All(), kNow - 1000, kNow + 1000);
  EXPECT_TRUE(Ask(s, "email", "offers", "", kNow - 1001).allowed);
  EXPECT_FALSE(Ask(s, "email", "offers", "", kNow - 1000).allowed);
  EXPECT_FALSE(Ask(s, "email", "offers", "", kNow + 999).allowed);
  EXPECT_TRUE(Ask(s, "email", "offers", "", kNow + 1000).allowed);
}

TEST(MayContact, ClearedBlockNoLongerCovers) {
  SubjectState s = GrantedOffersByEmail();
  AddBlock(s, BlockScope::All(), kNow - 1000, 0, /*active=*/false);
  EXPECT_TRUE(Ask(s).allowed);
}

TEST(MayContact, AddressConsentGovernsItsAddress) {
  SubjectState s = GrantedOffersByEmail();
  ConsentRecord r = s.consents.begin()->second;
  r.key.address = "old@example.com";
  r.status = ConsentStatus::kWithdrawn;
  s.consents[r.key] = r;
  EXPECT_FALSE(Ask(s, "email", "offers", "old@example.com").allowed);
  EXPECT_TRUE(Ask(s, "email", "offers", "jane@example.com").allowed);
}

TEST(MayContact, DoubleOptInTopicNeedsConfirmedGrant) {
  const Policy policy = testing::TestPolicy();
  SubjectState s = GrantedOffersByEmail();
  ConsentRecord r = s.consents.begin()->second;
  r.key.topic = "newsletter";
  s.consents[r.key] = r;  // granted by a form, not confirmed
  MayContactAnswer a = MayContact(s, kSubject, "email", "newsletter", "", kNow, &policy);
  EXPECT_FALSE(a.allowed);
  EXPECT_EQ(a.reason, ContactReason::kUnconfirmed);
  s.consents[r.key].method = ConsentMethod::kDoubleOptIn;
  EXPECT_TRUE(MayContact(s, kSubject, "email", "newsletter", "", kNow, &policy).allowed);
}

TEST(MayContact, ErasedSubjectIsNeverContacted) {
  SubjectState s = GrantedOffersByEmail();
  s.erased_at = kNow - 1;
  EXPECT_EQ(Ask(s).reason, ContactReason::kErased);
  EXPECT_FALSE(Ask(s).allowed);
}

}  // namespace
}  // namespace consentd
