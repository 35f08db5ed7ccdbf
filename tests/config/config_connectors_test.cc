// `connectors:` and `sync:`: every key read into its field, the defaults of
// each connector kind, every error at its own FILE:LINE:COLUMN, and the
// check that connectors and mapping.systems pair up by name and kind.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "config/config.h"
#include "tests/config/temp_dir.h"

namespace consentd::config {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;
using ::testing::AllOf;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using testing::TempDir;

constexpr char kTokenValue[] = "pat-na1-very-secret";

// A credentials directory holding every secret the configurations below
// name (bare names, as under systemd LoadCredential=).
class ConfigConnectors : public ::testing::Test {
 protected:
  ConfigConnectors() {
    creds_.Write("hubspot_token", kTokenValue);
    creds_.Write("hubspot_client_secret", "cs");
    creds_.Write("mailchimp_api_key", "k-us1");
    creds_.Write("mailchimp_webhook_secret", "s-sixteen-chars!");
  }

  Result<Config> Load(const std::string& yaml) {
    return LoadConfigString(yaml, "t.yaml", LoadOptions{creds_.path()});
  }

  std::vector<std::string> Errors(const std::string& yaml) {
    std::vector<std::string> lines;
    Result<Config> r = Load(yaml);
    if (r.ok()) return lines;
    std::istringstream in(r.status().message());
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }

  std::string Cred(const std::string& name) const { return creds_.path() + "/" + name; }

