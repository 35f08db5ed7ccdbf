// The status page and its admin endpoints end to end (issue #8,
// daemon/status_routes.h): the page is served with a strict CSP and cache
// validators, GET /api/v1/status reports both connectors and every
// target's outbox, /api/v1/subjects explains a person (404 for an unknown
// address), and dead-letter replay refuses what it cannot do. The browser
// side (token form, live updates, the Replay button) is in tests/browser/.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "tests/e2e/sync_fixture.h"
#include "tests/net/test_client.h"

namespace consentd::testing {
namespace {

using Json = nlohmann::json;

class StatusApiE2E : public SyncE2E {
 protected:
  std::optional<RawResponse> Get(const std::string& path, std::vector<std::string> headers = {}) {
    auto c = TcpClient::Connect(port_);
    if (!c || !c->Send(BuildRequest("GET", path, "", headers))) return std::nullopt;
    return c->ReadResponse();
  }
  std::optional<RawResponse> Replay(const std::string& body) {
    auto c = TcpClient::Connect(port_);
    if (!c) return std::nullopt;
    if (!c->Send(BuildRequest("POST", "/api/v1/dead-letters/replay", body,
                              {"Authorization: Bearer e2e-admin-token-0123456789abcdef",
                               "Content-Type: application/json"}))) {
      return std::nullopt;
    }
    return c->ReadResponse();
  }
};

TEST_F(StatusApiE2E, PageIsServedWithoutTokenUnderAStrictContentSecurityPolicy) {
  StartAll();
  auto page = Get("/");
  ASSERT_TRUE(page.has_value());
  EXPECT_EQ(page->status, 200);
  EXPECT_EQ(page->Header("content-type"), "text/html; charset=utf-8");
  EXPECT_NE(page->Header("content-security-policy").find("script-src 'self'"), std::string::npos);
  EXPECT_EQ(page->Header("content-security-policy").find("unsafe-inline"), std::string::npos);
  EXPECT_NE(page->body.find("/status-page/app.js"), std::string::npos);

  auto js = Get("/status-page/app.js");
  ASSERT_TRUE(js.has_value());
  EXPECT_EQ(js->status, 200);
  EXPECT_EQ(js->Header("content-type"), "text/javascript; charset=utf-8");
  const std::string etag = js->Header("etag");
  ASSERT_FALSE(etag.empty());
  auto again = Get("/status-page/app.js", {"If-None-Match: " + etag});
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->status, 304);
  EXPECT_TRUE(again->body.empty());

  auto missing = Get("/status-page/nope.js");
  ASSERT_TRUE(missing.has_value());
  EXPECT_EQ(missing->status, 404);
  // The data behind the page needs the token.
  auto status = Get("/api/v1/status");
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->status, 401);
}

TEST_F(StatusApiE2E, StatusReportsConnectorsOutboxAndRecentDecisionsWithoutAddresses) {
  StartAll();
  Crm("POST", "/_sim/hubspot/person/signup",
      {{"email", "ada@example.com"}, {"subscriptionId", kProductUpdates}});
  ASSERT_TRUE(Eventually([&] { return MemberInterest("ada@example.com", "Product news"); }));
  Json status;
  ASSERT_TRUE(Eventually([&] {
    auto r = Admin("GET", "/api/v1/status");
    if (!r || r->status != 200) return false;
    status = Json::parse(r->body);
    return !status["recent_decisions"].empty() &&
           status["connectors"][1]["delivery"]["done"].get<int>() > 0;
  })) << status.dump(2);
  ASSERT_EQ(status["connectors"].size(), 2u);
  EXPECT_EQ(status["connectors"][0]["name"], "hubspot");
  EXPECT_EQ(status["connectors"][0]["role"], "crm");
  EXPECT_EQ(status["connectors"][1]["name"], "mailchimp");
  EXPECT_EQ(status["connectors"][1]["role"], "journey");
  EXPECT_EQ(status["connectors"][1]["delivery"]["health"], "healthy");
  EXPECT_TRUE(status["connectors"][0]["ready"].get<bool>());
  ASSERT_EQ(status["outbox"].size(), 2u);  // every target, even with nothing waiting
  EXPECT_EQ(status["outbox"][1]["target"], "mailchimp");
  EXPECT_EQ(status["outbox"][1]["dead"], 0);
  EXPECT_GT(status["proof_log"]["entries"].get<int>(), 0);
  EXPECT_EQ(status.dump().find("ada@example.com"), std::string::npos);
}

