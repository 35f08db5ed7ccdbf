// Operator views end to end (issues #6 and #7): the consent counts of
// GET /api/v1/stats and `consentctl status` against the simulator's state,
// and a mapping reload recorded in the proof log as a configuration change
// under which later decisions are taken. Real consentd, consentd-sim,
// loopback HTTP and SQLite; TearDown verifies the proof log.
#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "core/proof/entry_codec.h"
#include "store/proof_log_store.h"
#include "store/sqlite_store.h"
#include "tests/e2e/sync_fixture.h"

namespace consentd::testing {
namespace {

std::size_t CountOccurrences(const std::string& text, const std::string& part) {
  std::size_t n = 0;
  for (std::size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) {
    ++n;
  }
  return n;
}

class AdminE2E : public SyncE2E {
 protected:
  // The canonical bucket the simulator's state implies for `email` on one
  // topic: the CRM's block property wins, then Mailchimp's pending double
  // opt-in, then the CRM's subscription status.
  std::string ExpectedBucket(const std::string& email, int subscription) {
    if (CrmProperty(email, "consentd_werbesperre") == "true") return "blocked";
    const std::string crm = CrmSubscription(email, subscription);
    if (crm == "SUBSCRIBED" && MemberStatus(email) == "pending") return "pending";
    if (crm == "SUBSCRIBED") return "granted";
    if (crm == "UNSUBSCRIBED") return "withdrawn";
    return "not_asked";
  }
};

TEST_F(AdminE2E, ConsentCountsMatchTheSimulatorsState) {
  StartAll();
  const std::string ada = "ada@example.com", bob = "bob@example.com", cy = "cy@example.com",
                    dee = "dee@example.com";
  Crm("POST", "/_sim/hubspot/person/signup", {{"email", ada}, {"subscriptionId", kNewsletter}});
  for (const std::string& p : {bob, cy, dee}) {
    Crm("POST", "/_sim/hubspot/person/signup", {{"email", p}, {"subscriptionId", kProductUpdates}});
  }
  for (const std::string& p : {bob, cy, dee}) {
    ASSERT_TRUE(Eventually([&] { return MemberStatus(p) == "subscribed"; })) << p;
  }
  ASSERT_TRUE(Eventually([&] { return MemberStatus(ada) == "pending"; }));
  Crm("POST", "/_sim/hubspot/person/unsubscribe",
      {{"email", cy}, {"subscriptionId", kProductUpdates}});
  Crm("POST", "/_sim/hubspot/admin/block", {{"email", dee}, {"blocked", true}});
  ASSERT_TRUE(Eventually([&] { return MemberStatus(dee) == "unsubscribed"; }));
  ASSERT_TRUE(Eventually([&] { return !MemberInterest(cy, "Product news"); }));

  std::map<std::string, std::map<std::string, int>> expected;  // topic -> bucket -> n
  for (const std::string& p : {ada, bob, cy, dee}) {
    ++expected["newsletter"][ExpectedBucket(p, kNewsletter)];
    ++expected["product_news"][ExpectedBucket(p, kProductUpdates)];
  }
  // The scenario covers every bucket the simulator can show.
  EXPECT_EQ(expected["product_news"]["granted"], 1);
  EXPECT_EQ(expected["product_news"]["withdrawn"], 1);
  EXPECT_EQ(expected["product_news"]["blocked"], 1);
  EXPECT_EQ(expected["newsletter"]["pending"], 1);

  auto check = [&](const Json& stats, const std::string& what) {
    ASSERT_EQ(stats.at("topics").size(), 2u) << what << stats.dump();
    for (const Json& row : stats.at("topics")) {
      const std::string topic = row.at("topic");
      EXPECT_EQ(row.at("channel"), "email");
      EXPECT_EQ(row.at("total"), 4) << what << " " << topic;
      for (const auto& [bucket, n] : row.at("counts").items()) {
        EXPECT_EQ(n.get<int>(), expected[topic][bucket]) << what << " " << topic << " " << bucket;
      }
    }
  };
  // Counts reflect committed decisions; the last one may still be in flight.
  ASSERT_TRUE(Eventually([&] {
    CommandResult r = Ctl({"status", "--json"});
    if (r.exit_code != 0) return false;
    const Json j = Json::parse(r.output);
    for (const Json& row : j.at("topics")) {
      if (row.at("topic") == "product_news" && row.at("counts").at("blocked") == 1 &&
          row.at("counts").at("withdrawn") == 1) {
        return true;
      }
    }
    return false;
  }));
  CommandResult cli = Ctl({"status", "--json"});
  ASSERT_EQ(cli.exit_code, 0) << cli.output;
  check(Json::parse(cli.output), "consentctl status");

  // The API serves counts up to SyncComponent::kStatsMaxAge old (its
  // computed_at_ms says when): wait for a computation after the last decision.
  std::optional<RawResponse> api;
  ASSERT_TRUE(Eventually([&] {
    api = Admin("GET", "/api/v1/stats");
    if (!api || api->status != 200) return false;
    const Json stats = Json::parse(api->body);
    for (const Json& row : stats.at("topics")) {
      for (const auto& [bucket, n] : row.at("counts").items()) {
        if (n.get<int>() != expected[row.at("topic").get<std::string>()][bucket]) return false;
      }
    }
    return true;
  })) << (api ? api->body : "no answer");
  ASSERT_EQ(api->status, 200) << api->body;
  EXPECT_EQ(api->Header("content-type"), "application/json");
  EXPECT_EQ(api->Header("cache-control"), "no-store");  // counts of people: never cached
  check(Json::parse(api->body), "GET /api/v1/stats");
  std::optional<RawResponse> history = Admin("GET", "/api/v1/stats/history");
  ASSERT_TRUE(history);
  EXPECT_EQ(history->status, 200) << history->body;
  EXPECT_EQ(history->Header("cache-control"), "no-store");

  CommandResult table = Ctl({"status"});
  EXPECT_EQ(table.exit_code, 0);
  EXPECT_NE(table.output.find("product_news/email"), std::string::npos) << table.output;

  auto refused = Fetch(port_, "GET", "/api/v1/stats");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 401);
}

// A reload is applied completely or not at all: a file whose new mapping
// needs a connector that cannot be built (an emptied secret file), or that
// changes a key the running daemon only reads at start, is refused with
// 422, and the running mapping and connectors stay as they were.
TEST_F(AdminE2E, AReloadThatCannotBeAppliedInFullIsRefusedAndChangesNothing) {
  StartAll();
  const std::string original = ReadTextFile(config_path_);
  std::string without_product_news = original;
  const std::size_t from = without_product_news.find("    - name: product_news");
  const std::size_t to = without_product_news.find("  blocks:");
  ASSERT_NE(from, std::string::npos);
  without_product_news.erase(from, to - from);

  // 1. The new mapping with a HubSpot token file that is now empty.
  const auto token = dir_->path() / "secrets/hubspot_token";
  const std::string token_text = ReadTextFile(token);
  WriteTextFile(token, "");
  WriteTextFile(config_path_, without_product_news);
  auto refused = Admin("POST", "/api/v1/reload");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 422) << refused->body;
  EXPECT_NE(refused->body.find("hubspot"), std::string::npos) << refused->body;
  WriteTextFile(token, token_text);