  TempDir creds_;
};

constexpr char kStore[] = "store:\n  path: /srv/consentd/c.db\n";  // lines 1-2

// A mapping naming `hubspot` and `mailchimp`; lines 3-16 after kStore.
constexpr char kMapping[] =
    "mapping:\n"                                         // 3
    "  systems:\n"                                       // 4
    "    hubspot: {kind: hubspot, role: crm}\n"          // 5
    "    mailchimp: {kind: mailchimp, role: journey}\n"  // 6
    "  channels:\n"                                      // 7
    "    email: {hubspot: EMAIL, mailchimp: email}\n"    // 8
    "  topics:\n"                                        // 9
    "    - name: newsletter\n"                           // 10
    "      channels: [email]\n"                          // 11
    "      systems:\n"                                   // 12
    "        hubspot: {subscriptions: {email: 101}}\n"   // 13
    "        mailchimp: {interest: f4e96e6f14}\n"        // 14
    "  erasure:\n"                                       // 15
    "    hubspot: {mode: delete}\n"                      // 16
    "    mailchimp: {mode: delete}\n";                   // 17

// Minimal connectors for kMapping, from line 18.
constexpr char kConnectors[] =
    "connectors:\n"                                         // 18
    "  hubspot:\n"                                          // 19
    "    kind: hubspot\n"                                   // 20
    "    base_url: https://api.hubapi.com\n"                // 21
    "    token_file: hubspot_token\n"                       // 22
    "    client_secret_file: hubspot_client_secret\n"       // 23
    "  mailchimp:\n"                                        // 24
    "    kind: mailchimp\n"                                 // 25
    "    base_url: https://us1.api.mailchimp.com/3.0\n"     // 26
    "    api_key_file: mailchimp_api_key\n"                 // 27
    "    list_id: 5e1c0a7b2d\n"                             // 28
    "    webhook_secret_file: mailchimp_webhook_secret\n";  // 29

std::string Base() { return std::string(kStore) + kMapping; }

// Mailchimp signs nothing: the secret in the webhook URL is its only guard,
// so a short one is named at its key (a warning: the file is valid).
TEST_F(ConfigConnectors, AShortMailchimpWebhookSecretIsAWarningAtItsKey) {
  creds_.Write("mailchimp_webhook_secret", "s3cr3t\n");
  Result<Config> r = Load(Base() + kConnectors);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_THAT(r->warnings,
              ElementsAre("t.yaml:29:5: warning: the webhook secret in " +
                          Cred("mailchimp_webhook_secret") +
                          " has 6 characters: whoever guesses it can send this connector "
                          "webhooks; use at least 16 random ones (e.g. openssl rand -hex 16)"));
  creds_.Write("mailchimp_webhook_secret", "0123456789abcdef\n");
  Result<Config> sixteen = Load(Base() + kConnectors);
  ASSERT_TRUE(sixteen.ok()) << sixteen.status().message();
  EXPECT_THAT(sixteen->warnings, IsEmpty());
}

TEST_F(ConfigConnectors, EveryKeyIsReadIntoItsField) {
  TempDir keys;
  auto r = Load(Base() +
                "connectors:\n"
                "  hubspot:\n"
                "    kind: hubspot\n"
                "    base_url: http://127.0.0.1:8471/\n"
                "    token_file: hubspot_token\n"
                "    client_secret_file: hubspot_client_secret\n"
                "    webhook_url: https://consent.example.org/webhooks/hubspot\n"
                "    poll_interval: 2m\n"
                "    poll_overlap: 30s\n"
                "    request_timeout: 20s\n"
                "    rate_limit: {requests: 50, interval: 1s, max_in_flight: 4}\n"
                "    batch_size: 25\n"
                "  mailchimp:\n"
                "    kind: mailchimp\n"
                "    base_url: http://127.0.0.1:8472\n"
                "    api_key_file: mailchimp_api_key\n"
                "    list_id: 5e1c0a7b2d\n"
                "    webhook_secret_file: mailchimp_webhook_secret\n"
                "    poll_interval: 0s\n"
                "sync:\n"
                "  inbox_retention: 96h\n"
                "  retry_base: 500ms\n"
                "  retry_cap: 10m\n"
                "  max_attempts: 5\n"
                "  resync_interval: 0s\n"
                "  identity_key_file: " +
                keys.path() + "/sub/../id.key\n");
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->connectors.size(), 2u);
  const ConnectorConfig& h = r->connectors.at("hubspot");
  EXPECT_EQ(h.name, "hubspot");
  EXPECT_EQ(h.kind, mapping::ConnectorKind::kHubSpot);
  EXPECT_EQ(h.base_url, "http://127.0.0.1:8471");  // trailing '/' dropped
  EXPECT_EQ(h.token_file, Cred("hubspot_token"));
  EXPECT_EQ(h.client_secret_file, Cred("hubspot_client_secret"));
  EXPECT_EQ(h.webhook_url, "https://consent.example.org/webhooks/hubspot");
  EXPECT_EQ(h.poll_interval, minutes(2));
  EXPECT_EQ(h.poll_overlap, seconds(30));
  EXPECT_EQ(h.request_timeout, seconds(20));
  EXPECT_EQ(h.rate_limit.requests, 50);
  EXPECT_EQ(h.rate_limit.interval, seconds(1));
  EXPECT_EQ(h.rate_limit.max_in_flight, 4);
  EXPECT_EQ(h.batch_size, 25);
  EXPECT_EQ(h.at.line, 19);
  EXPECT_EQ(h.at.column, 3);
  const ConnectorConfig& m = r->connectors.at("mailchimp");
  EXPECT_EQ(m.kind, mapping::ConnectorKind::kMailchimp);
  EXPECT_EQ(m.api_key_file, Cred("mailchimp_api_key"));
  EXPECT_EQ(m.list_id, "5e1c0a7b2d");
  EXPECT_EQ(m.webhook_secret_file, Cred("mailchimp_webhook_secret"));
  EXPECT_EQ(m.poll_interval, milliseconds(0));
  EXPECT_EQ(r->sync.inbox_retention, hours(96));
  EXPECT_EQ(r->sync.retry_base, milliseconds(500));
  EXPECT_EQ(r->sync.retry_cap, minutes(10));
  EXPECT_EQ(r->sync.max_attempts, 5);
  EXPECT_EQ(r->sync.resync_interval, milliseconds(0));
  EXPECT_EQ(r->sync.identity_key_file, keys.path() + "/id.key");
  EXPECT_THAT(r->warnings, IsEmpty());
}

