// The simulated HubSpot API over real loopback sockets: each endpoint with
// valid and invalid requests, and the behaviours that break naive sync
// tools (v3 re-subscribe refusal, GDPR blocklist, archive vs.
// lastmodifieddate, search paging, rate limits).
#include <set>

#include "tests/sim/sim_fixture.h"

namespace consentd::sim::testing {
namespace {

using nlohmann::json;

class SimHubSpot : public SimFixture {
 protected:
  std::string CreateContact(const std::string& email, json extra = json::object()) {
    extra["email"] = email;
    Reply r = Api("POST", "/crm/v3/objects/contacts", json{{"properties", extra}});
    EXPECT_EQ(r.status, 201) << r.body;
    return r.Json()["id"];
  }
  void ExpectValidationError(const Reply& r, const std::string& field) {
    EXPECT_EQ(r.status, 400) << r.body;
    json j = r.Json();
    EXPECT_EQ(j["status"], "error");
    EXPECT_EQ(j["category"], "VALIDATION_ERROR");
    EXPECT_TRUE(j["correlationId"].is_string());
    EXPECT_TRUE(j["message"].is_string());
    bool found = field.empty();
    for (const auto& e : j.value("errors", json::array())) found = found || e["in"] == field;
    EXPECT_TRUE(found) << "no error for " << field << " in " << r.body;
  }
};

TEST_F(SimHubSpot, MissingOrWrongBearerTokenGets401WithHubSpotBody) {
  Reply none = Api("GET", "/crm/v3/objects/contacts", "", {});
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.Json()["category"], "INVALID_AUTHENTICATION");
  EXPECT_EQ(none.Json()["status"], "error");
  Reply wrong = Api("GET", "/crm/v3/objects/contacts", "", {{"Authorization", "Bearer nope"}});
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(Api("GET", "/crm/v3/objects/contacts").status, 200);
}

TEST_F(SimHubSpot, ContactCreateReadUpdateRoundTrips) {
  const std::string id = CreateContact("Ada@Example.com", {{"firstname", "Ada"}});
  Reply got = Api("GET", "/crm/v3/objects/contacts/" + id);
  ASSERT_EQ(got.status, 200);
  EXPECT_EQ(got.Json()["properties"]["email"], "ada@example.com");
  EXPECT_EQ(got.Json()["properties"]["firstname"], "Ada");
  Reply by_email = Api("GET", "/crm/v3/objects/contacts/ada@example.com?idProperty=email");
  EXPECT_EQ(by_email.Json()["id"], id);
  Reply patched = Api("PATCH", "/crm/v3/objects/contacts/" + id,
                      json{{"properties", {{"consentd_werbesperre", "true"}}}});
  ASSERT_EQ(patched.status, 200) << patched.body;
  Reply read = Api("GET", "/crm/v3/objects/contacts/" + id + "?properties=consentd_werbesperre");
  EXPECT_EQ(read.Json()["properties"]["consentd_werbesperre"], "true");
  EXPECT_EQ(Api("GET", "/crm/v3/objects/contacts/999999").status, 404);
}

TEST_F(SimHubSpot, ContactWritesAreValidated) {
  ExpectValidationError(Api("POST", "/crm/v3/objects/contacts", json::object()), "properties");
  ExpectValidationError(Api("POST", "/crm/v3/objects/contacts", json{{"properties", "x"}}),
                        "properties");
  ExpectValidationError(Api("POST", "/crm/v3/objects/contacts",
                            json{{"properties", {{"email", "a@b.de"}}}, {"associations", 5}}),
                        "associations");
  ExpectValidationError(
      Api("POST", "/crm/v3/objects/contacts",
          json{{"properties", {{"email", "a@b.de"}, {"consentd_werbesperre", "maybe"}}}}),
      "properties.consentd_werbesperre");
  ExpectValidationError(Api("POST", "/crm/v3/objects/contacts",
                            json{{"properties", {{"email", "a@b.de"}, {"lastmodifieddate", "1"}}}}),
                        "properties.lastmodifieddate");
  ExpectValidationError(
      Api("POST", "/crm/v3/objects/contacts", json{{"properties", {{"email", "no-at"}}}}),
      "properties.email");
  ExpectValidationError(Api("POST", "/crm/v3/objects/contacts", std::string("{not json")), "");
  const std::string id = CreateContact("b@example.com");
  ExpectValidationError(Api("PATCH", "/crm/v3/objects/contacts/" + id, json{{"nope", 1}}),
                        "properties");
}

TEST_F(SimHubSpot, CreatingAnExistingAddressConflicts) {
  const std::string id = CreateContact("c@example.com");
  Reply r =
      Api("POST", "/crm/v3/objects/contacts", json{{"properties", {{"email", "C@example.com"}}}});
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(r.Json()["category"], "CONFLICT");
  EXPECT_NE(r.Json()["message"].get<std::string>().find(id), std::string::npos);
}

TEST_F(SimHubSpot, ArchiveDoesNotTouchLastModifiedDate) {
  const std::string id = CreateContact("d@example.com");
  const json before = Api("GET", "/crm/v3/objects/contacts/" + id).Json();
  std::this_thread::sleep_for(std::chrono::milliseconds(5));  // a later clock reading
  EXPECT_EQ(Api("DELETE", "/crm/v3/objects/contacts/" + id).status, 204);
  EXPECT_EQ(Api("GET", "/crm/v3/objects/contacts/" + id).status, 404);
  const json after = Api("GET", "/crm/v3/objects/contacts/" + id + "?archived=true").Json();
  EXPECT_EQ(after["archived"], true);
  EXPECT_TRUE(after.contains("archivedAt"));
  EXPECT_EQ(after["properties"]["lastmodifieddate"], before["properties"]["lastmodifieddate"]);
  EXPECT_EQ(after["updatedAt"], before["updatedAt"]);
  // Archived contacts do not show up in search either.
  json search = Api("POST", "/crm/v3/objects/contacts/search", json::object()).Json();
  EXPECT_EQ(search["total"], 0);
}

TEST_F(SimHubSpot, GdprDeleteBlocklistsTheAddress) {
  const std::string id = CreateContact("e@example.com");
  ExpectValidationError(Api("POST", "/crm/v3/objects/contacts/gdpr-delete", json::object()),
                        "objectId");
  ExpectValidationError(Api("POST", "/crm/v3/objects/contacts/gdpr-delete", json{{"objectId", 5}}),
                        "objectId");
  EXPECT_EQ(Api("POST", "/crm/v3/objects/contacts/gdpr-delete", json{{"objectId", id}}).status,
            204);
  EXPECT_EQ(Api("GET", "/crm/v3/objects/contacts/" + id + "?archived=true").status, 404);
  Reply again =
      Api("POST", "/crm/v3/objects/contacts", json{{"properties", {{"email", "E@example.com"}}}});
  EXPECT_EQ(again.status, 400);
  EXPECT_EQ(again.Json()["category"], "VALIDATION_ERROR");
  Reply status =
      Api("POST", "/communication-preferences/v4/statuses/e@example.com",
          json{{"channel", "EMAIL"}, {"statusState", "SUBSCRIBED"}, {"subscriptionId", 101}});
  EXPECT_EQ(status.status, 400);
  Reply v3 = Api("POST", "/communication-preferences/v3/subscribe",
                 json{{"emailAddress", "e@example.com"}, {"subscriptionId", "101"}});
  EXPECT_EQ(v3.status, 400);
}

// Paging through search results takes more than 4 searches a second.
class SimHubSpotNoLimits : public SimHubSpot {
 protected:
  hubspot::HubSpotOptions Options() override {
    hubspot::HubSpotOptions o = SimHubSpot::Options();
    o.rate_limits = false;
    return o;
  }
};

TEST_F(SimHubSpotNoLimits, SearchFiltersOnLastModifiedDateAndPagesWithAfter) {
  for (int i = 0; i < 5; ++i) CreateContact("s" + std::to_string(i) + "@example.com");
  const json all = Api("POST", "/crm/v3/objects/contacts/search", json{{"limit", 2}}).Json();
  EXPECT_EQ(all["total"], 5);
  std::set<std::string> seen;
  std::string after;
  for (int page = 0; page < 5; ++page) {
    json req = {{"limit", 2},
                {"sorts", {{{"propertyName", "lastmodifieddate"}, {"direction", "ASCENDING"}}}},
                {"properties", {"email"}}};
    if (!after.empty()) req["after"] = after;
    const json r = Api("POST", "/crm/v3/objects/contacts/search", req).Json();
    for (const auto& c : r["results"]) seen.insert(c["properties"]["email"].get<std::string>());
    if (!r.contains("paging")) break;
    after = r["paging"]["next"]["after"];
  }
  EXPECT_EQ(seen.size(), 5u);
  // A change after `mark` is found by a GT filter on lastmodifieddate (ms).
  const json first = all["results"][0];
  const std::string mark = std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                              std::chrono::system_clock::now().time_since_epoch())
                                              .count());
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  Api("PATCH", "/crm/v3/objects/contacts/" + first["id"].get<std::string>(),
      json{{"properties", {{"firstname", "Changed"}}}});
  const json changed = Api("POST", "/crm/v3/objects/contacts/search",
                           json{{"filterGroups",
                                 {{{"filters",
                                    {{{"propertyName", "lastmodifieddate"},
                                      {"operator", "GT"},
                                      {"value", mark}}}}}}}})
                           .Json();
  ASSERT_EQ(changed["total"], 1) << changed.dump();
  EXPECT_EQ(changed["results"][0]["id"], first["id"]);
  ExpectValidationError(
      Api("POST", "/crm/v3/objects/contacts/search",
          json{
              {"filterGroups", {{{"filters", {{{"propertyName", "x"}, {"operator", "ABOUT"}}}}}}}}),
      "filterGroups[0].filters[0].operator");
  ExpectValidationError(Api("POST", "/crm/v3/objects/contacts/search", json{{"limit", "ten"}}),
                        "limit");
  EXPECT_EQ(Api("POST", "/crm/v3/objects/contacts/search", json{{"limit", 201}}).status, 400);
}

