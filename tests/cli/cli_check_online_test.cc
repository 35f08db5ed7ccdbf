// consentctl check-config --online, run as the real binary against a real
// consentd-sim process (both systems, ephemeral ports). The sim's ids are
// fixed: HubSpot subscription types 101-103 (EMAIL), 201 (SMS), 301
// (WHATSAPP); Mailchimp interests of audience 5e1c0a7b2d as listed in
// config/demo/consentd.yaml.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/child_process.h"

namespace consentd::testing {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kNewsletterInterest[] = "f4e96e6f14";  // Topics: Newsletter

class CliCheckOnlineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sim_ = std::make_unique<SimProcess>(std::vector<std::string>{"--no-rate-limits"},
                                        dir_.path() / "sim.log");
    ASSERT_TRUE(sim_->ok()) << ReadTextFile(dir_.path() / "sim.log");
    WriteTextFile(dir_.path() / "hubspot_token", "sim-hubspot-token");
    WriteTextFile(dir_.path() / "hubspot_client_secret", "sim-hubspot-client-secret");
    WriteTextFile(dir_.path() / "mailchimp_api_key", "00000000000000000000000000000000-us1");
  }

  // A config mapping HubSpot 101 and 102 and the Mailchimp interest
  // `interest` to two topics.
  std::string WriteConfig(const std::string& interest) {
    const std::string d = dir_.path().string();
    const std::string path = d + "/consentd-" + interest + ".yaml";
    WriteTextFile(
        path, "store:\n  path: " + d +
                  "/consentd.db\n"
                  "connectors:\n"
                  "  hubspot:\n    kind: hubspot\n"
                  "    base_url: http://127.0.0.1:" +
                  std::to_string(sim_->crm_port()) +
                  "\n"
                  "    token_file: " +
                  d +
                  "/hubspot_token\n"
                  "    client_secret_file: " +
                  d +
                  "/hubspot_client_secret\n"
                  "  mailchimp:\n    kind: mailchimp\n"
                  "    base_url: http://127.0.0.1:" +
                  std::to_string(sim_->journey_port()) +
                  "\n"
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
                  "    - name: newsletter\n      notice_version: \"1\"\n      channels: [email]\n"
                  "      systems:\n"
                  "        hubspot: {subscriptions: {email: 101}}\n"
                  "        mailchimp: {interest: \"" +
                  interest +
                  "\"}\n"
                  "    - name: product_updates\n      notice_version: \"1\"\n"
                  "      channels: [email]\n"
                  "      systems:\n        hubspot: {subscriptions: {email: 102}}\n"
                  "  erasure:\n    hubspot: {mode: delete}\n    mailchimp: {mode: delete}\n");
    return path;
  }

  TempDir dir_{"consentd-cli-online"};
  std::unique_ptr<SimProcess> sim_;
};

TEST_F(CliCheckOnlineTest, AllMappedTopicsExistSoItPassesAndListsUnmappedOnes) {
  const std::string config = WriteConfig(kNewsletterInterest);
  CommandResult r = RunConsentctl({"check-config", config, "--online"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(
      r.output,
      AllOf(HasSubstr(config + ": OK\n"), HasSubstr("hubspot: OK (2 topics mapped)\n"),
            HasSubstr("hubspot: not mapped: 103 Events (EMAIL)\n"),
            HasSubstr("hubspot: not mapped: 201 SMS offers (SMS)\n"),
            Not(HasSubstr("not mapped: 101 ")), HasSubstr("mailchimp: OK (1 topic mapped)\n"),
            HasSubstr("mailchimp: not mapped: 3d0c7de3be Topics: Offers (email)\n"),
            Not(HasSubstr(std::string("not mapped: ") + kNewsletterInterest))));
}

TEST_F(CliCheckOnlineTest, AnInterestTheAudienceLacksFailsNamingIt) {
  CommandResult r = RunConsentctl({"check-config", WriteConfig("0123456789"), "--online"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, AllOf(HasSubstr("hubspot: OK (2 topics mapped)"),
                              HasSubstr("mailchimp: check failed: mailchimp: interest 0123456789 "
                                        "of the mapping is not in audience 5e1c0a7b2d")));
}

TEST_F(CliCheckOnlineTest, WithoutOnlineNothingIsAsked) {
  sim_->Signal(SIGTERM);  // nobody to answer: the offline check must not care
  ASSERT_TRUE(sim_->WaitExit(std::chrono::seconds(20)).has_value());
  const std::string config = WriteConfig(kNewsletterInterest);
  CommandResult r = RunConsentctl({"check-config", config});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, config + ": OK\n");
}

}  // namespace
}  // namespace consentd::testing
