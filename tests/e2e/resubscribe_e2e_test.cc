// A person who unsubscribed at the journey platform and is granted again:
// Mailchimp takes them back only through its double opt-in (`pending`), and
// the CRM's unsubscribe-all is a block no grant lifts (docs/model.md). Real
// consentd, real consentd-sim, loopback; each test ends with `consentctl
// verify` (the fixture's TearDown).
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "tests/e2e/sync_fixture.h"

namespace consentd::testing {
namespace {

class ResubscribeE2E : public SyncE2E {
 protected:
  // The canonical status of `topic` (email channel) from `consentctl
  // explain --json`; "" if the person or topic is not known. `field`:
  // another field of that consent (its "source_system", "method").
  std::string CanonicalStatus(const std::string& email, const std::string& topic,
                              const std::string& field = "status") {
    const CommandResult r = Ctl({"explain", "--email", email, "--json"});
    if (r.exit_code != 0) return "";
    const Json j = Json::parse(r.output, nullptr, false);
    if (!j.is_object()) return "";
    for (const Json& c : j.value("consents", Json::array())) {
      if (c.value("topic", "") == topic && c.value("channel", "") == "email") {
        return c.value(field, "");
      }
    }
    return "";
  }
  // True if the canonical channel block on email is active.
  bool ChannelBlocked(const std::string& email) {
    const CommandResult r = Ctl({"explain", "--email", email, "--json"});
    const Json j = Json::parse(r.output, nullptr, false);
    if (!j.is_object()) return false;
    for (const Json& b : j.value("blocks", Json::array())) {
      if (b.dump().find("channel") != std::string::npos && b.value("active", false)) return true;
    }
    return false;
  }
  // Past the skew window, so that the next change is newer, not a tie (a
  // tie goes to the restrictive side, rule 3).
  static void PastTheSkewWindow() { std::this_thread::sleep_for(std::chrono::milliseconds(3500)); }
  // Waits until consentd has decided every Mailchimp report sent so far
  // (the read-backs of its own writes included): the decision count stops
  // moving for two seconds.
  void LetMailchimpReportsSettle() {
    double last = -1;
    for (int i = 0; i < 30; ++i) {
      const double now = MetricSum("consentd_decisions_total", "source=\"mailchimp\"");
      if (now == last) return;
      last = now;
      std::this_thread::sleep_for(std::chrono::seconds(2));
    }
  }
};

// The CRM's advertising block unsubscribes the member; lifted, the member
// cannot be subscribed through the API (compliance state) and is written
// `pending` instead. Read back, that `pending` is consentd's own write, not
// the person's withdrawal of the grant the CRM still holds.
TEST_F(ResubscribeE2E, AMemberReSubscribedThroughPendingAfterABlockKeepsThePersonsGrant) {
  StartAll(WithPolling("1s"));
  const std::string ben = "ben@example.com";
  Crm("POST", "/_sim/hubspot/person/signup", {{"email", ben}, {"subscriptionId", kProductUpdates}});
  ASSERT_TRUE(Eventually([&] { return MemberStatus(ben) == "subscribed"; })) << Log();
  Crm("POST", "/_sim/hubspot/admin/block", {{"email", ben}, {"blocked", true}});
  ASSERT_TRUE(Eventually([&] { return MemberStatus(ben) == "unsubscribed"; })) << Log();
  PastTheSkewWindow();
  Crm("POST", "/_sim/hubspot/admin/block", {{"email", ben}, {"blocked", false}});
  ASSERT_TRUE(Eventually([&] { return MemberStatus(ben) == "pending"; })) << Log();
  LetMailchimpReportsSettle();

  EXPECT_EQ(CanonicalStatus(ben, "product_news"), "granted") << Log();
  EXPECT_EQ(CrmSubscription(ben, kProductUpdates), "SUBSCRIBED");
  EXPECT_EQ(MemberStatus(ben), "pending") << "only the person's confirmation subscribes them";

  // Confirmed, the member is subscribed, and the grant stands.
  Journey("POST", "/_sim/mailchimp/person/confirm", {{"email_address", ben}});
  ASSERT_TRUE(Eventually([&] { return MemberStatus(ben) == "subscribed"; })) << Log();
  LetMailchimpReportsSettle();
  EXPECT_EQ(CanonicalStatus(ben, "product_news"), "granted") << Log();
  EXPECT_EQ(CrmSubscription(ben, kProductUpdates), "SUBSCRIBED");
}

// A grant after an unsubscribe goes to Mailchimp as `pending` (re-consent
// through its double opt-in). A later change of the person (here a second
// topic) sends the whole state again: the member stays `pending` until the
// person confirms, rather than being subscribed by consentd.
TEST_F(ResubscribeE2E, ALaterWriteKeepsAReConsentPendingUntilThePersonConfirms) {
  StartAll();
  const std::string dan = "dan@example.com";
  Crm("POST", "/_sim/hubspot/person/signup", {{"email", dan}, {"subscriptionId", kProductUpdates}});
  ASSERT_TRUE(Eventually([&] { return MemberStatus(dan) == "subscribed"; })) << Log();
  Crm("POST", "/_sim/hubspot/person/unsubscribe",
      {{"email", dan}, {"subscriptionId", kProductUpdates}});
  ASSERT_TRUE(Eventually([&] { return MemberStatus(dan) == "unsubscribed"; })) << Log();
  PastTheSkewWindow();
  Crm("POST", "/_sim/hubspot/person/signup", {{"email", dan}, {"subscriptionId", kProductUpdates}});
  ASSERT_TRUE(Eventually([&] { return MemberStatus(dan) == "pending"; })) << Log();
  LetMailchimpReportsSettle();

  const double written = MetricSum("consentd_deliveries_total", "target=\"mailchimp\"");
  Crm("POST", "/_sim/hubspot/person/signup", {{"email", dan}, {"subscriptionId", kNewsletter}});
  ASSERT_TRUE(Eventually([&] {
    return MetricSum("consentd_deliveries_total", "target=\"mailchimp\"") > written;
  })) << Log();
  LetMailchimpReportsSettle();
  EXPECT_EQ(MemberStatus(dan), "pending") << Member(dan).dump() << Log();
  EXPECT_EQ(CanonicalStatus(dan, "product_news"), "granted") << Log();

  Journey("POST", "/_sim/mailchimp/person/confirm", {{"email_address", dan}});
  ASSERT_TRUE(Eventually([&] { return MemberStatus(dan) == "subscribed"; })) << Log();
  EXPECT_TRUE(MemberInterest(dan, "Product news")) << Member(dan).dump();
  LetMailchimpReportsSettle();

  // Confirmed, the wait is over: a later change of hers (the newsletter
  // withdrawn at the CRM) leaves the member subscribed for Product news,
  // not pending again with a new confirmation request.
  PastTheSkewWindow();
  Crm("POST", "/_sim/hubspot/person/unsubscribe",
      {{"email", dan}, {"subscriptionId", kNewsletter}});
  ASSERT_TRUE(Eventually([&] { return !MemberInterest(dan, "Newsletter"); }))
      << Member(dan).dump() << Log();
  LetMailchimpReportsSettle();
  EXPECT_EQ(MemberStatus(dan), "subscribed") << Member(dan).dump() << Log();
  EXPECT_TRUE(MemberInterest(dan, "Product news")) << Member(dan).dump();
}

// The CRM's unsubscribe-all is a channel block that only flows from the CRM
// in this mapping. A grant made later at Mailchimp must not lift it there
// (a SUBSCRIBED write would, in HubSpot's v4), and the block stays.
TEST_F(ResubscribeE2E, AJourneyGrantDoesNotLiftTheCrmsUnsubscribeFromAll) {
  StartAll();
  const std::string eve = "eve@example.com";
  Crm("POST", "/_sim/hubspot/person/signup", {{"email", eve}, {"subscriptionId", kProductUpdates}});
  ASSERT_TRUE(Eventually([&] { return MemberStatus(eve) == "subscribed"; })) << Log();
  Crm("POST", "/_sim/hubspot/person/unsubscribe", {{"email", eve}, {"all", true}});
  ASSERT_TRUE(Eventually([&] { return MemberStatus(eve) == "unsubscribed"; })) << Log();
  ASSERT_TRUE(Eventually([&] { return ChannelBlocked(eve); })) << Log();

  PastTheSkewWindow();
  const double written = MetricSum("consentd_deliveries_total", "target=\"hubspot\"");
  Journey("POST", "/_sim/mailchimp/person/signup",
          {{"email_address", eve}, {"interests", {{interest_ids_["Product news"], true}}}});
  Journey("POST", "/_sim/mailchimp/person/confirm", {{"email_address", eve}});
  ASSERT_TRUE(Eventually([&] { return CanonicalStatus(eve, "product_news") == "granted"; }))
      << Log();
  ASSERT_TRUE(Eventually([&] {
    return MetricSum("consentd_deliveries_total", "target=\"hubspot\"") > written;
  })) << Log();
  LetMailchimpReportsSettle();

  const Json wide =
      Crm("GET", "/communication-preferences/v4/statuses/" + std::string("eve%40example.com") +
                     "/unsubscribe-all?channel=EMAIL");
  EXPECT_NE(wide.dump().find("UNSUBSCRIBED"), std::string::npos) << wide.dump();
  EXPECT_NE(CrmSubscription(eve, kProductUpdates), "SUBSCRIBED");
  EXPECT_TRUE(ChannelBlocked(eve)) << Log();
}

// A topic withdrawn at the CRM and granted again there while the member
// stays subscribed for another topic: Mailchimp's double opt-in is for a
// member's status, not for an interest, so the box is ticked again.
TEST_F(ResubscribeE2E, ATopicGrantedAgainOnASubscribedMemberIsTickedAgain) {
  StartAll(WithPolling("1s"));
  const std::string fay = "fay@example.com";
  ASSERT_NO_FATAL_FAILURE(SignUpAtTheJourney(fay));
  Crm("POST", "/_sim/hubspot/person/signup", {{"email", fay}, {"subscriptionId", kProductUpdates}});
  ASSERT_TRUE(Eventually([&] { return MemberInterest(fay, "Product news"); })) << Log();
  PastTheSkewWindow();
  Crm("POST", "/_sim/hubspot/person/unsubscribe",
      {{"email", fay}, {"subscriptionId", kProductUpdates}});
  ASSERT_TRUE(Eventually([&] { return !MemberInterest(fay, "Product news"); })) << Log();
  EXPECT_EQ(MemberStatus(fay), "subscribed");
  PastTheSkewWindow();
  Crm("POST", "/_sim/hubspot/person/signup", {{"email", fay}, {"subscriptionId", kProductUpdates}});
  ASSERT_TRUE(Eventually([&] { return MemberInterest(fay, "Product news"); }))
      << Member(fay).dump() << Log();
  LetMailchimpReportsSettle();
  EXPECT_EQ(CanonicalStatus(fay, "product_news"), "granted") << Log();
  // The tick read back is consentd's own write, not her statement there.
  EXPECT_EQ(CanonicalStatus(fay, "product_news", "source_system"), "hubspot") << Log();
  EXPECT_TRUE(MemberInterest(fay, "Product news"));
  EXPECT_EQ(MemberStatus(fay), "subscribed");
}

}  // namespace
}  // namespace consentd::testing
