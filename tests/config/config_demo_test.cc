// The demo configuration (config/demo/consentd.yaml, run by scripts/demo)
// loads, and every id, secret and address in it is consentd-sim's own: the
// subscription types and block property of its HubSpot, the list and the
// interests of its Mailchimp audience, and its default credentials. The
// simulator's models are built here, so a change to them fails this test
// instead of the demo.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "config/config.h"
#include "core/clock.h"
#include "sim/hubspot/hubspot_model.h"
#include "sim/hubspot/hubspot_system.h"
#include "sim/mailchimp/audience.h"
#include "sim/mailchimp/mailchimp_sim.h"
#include "tests/config/temp_dir.h"

namespace consentd::config {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kDemo[] = CONSENTD_SOURCE_DIR "/config/demo/consentd.yaml";

Config LoadDemo() {
  // No $CREDENTIALS_DIRECTORY: the demo's secrets are paths beside it.
  auto r = LoadConfigFile(kDemo, LoadOptions{});
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? *r : Config{};
}

std::string Secret(const std::string& path) {
  auto s = LoadSecret(path);
  EXPECT_TRUE(s.ok()) << s.status().message();
  return s.ok() ? *s : std::string();
}

// A copy of config/demo whose secret files are private, as scripts/demo
// makes them before it starts consentd (git keeps no modes, so a checkout
// has them as the umask left them, and consentd warns about such files).
TEST(ConfigDemo, DemoConfigLoadsWithoutWarnings) {
  namespace fs = std::filesystem;
  testing::TempDir copy;
  fs::copy(fs::path(kDemo).parent_path(), copy.path(), fs::copy_options::recursive);
  for (const auto& f : fs::directory_iterator(fs::path(copy.path()) / "secrets")) {
    fs::permissions(f.path(), fs::perms::owner_read | fs::perms::owner_write);
  }
  auto r = LoadConfigFile(copy.path() + "/consentd.yaml", LoadOptions{});
  ASSERT_TRUE(r.ok()) << r.status().message();
  const Config& c = *r;
  EXPECT_THAT(c.warnings, IsEmpty());
  EXPECT_TRUE(c.has_mapping);
  EXPECT_EQ(c.connectors.size(), 2u);
}

// A topic title saved as Latin-1 (0xFC for 'ü') passed the YAML reader and
// then stopped the daemon when the mapping went through JSON (at start, and
// on a SIGHUP reload). It is refused at load, at its line and column.
TEST(ConfigDemo, ATitleNotInUtf8IsRefusedAtItsLineAndColumn) {
  std::ifstream in(kDemo, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  std::string yaml = text.str();
  const std::string from = "title: \"Newsletter\"";
  const std::size_t at = yaml.find(from);
  ASSERT_NE(at, std::string::npos);
  yaml.replace(at, from.size(), "title: \"Neuigkeiten f\xFCr Sie\"");
  const std::string name = std::string(CONSENTD_SOURCE_DIR) + "/config/demo/latin1.yaml";
  auto latin1 = LoadConfigString(yaml, name, LoadOptions{});
  ASSERT_FALSE(latin1.ok());
  const int line = 1 + static_cast<int>(std::count(yaml.begin(), yaml.begin() + at, '\n'));
  const std::size_t line_start = yaml.rfind('\n', at) + 1;
  // 0xFC comes 21 characters after the start of `title: "Neuigkeiten f`.
  const int column = static_cast<int>(at - line_start) + 1 + 21;
  EXPECT_THAT(latin1.status().message(),
              HasSubstr(name + ":" + std::to_string(line) + ":" + std::to_string(column) +
                        ": this byte is not valid UTF-8"));
  // The same title in UTF-8 loads.
  yaml.replace(yaml.find("f\xFCr"), 3, "f\xC3\xBCr");
  auto utf8 = LoadConfigString(yaml, name, LoadOptions{});
  EXPECT_TRUE(utf8.ok()) << utf8.status().ToString();
}

TEST(ConfigDemo, ConnectorsPointAtTheSimulatorPortsOfScriptsDemo) {
  const Config c = LoadDemo();
  EXPECT_EQ(c.connectors.at("hubspot").base_url, "http://127.0.0.1:8471");
  EXPECT_EQ(c.connectors.at("mailchimp").base_url, "http://127.0.0.1:8472");
  EXPECT_EQ(c.connectors.at("hubspot").kind, mapping::ConnectorKind::kHubSpot);
  EXPECT_EQ(c.connectors.at("mailchimp").kind, mapping::ConnectorKind::kMailchimp);
}

TEST(ConfigDemo, SecretsAreTheSimulatorsDefaultsBesideTheConfig) {
  const Config c = LoadDemo();
  const std::string dir =
      (std::filesystem::path(CONSENTD_SOURCE_DIR) / "config/demo/secrets").lexically_normal();
  const ConnectorConfig& h = c.connectors.at("hubspot");
  const ConnectorConfig& m = c.connectors.at("mailchimp");
  EXPECT_EQ(h.token_file, dir + "/hubspot_token");
  EXPECT_EQ(Secret(h.token_file), sim::hubspot::HubSpotOptions{}.access_token);
  EXPECT_EQ(Secret(h.client_secret_file), sim::hubspot::HubSpotOptions{}.client_secret);
  EXPECT_EQ(Secret(m.api_key_file), sim::mailchimp::MailchimpOptions{}.api_key);
  EXPECT_EQ(Secret(m.webhook_secret_file), "demo-webhook-secret-not-secret");
  EXPECT_EQ(m.list_id, sim::mailchimp::MailchimpOptions{}.list_id);
}

TEST(ConfigDemo, MappedIdsExistInTheSimulator) {
  const Config c = LoadDemo();
  ManualClock clock;
  const sim::hubspot::Model hubspot(clock, sim::hubspot::HubSpotOptions{}.block_property);
  const sim::mailchimp::Audience audience(sim::mailchimp::MailchimpOptions{}.list_id, clock,
                                          [](const sim::mailchimp::MemberEvent&) {});
  int hubspot_ids = 0;
  int mailchimp_ids = 0;
  for (const mapping::TopicSpec& topic : c.mapping.topics) {
    for (const auto& [system, binding] : topic.bindings) {
      for (const auto& [channel, id] : binding.subscriptions) {
        const sim::hubspot::Definition* d = hubspot.FindDefinition(id);
        ASSERT_NE(d, nullptr) << topic.name << ": subscription type " << id;
        EXPECT_EQ(d->channel, c.mapping.NativeChannel(channel, system)) << topic.name;
        ++hubspot_ids;
      }
      if (binding.kind == mapping::ConnectorKind::kMailchimp) {
        EXPECT_TRUE(audience.IsKnownInterest(binding.mailchimp_id))
            << topic.name << ": interest " << binding.mailchimp_id;
        ++mailchimp_ids;
      }
    }
  }
  EXPECT_EQ(hubspot_ids, 4);  // 101, 102, 103 on EMAIL, 201 on SMS
  EXPECT_EQ(mailchimp_ids, 3);
}

TEST(ConfigDemo, AdvertisingBlockIsTheSimulatorsHubSpotProperty) {
  const Config c = LoadDemo();
  ASSERT_FALSE(c.mapping.blocks.empty());
  const mapping::BlockSpec& werbesperre = c.mapping.blocks.front();
  EXPECT_EQ(werbesperre.name, "werbesperre");
  EXPECT_EQ(werbesperre.sides.at("hubspot").property,
            sim::hubspot::HubSpotOptions{}.block_property);
  EXPECT_EQ(werbesperre.sides.at("hubspot").value, "true");
  EXPECT_EQ(werbesperre.sides.at("mailchimp").member_status, "unsubscribed");
}

}  // namespace
}  // namespace consentd::config
