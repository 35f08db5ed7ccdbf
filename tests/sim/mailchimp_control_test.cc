// The control API (/_sim/mailchimp/...): seeding, acting as a person or an
// admin, reading state, reset; and the model's small pure helpers.
#include <gtest/gtest.h>

#include "sim/mailchimp/mc_time.h"
#include "tests/sim/mailchimp_test_util.h"

namespace consentd::sim::mailchimp::testing {
namespace {

using nlohmann::json;

class SimMailchimpControlTest : public ::testing::Test, public SimFixture {};

TEST(SimMailchimpSubscriberHash, IsMd5OfLowerCasedEmail) {
  // The example of Mailchimp's documentation.
  EXPECT_EQ(SubscriberHash("Urist.McVankab@FreddiesJokes.com"), "62eeb292278cc15f5817cb78f7790b08");
  EXPECT_EQ(Md5Hex("abc"), "900150983cd24fb0d6963f7d28e17f72");
}

TEST(SimMailchimpTime, FormatsAndParsesMailchimpTimestamps) {
  EXPECT_EQ(FormatIso(kStart), "2026-09-21T14:13:20+00:00");
  EXPECT_EQ(FormatFiredAt(kStart), "2026-09-21 14:13:20");
  EXPECT_EQ(ParseDateTime("2026-09-21T14:13:20+00:00"), kStart);
  EXPECT_EQ(ParseDateTime("2026-09-21T16:13:20+02:00"), kStart);
  EXPECT_EQ(ParseDateTime("2026-09-21T14:13:20.250Z"), kStart + 250);
  EXPECT_EQ(ParseDateTime("2026-09-21 14:13:20"), kStart);
  EXPECT_EQ(ParseDateTime("2026-09-21T14:13:20 00:00"), kStart);  // '+' decoded as space
  EXPECT_EQ(ParseDateTime("1970-01-01T00:00:00Z"), 0);
  EXPECT_FALSE(ParseDateTime("2026-13-01T00:00:00Z"));
  EXPECT_FALSE(ParseDateTime("2026-09-21"));
  EXPECT_FALSE(ParseDateTime("2026-09-21T14:13:20+0200"));
  EXPECT_FALSE(ParseDateTime("yesterday"));
}

TEST_F(SimMailchimpControlTest, SeedingIsDeterministicForASeed) {
  auto seeded = Control("POST", "/seed", {{"count", 200}, {"seed", 42}});
  ASSERT_EQ(seeded.status, 200) << seeded.body;
  EXPECT_EQ(Body(seeded)["seeded"], 200);
  SimFixture other;
  ASSERT_EQ(other.Control("POST", "/seed", {{"count", 200}, {"seed", 42}}).status, 200);
  EXPECT_EQ(Control("GET", "/state").body, other.Control("GET", "/state").body);
  SimFixture different;
  ASSERT_EQ(different.Control("POST", "/seed", {{"count", 200}, {"seed", 43}}).status, 200);
  EXPECT_NE(Control("GET", "/state").body, different.Control("GET", "/state").body);
}

TEST_F(SimMailchimpControlTest, SeedingMixesStatusesInterestsAndPermissions) {
  ASSERT_EQ(Control("POST", "/seed", {{"count", 300}}).status, 200);
  std::map<std::string, int> by_status;
  int with_interest = 0, with_permission = 0;
  for (const Member* m : sim_.audience().Members()) {
    ++by_status[std::string(StatusName(m->status))];
    for (const auto& [id, on] : m->interests) with_interest += on;
    for (const auto& [id, on] : m->permissions) with_permission += on;
  }
  for (const char* s :
       {"subscribed", "unsubscribed", "pending", "cleaned", "archived", "transactional"}) {
    EXPECT_GT(by_status[s], 0) << s;
  }
  EXPECT_GT(with_interest, 0);
  EXPECT_GT(with_permission, 0);
  // Pending seeded members wait for their confirmation.
  EXPECT_EQ(sim_.audience().confirmations().size(), static_cast<size_t>(by_status["pending"]));
  EXPECT_TRUE(webhooks_.empty());
  EXPECT_EQ(Body(Api("GET", ListPath() + "/members?count=1000"))["total_items"], 300);
}

TEST(SimMailchimpControl, SeedMembersOptionSeedsAtStartAndAfterReset) {
  MailchimpOptions o = TestOptions();
  o.seed_members = 25;
  o.seed = 7;
  SimFixture f(o);
  EXPECT_EQ(f.sim_.audience().Members().size(), 25u);
  const std::string state = f.Control("GET", "/state").body;
  ASSERT_EQ(f.Put("extra@example.org", "subscribed").status, 200);
  ASSERT_EQ(f.Control("POST", "/reset").status, 200);
  EXPECT_EQ(f.Control("GET", "/state").body, state);
}

TEST_F(SimMailchimpControlTest, ResetForgetsEverything) {
  ASSERT_EQ(Put("a@example.org", "subscribed").status, 200);
  ASSERT_EQ(Api("POST", MemberPath("a@example.org") + "/actions/delete-permanent").status, 204);
  ASSERT_EQ(Control("POST", "/reset").status, 200);
  EXPECT_TRUE(sim_.audience().Members().empty());
  EXPECT_TRUE(sim_.audience().forgotten().empty());
  EXPECT_EQ(Put("a@example.org", "subscribed").status, 200);
}

TEST_F(SimMailchimpControlTest, StateShowsMembersForgottenAndConfirmations) {
  ASSERT_EQ(Put("a@example.org", "subscribed").status, 200);
  ASSERT_EQ(Put("b@example.org", "pending").status, 200);
  ASSERT_EQ(Put("c@example.org", "subscribed").status, 200);
  ASSERT_EQ(Api("POST", MemberPath("c@example.org") + "/actions/delete-permanent").status, 204);
  json s = Body(Control("GET", "/state"));
  EXPECT_EQ(s["list"]["id"], sim_.audience().list_id());
  EXPECT_EQ(s["members"].size(), 2u);
  EXPECT_EQ(s["forgotten"][0], SubscriberHash("c@example.org"));
  EXPECT_EQ(s["confirmations"][0]["email_address"], "b@example.org");
  EXPECT_EQ(s["interest_categories"][0]["interests"].size(), 4u);
  EXPECT_EQ(s["marketing_permissions"].size(), 3u);
}

TEST_F(SimMailchimpControlTest, SignUpIsPendingWithAConfirmationToken) {
  auto r = Control("POST", "/person/signup",
                   {{"email_address", "a@example.org"},
                    {"merge_fields", {{"FNAME", "Ann"}}},
                    {"interests", {{FirstInterestId(), true}}},
                    {"ip_signup", "192.0.2.1"}});
  ASSERT_EQ(r.status, 200) << r.body;
  json b = Body(r);
  EXPECT_EQ(b["member"]["status"], "pending");
  EXPECT_EQ(b["member"]["source"], "Hosted Signup Form");
  EXPECT_EQ(b["member"]["ip_signup"], "192.0.2.1");
  const std::string token = b["confirmation_token"];
  ASSERT_FALSE(token.empty());
  ASSERT_EQ(Control("POST", "/person/confirm", {{"token", token}}).status, 200);
  EXPECT_EQ(sim_.audience().Find("a@example.org")->status, MemberStatus::kSubscribed);
}

TEST_F(SimMailchimpControlTest, AForgottenPersonMayComeBackThroughTheForm) {
  ASSERT_EQ(Put("a@example.org", "subscribed").status, 200);
  ASSERT_EQ(Api("POST", MemberPath("a@example.org") + "/actions/delete-permanent").status, 204);
  ASSERT_EQ(Control("POST", "/person/signup", {{"email_address", "a@example.org"}}).status, 200);
  EXPECT_EQ(sim_.audience().forgotten().size(), 1u);  // until confirmed
  ASSERT_EQ(Control("POST", "/person/confirm", {{"email_address", "a@example.org"}}).status, 200);
  EXPECT_TRUE(sim_.audience().forgotten().empty());
  EXPECT_EQ(Body(Api("GET", MemberPath("a@example.org")))["status"], "subscribed");
}

TEST_F(SimMailchimpControlTest, UnsubscribeLinkAndResubscribeThroughDoubleOptIn) {
  ASSERT_EQ(Put("a@example.org", "subscribed").status, 200);
  ASSERT_EQ(Control("POST", "/person/unsubscribe", {{"email_address", "a@example.org"}}).status,
            200);
  json m = Body(Api("GET", MemberPath("a@example.org")));
  EXPECT_EQ(m["status"], "unsubscribed");
  EXPECT_EQ(m["unsubscribe_reason"], "N/A (Unsubscribed by the contact)");
  ASSERT_EQ(Control("POST", "/person/signup", {{"email_address", "a@example.org"}}).status, 200);
  ASSERT_EQ(Control("POST", "/person/confirm", {{"email_address", "a@example.org"}}).status, 200);
  EXPECT_EQ(Body(Api("GET", MemberPath("a@example.org")))["status"], "subscribed");
}

TEST_F(SimMailchimpControlTest, AdminActions) {
  ASSERT_EQ(Put("a@example.org", "subscribed").status, 200);
  auto r =
      Control("POST", "/admin/profile",
              {{"email_address", "a@example.org"}, {"interests", {{FirstInterestId(), true}}}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r)["member"]["interests"][FirstInterestId()], true);
  EXPECT_EQ(
      Body(Control("POST", "/admin/status",
                   {{"email", "a@example.org"}, {"status", "unsubscribed"}}))["member"]["status"],
      "unsubscribed");
  ASSERT_EQ(Control("POST", "/admin/change-email",
                    {{"email_address", "a@example.org"}, {"new_email_address", "b@example.org"}})
                .status,
            200);
  EXPECT_NE(sim_.audience().Find("b@example.org"), nullptr);
  EXPECT_EQ(Body(Control("POST", "/admin/delete",
                         {{"email_address", "b@example.org"}}))["member"]["status"],
            "archived");
  ASSERT_EQ(Control("POST", "/admin/delete-permanent", {{"email_address", "b@example.org"}}).status,
            200);
  EXPECT_EQ(Put("b@example.org", "subscribed").status, 400);
}

TEST_F(SimMailchimpControlTest, ControlRejectsBadRequests) {
  EXPECT_EQ(Control("POST", "/person/unsubscribe", json::object()).status, 400);
  EXPECT_EQ(
      Control("POST", "/person/unsubscribe", {{"email_address", "nobody@example.org"}}).status,
      404);
  EXPECT_EQ(
      Control("POST", "/admin/status", {{"email_address", "a@example.org"}, {"status", "gone"}})
          .status,
      400);
  EXPECT_EQ(Control("POST", "/seed", {{"count", "many"}}).status, 400);
  EXPECT_EQ(Control("POST", "/person/signup",
                    {{"email_address", "a@example.org"}, {"interests", {{"x", true}}}})
                .status,
            400);
  EXPECT_EQ(sim_.HandleControl(Request("POST", "/seed", "{", "")).status, 400);
  EXPECT_EQ(Control("POST", "/nope", json::object()).status, 404);
  EXPECT_EQ(Control("DELETE", "/state").status, 405);
}

}  // namespace
}  // namespace consentd::sim::mailchimp::testing