TEST_F(ConfigConnectors, HubSpotDefaultsToItsPrivateAppBurstLimit) {
  auto r = Load(Base() + kConnectors);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const ConnectorConfig& h = r->connectors.at("hubspot");
  EXPECT_EQ(h.rate_limit.requests, 100);
  EXPECT_EQ(h.rate_limit.interval, seconds(10));
  EXPECT_EQ(h.rate_limit.max_in_flight, 10);
  EXPECT_EQ(h.rate_limit.search_requests, 4);  // CRM search: 4 per second on top
  EXPECT_EQ(h.rate_limit.search_interval, seconds(1));
  EXPECT_EQ(h.poll_interval, seconds(60));
  EXPECT_EQ(h.poll_overlap, seconds(5));
  EXPECT_EQ(h.request_timeout, seconds(10));
  EXPECT_EQ(h.batch_size, 0);
  EXPECT_EQ(h.webhook_url, "");
}

// HubSpot signs the target URL exactly as set there: a trailing '/' (or
// one ending a query) is kept, unlike a base URL's, which paths are
// appended to.
TEST_F(ConfigConnectors, AWebhookUrlIsKeptExactlyAsWritten) {
  for (const std::string url : {"https://hooks.example.org/", "https://hooks.example.org/in?k=/"}) {
    std::string yaml = Base() + kConnectors;
    const std::string at = "    client_secret_file: hubspot_client_secret\n";
    ASSERT_NE(yaml.find(at), std::string::npos);
    yaml.insert(yaml.find(at) + at.size(), "    webhook_url: \"" + url + "\"\n");
    auto r = Load(yaml);
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(r->connectors.at("hubspot").webhook_url, url);
  }
}

TEST_F(ConfigConnectors, MailchimpDefaultsToNoRateAndTenConnections) {
  auto r = Load(Base() + kConnectors);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const ConnectorConfig& m = r->connectors.at("mailchimp");
  EXPECT_EQ(m.base_url, "https://us1.api.mailchimp.com/3.0");
  EXPECT_EQ(m.rate_limit.requests, 0);
  EXPECT_EQ(m.rate_limit.max_in_flight, 10);
  EXPECT_EQ(m.rate_limit.search_requests, 0);
  EXPECT_EQ(m.poll_interval, seconds(60));
}

TEST_F(ConfigConnectors, RateLimitKeysLeftOutKeepTheKindsDefaults) {
  auto r = Load(Base() + kConnectors + "    rate_limit: {max_in_flight: 3}\n");
  ASSERT_TRUE(r.ok()) << r.status().message();
  const ConnectorConfig& m = r->connectors.at("mailchimp");
  EXPECT_EQ(m.rate_limit.requests, 0);
  EXPECT_EQ(m.rate_limit.max_in_flight, 3);
  std::string hubspot_partial = Base() + kConnectors;
  hubspot_partial.insert(hubspot_partial.find("  mailchimp:\n    kind"),
                         "    rate_limit: {requests: 40}\n");
  auto h = Load(hubspot_partial);
  ASSERT_TRUE(h.ok()) << h.status().message();
  EXPECT_EQ(h->connectors.at("hubspot").rate_limit.requests, 40);
  EXPECT_EQ(h->connectors.at("hubspot").rate_limit.interval, seconds(10));
  EXPECT_EQ(h->connectors.at("hubspot").rate_limit.max_in_flight, 10);
  EXPECT_EQ(h->connectors.at("hubspot").rate_limit.search_requests, 4);
}

TEST_F(ConfigConnectors, SearchBudgetKeysAreRead) {
  std::string text = Base() + kConnectors;
  text.insert(text.find("  mailchimp:\n    kind"),
              "    rate_limit: {search_requests: 2, search_interval: 500ms}\n");
  auto r = Load(text);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const ConnectorConfig& h = r->connectors.at("hubspot");
  EXPECT_EQ(h.rate_limit.search_requests, 2);
  EXPECT_EQ(h.rate_limit.search_interval, milliseconds(500));
  EXPECT_EQ(h.rate_limit.requests, 100);
}

TEST_F(ConfigConnectors, SyncDefaultsPutTheIdentityKeyBesideTheDatabase) {
  auto r = Load(kStore);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_THAT(r->connectors, IsEmpty());
  EXPECT_EQ(r->sync.inbox_retention, hours(72));
  EXPECT_EQ(r->sync.retry_base, seconds(1));
  EXPECT_EQ(r->sync.retry_cap, minutes(5));
  EXPECT_EQ(r->sync.max_attempts, 12);
  EXPECT_EQ(r->sync.resync_interval, hours(24));
  EXPECT_EQ(r->sync.identity_key_file, "/srv/consentd/identity.key");
}

