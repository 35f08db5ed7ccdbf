// consentctl map, run as the real binary on sample payloads: API records
// and webhook bodies of both connectors, offline (the configured base URLs
// point at a port nothing listens on; map never calls them).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/support/child_process.h"

namespace consentd::testing {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

class CliMapTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteTextFile(dir_.path() / "hubspot_token", "test-token");
    WriteTextFile(dir_.path() / "hubspot_client_secret", "test-client-secret");
    WriteTextFile(dir_.path() / "mailchimp_api_key", "00000000000000000000000000000000-us1");
    config_ = (dir_.path() / "consentd.yaml").string();
    const std::string d = dir_.path().string();
    WriteTextFile(config_,
                  "store:\n  path: " + d +
                      "/consentd.db\n"
                      "connectors:\n"
                      "  hubspot:\n    kind: hubspot\n    base_url: http://127.0.0.1:9\n"
                      "    token_file: " +
                      d +
                      "/hubspot_token\n"
                      "    client_secret_file: " +
                      d +
                      "/hubspot_client_secret\n"
                      "  mailchimp:\n    kind: mailchimp\n    base_url: http://127.0.0.1:9\n"
                      "    api_key_file: " +
                      d +
                      "/mailchimp_api_key\n"
                      "    list_id: 5e1c0a7b2d\n"
                      "mapping:\n"
                      "  systems:\n"
                      "    hubspot: {kind: hubspot, role: crm}\n"
                      "    mailchimp: {kind: mailchimp, role: journey}\n"
                      "  identity:\n    keys: [email]\n"
                      "  channels:\n    email: {hubspot: EMAIL, mailchimp: email}\n"
                      "  topics:\n"
                      "    - name: newsletter\n      notice_version: \"2026-01\"\n"
                      "      channels: [email]\n"
                      "      systems:\n"
                      "        hubspot: {subscriptions: {email: 101}}\n"
                      "        mailchimp: {interest: aaaaaaaaaa}\n"
                      "    - name: product_updates\n      notice_version: \"2026-02\"\n"
                      "      channels: [email]\n"
                      "      systems:\n"
                      "        hubspot: {subscriptions: {email: 102}}\n"
                      "        mailchimp: {interest: bbbbbbbbbb}\n"
                      "  blocks:\n"
                      "    - name: werbesperre\n      scope: all\n"
                      "      systems:\n"
                      "        hubspot: {property: consentd_werbesperre, value: \"true\"}\n"
                      "        mailchimp: {status: unsubscribed}\n"
                      "  erasure:\n    hubspot: {mode: delete}\n    mailchimp: {mode: delete}\n");
  }

  // Writes `payload` to a file and runs map on it.
  CommandResult Map(const std::string& connector, const std::string& payload,
                    std::vector<std::string> extra = {}) {
    const std::string file = (dir_.path() / ("payload-" + std::to_string(++n_))).string();
    WriteTextFile(file, payload);
    std::vector<std::string> args = {"map",     "--config",  config_, "--connector",
                                     connector, "--payload", file};
    args.insert(args.end(), extra.begin(), extra.end());
    return RunConsentctl(args);
  }

  TempDir dir_{"consentd-cli-map"};
  std::string config_;
  int n_ = 0;
};

constexpr char kHubSpotRecord[] = R"({
  "contact": {"id": "1001", "properties": {"email": "Anna@Example.com",
              "lastmodifieddate": "2026-03-01T10:00:05.000Z", "consentd_werbesperre": "true"}},
  "statuses": {"results": [
    {"channel": "EMAIL", "subscriberIdString": "anna@example.com", "subscriptionId": "101",
     "status": "SUBSCRIBED", "source": "FORM", "legalBasis": "CONSENT_WITH_NOTICE",
     "timestamp": "2026-03-01T10:00:00.250Z"},
    {"channel": "EMAIL", "subscriberIdString": "anna@example.com", "subscriptionId": "102",
     "status": "UNSUBSCRIBED", "source": "API", "timestamp": "2026-03-01T09:00:00.000Z"}]}
})";

TEST_F(CliMapTest, HubSpotRecordYieldsItsConsentsAndBlock) {
  CommandResult r = Map("hubspot", kHubSpotRecord);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("hubspot record 1001: 3 change(s)"));
  EXPECT_THAT(
      r.output,
      HasSubstr("consent newsletter email granted at 2026-03-01T10:00:00.250Z; method form, "
                "legal basis eu-gdpr:A6-1-a, notice 2026-01, event payload:1001"));
  EXPECT_THAT(r.output, HasSubstr("consent product_updates email withdrawn at "
                                  "2026-03-01T09:00:00.000Z; method api, legal basis "
                                  "eu-gdpr:A6-1-a, notice 2026-02, event payload:1001"));
  EXPECT_THAT(r.output, HasSubstr("block all active at 2026-03-01T10:00:05.000Z"));
}

