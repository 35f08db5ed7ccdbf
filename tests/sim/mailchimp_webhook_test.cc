// Webhooks as Mailchimp sends them: form fields per type, unsigned, to the
// configured URL (secret in its query), and the `sources` setting honoured.
#include <gtest/gtest.h>

#include "sim/mailchimp/webhooks.h"
#include "tests/sim/mailchimp_test_util.h"

namespace consentd::sim::mailchimp::testing {
namespace {

using nlohmann::json;

class SimMailchimpWebhookTest : public ::testing::Test, public SimFixture {};

TEST_F(SimMailchimpWebhookTest, SubscribeCarriesMailchimpsFormFields) {
  auto r = Api("PUT", MemberPath("Jane@Example.org"),
               {{"email_address", "Jane@Example.org"},
                {"status_if_new", "subscribed"},
                {"merge_fields", {{"FNAME", "Jane"}, {"LNAME", "Doe"}}},
                {"interests", {{FirstInterestId(), true}}},
                {"ip_signup", "203.0.113.9"},
                {"ip_opt", "203.0.113.9"}});
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(webhooks_.size(), 1u);
  const OutgoingWebhook& w = webhooks_[0];
  EXPECT_EQ(w.url, "http://127.0.0.1:9/hooks/mailchimp?secret=s3cr3t");
  EXPECT_EQ(w.content_type, "application/x-www-form-urlencoded");
  EXPECT_FALSE(w.sign);  // Mailchimp does not sign
  EXPECT_EQ(net::FindHeader(w.headers, "User-Agent").value_or(""), "MailChimp");
  EXPECT_EQ(w.max_attempts, 4);
  EXPECT_EQ(Field(w, "type"), "subscribe");
  EXPECT_EQ(Field(w, "fired_at"), "2026-09-21 14:13:20");
  const Member* m = sim_.audience().Find("jane@example.org");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(Field(w, "data[id]"), m->unique_email_id);
  EXPECT_EQ(Field(w, "data[list_id]"), sim_.audience().list_id());
  EXPECT_EQ(Field(w, "data[email]"), "Jane@Example.org");
  EXPECT_EQ(Field(w, "data[email_type]"), "html");
  EXPECT_EQ(Field(w, "data[merges][EMAIL]"), "Jane@Example.org");
  EXPECT_EQ(Field(w, "data[merges][FNAME]"), "Jane");
  EXPECT_EQ(Field(w, "data[merges][LNAME]"), "Doe");
  EXPECT_EQ(Field(w, "data[merges][INTERESTS]"), "Newsletter");
  EXPECT_EQ(Field(w, "data[ip_opt]"), "203.0.113.9");
  EXPECT_EQ(Field(w, "data[ip_signup]"), "203.0.113.9");
  // Form encoding: brackets and '@' percent-encoded, nothing raw.
  EXPECT_NE(w.body.find("data%5Bemail%5D=Jane%40Example.org"), std::string::npos) << w.body;
  EXPECT_EQ(w.body.rfind("type=subscribe&fired_at=2026-09-21+14%3A13%3A20&", 0), 0u) << w.body;
}

TEST_F(SimMailchimpWebhookTest, UnsubscribeByApiHasActionUnsubAndReasonManual) {
  ASSERT_EQ(Put("a@example.org", "subscribed").status, 200);
  ASSERT_EQ(Api("PATCH", MemberPath("a@example.org"), {{"status", "unsubscribed"}}).status, 200);
  ASSERT_EQ(webhooks_.size(), 2u);
  EXPECT_EQ(Field(webhooks_[1], "type"), "unsubscribe");
  EXPECT_EQ(Field(webhooks_[1], "data[action]"), "unsub");
  EXPECT_EQ(Field(webhooks_[1], "data[reason]"), "manual");
  EXPECT_EQ(Field(webhooks_[1], "data[email]"), "a@example.org");
  EXPECT_EQ(Field(webhooks_[1], "data[campaign_id]"), "");
}

TEST_F(SimMailchimpWebhookTest, ProfileChangeSendsProfile) {
  ASSERT_EQ(Put("a@example.org", "subscribed").status, 200);
  ASSERT_EQ(
      Api("PATCH", MemberPath("a@example.org"), {{"merge_fields", {{"FNAME", "Ann"}}}}).status,
      200);
  ASSERT_EQ(webhooks_.size(), 2u);
  EXPECT_EQ(Field(webhooks_[1], "type"), "profile");
  EXPECT_EQ(Field(webhooks_[1], "data[merges][FNAME]"), "Ann");
  // No change, no webhook.
  ASSERT_EQ(
      Api("PATCH", MemberPath("a@example.org"), {{"merge_fields", {{"FNAME", "Ann"}}}}).status,
      200);
  EXPECT_EQ(webhooks_.size(), 2u);
}

TEST_F(SimMailchimpWebhookTest, EmailChangeSendsUpemail) {
  ASSERT_EQ(Put("a@example.org", "subscribed").status, 200);
  ASSERT_EQ(Api("PATCH", MemberPath("a@example.org"), {{"email_address", "b@example.org"}}).status,
            200);
  ASSERT_EQ(webhooks_.size(), 2u);
  const OutgoingWebhook& w = webhooks_[1];
  EXPECT_EQ(Field(w, "type"), "upemail");
  EXPECT_EQ(Field(w, "data[old_email]"), "a@example.org");
  EXPECT_EQ(Field(w, "data[new_email]"), "b@example.org");
  EXPECT_EQ(Field(w, "data[new_id]"), sim_.audience().Find("b@example.org")->unique_email_id);
  EXPECT_EQ(Field(w, "data[list_id]"), sim_.audience().list_id());
}

TEST_F(SimMailchimpWebhookTest, BounceSendsCleanedWithReasonHard) {
  ASSERT_EQ(Put("a@example.org", "subscribed").status, 200);
  ASSERT_EQ(
      Control("POST", "/person/bounce", {{"email_address", "a@example.org"}, {"campaign_id", "c1"}})
          .status,
      200);
  ASSERT_EQ(webhooks_.size(), 2u);
  const OutgoingWebhook& w = webhooks_[1];
  EXPECT_EQ(Field(w, "type"), "cleaned");
  EXPECT_EQ(Field(w, "data[reason]"), "hard");
  EXPECT_EQ(Field(w, "data[email]"), "a@example.org");
  EXPECT_EQ(Field(w, "data[campaign_id]"), "c1");
  EXPECT_EQ(Body(Api("GET", MemberPath("a@example.org")))["status"], "cleaned");
}

TEST_F(SimMailchimpWebhookTest, ComplaintUnsubscribesWithReasonAbuse) {
  ASSERT_EQ(Put("a@example.org", "subscribed").status, 200);
  ASSERT_EQ(Control("POST", "/person/complaint", {{"email_address", "a@example.org"}}).status, 200);
  ASSERT_EQ(webhooks_.size(), 2u);
  EXPECT_EQ(Field(webhooks_[1], "type"), "unsubscribe");
  EXPECT_EQ(Field(webhooks_[1], "data[reason]"), "abuse");
  EXPECT_EQ(Field(webhooks_[1], "data[action]"), "unsub");
}

TEST_F(SimMailchimpWebhookTest, ArchiveAndPermanentDeleteSendUnsubscribeWithActionDelete) {
  ASSERT_EQ(Put("a@example.org", "subscribed").status, 200);
  ASSERT_EQ(Put("b@example.org", "subscribed").status, 200);
  ASSERT_EQ(Api("DELETE", MemberPath("a@example.org")).status, 204);
  ASSERT_EQ(Api("POST", MemberPath("b@example.org") + "/actions/delete-permanent").status, 204);
  ASSERT_EQ(webhooks_.size(), 4u);
  for (int i : {2, 3}) {
    EXPECT_EQ(Field(webhooks_[i], "type"), "unsubscribe");
    EXPECT_EQ(Field(webhooks_[i], "data[action]"), "delete");
  }
  EXPECT_EQ(Field(webhooks_[3], "data[email]"), "b@example.org");
}

TEST_F(SimMailchimpWebhookTest, PendingSendsNothingUntilConfirmed) {
  ASSERT_EQ(Control("POST", "/person/signup", {{"email_address", "a@example.org"}}).status, 200);
  EXPECT_TRUE(webhooks_.empty());
  ASSERT_EQ(Control("POST", "/person/confirm", {{"email_address", "a@example.org"}}).status, 200);
  ASSERT_EQ(webhooks_.size(), 1u);
  EXPECT_EQ(Field(webhooks_[0], "type"), "subscribe");
}

TEST(SimMailchimpWebhookSources, ApiChangesNotifyOnlyWhenApiSourceIsOn) {
  MailchimpOptions o = TestOptions();
  o.webhook.api = false;  // Mailchimp's UI default
  SimFixture f(o);
  ASSERT_EQ(f.Put("a@example.org", "subscribed").status, 200);
  ASSERT_EQ(f.Api("PATCH", f.MemberPath("a@example.org"), {{"status", "unsubscribed"}}).status,
            200);
  EXPECT_TRUE(f.webhooks_.empty());
  // A person's and an admin's changes still notify.
  ASSERT_EQ(f.Control("POST", "/person/signup", {{"email_address", "b@example.org"}}).status, 200);
  ASSERT_EQ(f.Control("POST", "/person/confirm", {{"email_address", "b@example.org"}}).status, 200);
  ASSERT_EQ(f.Control("POST", "/admin/status",
                      {{"email_address", "b@example.org"}, {"status", "unsubscribed"}})
                .status,
            200);
  ASSERT_EQ(f.webhooks_.size(), 2u);
  EXPECT_EQ(Field(f.webhooks_[0], "type"), "subscribe");
  EXPECT_EQ(Field(f.webhooks_[1], "type"), "unsubscribe");
  // The suppressed ones are still visible in the control API's log.
  json log = Body(f.Control("GET", "/webhooks"))["webhooks"];
  ASSERT_EQ(log.size(), 4u);
  EXPECT_EQ(log[0]["source"], "api");
  EXPECT_EQ(log[0]["sent"], false);
  EXPECT_EQ(log[2]["sent"], true);
}

TEST(SimMailchimpWebhookSources, UserAndAdminSourcesCanBeTurnedOff) {
  SimFixture f;
  ASSERT_EQ(f.Control("PUT", "/webhook",
                      {{"sources", {{"user", false}, {"admin", false}, {"api", true}}}})
                .status,
            200);
  ASSERT_EQ(f.Put("a@example.org", "subscribed").status, 200);
  ASSERT_EQ(f.Control("POST", "/person/unsubscribe", {{"email_address", "a@example.org"}}).status,
            200);
  ASSERT_EQ(f.Control("POST", "/admin/status",
                      {{"email_address", "a@example.org"}, {"status", "subscribed"}})
                .status,
            200);
  ASSERT_EQ(f.webhooks_.size(), 1u);
  EXPECT_EQ(Field(f.webhooks_[0], "type"), "subscribe");
}

TEST(SimMailchimpWebhookSources, EventsCanBeTurnedOffAndUrlChanged) {
  SimFixture f;
  ASSERT_EQ(
      f.Control("PUT", "/webhook",
                {{"url", "http://127.0.0.1:1/other?secret=x"}, {"events", {{"profile", false}}}})
          .status,
      200);
  ASSERT_EQ(f.Put("a@example.org", "subscribed").status, 200);
  ASSERT_EQ(f.Api("PATCH", f.MemberPath("a@example.org"), {{"vip", true}}).status, 200);
  ASSERT_EQ(f.webhooks_.size(), 1u);
  EXPECT_EQ(f.webhooks_[0].url, "http://127.0.0.1:1/other?secret=x");
  EXPECT_EQ(f.Control("PUT", "/webhook", {{"sources", {{"api", "yes"}}}}).status, 400);
}

TEST(SimMailchimpWebhookSources, NoUrlNoWebhook) {
  MailchimpOptions o = TestOptions();
  o.webhook_url.clear();
  SimFixture f(o);
  ASSERT_EQ(f.Put("a@example.org", "subscribed").status, 200);
  EXPECT_TRUE(f.webhooks_.empty());
}

TEST(SimMailchimpWebhookForm, FormEncodeEscapesReservedCharacters) {
  EXPECT_EQ(FormEncode({{"data[merges][FNAME]", "Zoë & Co"}, {"type", "profile"}}),
            "data%5Bmerges%5D%5BFNAME%5D=Zo%C3%AB+%26+Co&type=profile");
}

}  // namespace
}  // namespace consentd::sim::mailchimp::testing
