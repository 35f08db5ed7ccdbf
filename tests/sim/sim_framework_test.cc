// consentd-sim's framework over real loopback sockets: HubSpot webhooks as
// delivered (batched, signed, retried), every fault kind, determinism for a
// seed, counters and the control API.
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <string>
#include <thread>

#include "connectors/common/webhook_signatures.h"
#include "sim/faults.h"
#include "tests/sim/sim_fixture.h"

namespace consentd::sim::testing {
namespace {

using nlohmann::json;

class SimFramework : public SimFixture {
 protected:
  void AddFault(const json& spec) {
    Reply r = Control("POST", "/_sim/faults", spec);
    ASSERT_EQ(r.status, 201) << r.body;
  }
  // A change that makes HubSpot send exactly one webhook request.
  void Change(const std::string& email, const std::string& state = "UNSUBSCRIBED") {
    Reply r = Api("POST", "/communication-preferences/v4/statuses/" + email,
                  json{{"channel", "EMAIL"}, {"statusState", state}, {"subscriptionId", 101}});
    ASSERT_EQ(r.status, 200) << r.body;
  }
  static json Events(const WebhookReceiver::Received& r) { return json::parse(r.body); }
  static bool HasEvent(const json& events, const std::string& type, const std::string& prop = "") {
    for (const auto& e : events) {
      if (e["subscriptionType"] == type && (prop.empty() || e.value("propertyName", "") == prop))
        return true;
    }
    return false;
  }
  // The address of the contact the events are about.
  std::string ObjectEmailIn(const json& events) {
    const std::string id = std::to_string(events[0]["objectId"].get<std::int64_t>());
    return Api("GET", "/crm/v3/objects/contacts/" + id).Json()["properties"].value("email", "");
  }
};

TEST_F(SimFramework, DeliveredWebhooksAreSignedBatchedHubSpotEvents) {
  Change("w@example.com");
  auto got = receiver_.WaitFor(1);
  ASSERT_EQ(got.size(), 1u);
  const auto& r = got[0];
  auto sig = net::FindHeader(r.headers, "X-HubSpot-Signature-v3");
  auto ts = net::FindHeader(r.headers, "X-HubSpot-Request-Timestamp");
  ASSERT_TRUE(sig && ts);
  const TimestampMs sent = std::stoll(std::string(*ts));
  EXPECT_TRUE(connectors::HubSpotVerifyV3("test-client-secret", "POST", WebhookUrl(), r.body, *sig,
                                          *ts, sent)
                  .ok());
  EXPECT_FALSE(
      connectors::HubSpotVerifyV3("other-secret", "POST", WebhookUrl(), r.body, *sig, *ts, sent)
          .ok());
  json events = Events(r);
  ASSERT_TRUE(events.is_array());
  EXPECT_TRUE(HasEvent(events, "contact.creation"));
  EXPECT_TRUE(HasEvent(events, "contact.propertyChange", "hs_email_optout_101"));
  for (const auto& e : events) {
    for (const char* f :
         {"eventId", "subscriptionId", "portalId", "appId", "occurredAt", "subscriptionType",
          "objectId", "changeSource", "sourceId", "attemptNumber"}) {
      EXPECT_TRUE(e.contains(f)) << f << " missing in " << e.dump();
    }
    EXPECT_EQ(e["attemptNumber"], 0);
    EXPECT_EQ(e["changeSource"], "INTEGRATION");
    if (e["subscriptionType"] == "contact.propertyChange" &&
        e["propertyName"] == "hs_email_optout_101") {
      EXPECT_EQ(e["propertyValue"], "true");
    }
  }
}

TEST_F(SimFramework, OneBatchWriteArrivesAsOneWebhookRequest) {
  for (const char* e : {"b1@example.com", "b2@example.com", "b3@example.com"}) {
    Api("POST", "/crm/v3/objects/contacts", json{{"properties", {{"email", e}}}});
  }
  receiver_.WaitFor(3);
  json inputs = json::array();
  for (const char* e : {"b1@example.com", "b2@example.com", "b3@example.com"}) {
    inputs.push_back({{"subscriberIdString", e},
                      {"channel", "EMAIL"},
                      {"statusState", "SUBSCRIBED"},
                      {"subscriptionId", 102}});
  }
  ASSERT_EQ(
      Api("POST", "/communication-preferences/v4/statuses/batch/write", json{{"inputs", inputs}})
          .status,
      200);
  auto got = receiver_.WaitFor(4);
  ASSERT_EQ(got.size(), 4u);
  json events = Events(got[3]);
  int changes = 0;
  for (const auto& e : events) changes += e["propertyName"] == "hs_email_optout_102";
  EXPECT_EQ(changes, 3);
}

TEST_F(SimFramework, NonSuccessAnswersAreRetriedWithTheNextAttemptNumber) {
  receiver_.status = 503;
  Change("r@example.com");
  receiver_.WaitFor(2);
  receiver_.status = 200;
  auto got = receiver_.WaitFor(3);
  ASSERT_GE(got.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    json events = Events(got[i]);
    EXPECT_EQ(events[0]["attemptNumber"], i);
    auto sig = net::FindHeader(got[i].headers, "X-HubSpot-Signature-v3");
    auto ts = net::FindHeader(got[i].headers, "X-HubSpot-Request-Timestamp");
    ASSERT_TRUE(sig && ts);
    EXPECT_TRUE(connectors::HubSpotVerifyV3("test-client-secret", "POST", WebhookUrl(), got[i].body,
                                            *sig, *ts, std::stoll(std::string(*ts)))
                    .ok());
  }
  EXPECT_EQ(Events(got[0])[0]["eventId"], Events(got[2])[0]["eventId"]);
  json stats;
  for (int i = 0; i < 200; ++i) {  // the stats update after the answer is read
    stats = Control("GET", "/_sim/webhooks").Json();
    if (stats["delivered"] == 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(stats["delivered"], 1);
  EXPECT_EQ(stats["attempts"], 3);
}

TEST_F(SimFramework, ArchiveMergeAndGdprDeleteSendTheirEvents) {
  const std::string a =
      Api("POST", "/crm/v3/objects/contacts", json{{"properties", {{"email", "x1@example.com"}}}})
          .Json()["id"];
  const std::string b =
      Api("POST", "/crm/v3/objects/contacts", json{{"properties", {{"email", "x2@example.com"}}}})
          .Json()["id"];
  const std::string c =
      Api("POST", "/crm/v3/objects/contacts", json{{"properties", {{"email", "x3@example.com"}}}})
          .Json()["id"];
  Api("POST", "/crm/v3/objects/contacts/merge",
      json{{"primaryObjectId", a}, {"objectIdToMerge", b}});
  Api("DELETE", "/crm/v3/objects/contacts/" + c);
  Api("POST", "/crm/v3/objects/contacts/gdpr-delete", json{{"objectId", a}});
  // The sim batches events as HubSpot does (up to 100 per request), so how
  // the six split into requests depends on timing; their order does not.
  auto all_events = [](const std::vector<WebhookReceiver::Received>& got) {
    json all = json::array();
    for (const auto& r : got) {
      for (const auto& e : Events(r)) all.push_back(e);
    }
    return all;
  };
  const json events = all_events(receiver_.WaitUntil(
      [&](const std::vector<WebhookReceiver::Received>& got) {
        return all_events(got).size() >= 6;
      }));
  ASSERT_EQ(events.size(), 6u) << events.dump();
  const json& merge = events[3];
  EXPECT_EQ(merge["subscriptionType"], "contact.merge");
  EXPECT_EQ(merge["primaryObjectId"], std::stoll(a));
  EXPECT_EQ(merge["mergedObjectIds"][0], std::stoll(b));
  EXPECT_EQ(events[4]["subscriptionType"], "contact.deletion");
  EXPECT_EQ(events[5]["subscriptionType"], "contact.privacyDeletion");
  EXPECT_EQ(events[5]["objectId"], std::stoll(a));
}

TEST_F(SimFramework, ErrorFaultAnswersInTheVendorFormatForABurst) {
  AddFault(
      {{"kind", "error"}, {"status", 502}, {"route", "/crm/v3/objects/contacts*"}, {"count", 2}});
  for (int i = 0; i < 2; ++i) {
    Reply r = Api("GET", "/crm/v3/objects/contacts");
    EXPECT_EQ(r.status, 502);
    EXPECT_EQ(r.Json()["status"], "error");
  }
  EXPECT_EQ(Api("GET", "/crm/v3/objects/contacts").status, 200);
  // Other routes are untouched.
  EXPECT_EQ(Api("GET", "/communication-preferences/v4/definitions").status, 200);
}

TEST_F(SimFramework, RateLimitFaultWithAndWithoutRetryAfter) {
  AddFault({{"kind", "rate_limit"}, {"retry_after", 7}, {"count", 1}});
  Reply with = Api("GET", "/crm/v3/objects/contacts");
  EXPECT_EQ(with.status, 429);
  EXPECT_EQ(with.Header("Retry-After"), "7");
  EXPECT_EQ(with.Json()["policyName"], "TEN_SECONDLY_ROLLING");
  AddFault({{"kind", "rate_limit"}, {"count", 1}});
  Reply without = Api("GET", "/crm/v3/objects/contacts");
  EXPECT_EQ(without.status, 429);
  EXPECT_EQ(without.Header("Retry-After"), "");
  EXPECT_EQ(Api("GET", "/crm/v3/objects/contacts").status, 200);
}

TEST_F(SimFramework, LatencyFaultDelaysButAnswers) {
  AddFault({{"kind", "latency"}, {"latency_ms", 50}, {"count", 1}});
  EXPECT_EQ(Api("GET", "/crm/v3/objects/contacts").status, 200);
  json faults = Control("GET", "/_sim/faults").Json();
  EXPECT_EQ(faults["faults"][0]["hits"], 1);
}

// A held request changes the system only when its hold ends (latency, by
// contrast, changes it at once and answers late).
TEST_F(SimFramework, HoldFaultChangesTheSystemOnlyWhenTheHoldEnds) {
  AddFault({{"kind", "hold"}, {"method", "POST"}, {"hold_ms", 3000}, {"count", 1}});
  EXPECT_EQ(Control("GET", "/_sim/faults").Json()["faults"][0]["hold_ms"], 3000);
  const std::string path = "/communication-preferences/v4/statuses/held@example.com";
  auto status_101 = [&] {
    const Reply r = Api("GET", path + "?channel=EMAIL");
    if (r.status != 200) return std::string();
    for (const json& st : r.Json().value("results", json::array())) {
      if (st.value("subscriptionId", 0) == 101) return st.value("status", "");
    }
    return std::string();
  };
  Reply held;
  std::thread writer([&] {
    held = Api("POST", path,
               json{{"channel", "EMAIL"}, {"statusState", "SUBSCRIBED"}, {"subscriptionId", 101}});
  });
  // Once the write is being held, it has changed nothing yet.
  for (int i = 0; i < 1000 && Control("GET", "/_sim/faults").Json()["faults"][0]["hits"] == 0;
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_EQ(status_101(), "NOT_SPECIFIED");
  writer.join();
  EXPECT_EQ(held.status, 200) << held.body;
  EXPECT_EQ(status_101(), "SUBSCRIBED");
}

TEST_F(SimFramework, DropFaultClosesTheConnectionWithoutAnAnswer) {
  AddFault({{"kind", "drop"}, {"method", "GET"}, {"count", 1}});
  Reply dropped = Api("GET", "/crm/v3/objects/contacts");
  EXPECT_EQ(dropped.status, 0) << dropped.body;
  EXPECT_EQ(Api("GET", "/crm/v3/objects/contacts").status, 200);
}

TEST_F(SimFramework, WebhookDropLosesOneDelivery) {
  AddFault({{"kind", "webhook_drop"}, {"count", 1}});
  Change("d1@example.com");
  Change("d2@example.com");
  auto got = receiver_.WaitFor(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(ObjectEmailIn(Events(got[0])), "d2@example.com");
  EXPECT_EQ(Control("GET", "/_sim/webhooks").Json()["dropped"], 1);
}

TEST_F(SimFramework, WebhookDuplicateDeliversTwice) {
  AddFault({{"kind", "webhook_duplicate"}, {"count", 1}});
  Change("dup@example.com");
  auto got = receiver_.WaitFor(2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].body, got[1].body);
}

TEST_F(SimFramework, WebhookReorderSendsTheNextOneFirst) {
  AddFault({{"kind", "webhook_reorder"}, {"count", 1}});
  Change("first@example.com");
  Change("second@example.com");
  auto got = receiver_.WaitFor(2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(ObjectEmailIn(Events(got[0])), "second@example.com");
  EXPECT_EQ(ObjectEmailIn(Events(got[1])), "first@example.com");
}

TEST_F(SimFramework, WebhookDelayStillDelivers) {
  AddFault({{"kind", "webhook_delay"}, {"delay_ms", 50}});
  Change("late@example.com");
  EXPECT_EQ(receiver_.WaitFor(1).size(), 1u);
}

TEST_F(SimFramework, FaultDecisionsAreDeterministicForTheSeed) {
  auto run = [&] {
    AddFault({{"kind", "error"}, {"rate", 0.5}, {"status", 503}});
    std::vector<int> statuses;
    for (int i = 0; i < 20; ++i)
      statuses.push_back(Api("GET", "/communication-preferences/v4/definitions").status);
    Control("POST", "/_sim/reset");
    return statuses;
  };
  const auto first = run();
  const auto second = run();
  EXPECT_EQ(first, second);
  EXPECT_NE(std::count(first.begin(), first.end(), 503), 0);
  EXPECT_NE(std::count(first.begin(), first.end(), 200), 0);
}

TEST_F(SimFramework, InvalidFaultsAreRefused) {
  EXPECT_EQ(Control("POST", "/_sim/faults", {{"kind", "meteor"}}).status, 400);
  EXPECT_EQ(Control("POST", "/_sim/faults", {{"kind", "error"}, {"status", 418}}).status, 400);
  EXPECT_EQ(Control("POST", "/_sim/faults", {{"kind", "error"}, {"rate", 2}}).status, 400);
  EXPECT_EQ(Control("POST", "/_sim/faults", {{"kind", "latency"}, {"latency_ms", "slow"}}).status,
            400);
}

TEST_F(SimFramework, CountersByRouteAndStatus) {
  Api("GET", "/crm/v3/objects/contacts/1234");
  Api("GET", "/crm/v3/objects/contacts/1235");
  Api("GET", "/crm/v3/objects/contacts", "", {});
  json c;
  for (int i = 0; i < 100; ++i) {  // the observer runs after the answer is written
    c = Control("GET", "/_sim/counters").Json();
    if (c["hubspot"].contains("GET /crm/v3/objects/contacts")) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(c["hubspot"]["GET /crm/v3/objects/contacts/{id}"]["404"], 2);
  EXPECT_EQ(c["hubspot"]["GET /crm/v3/objects/contacts"]["401"], 1);
}

TEST_F(SimFramework, StateAndResetCoverEverySystem) {
  Api("POST", "/crm/v3/objects/contacts", json{{"properties", {{"email", "st@example.com"}}}});
  AddFault({{"kind", "latency"}, {"latency_ms", 1}});
  json state = Control("GET", "/_sim/state").Json();
  EXPECT_EQ(state["hubspot"]["contacts"].size(), 1u);
  EXPECT_EQ(state["faults"].size(), 1u);
  ASSERT_EQ(Control("POST", "/_sim/reset").status, 200);
  state = Control("GET", "/_sim/state").Json();
  EXPECT_TRUE(state["hubspot"]["contacts"].empty());
  EXPECT_TRUE(state["faults"].empty());
  EXPECT_EQ(Control("GET", "/_sim/health").Json()["status"], "ok");
  EXPECT_EQ(Control("GET", "/_sim/nothing").status, 404);
}

TEST(SimRouteKey, IdLikeSegmentsBecomePlaceholders) {
  EXPECT_EQ(RouteKey("GET", "/crm/v3/objects/contacts/1001"), "GET /crm/v3/objects/contacts/{id}");
  EXPECT_EQ(RouteKey("POST", "/communication-preferences/v4/statuses/a%40b.de/unsubscribe-all"),
            "POST /communication-preferences/v4/statuses/{id}/unsubscribe-all");
  EXPECT_EQ(RouteKey("GET", "/3.0/lists/5e1c0a7b2d/members/0123456789abcdef0123456789abcdef"),
            "GET /3.0/lists/5e1c0a7b2d/members/{id}");
}

TEST(SimControlAccess, OnlyLoopbackAddressesAreControlClients) {
  EXPECT_TRUE(IsLoopbackAddress("127.0.0.1"));
  EXPECT_TRUE(IsLoopbackAddress("127.3.2.1"));
  EXPECT_TRUE(IsLoopbackAddress("::1"));
  EXPECT_TRUE(IsLoopbackAddress("::ffff:127.0.0.1"));
  EXPECT_FALSE(IsLoopbackAddress("10.0.0.1"));
  EXPECT_FALSE(IsLoopbackAddress("::ffff:192.168.1.1"));
  EXPECT_FALSE(IsLoopbackAddress(""));
}

TEST(SimGlob, StarMatchesAnyRun) {
  EXPECT_TRUE(GlobMatch("*", "/x"));
  EXPECT_TRUE(GlobMatch("/crm/*/contacts*", "/crm/v3/objects/contacts/1"));
  EXPECT_FALSE(GlobMatch("/crm/*", "/communication-preferences/v4"));
  EXPECT_TRUE(GlobMatch("/a*b*c", "/aXbYbc"));
}

TEST(SimHttpClient, RefusesNonLoopbackTargets) {
  EXPECT_FALSE(ParseLoopbackUrl("http://example.com/x").ok());
  EXPECT_FALSE(ParseLoopbackUrl("https://127.0.0.1/x").ok());
  auto u = ParseLoopbackUrl("http://127.0.0.1:8080/webhooks/x?secret=1");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->port, 8080);
  EXPECT_EQ(u->target, "/webhooks/x?secret=1");
  EXPECT_TRUE(ParseLoopbackUrl("http://[::1]:9/").ok());
}

// Sends `n` requests one after another through `pool` (each after the
// previous answer) and runs `io` until the last answer; their statuses
// (-1: a transport error).
std::vector<int> SendInTurn(boost::asio::io_context& io, HttpConnectionPool& pool,
                            const std::string& url, int n,
                            const std::function<void(int)>& after_answer = nullptr) {
  std::vector<int> statuses;
  std::function<void()> next = [&] {
    pool.Send({"POST", url, {}, "text/plain", "x"}, [&](Result<ClientResponse> r) {
      statuses.push_back(r.ok() ? r->status : -1);
      if (after_answer) after_answer(static_cast<int>(statuses.size()));
      if (static_cast<int>(statuses.size()) < n) {
        next();
      } else {
        io.stop();
      }
    });
  };
  next();
  io.run();
  return statuses;
}

TEST(SimHttpClient, PooledRequestsToOneTargetReuseOneKeptAliveConnection) {
  boost::asio::io_context io;
  int served = 0;
  net::HttpServer server(io, {}, [&served](net::HttpRequest, net::Responder respond) {
    ++served;
    respond({200, "text/plain", {}, "ok"});
  });
  ASSERT_TRUE(server.Start().ok());
  HttpConnectionPool pool(io);
  const std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + "/hook";
  EXPECT_EQ(SendInTurn(io, pool, url, 3), (std::vector<int>{200, 200, 200}));
  EXPECT_EQ(served, 3);
  EXPECT_EQ(pool.connections_opened(), 1u);
}

TEST(SimHttpClient, AConnectionThePeerClosedWhileIdleIsReplacedAndTheRequestAnswered) {
  boost::asio::io_context io;
  int served = 0;
  auto handler = [&served](net::HttpRequest, net::Responder respond) {
    ++served;
    respond({200, "text/plain", {}, "ok"});
  };
  auto server = std::make_unique<net::HttpServer>(io, net::HttpServerOptions{}, handler);
  ASSERT_TRUE(server->Start().ok());
  const std::uint16_t port = server->port();
  HttpConnectionPool pool(io);
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/hook";
  // After the first answer the receiver restarts: its shutdown closes the
  // idle connection the pool keeps, and a new server takes the port.
  std::unique_ptr<net::HttpServer> next_server;
  const auto statuses = SendInTurn(io, pool, url, 2, [&](int answered) {
    if (answered != 1) return;
    bool restarted = false;
    server->Shutdown(std::chrono::milliseconds(0), [&] {
      net::HttpServerOptions o;
      o.port = port;
      next_server = std::make_unique<net::HttpServer>(io, o, handler);
      restarted = next_server->Start().ok();
    });
    while (!restarted) io.run_one();
  });
  EXPECT_EQ(statuses, (std::vector<int>{200, 200}));
  EXPECT_EQ(served, 2);
  EXPECT_EQ(pool.connections_opened(), 2u);
}

}  // namespace
}  // namespace consentd::sim::testing