TEST_F(ConfigConnectors, MissingIdentityKeyIsAcceptedWhenItsDirectoryExists) {
  TempDir dir;
  auto r = Load(std::string(kStore) + "sync:\n  identity_key_file: " + dir.path() + "/id.key\n");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->sync.identity_key_file, dir.path() + "/id.key");
  EXPECT_THAT(Errors(std::string(kStore) + "sync:\n  identity_key_file: /nonexistent/dir/id.key\n"),
              ElementsAre("t.yaml:4:22: identity key file '/nonexistent/dir/id.key' "
                          "(/nonexistent/dir/id.key) does not exist and its directory "
                          "/nonexistent/dir does not either; the key is generated there on first "
                          "start, so create the directory"));
}

// consentd reads the ledger at every start and the database at every
// open: a directory there is named at the value, not found at start (a
// start that aborted on the ledger would loop under systemd's restarts).
TEST_F(ConfigConnectors, ADirectoryWhereTheLedgerOrTheDatabaseBelongsIsAnErrorAtItsValue) {
  TempDir dir;
  EXPECT_THAT(Errors(std::string(kStore) + "sync:\n  erasure_ledger_file: " + dir.path() + "\n"),
              ElementsAre("t.yaml:4:24: expected the path of a file, but " + dir.path() +
                          " is a directory (name the file in it)"));
  EXPECT_THAT(Errors("store:\n  path: " + dir.path() + "\n"),
              ElementsAre("t.yaml:2:9: expected the path of a file, but " + dir.path() +
                          " is a directory (name the file in it)"));
}

// The ledger is created at the first erasure: a directory that does not
// exist (a typo) would only show then, and that erasure would go
// unrecorded for a restore from a backup. Named at the value, as a warning
// (a second StateDirectory= of the unit exists only once the service
// starts; consentd refuses to start if it cannot write the ledger).
TEST_F(ConfigConnectors, ALedgerInADirectoryThatDoesNotExistIsNamedAtItsValue) {
  Result<Config> missing =
      Load(std::string(kStore) + "sync:\n  erasure_ledger_file: /nonexistent/dir/e.ledger\n");
  ASSERT_TRUE(missing.ok()) << missing.status().ToString();
  EXPECT_THAT(missing->warnings,
              ElementsAre("t.yaml:4:24: warning: /nonexistent/dir/e.ledger does not exist and its "
                          "directory /nonexistent/dir does not either: consentd creates the file "
                          "there and refuses to start unless it can (a typo? or a directory "
                          "systemd creates at start)"));
  TempDir dir;
  Result<Config> present =
      Load(std::string(kStore) + "sync:\n  erasure_ledger_file: " + dir.path() + "/e.ledger\n");
  ASSERT_TRUE(present.ok()) << present.status().ToString();
  EXPECT_TRUE(present->warnings.empty());
}

// Without retry_cap the default cap (5m) would quietly shorten every delay
// of a longer retry_base: the base is named instead.
TEST_F(ConfigConnectors, ARetryBaseAboveTheDefaultCapIsAnErrorAtTheBase) {
  EXPECT_THAT(Errors(std::string(kStore) + "sync:\n  retry_base: 10m\n"),
              ElementsAre("t.yaml:4:15: retry_base \"10m\" is above the default retry_cap "
                          "\"5m\": set retry_cap too (at least the first delay)"));
  EXPECT_THAT(Errors(std::string(kStore) + "sync:\n  retry_base: 10m\n  retry_cap: 1h\n"),
              ElementsAre());
}

// Senders retry for about a day (HubSpot): ids kept shorter would let a
// late retry through as a new event.
TEST_F(ConfigConnectors, InboxRetentionCoversADayOfRetriesAtLeast) {
  EXPECT_THAT(Errors(std::string(kStore) + "sync:\n  inbox_retention: 23h\n"),
              ElementsAre("t.yaml:4:20: duration \"23h\" is out of range: expected from 24h to "
                          "2160h"));
  EXPECT_THAT(Errors(std::string(kStore) + "sync:\n  inbox_retention: 24h\n"), ElementsAre());
}