  // 2. The new mapping with a changed poll interval: named, refused.
  std::string slower = without_product_news;
  const std::size_t poll = slower.find("    poll_interval: ");
  ASSERT_NE(poll, std::string::npos);
  slower.replace(poll, slower.find('\n', poll) - poll, "    poll_interval: 17s");
  WriteTextFile(config_path_, slower);
  refused = Admin("POST", "/api/v1/reload");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 422) << refused->body;
  EXPECT_NE(refused->body.find("connectors.hubspot.poll_interval"), std::string::npos)
      << refused->body;
  {
    // Where, as the file's own errors say it: at the connector's entry.
    const std::size_t entry = slower.find("\n  hubspot:\n    kind: hubspot");
    ASSERT_NE(entry, std::string::npos) << slower;
    const long line = std::count(slower.begin(), slower.begin() + entry + 1, '\n') + 1;
    const nlohmann::json problem = nlohmann::json::parse(refused->body);
    EXPECT_EQ(problem.value("detail", ""),
              config_path_ + ":" + std::to_string(line) +
                  ":3: connectors.hubspot.poll_interval changed, and needs a restart rather than "
                  "a reload")
        << refused->body;
  }

  // A `sync:` key: positioned at that key too (before, the file's name only).
  std::string sync_changed = without_product_news;
  const std::size_t attempts = sync_changed.find("  max_attempts: ");
  ASSERT_NE(attempts, std::string::npos) << sync_changed;
  sync_changed.replace(attempts, sync_changed.find('\n', attempts) - attempts, "  max_attempts: 7");
  WriteTextFile(config_path_, sync_changed);
  refused = Admin("POST", "/api/v1/reload");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 422) << refused->body;
  {
    const long line = std::count(sync_changed.begin(), sync_changed.begin() + attempts, '\n') + 1;
    const nlohmann::json problem = nlohmann::json::parse(refused->body);
    EXPECT_EQ(problem.value("detail", ""),
              config_path_ + ":" + std::to_string(line) +
                  ":3: sync.max_attempts changed, and needs a restart rather than a reload")
        << refused->body;
  }

  // The old mapping is still in force: product_news still propagates.
  EXPECT_EQ(Log().find("mapping: topic product_news removed"), std::string::npos) << Log();
  const std::string gil = "gil@example.com";
  Crm("POST", "/_sim/hubspot/person/signup", {{"email", gil}, {"subscriptionId", kProductUpdates}});
  ASSERT_TRUE(Eventually([&] { return MemberInterest(gil, "Product news"); })) << Log();

  // The same new mapping alone is taken.
  WriteTextFile(config_path_, without_product_news);
  auto reload = Admin("POST", "/api/v1/reload");
  ASSERT_TRUE(reload);
  EXPECT_EQ(reload->status, 200) << reload->body;
  EXPECT_EQ(reload->Header("cache-control"), "no-store");  // as every API answer
  EXPECT_TRUE(Eventually([&] {
    return Log().find("mapping: topic product_news removed") != std::string::npos;
  })) << Log();
}