// A poller that has failed since consentd started lags since the start:
// the page's "Poll lag (max)" counts it (as /metrics does), while the
// connector itself shows no last success.
TEST_F(StatusApiE2E, APollerThatNeverSucceededCountsInTheMaximumPollLag) {
  StartAll(WithPolling("1s"));
  StopConsentd();
  // Its polls fail; its check (another route) passes, so consentd is ready.
  Crm("POST", "/_sim/faults",
      {{"kind", "error"},
       {"system", "hubspot"},
       {"method", "POST"},
       {"route", "/crm/v3/objects/contacts/search"},
       {"status", 503}});
  StartConsentd();
  Json status;
  ASSERT_TRUE(Eventually([&] {
    auto r = Admin("GET", "/api/v1/status");
    if (!r || r->status != 200) return false;
    status = Json::parse(r->body);
    // Mailchimp polls every second, so only HubSpot's time can pass 3 s.
    return status["connectors"][1]["poll"]["last_success_ms"].is_number() &&
           status["lag"]["max_poll_lag_ms"].is_number() &&
           status["lag"]["max_poll_lag_ms"].get<std::int64_t>() >= 3000;
  })) << status.dump(2);
  EXPECT_EQ(status["connectors"][0]["name"], "hubspot");
  EXPECT_TRUE(status["connectors"][0]["poll"]["last_success_ms"].is_null());
  EXPECT_TRUE(status["connectors"][0]["poll"]["lag_ms"].is_null());
  EXPECT_LT(status["connectors"][1]["poll"]["lag_ms"].get<std::int64_t>(), 3000);
  Crm("DELETE", "/_sim/faults", nullptr);
}

// A '+' in a URL query is a space: a plus address typed into a URL as is
// reaches consentd as "jane news@...". The 400 says how to send it.
TEST_F(StatusApiE2E, APlusAddressSentUnencodedIsRefusedWithHowToEncodeIt) {
  StartAll();
  for (const char* path : {"/api/v1/subjects?email=jane+news@example.com",
                           "/api/v1/subjects/export?email=jane+news@example.com"}) {
    auto r = Admin("GET", path);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 400) << path;
    EXPECT_NE(r->body.find("name%2Btag%40example.com"), std::string::npos) << r->body;
  }
  // Encoded, it is an address consentd does not know.
  auto known = Admin("GET", "/api/v1/subjects?email=jane%2Bnews%40example.com");
  ASSERT_TRUE(known);
  EXPECT_EQ(known->status, 404) << known->body;
}

TEST_F(StatusApiE2E, SubjectIsExplainedWithAnExportLinkAndAnUnknownAddressIs404) {
  StartAll();
  auto unknown = Admin("GET", "/api/v1/subjects?email=nobody%40example.com");
  ASSERT_TRUE(unknown.has_value());
  EXPECT_EQ(unknown->status, 404);
  EXPECT_EQ(unknown->body.find("nobody@example.com"), std::string::npos);

  Crm("POST", "/_sim/hubspot/person/signup",
      {{"email", "bob@example.com"}, {"subscriptionId", kProductUpdates}});
  Json body;
  ASSERT_TRUE(Eventually([&] {
    auto r = Admin("GET", "/api/v1/subjects?email=bob%40example.com");
    if (!r || r->status != 200) return false;
    body = Json::parse(r->body);
    return !body["consents"].empty();
  })) << body.dump(2);
  EXPECT_EQ(body["export"], "/api/v1/subjects/export?email=bob%40example.com");
  bool granted = false;
  for (const auto& c : body["consents"]) {
    if (c["topic"] == "product_news") {
      granted = c["status"] == "granted" && c["may_contact"] == true;
    }
  }
  EXPECT_TRUE(granted) << body.dump(2);
  EXPECT_FALSE(body["history"].empty());
}

TEST_F(StatusApiE2E, DeadLetterReplayRefusesUnknownRowsAndBadBodies) {
  StartAll();
  auto list = Admin("GET", "/api/v1/dead-letters");
  ASSERT_TRUE(list.has_value());
  EXPECT_EQ(list->status, 200);
  EXPECT_EQ(Json::parse(list->body)["dead_letters"], Json::array());
  auto bad_limit = Admin("GET", "/api/v1/dead-letters?limit=0");
  ASSERT_TRUE(bad_limit.has_value());
  EXPECT_EQ(bad_limit->status, 400);

  auto unknown = Replay(R"({"id": 424242})");
  ASSERT_TRUE(unknown.has_value());
  EXPECT_EQ(unknown->status, 404);
  auto neither = Replay(R"({})");
  ASSERT_TRUE(neither.has_value());
  EXPECT_EQ(neither->status, 400);
  auto both = Replay(R"({"id": 1, "all": true})");
  ASSERT_TRUE(both.has_value());
  EXPECT_EQ(both->status, 400);
  auto all = Replay(R"({"all": true})");
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(all->status, 200);
  EXPECT_EQ(Json::parse(all->body)["replayed"], Json::array());
  EXPECT_EQ(Json::parse(all->body)["refused"], Json::array());
}

}  // namespace
}  // namespace consentd::testing