TEST_F(ConfigConnectors, SyncValuesOutOfRangeAreErrorsAtTheirValues) {
  EXPECT_THAT(
      Errors(std::string(kStore) + "sync:\n"                   // 3
                                   "  inbox_retention: 10m\n"  // 4
                                   "  retry_base: 2m\n"        // 5
                                   "  retry_cap: 1m\n"         // 6
                                   "  max_attempts: 0\n"       // 7
                                   "  resync_interval: 30s\n"  // 8
                                   "  retries: 3\n"),          // 9
      ElementsAre("t.yaml:4:20: duration \"10m\" is out of range: expected from 24h to 2160h",
                  "t.yaml:6:14: retry_cap \"1m\" is below retry_base \"2m\": the cap must "
                  "be at least the first delay",
                  "t.yaml:7:17: 0 is out of range: expected an integer from 1 to 1000",
                  "t.yaml:8:20: duration \"30s\" is out of range: expected 0s (off) or "
                  "from 1m to 720h",
                  "t.yaml:9:3: unknown key 'retries' in 'sync'; valid keys: "
                  "inbox_retention, retry_base, retry_cap, max_attempts, "
                  "resync_interval, identity_key_file, erasure_ledger_file"));
}

TEST_F(ConfigConnectors, KindAndBaseUrlAreRequiredAtTheConnectorsKey) {
  EXPECT_THAT(Errors(Base() + "connectors:\n"  // 18
                              "  hubspot:\n"   // 19
                              "    token_file: hubspot_token\n"
                              "  mailchimp:\n"  // 21
                              "    kind: mailchimp\n"
                              "    api_key_file: mailchimp_api_key\n"
                              "    list_id: abc\n"),
              ElementsAre("t.yaml:19:3: missing required key 'connectors.*.kind'",
                          "t.yaml:19:3: missing required key 'connectors.*.base_url'",
                          "t.yaml:21:3: missing required key 'connectors.*.base_url'"));
}

TEST_F(ConfigConnectors, EachKindsRequiredKeysAreErrorsAtTheConnectorsKey) {
  EXPECT_THAT(Errors(Base() + "connectors:\n"  // 18
                              "  hubspot:\n"   // 19
                              "    kind: hubspot\n"
                              "    base_url: https://api.hubapi.com\n"
                              "  mailchimp:\n"  // 22
                              "    kind: mailchimp\n"
                              "    base_url: https://us1.api.mailchimp.com/3.0\n"),
              ElementsAre("t.yaml:19:3: missing required key 'connectors.hubspot.token_file' (a "
                          "hubspot connector needs it)",
                          "t.yaml:22:3: missing required key 'connectors.mailchimp.api_key_file' "
                          "(a mailchimp connector needs it)",
                          "t.yaml:22:3: missing required key 'connectors.mailchimp.list_id' (a "
                          "mailchimp connector needs it)"));
}

TEST_F(ConfigConnectors, AnotherKindsKeyIsAnErrorAtThatKey) {
  std::string yaml = Base() + kConnectors;
  yaml.insert(yaml.find("  mailchimp:\n    kind"), "    list_id: abc\n");  // line 24
  yaml += "    token_file: hubspot_token\n";                               // line 31
  EXPECT_THAT(Errors(yaml),
              ElementsAre("t.yaml:24:5: 'list_id' is a mailchimp key; a hubspot connector takes "
                          "token_file, client_secret_file",
                          "t.yaml:31:5: 'token_file' is a hubspot key; a mailchimp connector "
                          "takes api_key_file, list_id, webhook_secret_file"));
}

