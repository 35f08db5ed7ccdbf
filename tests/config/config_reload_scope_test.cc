// Which changes a reload may apply and which need a restart
// (config/reload_scope.h).
#include <gtest/gtest.h>

#include "config/reload_scope.h"

namespace consentd::config {
namespace {

Config TwoConnectors() {
  Config c;
  ConnectorConfig hubspot;
  hubspot.name = "hubspot";
  hubspot.kind = mapping::ConnectorKind::kHubSpot;
  hubspot.base_url = "https://api.hubapi.com";
  hubspot.token_file = "/etc/consentd/hubspot_token";
  ConnectorConfig studio;
  studio.name = "studio";
  studio.kind = mapping::ConnectorKind::kGeneric;
  studio.generic.check.declared = true;
  studio.generic.check.url = "/health";
  studio.generic.check.at = {40, 7};
  c.connectors = {{"hubspot", hubspot}, {"studio", studio}};
  return c;
}

TEST(ReloadScope, AnUnchangedFileOrAChangedRateLimitCanBeReloaded) {
  const Config running = TwoConnectors();
  EXPECT_TRUE(KeysNeedingRestart(running, running).empty());
  Config next = running;
  next.connectors["hubspot"].rate_limit.requests = 50;
  next.connectors["hubspot"].at = {99, 3};
  // The same generic request declared further down the file.
  next.connectors["studio"].generic.check.at = {52, 7};
  EXPECT_TRUE(KeysNeedingRestart(running, next).empty());
}

TEST(ReloadScope, EveryOtherConnectorOrSyncKeyIsNamed) {
  const Config running = TwoConnectors();
  Config next = running;
  next.connectors["hubspot"].poll_interval = std::chrono::milliseconds(0);
  next.connectors["hubspot"].request_timeout = std::chrono::milliseconds(2000);
  next.connectors["studio"].generic.check.url = "/ping";
  next.sync.retry_base = std::chrono::milliseconds(5000);
  next.sync.max_attempts = 3;
  EXPECT_EQ(
      KeysNeedingRestart(running, next),
      (std::vector<std::string>{
          "connectors.hubspot.poll_interval", "connectors.hubspot.request_timeout",
          "connectors.studio.(generic declaration)", "sync.retry_base", "sync.max_attempts"}));
}

TEST(ReloadScope, AddedOrRemovedConnectorsAreNamed) {
  const Config running = TwoConnectors();
  Config next = running;
  next.connectors.erase("studio");
  ConnectorConfig mailchimp;
  mailchimp.name = "mailchimp";
  next.connectors["mailchimp"] = mailchimp;
  EXPECT_EQ(
      KeysNeedingRestart(running, next),
      (std::vector<std::string>{"connectors.studio (removed)", "connectors.mailchimp (added)"}));
}

}  // namespace
}  // namespace consentd::config