// store.path takes effect at the next restart; a reload that changes it
// is still taken (with a warning), also where the keys kept beside the
// database by default would move with it.
TEST_F(AdminE2E, AReloadThatMovesTheDatabaseIsTakenAndTheMoveWaitsForARestart) {
  StartAll();
  const std::string original = ReadTextFile(config_path_);
  std::string config = original;
  const std::string from = "store:\n  path: consentd.db\n";
  ASSERT_NE(config.find(from), std::string::npos) << config;
  config.replace(config.find(from), from.size(), "store:\n  path: moved/consentd.db\n");
  WriteTextFile(config_path_, config);
  auto reload = Admin("POST", "/api/v1/reload");
  ASSERT_TRUE(reload);
  EXPECT_EQ(reload->status, 200) << reload->body << Log();
  EXPECT_NE(Log().find("store.path changed"), std::string::npos) << Log();
  // Still the same database: a sign-up still propagates.
  const std::string ivy = "ivy.moved@example.com";
  Crm("POST", "/_sim/hubspot/person/signup", {{"email", ivy}, {"subscriptionId", kProductUpdates}});
  EXPECT_TRUE(Eventually([&] { return MemberInterest(ivy, "Product news"); })) << Log();
  EXPECT_FALSE(std::filesystem::exists(dir_->path() / "moved/consentd.db"));
  WriteTextFile(config_path_, original);  // the fixture verifies the running database's log
}