TEST_F(ConfigConnectors, GenericKindNeedsItsWriteDeclaration) {
  EXPECT_THAT(Errors(std::string(kStore) +
                     "mapping:\n"
                     "  systems:\n"
                     "    crm: {kind: generic, role: crm}\n"
                     "    mc: {kind: mailchimp, role: journey}\n"
                     "  channels: {email: {crm: email, mc: email}}\n"
                     "  topics: [{name: n, channels: [email], systems: {mc: {member_status: "
                     "true}}}]\n"
                     "  erasure: {crm: {mode: delete}, mc: {mode: delete}}\n"
                     "connectors:\n"        // 10
                     "  crm:\n"             // 11
                     "    kind: generic\n"  // 12
                     "    base_url: https://crm.example.org\n"
                     "  mc:\n"
                     "    kind: mailchimp\n"
                     "    base_url: https://us1.api.mailchimp.com/3.0\n"
                     "    api_key_file: mailchimp_api_key\n"
                     "    list_id: abc\n"
                     "    webhook_secret_file: mailchimp_webhook_secret\n"),
              ElementsAre("t.yaml:11:3: missing required key 'connectors.crm.write' (a generic "
                          "connector needs it)"));
}

TEST_F(ConfigConnectors, MisspeltKindIsAnErrorWithASuggestion) {
  std::string yaml = Base() + kConnectors;
  yaml.replace(yaml.find("kind: hubspot\n    base_url"), 13, "kind: hubspott");
  EXPECT_THAT(Errors(yaml), ElementsAre("t.yaml:20:11: expected one of hubspot, mailchimp, "
                                        "generic, got \"hubspott\" (did you mean 'hubspot'?)"));
}

TEST_F(ConfigConnectors, BadUrlsAreErrorsAtTheirValues) {
  std::string yaml = Base() + kConnectors;
  yaml.replace(yaml.find("https://api.hubapi.com"), 22, "ftp://api.hubapi.com");
  yaml.replace(yaml.find("https://us1.api.mailchimp.com/3.0"), 33,
               "https://us1.api.mailchimp.com/3.0?x=1");
  yaml += "    webhook_url: https://\n";  // 30
  EXPECT_THAT(
      Errors(yaml),
      ElementsAre("t.yaml:21:15: expected an http:// or https:// URL, like "
                  "\"https://api.hubapi.com\", got \"ftp://api.hubapi.com\"",
                  "t.yaml:26:15: expected an http:// or https:// URL, like "
                  "\"https://api.hubapi.com\" without a query ('?') or fragment ('#'), got "
                  "\"https://us1.api.mailchimp.com/3.0?…\"",
                  "t.yaml:30:18: expected an http:// or https:// URL, like "
                  "\"https://api.hubapi.com\" with a host (and a port from 1 to 65535, if any), "
                  "got \"https://\""));
}

TEST_F(ConfigConnectors, CredentialsInAUrlAreRefusedWithoutEchoingThem) {
  std::string yaml = Base() + kConnectors;
  yaml.replace(yaml.find("https://api.hubapi.com"), 22, "https://me:hunter2@api.hubapi.com");
  const auto errors = Errors(yaml);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0], AllOf(HasSubstr("t.yaml:21:15: the URL must not carry credentials"),
                               Not(HasSubstr("hunter2"))));
}

// An API key typed inline into a URL (a query, user information behind a
// wrong scheme) is never echoed by the error that refuses the URL.
TEST_F(ConfigConnectors, ErrorsAboutAUrlDoNotEchoWhatMayBeASecret) {
  std::string yaml = Base() + kConnectors;
  yaml.replace(yaml.find("https://api.hubapi.com"), 22, "hxxps://me:hunter2@api.hubapi.com");
  yaml.replace(yaml.find("https://us1.api.mailchimp.com/3.0"), 33,
               "https://us1.api.mailchimp.com/3.0?apikey=0123456789abcdef#frag");
  const auto errors = Errors(yaml);
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_THAT(errors[0],
              AllOf(HasSubstr("t.yaml:21:15: expected an http:// or https:// URL"),
                    HasSubstr("got \"hxxps://…@api.hubapi.com\""), Not(HasSubstr("hunter2"))));
  EXPECT_THAT(errors[1], AllOf(HasSubstr("t.yaml:26:15:"),
                               HasSubstr("got \"https://us1.api.mailchimp.com/3.0?…\""),
                               Not(HasSubstr("0123456789abcdef"))));
  // Without a scheme too.
  std::string bare = Base() + kConnectors;
  bare.replace(bare.find("https://api.hubapi.com"), 22, "me:hunter2@api.hubapi.com/x");
  const auto bare_errors = Errors(bare);
  ASSERT_EQ(bare_errors.size(), 1u);
  EXPECT_THAT(bare_errors[0],
              AllOf(HasSubstr("got \"…@api.hubapi.com/x\""), Not(HasSubstr("hunter2"))));
}