TEST_F(SimHubSpot, ListPagesWithAfter) {
  for (int i = 0; i < 3; ++i) CreateContact("l" + std::to_string(i) + "@example.com");
  json p1 = Api("GET", "/crm/v3/objects/contacts?limit=2").Json();
  ASSERT_EQ(p1["results"].size(), 2u);
  json p2 = Api("GET", "/crm/v3/objects/contacts?limit=2&after=" +
                           p1["paging"]["next"]["after"].get<std::string>())
                .Json();
  ASSERT_EQ(p2["results"].size(), 1u);
  EXPECT_FALSE(p2.contains("paging"));
  EXPECT_EQ(Api("GET", "/crm/v3/objects/contacts?limit=abc").status, 400);
}

TEST_F(SimHubSpot, MergeKeepsPrimaryAndRedirectsTheMergedId) {
  const std::string a = CreateContact("m1@example.com", {{"firstname", "Primary"}});
  const std::string b = CreateContact("m2@example.com", {{"lastname", "Merged"}});
  ExpectValidationError(Api("POST", "/crm/v3/objects/contacts/merge", json{{"primaryObjectId", a}}),
                        "objectIdToMerge");
  Reply r = Api("POST", "/crm/v3/objects/contacts/merge",
                json{{"primaryObjectId", a}, {"objectIdToMerge", b}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json()["id"], a);
  EXPECT_EQ(r.Json()["properties"]["lastname"], "Merged");
  EXPECT_EQ(Api("GET", "/crm/v3/objects/contacts/" + b).Json()["id"], a);
}

TEST_F(SimHubSpot, V4DefinitionsAndStatusKeepLegalBasis) {
  json defs = Api("GET", "/communication-preferences/v4/definitions").Json();
  EXPECT_EQ(defs["status"], "COMPLETE");
  EXPECT_GE(defs["results"].size(), 3u);
  Reply w = Api("POST", "/communication-preferences/v4/statuses/f@example.com",
                json{{"channel", "EMAIL"},
                     {"statusState", "SUBSCRIBED"},
                     {"subscriptionId", 102},
                     {"legalBasis", "CONSENT_WITH_NOTICE"},
                     {"legalBasisExplanation", "Form 7, notice v3"}});
  ASSERT_EQ(w.status, 200) << w.body;
  EXPECT_EQ(w.Json()["results"][0]["setStatusSuccessReason"], "REQUESTED_CHANGE_OCCURRED");
  json read =
      Api("GET", "/communication-preferences/v4/statuses/f@example.com?channel=EMAIL").Json();
  bool found = false;
  for (const auto& s : read["results"]) {
    if (s["subscriptionId"] != 102) continue;
    found = true;
    EXPECT_EQ(s["status"], "SUBSCRIBED");
    EXPECT_EQ(s["legalBasis"], "CONSENT_WITH_NOTICE");
    EXPECT_EQ(s["legalBasisExplanation"], "Form 7, notice v3");
  }
  EXPECT_TRUE(found);
  // The write created the contact, with the per-topic opt-out property.
  json c =
      Api("GET",
          "/crm/v3/objects/contacts/f@example.com?idProperty=email&properties=hs_email_optout_102")
          .Json();
  EXPECT_EQ(c["properties"]["hs_email_optout_102"], "false");
}

TEST_F(SimHubSpot, V4StatusWritesAreValidated) {
  const std::string url = "/communication-preferences/v4/statuses/g@example.com";
  ExpectValidationError(Api("POST", url, json{{"channel", "EMAIL"}, {"statusState", "SUBSCRIBED"}}),
                        "subscriptionId");
  ExpectValidationError(
      Api("POST", url,
          json{{"channel", "FAX"}, {"statusState", "SUBSCRIBED"}, {"subscriptionId", 101}}),
      "channel");
  ExpectValidationError(
      Api("POST", url, json{{"channel", "EMAIL"}, {"statusState", "YES"}, {"subscriptionId", 101}}),
      "statusState");
  ExpectValidationError(
      Api("POST", url,
          json{{"channel", "EMAIL"}, {"statusState", "SUBSCRIBED"}, {"subscriptionId", "101"}}),
      "subscriptionId");
  ExpectValidationError(Api("POST", url,
                            json{{"channel", "EMAIL"},
                                 {"statusState", "SUBSCRIBED"},
                                 {"subscriptionId", 101},
                                 {"legalBasis", "BECAUSE"}}),
                        "legalBasis");
  ExpectValidationError(Api("GET", url), "channel");
  ExpectValidationError(Api("GET", url + "?channel=PIGEON"), "channel");
}

TEST_F(SimHubSpot, V4BatchWriteAndRead) {
  Reply w = Api("POST", "/communication-preferences/v4/statuses/batch/write",
                json{{"inputs",
                      {{{"subscriberIdString", "h1@example.com"},
                        {"channel", "EMAIL"},
                        {"statusState", "SUBSCRIBED"},
                        {"subscriptionId", 101}},
                       {{"subscriberIdString", "h2@example.com"},
                        {"channel", "EMAIL"},
                        {"statusState", "UNSUBSCRIBED"},
                        {"subscriptionId", 101}}}}});
  ASSERT_EQ(w.status, 200) << w.body;
  EXPECT_EQ(w.Json()["results"].size(), 2u);
  json r = Api("POST", "/communication-preferences/v4/statuses/batch/read?channel=EMAIL",
               json{{"inputs", {"h1@example.com", "h2@example.com"}}})
               .Json();
  ASSERT_EQ(r["results"].size(), 2u);
  EXPECT_EQ(r["results"][0]["subscriberIdString"], "h1@example.com");
  ExpectValidationError(Api("POST", "/communication-preferences/v4/statuses/batch/write",
                            json{{"inputs", {{{"subscriberIdString", "x@example.com"}}}}}),
                        "inputs[0].channel");
  ExpectValidationError(
      Api("POST", "/communication-preferences/v4/statuses/batch/read?channel=EMAIL",
          json{{"inputs", {1, 2}}}),
      "inputs[0]");
  ExpectValidationError(
      Api("POST", "/communication-preferences/v4/statuses/batch/read?channel=EMAIL",
          json::object()),
      "inputs");
}

// The batch read is written as text (sim/hubspot/hubspot_answers.h): per
// subscriber, in request order and lower-cased, the statuses the single
// read returns, NOT_SPECIFIED ones included.
TEST_F(SimHubSpot, V4BatchReadHoldsWhatEachSingleReadHolds) {
  ASSERT_EQ(Api("POST", "/communication-preferences/v4/statuses/batch/write",
                json{{"inputs",
                      {{{"subscriberIdString", "Mixed@Example.com"},
                        {"channel", "EMAIL"},
                        {"statusState", "SUBSCRIBED"},
                        {"subscriptionId", 101},
                        {"legalBasis", "CONSENT_WITH_NOTICE"},
                        {"legalBasisExplanation", "form \"spring\""}}}}})
                .status,
            200);
  const std::vector<std::string> who = {"Mixed@Example.com", "nobody@example.com"};
  const std::vector<std::string> lower = {"mixed@example.com", "nobody@example.com"};
  Reply batch = Api("POST", "/communication-preferences/v4/statuses/batch/read?channel=EMAIL",
                    json{{"inputs", who}});
  ASSERT_EQ(batch.status, 200) << batch.body;
  json b = batch.Json();
  EXPECT_EQ(b["status"], "COMPLETE");
  ASSERT_EQ(b["results"].size(), who.size());
  for (size_t i = 0; i < who.size(); ++i) {
    Reply one = Api("GET", "/communication-preferences/v4/statuses/" + who[i] + "?channel=EMAIL");
    ASSERT_EQ(one.status, 200) << one.body;
    EXPECT_EQ(b["results"][i]["subscriberIdString"], lower[i]);
    EXPECT_EQ(b["results"][i]["statuses"], one.Json()["results"]) << who[i];
  }
  EXPECT_EQ(b["results"][0]["statuses"][0]["legalBasisExplanation"], "form \"spring\"");
}

// The list page is written as text too: each contact as its single read
// returns it, and the cursor to the next page.
TEST_F(SimHubSpot, ContactListPageHoldsWhatEachSingleReadHolds) {
  for (const char* email : {"l1@example.com", "l2@example.com", "l3@example.com"}) {
    CreateContact(email, {{"firstname", "Q\"uote"}});
  }
  const std::string props = "properties=email,firstname,no_such_property";
  std::string after = "0";
  std::set<std::string> seen;
  for (int page = 0; page < 100; ++page) {
    Reply r = Api("GET", "/crm/v3/objects/contacts?limit=2&after=" + after + "&" + props);
    ASSERT_EQ(r.status, 200) << r.body;
    json j = r.Json();
    ASSERT_LE(j["results"].size(), 2u);
    for (const json& c : j["results"]) {
      const std::string id = c["id"];
      Reply one = Api("GET", "/crm/v3/objects/contacts/" + id + "?" + props);
      EXPECT_EQ(c, one.Json()) << id;
      EXPECT_TRUE(c["properties"]["no_such_property"].is_null());
      seen.insert(id);
    }
    if (!j.contains("paging")) break;
    EXPECT_EQ(j["paging"]["next"]["after"], j["results"].back()["id"]);
    after = j["paging"]["next"]["after"];
  }
  EXPECT_GE(seen.size(), 3u);
}

TEST_F(SimHubSpot, V4UnsubscribeAllPerChannel) {
  for (const std::string ch : {"EMAIL", "SMS", "WHATSAPP"}) {
    const std::string who = ch == "EMAIL" ? "u@example.com" : "+4915112345678";
    Reply r = Api(
        "POST", "/communication-preferences/v4/statuses/" + who + "/unsubscribe-all?channel=" + ch);
    ASSERT_EQ(r.status, 200) << ch << r.body;
    json wide = Api("GET", "/communication-preferences/v4/statuses/" + who +
                               "/unsubscribe-all?channel=" + ch)
                    .Json();
    EXPECT_EQ(wide["results"][0]["status"], "UNSUBSCRIBED") << ch;
    EXPECT_EQ(wide["results"][0]["wideStatusType"], "PORTAL_WIDE");
  }
  // Other channels stay untouched by one channel's unsubscribe-all.
  json sms =
      Api("GET", "/communication-preferences/v4/statuses/u@example.com/unsubscribe-all?channel=SMS")
          .Json();
  EXPECT_EQ(sms["results"][0]["status"], "SUBSCRIBED");
  json batch =
      Api("POST", "/communication-preferences/v4/statuses/batch/unsubscribe-all/read?channel=EMAIL",
          json{{"inputs", {"u@example.com"}}})
          .Json();
  EXPECT_EQ(batch["results"][0]["wideStatuses"][0]["status"], "UNSUBSCRIBED");
  EXPECT_EQ(
      Api("POST", "/communication-preferences/v4/statuses/batch/unsubscribe-all?channel=EMAIL",
          json{{"inputs", {"v@example.com"}}})
          .status,
      200);
  ExpectValidationError(
      Api("POST", "/communication-preferences/v4/statuses/u@example.com/unsubscribe-all"),
      "channel");
}

TEST_F(SimHubSpot, V3SubscribeUnsubscribeAndStatus) {
  Reply s = Api("POST", "/communication-preferences/v3/subscribe",
                json{{"emailAddress", "k@example.com"},
                     {"subscriptionId", "101"},
                     {"legalBasis", "CONSENT_WITH_NOTICE"},
                     {"legalBasisExplanation", "web form"}});
  ASSERT_EQ(s.status, 200) << s.body;
  EXPECT_EQ(s.Json()["status"], "SUBSCRIBED");
  json st = Api("GET", "/communication-preferences/v3/status/email/k@example.com").Json();
  EXPECT_EQ(st["recipient"], "k@example.com");
  EXPECT_EQ(st["subscriptionStatuses"][0]["status"], "SUBSCRIBED");
  EXPECT_EQ(st["subscriptionStatuses"][0]["legalBasisExplanation"], "web form");
  Reply u = Api("POST", "/communication-preferences/v3/unsubscribe",
                json{{"emailAddress", "k@example.com"}, {"subscriptionId", "101"}});
  ASSERT_EQ(u.status, 200) << u.body;
  EXPECT_EQ(u.Json()["status"], "NOT_SUBSCRIBED");
  EXPECT_EQ(Api("GET", "/communication-preferences/v3/definitions")
                .Json()["subscriptionDefinitions"]
                .size(),
            3u);
  ExpectValidationError(
      Api("POST", "/communication-preferences/v3/subscribe", json{{"subscriptionId", "101"}}),
      "emailAddress");
  ExpectValidationError(Api("POST", "/communication-preferences/v3/subscribe",
                            json{{"emailAddress", "k@example.com"}, {"subscriptionId", true}}),
                        "subscriptionId");
  ExpectValidationError(Api("POST", "/communication-preferences/v3/subscribe",
                            json{{"emailAddress", "k@example.com"},
                                 {"subscriptionId", "101"},
                                 {"legalBasis", "NOPE"}}),
                        "legalBasis");
}

TEST_F(SimHubSpot, V3RefusesToResubscribeAnOptedOutAddressButV4Allows) {
  ASSERT_EQ(
      Api("POST",
          "/communication-preferences/v4/statuses/o@example.com/unsubscribe-all?channel=EMAIL")
          .status,
      200);
  Reply v3 = Api("POST", "/communication-preferences/v3/subscribe",
                 json{{"emailAddress", "o@example.com"}, {"subscriptionId", "101"}});
  EXPECT_EQ(v3.status, 400);
  EXPECT_EQ(v3.Json()["category"], "VALIDATION_ERROR");
  Reply v4 =
      Api("POST", "/communication-preferences/v4/statuses/o@example.com",
          json{{"channel", "EMAIL"}, {"statusState", "SUBSCRIBED"}, {"subscriptionId", 101}});
  ASSERT_EQ(v4.status, 200) << v4.body;
  EXPECT_EQ(v4.Json()["results"][0]["setStatusSuccessReason"], "RESUBSCRIBE_OCCURRED");
  json wide =
      Api("GET",
          "/communication-preferences/v4/statuses/o@example.com/unsubscribe-all?channel=EMAIL")
          .Json();
  EXPECT_EQ(wide["results"][0]["status"], "SUBSCRIBED");
}

TEST_F(SimHubSpot, TenSecondRollingLimitAnswers429WithHubSpotBody) {
  int ok = 0;
  Reply limited;
  for (int i = 0; i < 101; ++i) {
    Reply r = Api("GET", "/crm/v3/objects/contacts?limit=1");
    if (r.status == 200) ++ok;
    if (r.status == 429) limited = r;
  }
  EXPECT_EQ(ok, 100);
  ASSERT_EQ(limited.status, 429);
  json j = limited.Json();
  EXPECT_EQ(j["status"], "error");
  EXPECT_EQ(j["policyName"], "TEN_SECONDLY_ROLLING");
  EXPECT_EQ(j["errorType"], "RATE_LIMIT");
  EXPECT_TRUE(j["correlationId"].is_string());
  EXPECT_EQ(limited.Header("X-HubSpot-RateLimit-Max"), "100");
}

TEST_F(SimHubSpot, SearchIsLimitedToFourPerSecond) {
  Reply limited;
  for (int i = 0; i < 12 && limited.status != 429; ++i) {
    limited = Api("POST", "/crm/v3/objects/contacts/search", json::object());
  }
  ASSERT_EQ(limited.status, 429);
  EXPECT_EQ(limited.Json()["policyName"], "SECONDLY");
}

TEST_F(SimHubSpot, SeedIsDeterministicAndMixesConsentStates) {
  ASSERT_EQ(Control("POST", "/_sim/hubspot/seed", {{"count", 60}, {"seed", 3}}).status, 200);
  json s1 = Control("GET", "/_sim/hubspot/state").Json();
  Control("POST", "/_sim/reset");
  Control("POST", "/_sim/hubspot/seed", {{"count", 60}, {"seed", 3}});
  json s2 = Control("GET", "/_sim/hubspot/state").Json();
  EXPECT_EQ(s1["contacts"].size(), 60u);
  // Same seed, same people and consent states (timestamps aside).
  for (size_t i = 0; i < 60; ++i) {
    EXPECT_EQ(s1["contacts"][i]["properties"]["firstname"],
              s2["contacts"][i]["properties"]["firstname"]);
    EXPECT_EQ(s1["contacts"][i]["properties"].value("consentd_werbesperre", ""),
              s2["contacts"][i]["properties"].value("consentd_werbesperre", ""));
  }
  EXPECT_EQ(s1["subscriptionStatuses"].size(), s2["subscriptionStatuses"].size());
  std::set<std::string> states;
  for (const auto& st : s1["subscriptionStatuses"]) states.insert(st["status"].get<std::string>());
  EXPECT_TRUE(states.count("SUBSCRIBED"));
  EXPECT_TRUE(states.count("UNSUBSCRIBED"));
  EXPECT_FALSE(s1["unsubscribedFromAll"].empty());
}

TEST_F(SimHubSpot, ControlActsAsPersonAndAdmin) {
  ASSERT_EQ(Control("POST", "/_sim/hubspot/person/signup",
                    {{"email", "p@example.com"}, {"subscriptionId", 103}})
                .status,
            200);
  json st = Api("GET", "/communication-preferences/v4/statuses/p@example.com?channel=EMAIL").Json();
  bool subscribed = false;
  for (const auto& s : st["results"])
    subscribed = subscribed || (s["subscriptionId"] == 103 && s["status"] == "SUBSCRIBED");
  EXPECT_TRUE(subscribed);
  ASSERT_EQ(Control("POST", "/_sim/hubspot/admin/block", {{"email", "p@example.com"}}).status, 200);
  json c =
      Api("GET",
          "/crm/v3/objects/contacts/p@example.com?idProperty=email&properties=consentd_werbesperre")
          .Json();
  EXPECT_EQ(c["properties"]["consentd_werbesperre"], "true");
  ASSERT_EQ(Control("POST", "/_sim/hubspot/person/unsubscribe",
                    {{"email", "p@example.com"}, {"all", true}})
                .status,
            200);
  json wide =
      Api("GET",
          "/communication-preferences/v4/statuses/p@example.com/unsubscribe-all?channel=EMAIL")
          .Json();
  EXPECT_EQ(wide["results"][0]["status"], "UNSUBSCRIBED");
  ASSERT_EQ(Control("POST", "/_sim/hubspot/admin/gdpr-delete", {{"email", "p@example.com"}}).status,
            200);
  EXPECT_EQ(Api("GET", "/crm/v3/objects/contacts/p@example.com?idProperty=email").status, 404);
  EXPECT_EQ(Control("POST", "/_sim/hubspot/admin/block", {{"email", "nobody@example.com"}}).status,
            404);
}

}  // namespace
}  // namespace consentd::sim::testing