// A reload that changes a connector's request budget applies it whole: the
// status page measures the budget's use against the new one (before, only
// the limiter took it). The reloaded file's warnings go to the log, as at
// start.
TEST_F(AdminE2E, AReloadedRequestBudgetIsWhatTheBudgetUseIsMeasuredAgainst) {
  StartAll();
  const std::string kim = "kim@example.com";
  Crm("POST", "/_sim/hubspot/person/signup", {{"email", kim}, {"subscriptionId", kProductUpdates}});
  ASSERT_TRUE(Eventually([&] { return MemberInterest(kim, "Product news"); })) << Log();
  // HubSpot's budget use in one status answer, and the share it should be
  // of `requests` per 10 s over the same window.
  auto budget_use = [&](double requests) -> std::pair<double, double> {
    const std::optional<RawResponse> r = Admin("GET", "/api/v1/status");
    EXPECT_TRUE(r && r->status == 200);
    if (!r) return {-1, -2};
    const Json status = Json::parse(r->body);
    for (const Json& c : status.at("connectors")) {
      if (c.at("name") != "hubspot") continue;
      const Json& b = c.at("budget");
      if (!b.at("used_fraction").is_number()) {
        ADD_FAILURE() << "no budget use yet: " << c.dump();
        return {-1, -3};
      }
      const double sent = b.at("requests_last_minute").get<double>();
      const double window_ms = b.at("window_ms").get<double>();
      return {b.at("used_fraction").get<double>(), sent / (requests * window_ms / 10'000.0)};
    }
    ADD_FAILURE() << "no HubSpot connector in the status: " << r->body;
    return {-1, -4};
  };
  const auto [before, expected_before] = budget_use(100);
  EXPECT_GT(before, 0.0);
  EXPECT_NEAR(before, expected_before, 1e-9);

  std::string config = ReadTextFile(config_path_);
  const std::string crm_key = "    client_secret_file: secrets/hubspot_client_secret\n";
  const std::string system = "    hubspot: {kind: hubspot, role: crm}\n";
  ASSERT_NE(config.find(crm_key), std::string::npos) << config;
  ASSERT_NE(config.find(system), std::string::npos) << config;
  config.insert(config.find(crm_key) + crm_key.size(),
                "    rate_limit:\n      requests: 1000\n      interval: 10s\n");
  config.replace(config.find(system), system.size(),
                 "    hubspot: {kind: hubspot, role: crm, confirms_double_opt_in: true}\n");
  WriteTextFile(config_path_, config);
  auto reload = Admin("POST", "/api/v1/reload");
  ASSERT_TRUE(reload);
  ASSERT_EQ(reload->status, 200) << reload->body << Log();
  const auto [after, expected_after] = budget_use(1000);
  EXPECT_NEAR(after, expected_after, 1e-9);
  EXPECT_TRUE(Eventually([&] {
    return Log().find("configuration: ") != std::string::npos &&
           Log().find("'confirms_double_opt_in' only applies to mailchimp systems") !=
               std::string::npos;
  })) << Log();
}

// What --check-config prints as warnings is logged at start too, with the
// file's position, so an operator who never ran the check still sees it.
TEST_F(AdminE2E, TheConfigurationsWarningsAreLoggedAtStart) {
  SyncOptions options;
  options.mailchimp_erasure = "{mode: delete, legal_ground: \"GDPR Art. 17(3)(b)\"}";
  StartAll(options);
  EXPECT_TRUE(Eventually([&] {
    const std::string log = Log();
    const std::size_t at = log.find("configuration: ");
    return at != std::string::npos &&
           log.find("ignored: only erasure mode 'restrict' keeps data", at) != std::string::npos;
  })) << Log();
}

// Each connector's check in a reload's answer, by name: "ok", the failure,
// or "" when the answer has no such connector.
std::map<std::string, std::string> ChecksOf(const RawResponse& reload) {
  std::map<std::string, std::string> out;
  const Json answer = Json::parse(reload.body);
  for (const Json& c : answer.value("connectors", Json::array())) {
    const bool ready = c.at("ready").is_boolean() && c.at("ready").get<bool>();
    EXPECT_EQ(ready, c.at("check") == "ok") << reload.body;
    out[c.at("name")] = c.at("check");
  }
  return out;
}

// Every reload checks each connector again, so /readyz follows a system
// that failed or came back since the last check (a periodic re-check does
// the same without a reload: every 30 s while failing, 10 min while passing).
// The reload's answer waits for those checks and reports them.
TEST_F(AdminE2E, EveryReloadChecksTheConnectorsAgainAndReadyzFollows) {
  StartAll();
  auto readyz = [&] {
    auto r = Fetch(port_, "GET", "/readyz");
    return r ? *r : RawResponse{};
  };
  ASSERT_EQ(readyz().status, 200);
  Crm("POST", "/_sim/faults", {{"kind", "error"}, {"system", "hubspot"}, {"status", 503}});
  auto failing = Admin("POST", "/api/v1/reload");
  ASSERT_TRUE(failing);
  ASSERT_EQ(failing->status, 200) << failing->body;
  std::map<std::string, std::string> checks = ChecksOf(*failing);
  EXPECT_NE(checks["hubspot"].find("503"), std::string::npos) << failing->body;
  EXPECT_EQ(checks["mailchimp"], "ok") << failing->body;
  // Answered after the check: /readyz already says so.
  EXPECT_EQ(readyz().status, 503) << readyz().body;
  EXPECT_NE(readyz().body.find("hubspot"), std::string::npos) << readyz().body;
  Crm("DELETE", "/_sim/faults", nullptr);
  auto passing = Admin("POST", "/api/v1/reload");
  ASSERT_TRUE(passing);
  ASSERT_EQ(passing->status, 200) << passing->body;
  checks = ChecksOf(*passing);
  EXPECT_EQ(checks["hubspot"], "ok") << passing->body;
  EXPECT_EQ(checks["mailchimp"], "ok") << passing->body;
  EXPECT_EQ(readyz().status, 200) << readyz().body << Log();
}

// A reload reads every secret file again, also without a mapping change: a
// rotated token is in force (and checked) once the reload answers, and a
// connector whose secrets did not change keeps its instance.
TEST_F(AdminE2E, AReloadPutsARotatedTokenInForceWithoutAMappingChange) {
  StartAll();
  const auto token = dir_->path() / "secrets/hubspot_token";
  const std::string token_text = ReadTextFile(token);
  WriteTextFile(token, "a-revoked-token");
  auto revoked = Admin("POST", "/api/v1/reload");
  ASSERT_TRUE(revoked);
  ASSERT_EQ(revoked->status, 200) << revoked->body;
  std::map<std::string, std::string> checks = ChecksOf(*revoked);
  EXPECT_NE(checks["hubspot"], "ok") << revoked->body;
  EXPECT_EQ(checks["mailchimp"], "ok") << revoked->body;
  EXPECT_NE(Log().find("sync: hubspot: secret files changed"), std::string::npos) << Log();
  EXPECT_EQ(Log().find("sync: mailchimp: secret files changed"), std::string::npos) << Log();

  WriteTextFile(token, token_text);
  auto rotated = Admin("POST", "/api/v1/reload");
  ASSERT_TRUE(rotated);
  ASSERT_EQ(rotated->status, 200) << rotated->body;
  EXPECT_EQ(ChecksOf(*rotated)["hubspot"], "ok") << rotated->body;
  const std::string kim = "kim.rotated@example.com";
  Crm("POST", "/_sim/hubspot/person/signup", {{"email", kim}, {"subscriptionId", kProductUpdates}});
  EXPECT_TRUE(Eventually([&] { return MemberInterest(kim, "Product news"); })) << Log();

  // A secret file that cannot be read fails the reload, naming the connector.
  std::filesystem::remove(token);
  auto unreadable = Admin("POST", "/api/v1/reload");
  ASSERT_TRUE(unreadable);
  EXPECT_EQ(unreadable->status, 422) << unreadable->body;
  EXPECT_NE(unreadable->body.find("hubspot"), std::string::npos) << unreadable->body;
  WriteTextFile(token, token_text);
}

// A Mailchimp connector sizes its parallel member reads and its delivery
// threads by the in-flight cap when it is built, so a reload that changes
// the cap rebuilds it (and says so); one that changes nothing keeps the
// instance, and a connector whose cap did not change is not rebuilt.
TEST_F(AdminE2E, AReloadThatChangesTheInFlightCapRebuildsThatConnector) {
  StartAll();
  const std::string rebuilt = "sync: mailchimp: rate_limit.max_in_flight changed from 10 to 2";
  std::string config = ReadTextFile(config_path_);
  const std::string journey_key = "    webhook_secret_file: secrets/mailchimp_webhook_secret\n";
  ASSERT_NE(config.find(journey_key), std::string::npos) << config;
  config.insert(config.find(journey_key) + journey_key.size(),
                "    rate_limit:\n      max_in_flight: 2\n");
  WriteTextFile(config_path_, config);
  auto reload = Admin("POST", "/api/v1/reload");
  ASSERT_TRUE(reload);
  ASSERT_EQ(reload->status, 200) << reload->body << Log();
  EXPECT_EQ(CountOccurrences(Log(), rebuilt), 1u) << Log();
  EXPECT_EQ(Log().find("sync: hubspot: rate_limit.max_in_flight changed"), std::string::npos)
      << Log();

  // The rebuilt connector delivers.
  const std::string ada = "ada.capped@example.com";
  Crm("POST", "/_sim/hubspot/person/signup", {{"email", ada}, {"subscriptionId", kProductUpdates}});
  EXPECT_TRUE(Eventually([&] { return MemberInterest(ada, "Product news"); })) << Log();

  // The same file again: nothing to rebuild.
  reload = Admin("POST", "/api/v1/reload");
  ASSERT_TRUE(reload);
  ASSERT_EQ(reload->status, 200) << reload->body << Log();
  EXPECT_EQ(CountOccurrences(Log(), rebuilt), 1u) << Log();
}

// A new mapping that names a subscription type HubSpot does not have is
// valid YAML and a valid mapping, so the reload applies it; consentctl
// reload then says which check failed and why, and exits 3 (in force, not
// ready) rather than printing "reloaded" over a daemon gone unready.
TEST_F(AdminE2E, ConsentctlReloadNamesAConnectorWhoseCheckTheNewMappingFails) {
  StartAll();
  const std::string original = ReadTextFile(config_path_);
  const std::string known = "subscriptions: {email: " + std::to_string(kProductUpdates) + "}";
  const std::size_t at = original.find(known);
  ASSERT_NE(at, std::string::npos) << original;
  std::string unknown_type = original;
  unknown_type.replace(at, known.size(), "subscriptions: {email: 987}");
  WriteTextFile(config_path_, unknown_type);

  CommandResult applied = Ctl({"reload"});
  EXPECT_EQ(applied.exit_code, 3) << applied.output;
  EXPECT_NE(applied.output.find("reloaded"), std::string::npos) << applied.output;
  EXPECT_NE(applied.output.find("hubspot: check FAILED"), std::string::npos) << applied.output;
  EXPECT_NE(applied.output.find("987"), std::string::npos) << applied.output;
  EXPECT_NE(applied.output.find("mailchimp: check passed"), std::string::npos) << applied.output;
  EXPECT_NE(applied.output.find("not ready"), std::string::npos) << applied.output;

  WriteTextFile(config_path_, original);
  CommandResult restored = Ctl({"reload"});
  EXPECT_EQ(restored.exit_code, 0) << restored.output;
  EXPECT_NE(restored.output.find("hubspot: check passed"), std::string::npos) << restored.output;
  auto ready = Fetch(port_, "GET", "/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200) << ready->body;
}

// A stop that begins while a reload's answer waits for a slow check does
// not wait for that check: the answer goes out at once and says the check
// has not answered (before, the HTTP server's drain held the stop up until
// the check answered, and the answer then said "ok").
TEST_F(AdminE2E, AStopWhileAReloadWaitsForASlowCheckAnswersTheReloadAtOnce) {
  StartAll();
  // Every HubSpot call takes 6 s, within its 10 s deadline.
  Crm("POST", "/_sim/faults", {{"kind", "latency"}, {"system", "hubspot"}, {"latency_ms", 6000}});
  std::optional<RawResponse> reload;
  std::thread client([&] { reload = Admin("POST", "/api/v1/reload"); });
  const bool applied =
      Eventually([&] { return Log().find("configuration reloaded from") != std::string::npos; });
  if (applied) consentd_->Signal(SIGTERM);
  client.join();
  ASSERT_TRUE(applied) << Log();
  ASSERT_TRUE(reload) << Log();
  ASSERT_EQ(reload->status, 200) << reload->body;
  const Json answer = Json::parse(reload->body);
  std::map<std::string, Json> ready;
  for (const Json& c : answer.at("connectors")) ready[c.at("name")] = c.at("ready");
  EXPECT_TRUE(ready["hubspot"].is_null()) << reload->body;
  // Mailchimp's check is quick but may not have answered either when the
  // stop began (seen under ASan): answered, it passed; never a failure.
  EXPECT_TRUE(ready["mailchimp"] == true || ready["mailchimp"].is_null()) << reload->body;
  Crm("DELETE", "/_sim/faults", nullptr);
}

// A check slower than the reload's wait (AdminComponent::kReloadCheckWait,
// 20 s) does not hold the answer up: the reload answers when the wait runs
// out, naming the check as still running. HubSpot's per-call deadline is raised above the latency
// so that the check itself does not give up first.
TEST_F(AdminE2E, AReloadWhoseCheckOutlastsTheWaitAnswersThatTheCheckIsStillRunning) {
  StartAll();
  StopConsentd();
  const std::string original = ReadTextFile(config_path_);
  const std::string hubspot_secret = "    client_secret_file: secrets/hubspot_client_secret\n";
  std::string patient = original;
  const std::size_t at = patient.find(hubspot_secret);
  ASSERT_NE(at, std::string::npos) << original;
  patient.insert(at + hubspot_secret.size(), "    request_timeout: 40s\n");
  WriteTextFile(config_path_, patient);
  StartConsentd();
  ASSERT_FALSE(HasFatalFailure());

  Crm("POST", "/_sim/faults",
      {{"kind", "latency"},
       {"system", "hubspot"},
       {"route", "/communication-preferences/v4/definitions"},
       {"count", 1},
       {"latency_ms", 26000}});
  // The test client's default patience is the same 20 s: wait longer.
  const std::optional<RawResponse> reload =
      Admin("POST", "/api/v1/reload", std::chrono::seconds(40));
  ASSERT_TRUE(reload) << Log();
  ASSERT_EQ(reload->status, 200) << reload->body;
  const Json answer = Json::parse(reload->body);
  std::map<std::string, Json> ready;
  for (const Json& c : answer.at("connectors")) ready[c.at("name")] = c.at("ready");
  EXPECT_TRUE(ready["hubspot"].is_null()) << reload->body << Log();
  EXPECT_NE(reload->body.find("still running"), std::string::npos) << reload->body;
  EXPECT_EQ(ready["mailchimp"], true) << reload->body;
  // Meanwhile /readyz keeps the last answer the check gave (it passed).
  auto readyz = Fetch(port_, "GET", "/readyz");
  ASSERT_TRUE(readyz);
  EXPECT_EQ(readyz->status, 200) << readyz->body;
}

// Two reloads overlap: the first one's HubSpot check is slow, and the
// second one, made meanwhile with a mapping HubSpot's check refuses, asks
// for another check with the new mapping. Each answer reports the check
// its own reload started: the first "ok" (the check it waited for), the
// second the refusal (the slow check's "ok" does not stand in for it).
TEST_F(AdminE2E, TwoOverlappingReloadsEachAnswerWithTheCheckTheirOwnReloadStarted) {
  StartAll();
  const std::string original = ReadTextFile(config_path_);
  Crm("POST", "/_sim/faults",
      {{"kind", "latency"},
       {"system", "hubspot"},
       {"route", "/communication-preferences/v4/definitions"},
       {"count", 1},
       {"latency_ms", 3000}});
  std::optional<RawResponse> first;
  std::thread client([&] { first = Admin("POST", "/api/v1/reload"); });
  const bool applied =
      Eventually([&] { return Log().find("configuration reloaded from") != std::string::npos; });
  const std::string known = "subscriptions: {email: " + std::to_string(kProductUpdates) + "}";
  std::string unknown_type = original;
  const std::size_t at = unknown_type.find(known);
  if (at != std::string::npos)
    unknown_type.replace(at, known.size(), "subscriptions: {email: 987}");
  WriteTextFile(config_path_, unknown_type);
  std::optional<RawResponse> second = Admin("POST", "/api/v1/reload");
  client.join();
  WriteTextFile(config_path_, original);
  ASSERT_TRUE(applied) << Log();
  ASSERT_NE(at, std::string::npos) << original;
  ASSERT_TRUE(first) << Log();
  ASSERT_TRUE(second) << Log();
  ASSERT_EQ(first->status, 200) << first->body;
  ASSERT_EQ(second->status, 200) << second->body;
  EXPECT_EQ(ChecksOf(*first)["hubspot"], "ok") << first->body << Log();
  EXPECT_NE(ChecksOf(*second)["hubspot"].find("987"), std::string::npos) << second->body << Log();
  EXPECT_EQ(ChecksOf(*second)["mailchimp"], "ok") << second->body;
}

TEST_F(AdminE2E, MappingReloadIsRecordedAsAConfigurationChangeAndRemovedTopicStopsPropagating) {
  StartAll();
  const std::string eve = "eve@example.com";
  Crm("POST", "/_sim/hubspot/person/signup", {{"email", eve}, {"subscriptionId", kProductUpdates}});
  ASSERT_TRUE(Eventually([&] { return MemberInterest(eve, "Product news"); }));

  // Remove product_news from the mapping and reload through the API.
  std::string config = ReadTextFile(config_path_);
  const std::size_t from = config.find("    - name: product_news");
  const std::size_t to = config.find("  blocks:");
  ASSERT_NE(from, std::string::npos);
  config.erase(from, to - from);
  WriteTextFile(config_path_, config);
  auto reload = Admin("POST", "/api/v1/reload");
  ASSERT_TRUE(reload);
  ASSERT_EQ(reload->status, 200) << reload->body;
  EXPECT_TRUE(Eventually([&] {
    return Log().find("mapping: topic product_news removed") != std::string::npos;
  })) << Log();

  // A change to the removed topic no longer reaches the journey. HubSpot's
  // webhooks for the two changes may arrive in either order: wait until
  // consentd has read both records, not only Frank's.
  const double read_before = MetricSum("consentd_records_received_total", "connector=\"hubspot\"");
  Crm("POST", "/_sim/hubspot/person/unsubscribe",
      {{"email", eve}, {"subscriptionId", kProductUpdates}});
  const std::string frank = "frank@example.com";  // a later change that does propagate
  Crm("POST", "/_sim/hubspot/person/signup", {{"email", frank}, {"subscriptionId", kNewsletter}});
  ASSERT_TRUE(Eventually([&] { return MemberStatus(frank) == "pending"; }));
  ASSERT_TRUE(Eventually([&] {
    return MetricSum("consentd_records_received_total", "connector=\"hubspot\"") >= read_before + 2;
  })) << Log();
  EXPECT_TRUE(MemberInterest(eve, "Product news")) << "a removed topic must not propagate";
  StopConsentd();

  // The proof log: one config_changed at start, one at the reload naming
  // the removed topic; decisions after it carry the new mapping's hash.
  store::SqliteStoreOptions opts;
  opts.path = (dir_->path() / "consentd.db").string();
  auto db = store::SqliteStore::Open(opts);
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  std::vector<ProofEntry> configs, decided;
  Status s = (*db)->Run([&](store::Transaction& txn) -> Status {
    auto size = store::ProofTreeSize(txn);
    if (!size.ok()) return size.status();
    for (std::uint64_t i = 0; i < *size; ++i) {
      auto bytes = store::ReadProofEntry(txn, i);
      if (!bytes.ok()) return bytes.status();
      auto e = proof::DecodeEntry(*bytes);
      if (!e.ok()) return e.status();
      if (e->entry.kind == ProofKind::kConfigChanged) configs.push_back(e->entry);
      const bool decision =
          e->entry.kind == ProofKind::kDecided || e->entry.kind == ProofKind::kHeldPending;
      if (decision && configs.size() == 2) decided.push_back(e->entry);
    }
    return Status::Ok();
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(configs.size(), 2u);
  EXPECT_EQ(configs[0].reason, "first mapping recorded: in force at start");
  EXPECT_NE(configs[1].reason.find("topic product_news removed: it no longer propagates"),
            std::string::npos)
      << configs[1].reason;
  EXPECT_NE(configs[0].mapping_hash, configs[1].mapping_hash);
  ASSERT_FALSE(decided.empty()) << "frank's sign-up was decided after the reload";
  for (const ProofEntry& e : decided) EXPECT_EQ(e.mapping_hash, configs[1].mapping_hash);
  (void)(*db)->Close();
}

TEST_F(AdminE2E, OperatorErasureForgetsThePersonInBothSystemsAndInConsentd) {
  StartAll();
  const std::string ida = "ida@example.com";
  Crm("POST", "/_sim/hubspot/person/signup", {{"email", ida}, {"subscriptionId", kProductUpdates}});
  ASSERT_TRUE(Eventually([&] { return MemberStatus(ida) == "subscribed"; }));
  ASSERT_EQ(CrmStatus("GET", "/crm/v3/objects/contacts/ida%40example.com?idProperty=email"), 200);

  CommandResult unknown = Ctl({"erase", "--email", "nobody@example.com"});
  EXPECT_EQ(unknown.exit_code, 3) << unknown.output;
  EXPECT_NE(unknown.output.find("no subject with this address"), std::string::npos)
      << unknown.output;

  // The access export over the API, verified offline with the log's key.
  auto exported = Admin("GET", "/api/v1/subjects/export?email=ida%40example.com");
  ASSERT_TRUE(exported);
  ASSERT_EQ(exported->status, 200) << exported->body;
  EXPECT_EQ(exported->Header("cache-control"), "no-store");
  EXPECT_EQ(Json::parse(exported->body).at("format"), "consentd-export/1");
  WriteTextFile(dir_->path() / "ida-export.json", exported->body);
  CommandResult key = Ctl({"log", "key"});
  ASSERT_EQ(key.exit_code, 0) << key.output;
  std::string vkey = key.output.substr(0, key.output.find('\n'));
  CommandResult checked =
      RunConsentctl({"verify-export", (dir_->path() / "ida-export.json").string(), "--vkey", vkey});
  EXPECT_EQ(checked.exit_code, 0) << checked.output;
  auto nobody = Admin("GET", "/api/v1/subjects/export?email=nobody%40example.com");
  ASSERT_TRUE(nobody);
  EXPECT_EQ(nobody->status, 404) << nobody->body;

  CommandResult erased = Ctl({"erase", "--email", "IDA@Example.com"});  // normalised first
  ASSERT_EQ(erased.exit_code, 0) << erased.output;
  EXPECT_NE(erased.output.find("erasure accepted"), std::string::npos) << erased.output;
  EXPECT_NE(erased.output.find("hubspot"), std::string::npos) << erased.output;
  EXPECT_NE(erased.output.find("mailchimp"), std::string::npos) << erased.output;
  EXPECT_NE(erased.output.find("deadline"), std::string::npos) << erased.output;

  ASSERT_TRUE(Eventually([&] { return Member(ida).is_null(); })) << Log();
  ASSERT_TRUE(Eventually([&] {
    return CrmStatus("GET", "/crm/v3/objects/contacts/ida%40example.com?idProperty=email") == 404;
  })) << Log();
  // HubSpot reports the deletion consentd caused: it is about the person
  // already erased, so nothing is queued for them again (no dead letter).
  ASSERT_TRUE(Eventually([&] {
    return MetricSum("consentd_decisions_total",
                     "source=\"hubspot\",outcome=\"dropped_erased\"") >= 1;
  })) << Log();
  EXPECT_EQ(MetricSum("consentd_deliveries_total", "permanent"), 0) << Log();
  // consentd's own copy is gone too: the address no longer finds anyone.
  CommandResult again = Ctl({"erase", "--email", ida});
  EXPECT_EQ(again.exit_code, 3) << again.output;

  auto bad = Admin("POST", "/api/v1/erasures");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400) << bad->body;
  EXPECT_TRUE(CheckProblem(*bad).empty()) << bad->body;
}

}  // namespace
}  // namespace consentd::testing