TEST_F(ConfigConnectors, NameMustBeAUrlPathSegment) {
  std::string yaml = std::string(kStore) + kMapping + kConnectors;
  // Rename the connector and the system alike: only the name is wrong.
  for (std::size_t at = yaml.find("mailchimp:"); at != std::string::npos;
       at = yaml.find("mailchimp:", at + 1)) {
    yaml.replace(at, 10, "Mail/chimp:");
  }
  for (std::size_t at = yaml.find("mailchimp: "); at != std::string::npos;
       at = yaml.find("mailchimp: ", at + 1)) {
    yaml.replace(at, 11, "Mail/chimp: ");
  }
  const auto errors = Errors(yaml);
  EXPECT_THAT(errors, Contains("t.yaml:24:3: connector name 'Mail/chimp' must be lower-case "
                               "letters, digits, '_' and '-' (it is the last segment of the "
                               "webhook path /webhooks/<name>)"));
  EXPECT_EQ(errors.size(), 1u) << ::testing::PrintToString(errors);
}

// "email" names consentd's own address links, "admin", "api" and
// "consentd" the changes made through or by consentd: a connector under one
// of those names would be taken for them.
TEST_F(ConfigConnectors, NamesConsentdUsesItselfAreReserved) {
  for (const std::string name : {"email", "admin", "api", "consentd"}) {
    std::string yaml = std::string(kStore) + kMapping + kConnectors;
    for (std::size_t at = yaml.find("mailchimp:"); at != std::string::npos;
         at = yaml.find("mailchimp:", at + 1)) {
      yaml.replace(at, 9, name);
    }
    const auto errors = Errors(yaml);
    EXPECT_THAT(errors, Contains(HasSubstr("connector name '" + name +
                                           "' is reserved by consentd; choose another name")))
        << ::testing::PrintToString(errors);
  }
}

TEST_F(ConfigConnectors, MissingSecretFileIsAnErrorAtItsValue) {
  std::string yaml = Base() + kConnectors;
  yaml.replace(yaml.find("hubspot_client_secret"), 21, "absent_secret");
  EXPECT_THAT(Errors(yaml),
              ElementsAre(AllOf(HasSubstr("t.yaml:23:25: cannot use secret file 'absent_secret' "
                                          "in $CREDENTIALS_DIRECTORY"),
                                HasSubstr("No such file or directory"))));
}

TEST_F(ConfigConnectors, InlineSecretIsAnErrorThatNamesTheFileKey) {
  std::string yaml = Base() + kConnectors;
  yaml.replace(yaml.find("token_file: hubspot_token"), 25, std::string("token: ") + kTokenValue);
  const auto errors = Errors(yaml);
  ASSERT_EQ(errors.size(), 1u) << ::testing::PrintToString(errors);
  EXPECT_THAT(errors[0], AllOf(HasSubstr("t.yaml:22:5: 'token' in 'connectors.*' must not hold a "
                                         "secret inline"),
                               HasSubstr("'token_file'"), Not(HasSubstr(kTokenValue))));
}

TEST_F(ConfigConnectors, ValuesOutOfRangeAreErrorsAtTheirValues) {
  std::string yaml = Base() + kConnectors;
  yaml.insert(yaml.find("  mailchimp:\n    kind"),
              "    poll_interval: 500ms\n"                       // 24
              "    request_timeout: 1h\n"                        // 25
              "    batch_size: 101\n"                            // 26
              "    rate_limit: {requests: -1, intervall: 1s}\n"  // 27
              "    list_id: a-b\n");                             // 28
  EXPECT_THAT(
      Errors(yaml),
      ElementsAre(
          "t.yaml:24:20: duration \"500ms\" is out of range: expected 0s (off) or from 1s to 24h",
          "t.yaml:25:22: duration \"1h\" is out of range: expected from 100ms to 5m",
          "t.yaml:26:17: 101 is out of range: a hubspot batch holds at most 100",
          "t.yaml:27:28: -1 is out of range: expected an integer from 0 to 1000000",
          "t.yaml:27:32: unknown key 'intervall' in 'connectors.*.rate_limit' (did you mean "
          "'interval'?)",
          "t.yaml:28:5: 'list_id' is a mailchimp key; a hubspot connector takes token_file, "
          "client_secret_file",
          "t.yaml:28:14: expected a Mailchimp list (audience) id of letters and digits, like "
          "\"5e1c0a7b2d\", got \"a-b\""));
}

