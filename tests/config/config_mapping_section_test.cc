// The `mapping:` section inside the daemon's configuration: read by
// mapping::ReadMapping with the loader's own Diagnostics, so its errors are
// sorted in with every other section's and its warnings reach
// Config::warnings.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "config/config.h"
#include "tests/config/example_credentials.h"

namespace consentd::config {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

Result<Config> Load(const std::string& yaml) {
  return LoadConfigString(yaml, "t.yaml", LoadOptions{});
}

std::vector<std::string> ErrorLines(const Result<Config>& r) {
  std::vector<std::string> lines;
  if (r.ok()) return lines;
  std::istringstream in(r.status().message());
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

constexpr char kStore[] = "store:\n  path: x.db\n";

// Two systems, one channel, one topic bound to both, erasure for both: no
// warnings.
constexpr char kMapping[] =
    "mapping:\n"                                     // 3
    "  systems:\n"                                   // 4
    "    crm: {kind: hubspot, role: crm}\n"          // 5
    "    mc: {kind: mailchimp, role: journey}\n"     // 6
    "  skew_window: 3s\n"                            // 7
    "  channels:\n"                                  // 8
    "    email: {crm: EMAIL, mc: email}\n"           // 9
    "  topics:\n"                                    // 10
    "    - name: newsletter\n"                       // 11
    "      channels: [email]\n"                      // 12
    "      systems:\n"                               // 13
    "        crm: {subscriptions: {email: 1011}}\n"  // 14
    "        mc: {interest: abc}\n"                  // 15
    "  erasure:\n"                                   // 16
    "    crm: {mode: delete}\n"                      // 17
    "    mc: {mode: delete}\n";                      // 18

TEST(ConfigMappingSection, WithoutMappingThereIsNoMapping) {
  auto r = Load(kStore);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_FALSE(r->has_mapping);
  EXPECT_THAT(r->mapping.systems, IsEmpty());
  EXPECT_THAT(r->mapping.topics, IsEmpty());
}

TEST(ConfigMappingSection, MappingIsReadIntoConfig) {
  auto r = Load(std::string(kStore) + kMapping);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r->has_mapping);
  EXPECT_THAT(r->warnings, IsEmpty());
  ASSERT_NE(r->mapping.FindSystem("mc"), nullptr);
  EXPECT_EQ(r->mapping.FindSystem("mc")->kind, mapping::ConnectorKind::kMailchimp);
  EXPECT_EQ(r->mapping.skew_window, std::chrono::seconds(3));
  ASSERT_EQ(r->mapping.topics.size(), 1u);
  EXPECT_EQ(r->mapping.topics[0].bindings.at("crm").subscriptions.at("email"), 1011);
  EXPECT_EQ(r->mapping.NativeChannel("email", "crm"), "EMAIL");
}

TEST(ConfigMappingSection, MappingErrorsAreSortedInWithTheOtherSections) {
  auto r = Load(
      "http:\n"
      "  listn: 127.0.0.1:0\n"
      "store:\n"
      "  path: x.db\n"
      "mapping:\n"
      "  systems:\n"
      "    crm: {kind: hubspot, role: crm}\n"
      "    mc: {kind: mailchimp, role: journey}\n"
      "  channels:\n"
      "    email: {crm: EMAIL, mc: email}\n"
      "  topics:\n"
      "    - name: newsletter\n"
      "      channels: [emial]\n"
      "      systems:\n"
      "        crm: {subscriptions: {email: 1011}}\n"
      "        mc: {interest: abc}\n"
      "log:\n"
      "  format: xml\n");
  EXPECT_THAT(ErrorLines(r),
              ElementsAre("t.yaml:2:3: unknown key 'listn' in 'http' (did you mean 'listen'?)",
                          "t.yaml:13:18: unknown channel 'emial' (did you mean 'email'?)",
                          "t.yaml:18:11: expected one of text, json, got \"xml\""));
}

TEST(ConfigMappingSection, EmptyMappingNamesItsRequiredKeysAtTheMappingKey) {
  auto r = Load(std::string(kStore) + "mapping:\n");
  EXPECT_THAT(ErrorLines(r), ElementsAre("t.yaml:3:1: missing required key 'mapping.systems'",
                                         "t.yaml:3:1: missing required key 'mapping.channels'",
                                         "t.yaml:3:1: missing required key 'mapping.topics'"));
}

TEST(ConfigMappingSection, MappingWarningsReachConfigWarnings) {
  // kMapping without its erasure entries (lines 16-18), plus a topic bound
  // to no system.
  std::string mapping = kMapping;
  mapping.resize(mapping.find("  erasure:\n"));
  auto r = Load(std::string(kStore) + mapping +
                "    - name: events\n"         // 16
                "      channels: [email]\n");  // 17
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_THAT(r->warnings,
              ElementsAre("t.yaml:5:5: warning: no erasure mode for system 'crm': it defaults to "
                          "delete",
                          "t.yaml:6:5: warning: no erasure mode for system 'mc': it defaults to "
                          "delete",
                          "t.yaml:16:13: warning: topic 'events' is mapped to no system: it is "
                          "never synchronised"));
}

TEST(ConfigMappingSection, HubSpotMailchimpExampleLoadsIntoConfig) {
  testing::TempDir creds;
  testing::WriteExampleCredentials(creds);
  auto r = LoadConfigFile(CONSENTD_SOURCE_DIR "/config/examples/hubspot-mailchimp.yaml",
                          LoadOptions{creds.path()});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_THAT(r->warnings, IsEmpty());
  EXPECT_TRUE(r->has_mapping);
  EXPECT_EQ(r->mapping.topics.size(), 3u);
  EXPECT_EQ(r->mapping.blocks.size(), 3u);
  EXPECT_EQ(r->mapping.erasure.at("hubspot").mode, mapping::ErasureMode::kRestrict);
  EXPECT_EQ(r->connectors.size(), 2u);
  EXPECT_EQ(r->connectors.at("mailchimp").token_file, "");
  EXPECT_EQ(r->connectors.at("hubspot").token_file, creds.path() + "/hubspot_token");
}

}  // namespace
}  // namespace consentd::config