TEST_F(CliMapTest, JsonOutputCarriesTheSameChanges) {
  CommandResult r = Map("hubspot", kHubSpotRecord, {"--json"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const nlohmann::json j = nlohmann::json::parse(r.output, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.output;
  EXPECT_EQ(j["as"], "record");
  ASSERT_EQ(j["records"].size(), 1u);
  const nlohmann::json& changes = j["records"][0]["changes"];
  ASSERT_EQ(changes.size(), 3u);
  EXPECT_EQ(changes[0]["topic"], "newsletter");
  EXPECT_EQ(changes[0]["status"], "granted");
  EXPECT_EQ(changes[0]["occurred_at"], "2026-03-01T10:00:00.250Z");
  EXPECT_EQ(changes[0]["notice_version"], "2026-01");
  EXPECT_EQ(changes[2]["scope"], "all");
  EXPECT_EQ(changes[2]["active"], true);
}

TEST_F(CliMapTest, UnmappedSubscriptionTypeYieldsNoChangeAndSaysWhy) {
  CommandResult r = Map("hubspot", R"({"contact": {"id": "1002", "properties": {}},
    "statuses": {"results": [{"channel": "EMAIL", "subscriptionId": "103",
      "status": "SUBSCRIBED", "timestamp": "2026-03-01T10:00:00Z"}]}})");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("hubspot record 1002: 0 change(s)"));
  EXPECT_THAT(r.output,
              HasSubstr("note: unmapped: subscription type 103 on EMAIL is not in the mapping"));
}

TEST_F(CliMapTest, MailchimpMemberYieldsTopicsAndBlockAndNamesUnmappedInterest) {
  CommandResult r = Map("mailchimp", R"({"id": "6b56db1f84a3997b902509d3fbf0a306",
    "email_address": "anna@example.com", "status": "subscribed",
    "interests": {"aaaaaaaaaa": true, "bbbbbbbbbb": false, "cccccccccc": true},
    "last_changed": "2026-03-01T10:00:00+00:00"})");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output,
              HasSubstr("mailchimp record 6b56db1f84a3997b902509d3fbf0a306: 3 change(s)"));
  // last_changed has whole seconds: the last millisecond of that second.
  EXPECT_THAT(r.output, HasSubstr("consent newsletter email granted at 2026-03-01T10:00:00.999Z; "
                                  "method form"));
  EXPECT_THAT(r.output, HasSubstr("consent product_updates email withdrawn (absence"));
  EXPECT_THAT(r.output, HasSubstr("block all cleared at 2026-03-01T10:00:00.999Z"));
  EXPECT_THAT(r.output, HasSubstr("note: unmapped: interest cccccccccc is not in the mapping"));
}

TEST_F(CliMapTest, MalformedPayloadExitsOneNamingTheFile) {
  CommandResult r = Map("hubspot", R"({"contact": {"id": "1001")");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr((dir_.path() / "payload-1").string() +
                                  ": not a valid hubspot record: not JSON"));
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;

  CommandResult m = Map("mailchimp", R"({"email_address": "a@example.com", "status": "gone"})");
  EXPECT_EQ(m.exit_code, 1) << m.output;
  EXPECT_THAT(m.output, HasSubstr("payload-2: not a valid mailchimp record"));
}

TEST_F(CliMapTest, UsageErrorsExitTwo) {
  EXPECT_EQ(RunConsentctl({"map", "--config", config_, "--connector", "hubspot"}).exit_code, 2);
  EXPECT_EQ(Map("nope", "{}").exit_code, 2);
  EXPECT_EQ(Map("hubspot", "{}", {"--as", "event"}).exit_code, 2);
}

TEST_F(CliMapTest, HubSpotWebhookListsItsRecordHintsUnsigned) {
  CommandResult r = Map("hubspot", R"([
    {"eventId": 11, "subscriptionId": 1, "portalId": 2, "occurredAt": 1772359200000,
     "subscriptionType": "contact.propertyChange", "objectId": 1001,
     "propertyName": "consentd_werbesperre", "propertyValue": "true"},
    {"eventId": 12, "subscriptionId": 1, "portalId": 2, "occurredAt": 1772359200000,
     "subscriptionType": "contact.deletion", "objectId": 1002},
    {"eventId": 13, "subscriptionId": 1, "portalId": 2, "occurredAt": 1772359200000,
     "subscriptionType": "contact.propertyChange", "objectId": 1003,
     "propertyName": "firstname", "propertyValue": "Anna"}])");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output,
              AllOf(HasSubstr("signature: not checked (offline)"),
                    HasSubstr("hubspot webhook: 2 record hint(s)"),
                    HasSubstr("changed record 1001 at 2026-03-01T10:00:00.000Z; event 11"),
                    HasSubstr("deleted record 1002"), Not(HasSubstr("record 1003")),
                    HasSubstr("the decision is taken on the record read back through "
                              "the API")));
}

TEST_F(CliMapTest, MailchimpWebhookFormOrJsonNamesTheSubscriber) {
  CommandResult form = Map("mailchimp",
                           "type=unsubscribe&fired_at=2026-03-01+10%3A00%3A00&data%5Baction%5D="
                           "unsub&data%5Bemail%5D=Anna%40example.com&data%5Blist_id%5D=5e1c0a7b2d");
  EXPECT_EQ(form.exit_code, 0) << form.output;
  EXPECT_THAT(form.output, AllOf(HasSubstr("signature: not checked (offline)"),
                                 HasSubstr("changed record 6b56db1f84a3997b902509d3fbf0a306 at "
                                           "2026-03-01T10:00:00.000Z")));
  CommandResult js = Map("mailchimp", R"({"type": "upemail", "fired_at": "2026-03-01 10:00:00",
    "data": {"list_id": "5e1c0a7b2d", "new_email": "anna@example.com",
             "old_email": "anna@old.example"}})");
  EXPECT_EQ(js.exit_code, 0) << js.output;
  EXPECT_THAT(js.output, HasSubstr("email_changed record 6b56db1f84a3997b902509d3fbf0a306"));
}

}  // namespace
}  // namespace consentd::testing