TEST_F(ConfigConnectors, ConnectorsWithoutAMappingAreAnErrorAtTheConnectorsKey) {
  EXPECT_THAT(Errors(std::string(kStore) + "log: {level: info}\n"  // 3
                                           "connectors:\n"         // 4
                                           "  hubspot:\n"
                                           "    kind: hubspot\n"
                                           "    base_url: https://api.hubapi.com\n"
                                           "    token_file: hubspot_token\n"
                                           "    client_secret_file: hubspot_client_secret\n"),
              ElementsAre("t.yaml:4:1: connectors are configured but there is no 'mapping:' "
                          "section, so nothing would be synchronised; add a mapping "
                          "(docs/mapping.md) naming them under 'mapping.systems'"));
}

TEST_F(ConfigConnectors, AMappingWithoutConnectorsIsCheckedAlone) {
  auto r = Load(Base());
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_THAT(r->connectors, IsEmpty());
  EXPECT_THAT(r->warnings, IsEmpty());
}

TEST_F(ConfigConnectors, SystemsAndConnectorsMustPairUpByName) {
  std::string yaml = Base() + kConnectors;
  yaml.replace(yaml.find("  mailchimp:\n    kind"), 11, "  mailchimps");
  EXPECT_THAT(Errors(yaml),
              ElementsAre("t.yaml:6:5: system 'mailchimp' has no connector: add "
                          "'connectors.mailchimp' (kind mailchimp) (did you mean 'mailchimps'?)",
                          "t.yaml:24:3: connector 'mailchimps' is not a system of the mapping: "
                          "declare it under 'mapping.systems' or remove it (did you mean "
                          "'mailchimp'?)"));
}

TEST_F(ConfigConnectors, ConnectorAndSystemOfTheSameNameMustHaveTheSameKind) {
  std::string yaml = Base() + kConnectors;
  // The system `hubspot` claims to be Mailchimp; its topic side and
  // erasure still read, so the only other finding is the role clash.
  yaml.replace(yaml.find("hubspot: {kind: hubspot"), 23, "hubspot: {kind: mailchimp");
  const auto errors = Errors(yaml);
  EXPECT_THAT(errors, Contains("t.yaml:20:11: connector 'hubspot' is kind hubspot but mapping "
                               "system 'hubspot' (line 5) is kind mailchimp: they must match"));
}

TEST_F(ConfigConnectors, ConnectorWithNeitherWebhooksNorPollingIsAWarning) {
  std::string yaml = Base() + kConnectors;
  yaml.replace(yaml.find("    client_secret_file: hubspot_client_secret\n"), 46,
               "    poll_interval: 0s\n");
  auto r = Load(yaml);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_THAT(r->warnings,
              ElementsAre("t.yaml:19:3: warning: connector 'hubspot' has neither webhooks "
                          "(client_secret_file) nor polling (poll_interval is 0s): changes made "
                          "in it are never seen"));
}

TEST_F(ConfigConnectors, AcceptedAndRequiredKeyPathsComeFromTheTables) {
  const std::vector<std::string> accepted = AcceptedKeyPaths();
  for (const char* key : {"connectors", "connectors.*.kind", "connectors.*.token_file",
                          "connectors.*.rate_limit.max_in_flight", "connectors.*.batch_size",
                          "sync", "sync.identity_key_file"}) {
    EXPECT_THAT(accepted, Contains(std::string(key)));
  }
  const std::vector<std::string> required = RequiredKeyPaths();
  EXPECT_THAT(required, Contains(std::string("connectors.*.kind")));
  EXPECT_THAT(required, Contains(std::string("connectors.*.base_url")));
  EXPECT_THAT(required, Not(Contains(std::string("connectors.*.token_file"))));
}

}  // namespace
}  // namespace consentd::config
