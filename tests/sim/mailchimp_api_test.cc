// The simulated Mailchimp API, request by request (no sockets): valid and
// invalid requests per endpoint, Mailchimp's refusals, paging, auth.
#include <gtest/gtest.h>

#include "tests/sim/mailchimp_test_util.h"

namespace consentd::sim::mailchimp::testing {
namespace {

using nlohmann::json;

class SimMailchimpApiTest : public ::testing::Test, public SimFixture {};

void ExpectProblem(const net::HttpResponse& r, int status, const std::string& title) {
  EXPECT_EQ(r.status, status) << r.body;
  EXPECT_NE(r.content_type.find("application/problem+json"), std::string::npos);
  json b = Body(r);
  EXPECT_EQ(b["title"], title) << r.body;
  EXPECT_EQ(b["status"], status);
  EXPECT_EQ(b["type"], "https://mailchimp.com/developer/marketing/docs/errors/");
  EXPECT_TRUE(b["detail"].is_string());
  EXPECT_TRUE(b["instance"].is_string());
}

// --- auth -------------------------------------------------------------------

TEST_F(SimMailchimpApiTest, MissingAuthorizationIsApiKeyMissing) {
  ExpectProblem(sim_.HandleApi(Request("GET", ListPath(), "", "")), 401, "API Key Missing");
}

TEST_F(SimMailchimpApiTest, WrongKeyIsApiKeyInvalid) {
  ExpectProblem(sim_.HandleApi(Request("GET", ListPath(), "", BasicAuth("any:wrong-us21"))), 401,
                "API Key Invalid");
  ExpectProblem(sim_.HandleApi(Request("GET", ListPath(), "", "Bearer wrong-us21")), 401,
                "API Key Invalid");
  ExpectProblem(sim_.HandleApi(Request("GET", ListPath(), "", "Token " + std::string(kKey))), 401,
                "API Key Invalid");
}

TEST_F(SimMailchimpApiTest, BasicWithAnyUserAndBearerAreAccepted) {
  EXPECT_EQ(
      sim_.HandleApi(Request("GET", ListPath(), "", BasicAuth(std::string("x:") + kKey))).status,
      200);
  EXPECT_EQ(sim_.HandleApi(Request("GET", ListPath(), "", "Bearer " + std::string(kKey))).status,
            200);
  EXPECT_EQ(sim_.HandleApi(Request("GET", "/3.0/ping", "", "bearer " + std::string(kKey))).status,
            200);
}

// --- concurrency --------------------------------------------------------------

TEST_F(SimMailchimpApiTest, EleventhConcurrentRequestPerKeyGets429) {
  std::vector<MailchimpSim::ConcurrencySlot> held;
  for (int i = 0; i < 10; ++i) {
    held.push_back(sim_.AcquireSlot(Request("GET", ListPath())));
    EXPECT_TRUE(held.back().admitted());
  }
  EXPECT_EQ(sim_.InFlight(kKey), 10);
  auto extra = sim_.AcquireSlot(Request("GET", ListPath()));
  EXPECT_FALSE(extra.admitted());
  ExpectProblem(sim_.HandleApiWithSlot(Request("GET", ListPath()), extra), 429,
                "Too Many Requests");
  // Plain HandleApi counts itself too, so it is refused while ten are held.
  EXPECT_EQ(sim_.HandleApi(Request("GET", ListPath())).status, 429);
  // The in-flight requests themselves are served.
  EXPECT_EQ(sim_.HandleApiWithSlot(Request("GET", ListPath()), held.front()).status, 200);
  held.pop_back();  // one finishes
  EXPECT_EQ(sim_.InFlight(kKey), 9);
  EXPECT_EQ(sim_.HandleApi(Request("GET", ListPath())).status, 200);
  held.clear();
  EXPECT_EQ(sim_.InFlight(kKey), 0);
}

TEST_F(SimMailchimpApiTest, FrameworkAdmissionHoldsASlotUntilReleased) {
  SimSystem& system = sim_;
  std::vector<std::shared_ptr<void>> held;
  for (int i = 0; i < 10; ++i) held.push_back(system.AdmitRequest(Request("GET", ListPath())));
  auto extra = system.AdmitRequest(Request("GET", ListPath()));
  ExpectProblem(system.HandleAdmittedApi(Request("GET", ListPath()), extra), 429,
                "Too Many Requests");
  EXPECT_EQ(system.HandleAdmittedApi(Request("GET", ListPath()), held[0]).status, 200);
  held.clear();
  EXPECT_EQ(sim_.InFlight(kKey), 0);
  EXPECT_EQ(system.HandleAdmittedApi(Request("GET", ListPath()), nullptr).status, 200);
}

TEST_F(SimMailchimpApiTest, InjectedFaultsUseMailchimpsProblemFormat) {
  ExpectProblem(sim_.FaultResponse(503), 503, "Service Unavailable");
  ExpectProblem(sim_.FaultResponse(429), 429, "Too Many Requests");
}

TEST(SimMailchimpConcurrency, DisabledRateLimitsNeverRefuse) {
  MailchimpOptions o = TestOptions();
  o.rate_limits_enabled = false;
  SimFixture f(o);
  std::vector<MailchimpSim::ConcurrencySlot> held;
  for (int i = 0; i < 20; ++i) held.push_back(f.sim_.AcquireSlot(Request("GET", f.ListPath())));
  EXPECT_TRUE(held.back().admitted());
  EXPECT_EQ(f.Api("GET", f.ListPath()).status, 200);
}

TEST_F(SimMailchimpApiTest, SlotsMayOutliveTheSimulator) {
  auto sim = std::make_unique<MailchimpSim>(TestOptions(), clock_);
  auto slot = sim->AcquireSlot(Request("GET", ListPath()));
  sim.reset();
  EXPECT_TRUE(slot.admitted());  // destroying it later must be safe (ASan checks)
}

// --- list, interest categories, routing ------------------------------------

TEST_F(SimMailchimpApiTest, GetListDescribesTheAudience) {
  auto r = Api("GET", ListPath() + "?include_total_contacts=true");
  ASSERT_EQ(r.status, 200);
  json b = Body(r);
  EXPECT_EQ(b["id"], sim_.audience().list_id());
  EXPECT_EQ(b["double_optin"], true);
  EXPECT_EQ(b["marketing_permissions"], true);
  EXPECT_EQ(b["stats"]["total_contacts"], 0);
  ExpectProblem(Api("GET", ListPath() + "?include_total_contacts=maybe"), 400, "Invalid Resource");
  ExpectProblem(Api("GET", "/3.0/lists/nosuchlist"), 404, "Resource Not Found");
  auto wrong = Api("DELETE", ListPath());
  ExpectProblem(wrong, 405, "Method Not Allowed");
  EXPECT_EQ(net::FindHeader(wrong.headers, "Allow").value_or(""), "GET, POST");
  ExpectProblem(Api("GET", "/3.0/campaigns"), 404, "Resource Not Found");
  ExpectProblem(Api("GET", "/crm/v3/objects/contacts"), 404, "Resource Not Found");
}

TEST_F(SimMailchimpApiTest, RootPingAndListsAnswer) {
  auto root = Api("GET", "/3.0/");
  ASSERT_EQ(root.status, 200);
  EXPECT_EQ(Body(root)["account_name"], "consentd-sim");
  EXPECT_EQ(Body(Api("GET", "/3.0/ping"))["health_status"], "Everything's Chimpy!");
  json lists = Body(Api("GET", "/3.0/lists?fields=lists.id,total_items"));
  EXPECT_EQ(lists, json({{"lists", {{{"id", sim_.audience().list_id()}}}}, {"total_items", 1}}));
  ExpectProblem(Api("POST", "/3.0/lists", json::object()), 405, "Method Not Allowed");
  ExpectProblem(Api("POST", "/3.0/ping", json::object()), 405, "Method Not Allowed");
}

TEST_F(SimMailchimpApiTest, GetMemberByHashOrAddress) {
  ASSERT_EQ(Put("a@example.org", "subscribed").status, 200);
  auto r = Api("GET", MemberPath("a@example.org"));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "application/json; charset=utf-8");
  EXPECT_EQ(Body(r)["email_address"], "a@example.org");
  EXPECT_EQ(Api("GET", ListPath() + "/members/A%40Example.org").status, 200);
  ExpectProblem(Api("GET", MemberPath("b@example.org")), 404, "Resource Not Found");
  // Member tags are simulated (re-consent markers); notes are not.
  EXPECT_EQ(Api("GET", MemberPath("a@example.org") + "/tags").status, 200);
  ExpectProblem(Api("GET", MemberPath("a@example.org") + "/notes"), 404, "Resource Not Found");
  ExpectProblem(Api("POST", MemberPath("a@example.org"), json::object()), 405,
                "Method Not Allowed");
}

TEST_F(SimMailchimpApiTest, InterestCategoriesAndInterestsListAndGet) {
  auto cats = Api("GET", ListPath() + "/interest-categories");
  ASSERT_EQ(cats.status, 200);
  json c = Body(cats);
  ASSERT_EQ(c["total_items"], 2);
  const std::string cat_id = c["categories"][0]["id"];
  EXPECT_EQ(c["categories"][0]["type"], "checkboxes");
  EXPECT_EQ(Body(Api("GET", ListPath() + "/interest-categories?count=1"))["categories"].size(), 1u);
  EXPECT_EQ(Body(Api("GET", ListPath() + "/interest-categories?type=radio"))["total_items"], 1);

  auto one = Api("GET", ListPath() + "/interest-categories/" + cat_id);
  ASSERT_EQ(one.status, 200);
  EXPECT_EQ(Body(one)["title"], "Topics");
  auto interests = Api("GET", ListPath() + "/interest-categories/" + cat_id + "/interests");
  ASSERT_EQ(interests.status, 200);
  json i = Body(interests);
  EXPECT_EQ(i["total_items"], 4);
  const std::string interest_id = i["interests"][0]["id"];
  auto interest =
      Api("GET", ListPath() + "/interest-categories/" + cat_id + "/interests/" + interest_id);
  ASSERT_EQ(interest.status, 200);
  EXPECT_EQ(Body(interest)["name"], "Newsletter");
  EXPECT_EQ(Body(interest)["subscriber_count"], "0");  // a string, as Mailchimp has it

  ExpectProblem(Api("GET", ListPath() + "/interest-categories?count=1001"), 400,
                "Invalid Resource");
  ExpectProblem(Api("GET", ListPath() + "/interest-categories?offset=x"), 400, "Invalid Resource");
  ExpectProblem(Api("GET", ListPath() + "/interest-categories/nope"), 404, "Resource Not Found");
  ExpectProblem(Api("GET", ListPath() + "/interest-categories/" + cat_id + "/interests/nope"), 404,
                "Resource Not Found");
  ExpectProblem(Api("POST", ListPath() + "/interest-categories", json::object()), 405,
                "Method Not Allowed");
}

TEST_F(SimMailchimpApiTest, FieldsAndExcludeFieldsProject) {
  ASSERT_EQ(Put("a@example.org", "subscribed").status, 200);
  json b = Body(Api("GET", ListPath() + "/members?fields=members.email_address,total_items"));
  EXPECT_EQ(b, json({{"members", {{{"email_address", "a@example.org"}}}}, {"total_items", 1}}));
  json m = Body(
      Api("GET", MemberPath("a@example.org") + "?exclude_fields=_links,merge_fields,location"));
  EXPECT_FALSE(m.contains("_links"));
  EXPECT_FALSE(m.contains("merge_fields"));
  EXPECT_TRUE(m.contains("status"));
}

TEST_F(SimMailchimpApiTest, AProjectedMemberListHoldsTheSameValuesAsTheFullList) {
  ASSERT_EQ(Put("a@example.org", "subscribed").status, 200);
  ASSERT_EQ(Put("b@example.org", "unsubscribed").status, 200);
  const json full = Body(Api("GET", ListPath() + "/members"));
  ASSERT_EQ(full["members"].size(), 2u);
  const json b =
      Body(Api("GET", ListPath() + "/members?fields=members.id,members.status,members.location."
                                   "latitude,members.unsubscribe_reason,members.last_changed,"
                                   "total_items"));
  ASSERT_EQ(b["members"].size(), 2u);
  EXPECT_EQ(b["total_items"], 2);
  for (std::size_t i = 0; i < 2; ++i) {
    const json& f = full["members"][i];
    json want = {{"id", f["id"]},
                 {"status", f["status"]},
                 {"location", {{"latitude", f["location"]["latitude"]}}},
                 {"last_changed", f["last_changed"]}};
    if (f.contains("unsubscribe_reason")) want["unsubscribe_reason"] = f["unsubscribe_reason"];
    EXPECT_EQ(b["members"][i], want) << i;
  }
  // Naming the whole member keeps all of it.
  EXPECT_EQ(Body(Api("GET", ListPath() + "/members?fields=members"))["members"], full["members"]);
}

TEST_F(SimMailchimpApiTest, AProjectedMemberHoldsTheSameValuesAsTheFullMember) {
  ASSERT_EQ(Put("a@example.org", "subscribed").status, 200);
  const json full = Body(Api("GET", MemberPath("a@example.org")));
  const json m = Body(Api("GET", MemberPath("a@example.org") +
                                     "?fields=id,email_address,status,interests,location.latitude,"
                                     "last_changed"));
  EXPECT_EQ(m, json({{"id", full["id"]},
                     {"email_address", full["email_address"]},
                     {"status", full["status"]},
                     {"interests", full["interests"]},
                     {"location", {{"latitude", full["location"]["latitude"]}}},
                     {"last_changed", full["last_changed"]}}));
  // Naming a whole object keeps all of it.
  EXPECT_EQ(Body(Api("GET", MemberPath("a@example.org") + "?fields=location"))["location"],
            full["location"]);
}

// --- members: PUT -------------------------------------------------------------

TEST_F(SimMailchimpApiTest, PutCreatesWithStatusIfNewAndReturnsTheMember) {
  auto r = Api("PUT", MemberPath("Jane.Doe@Example.org"),
               {{"email_address", "Jane.Doe@Example.org"},
                {"status_if_new", "subscribed"},
                {"merge_fields", {{"FNAME", "Jane"}, {"LNAME", "Doe"}}},
                {"interests", {{FirstInterestId(), true}}},
                {"marketing_permissions",
                 {{{"marketing_permission_id", FirstPermissionId()}, {"enabled", true}}}},
                {"ip_opt", "198.51.100.7"},
                {"timestamp_opt", "2026-09-01T10:00:00Z"}});
  ASSERT_EQ(r.status, 200) << r.body;
  json m = Body(r);
  EXPECT_EQ(m["id"], SubscriberHash("jane.doe@example.org"));
  EXPECT_EQ(m["email_address"], "Jane.Doe@Example.org");
  EXPECT_EQ(m["status"], "subscribed");
  EXPECT_EQ(m["full_name"], "Jane Doe");
  EXPECT_EQ(m["interests"][FirstInterestId()], true);
  EXPECT_EQ(m["interests"].size(), sim_.audience().interests().size());
  EXPECT_EQ(m["marketing_permissions"][0]["enabled"], true);
  EXPECT_EQ(m["marketing_permissions"][0]["text"], "Email");
  EXPECT_EQ(m["ip_opt"], "198.51.100.7");
  EXPECT_EQ(m["timestamp_opt"], "2026-09-01T10:00:00+00:00");
  EXPECT_EQ(m["last_changed"], "2026-09-21T14:13:20+00:00");
  EXPECT_EQ(m["list_id"], sim_.audience().list_id());
}

TEST_F(SimMailchimpApiTest, PutRejectsWhatTheSpecRejects) {
  const std::string path = MemberPath("a@example.org");
  ExpectProblem(Api("PUT", path, {{"email_address", "a@example.org"}}), 400, "Invalid Resource");
  ExpectProblem(Api("PUT", path, {{"status_if_new", "subscribed"}}), 400, "Invalid Resource");
  ExpectProblem(Api("PUT", path, {{"email_address", "a@example.org"}, {"status_if_new", "happy"}}),
                400, "Invalid Resource");
  ExpectProblem(
      Api("PUT", path, {{"email_address", "a@example.org"}, {"status_if_new", "archived"}}), 400,
      "Invalid Resource");
  ExpectProblem(Api("PUT", path, {{"email_address", 42}, {"status_if_new", "subscribed"}}), 400,
                "Invalid Resource");
  ExpectProblem(
      Api("PUT", path,
          {{"email_address", "a@example.org"}, {"status_if_new", "subscribed"}, {"status", 1}}),
      400, "Invalid Resource");
  ExpectProblem(Api("PUT", path,
                    {{"email_address", "a@example.org"},
                     {"status_if_new", "subscribed"},
                     {"interests", {{FirstInterestId(), "yes"}}}}),
                400, "Invalid Resource");
  ExpectProblem(Api("PUT", path,
                    {{"email_address", "a@example.org"},
                     {"status_if_new", "subscribed"},
                     {"interests", {{"0000000000", true}}}}),
                400, "Invalid Resource");
  ExpectProblem(
      Api("PUT", path,
          {{"email_address", "a@example.org"},
           {"status_if_new", "subscribed"},
           {"marketing_permissions", {{{"marketing_permission_id", "nope"}, {"enabled", true}}}}}),
      400, "Invalid Resource");
  ExpectProblem(Api("PUT", path,
                    {{"email_address", "a@example.org"},
                     {"status_if_new", "subscribed"},
                     {"marketing_permissions", json::object()}}),
                400, "Invalid Resource");
  ExpectProblem(Api("PUT", path,
                    {{"email_address", "a@example.org"},
                     {"status_if_new", "subscribed"},
                     {"timestamp_opt", "yesterday"}}),
                400, "Invalid Resource");
  ExpectProblem(Api("PUT", path,
                    {{"email_address", "a@example.org"},
                     {"status_if_new", "subscribed"},
                     {"ip_opt", "not-an-ip"}}),
                400, "Invalid Resource");
  ExpectProblem(Api("PUT", path,
                    {{"email_address", "a@example.org"},
                     {"status_if_new", "subscribed"},
                     {"email_type", "rtf"}}),
                400, "Invalid Resource");
  ExpectProblem(
      Api("PUT", path,
          {{"email_address", "a@example.org"}, {"status_if_new", "subscribed"}, {"vip", "no"}}),
      400, "Invalid Resource");
  ExpectProblem(
      Api("PUT", path, {{"email_address", "not-an-address"}, {"status_if_new", "subscribed"}}), 400,
      "Invalid Resource");
  ExpectProblem(Api("PUT", MemberPath("b@example.org"),
                    {{"email_address", "a@example.org"}, {"status_if_new", "subscribed"}}),
                400, "Invalid Resource");
  auto bad_json = sim_.HandleApi(Request("PUT", path, "{\"email_address\":"));
  ExpectProblem(bad_json, 400, "JSON Parse Error");
  ExpectProblem(Api("PUT", path, json::array()), 400, "Invalid Resource");
  EXPECT_TRUE(sim_.audience().Members().empty());
  // The field is named in the errors array.
  json e = Body(Api("PUT", path, {{"email_address", "a@example.org"}, {"status_if_new", "happy"}}));
  EXPECT_EQ(e["errors"][0]["field"], "status_if_new");
}

TEST_F(SimMailchimpApiTest, PutAcceptsTheEmailAddressInPlaceOfTheHash) {
  auto r = Api("PUT", ListPath() + "/members/a%40example.org",
               {{"email_address", "a@example.org"}, {"status_if_new", "pending"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r)["status"], "pending");
  EXPECT_EQ(Api("GET", ListPath() + "/members/A@example.org").status, 200);
}

TEST_F(SimMailchimpApiTest, PutOnExistingMemberUsesStatusNotStatusIfNew) {
  ASSERT_EQ(Put("a@example.org", "subscribed").status, 200);
  auto r = Put("a@example.org", "subscribed", "unsubscribed");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(Body(r)["status"], "unsubscribed");
  EXPECT_EQ(Body(Put("a@example.org", "subscribed"))["status"], "unsubscribed");
}

// --- compliance and forgotten ------------------------------------------------

TEST_F(SimMailchimpApiTest, UnsubscribedMemberCannotBeResubscribedThroughTheApi) {
  ASSERT_EQ(Put("a@example.org", "unsubscribed").status, 200);
  ExpectProblem(Put("a@example.org", "subscribed", "subscribed"), 400,
                "Member In Compliance State");
  ExpectProblem(Api("PATCH", MemberPath("a@example.org"), {{"status", "subscribed"}}), 400,
                "Member In Compliance State");
  EXPECT_EQ(Body(Api("GET", MemberPath("a@example.org")))["status"], "unsubscribed");
  // Re-consent goes through double opt-in.
  auto pending = Api("PATCH", MemberPath("a@example.org"), {{"status", "pending"}});
  ASSERT_EQ(pending.status, 200);
  EXPECT_EQ(Body(pending)["status"], "pending");
}

TEST_F(SimMailchimpApiTest, CleanedMemberCannotBeResubscribedThroughTheApi) {
  ASSERT_EQ(Put("a@example.org", "cleaned").status, 200);
  ExpectProblem(Put("a@example.org", "subscribed", "subscribed"), 400,
                "Member In Compliance State");
}

TEST_F(SimMailchimpApiTest, ArchivedUnsubscribedMemberStaysInCompliance) {
  ASSERT_EQ(Put("a@example.org", "unsubscribed").status, 200);
  ASSERT_EQ(Api("DELETE", MemberPath("a@example.org")).status, 204);
  ExpectProblem(Put("a@example.org", "subscribed"), 400, "Member In Compliance State");
  ExpectProblem(Api("POST", ListPath() + "/members",
                    {{"email_address", "a@example.org"}, {"status", "subscribed"}}),
                400, "Member In Compliance State");
}

TEST_F(SimMailchimpApiTest, PermanentlyDeletedAddressCannotBeReAdded) {
  ASSERT_EQ(Put("a@example.org", "subscribed").status, 200);
  auto del = Api("POST", MemberPath("a@example.org") + "/actions/delete-permanent");
  ASSERT_EQ(del.status, 204);
  EXPECT_TRUE(del.body.empty());
  ExpectProblem(Api("GET", MemberPath("a@example.org")), 404, "Resource Not Found");
  for (const char* status : {"subscribed", "pending", "unsubscribed"}) {
    ExpectProblem(Put("a@example.org", status), 400, "Forgotten Email Not Subscribed");
  }
  ExpectProblem(Api("POST", ListPath() + "/members",
                    {{"email_address", "A@example.org"}, {"status", "subscribed"}}),
                400, "Forgotten Email Not Subscribed");
  ExpectProblem(Api("POST", MemberPath("a@example.org") + "/actions/delete-permanent"), 404,
                "Resource Not Found");
  ExpectProblem(Api("GET", MemberPath("a@example.org") + "/actions/delete-permanent"), 405,
                "Method Not Allowed");
}

// --- pending / double opt-in -------------------------------------------------------

TEST_F(SimMailchimpApiTest, PendingMemberBecomesSubscribedWhenTheConfirmationIsClicked) {
  ASSERT_EQ(Put("a@example.org", "pending").status, 200);
  ASSERT_EQ(sim_.audience().confirmations().size(), 1u);
  const std::string token = sim_.audience().confirmations().begin()->first;
  clock_.Advance(5000);
  auto c = Control("POST", "/person/confirm", {{"token", token}});
  ASSERT_EQ(c.status, 200) << c.body;
  json m = Body(Api("GET", MemberPath("a@example.org")));
  EXPECT_EQ(m["status"], "subscribed");
  EXPECT_EQ(m["timestamp_opt"], "2026-09-21T14:13:25+00:00");
  EXPECT_TRUE(sim_.audience().confirmations().empty());
  EXPECT_EQ(Control("POST", "/person/confirm", {{"token", token}}).status, 404);
}

// --- POST, PATCH, DELETE, GET ---------------------------------------------------

TEST_F(SimMailchimpApiTest, PostAddsAndRefusesAnExistingMember) {
  auto r =
      Api("POST", ListPath() + "/members",
          {{"email_address", "a@example.org"}, {"status", "subscribed"}, {"tags", {"vip-list"}}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r)["tags"][0]["name"], "vip-list");
  ExpectProblem(Api("POST", ListPath() + "/members",
                    {{"email_address", "a@example.org"}, {"status", "subscribed"}}),
                400, "Member Exists");
  ExpectProblem(Api("POST", ListPath() + "/members", {{"email_address", "b@example.org"}}), 400,
                "Invalid Resource");
  ExpectProblem(Api("POST", ListPath() + "/members",
                    {{"email_address", "b@example.org"}, {"status", "archived"}}),
                400, "Invalid Resource");
  ExpectProblem(Api("POST", ListPath() + "/members", {{"status", "subscribed"}}), 400,
                "Invalid Resource");
  ExpectProblem(Api("POST", ListPath() + "/members?skip_merge_validation=perhaps",
                    {{"email_address", "b@example.org"}, {"status", "subscribed"}}),
                400, "Invalid Resource");
}

TEST_F(SimMailchimpApiTest, PatchUpdatesOnlyWhatIsGiven) {
  ASSERT_EQ(Put("a@example.org", "subscribed").status, 200);
  clock_.Advance(60'000);
  auto r = Api("PATCH", MemberPath("a@example.org"), {{"interests", {{FirstInterestId(), true}}}});
  ASSERT_EQ(r.status, 200);
  json m = Body(r);
  EXPECT_EQ(m["status"], "subscribed");
  EXPECT_EQ(m["interests"][FirstInterestId()], true);
  EXPECT_EQ(m["last_changed"], "2026-09-21T14:14:20+00:00");
  ExpectProblem(Api("PATCH", MemberPath("a@example.org"), {{"status", "transactional"}}), 400,
                "Invalid Resource");
  ExpectProblem(Api("PATCH", MemberPath("a@example.org"), {{"merge_fields", "Jane"}}), 400,
                "Invalid Resource");
  ExpectProblem(Api("PATCH", MemberPath("nobody@example.org"), {{"status", "subscribed"}}), 404,
                "Resource Not Found");
}

TEST_F(SimMailchimpApiTest, UnchangedWriteKeepsLastChanged) {
  ASSERT_EQ(Put("a@example.org", "subscribed").status, 200);
  clock_.Advance(60'000);
  json m = Body(Put("a@example.org", "subscribed", "subscribed"));
  EXPECT_EQ(m["last_changed"], "2026-09-21T14:13:20+00:00");
}

TEST_F(SimMailchimpApiTest, PatchWithNewEmailChangesTheAddressAndTheHash) {
  ASSERT_EQ(Put("a@example.org", "subscribed").status, 200);
  auto r = Api("PATCH", MemberPath("a@example.org"), {{"email_address", "b@example.org"}});
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(Body(r)["id"], SubscriberHash("b@example.org"));
  EXPECT_EQ(Api("GET", MemberPath("a@example.org")).status, 404);
  EXPECT_EQ(Api("GET", MemberPath("b@example.org")).status, 200);
  ASSERT_EQ(Put("c@example.org", "subscribed").status, 200);
  ExpectProblem(Api("PATCH", MemberPath("c@example.org"), {{"email_address", "b@example.org"}}),
                400, "Member Exists");
}

TEST_F(SimMailchimpApiTest, DeleteArchivesAndPutBringsTheMemberBack) {
  ASSERT_EQ(Put("a@example.org", "subscribed").status, 200);
  auto del = Api("DELETE", MemberPath("a@example.org"));
  ASSERT_EQ(del.status, 204);
  EXPECT_EQ(Body(Api("GET", MemberPath("a@example.org")))["status"], "archived");
  ExpectProblem(Api("DELETE", MemberPath("nobody@example.org")), 404, "Resource Not Found");
  EXPECT_EQ(Body(Put("a@example.org", "subscribed"))["status"], "subscribed");
}

TEST_F(SimMailchimpApiTest, DeleteRefusesPendingCleanedAndArchivedMembersWith405) {
  ASSERT_EQ(Put("p@example.org", "pending").status, 200);
  ASSERT_EQ(Put("c@example.org", "cleaned").status, 200);
  ASSERT_EQ(Put("a@example.org", "subscribed").status, 200);
  ASSERT_EQ(Api("DELETE", MemberPath("a@example.org")).status, 204);
  for (const char* email : {"p@example.org", "c@example.org", "a@example.org"}) {
    SCOPED_TRACE(email);
    ExpectProblem(Api("DELETE", MemberPath(email)), 405, "Method Not Allowed");
  }
  EXPECT_EQ(Body(Api("GET", MemberPath("p@example.org")))["status"], "pending");
  EXPECT_EQ(Body(Api("GET", MemberPath("c@example.org")))["status"], "cleaned");
}

TEST_F(SimMailchimpApiTest, TransactionalMemberMayBeSubscribed) {
  ASSERT_EQ(Put("a@example.org", "transactional").status, 200);
  EXPECT_EQ(Body(Put("a@example.org", "subscribed", "subscribed"))["status"], "subscribed");
}

// --- list members: filters and paging ------------------------------------------

TEST_F(SimMailchimpApiTest, ListMembersValidatesItsQuery) {
  const std::string base = ListPath() + "/members";
  EXPECT_EQ(Api("GET", base + "?count=1000").status, 200);
  ExpectProblem(Api("GET", base + "?count=1001"), 400, "Invalid Resource");
  ExpectProblem(Api("GET", base + "?count=ten"), 400, "Invalid Resource");
  ExpectProblem(Api("GET", base + "?offset=-1"), 400, "Invalid Resource");
  ExpectProblem(Api("GET", base + "?status=happy"), 400, "Invalid Resource");
  ExpectProblem(Api("GET", base + "?since_last_changed=yesterday"), 400, "Invalid Resource");
  ExpectProblem(Api("GET", base + "?sort_field=email"), 400, "Invalid Resource");
  ExpectProblem(Api("GET", base + "?sort_dir=UP"), 400, "Invalid Resource");
  ExpectProblem(Api("GET", base + "?vip_only=sometimes"), 400, "Invalid Resource");
  ExpectProblem(Api("GET", base + "?interest_match=most"), 400, "Invalid Resource");
  ExpectProblem(Api("GET", base + "?interest_ids=abc"), 400, "Invalid Resource");
  ExpectProblem(Api("PUT", base, json::object()), 405, "Method Not Allowed");
}

TEST_F(SimMailchimpApiTest, CountDefaultsToTenAndOffsetPages) {
  for (int i = 0; i < 25; ++i)
    ASSERT_EQ(Put("m" + std::to_string(i) + "@example.org", "subscribed").status, 200);
  json first = Body(Api("GET", ListPath() + "/members"));
  EXPECT_EQ(first["members"].size(), 10u);
  EXPECT_EQ(first["total_items"], 25);
  EXPECT_EQ(first["members"][0]["email_address"], "m0@example.org");
  json last = Body(Api("GET", ListPath() + "/members?count=10&offset=20"));
  EXPECT_EQ(last["members"].size(), 5u);
  EXPECT_EQ(last["members"][4]["email_address"], "m24@example.org");
}

TEST_F(SimMailchimpApiTest, StatusFilterSelectsMembers) {
  ASSERT_EQ(Put("a@example.org", "subscribed").status, 200);
  ASSERT_EQ(Put("b@example.org", "unsubscribed").status, 200);
  ASSERT_EQ(Put("c@example.org", "pending").status, 200);
  json u = Body(Api("GET", ListPath() + "/members?status=unsubscribed"));
  ASSERT_EQ(u["total_items"], 1);
  EXPECT_EQ(u["members"][0]["email_address"], "b@example.org");
  EXPECT_EQ(u["members"][0]["unsubscribe_reason"], "N/A (Unsubscribed by an admin)");
}

TEST_F(SimMailchimpApiTest, SinceLastChangedReturnsOnlyLaterChangesAndPages) {
  for (int i = 0; i < 5; ++i)
    ASSERT_EQ(Put("old" + std::to_string(i) + "@example.org", "subscribed").status, 200);
  clock_.Advance(10'000);
  const std::string cursor = "2026-09-21T14:13:25+00:00";  // between the two batches
  for (int i = 0; i < 7; ++i) {
    clock_.Advance(1000);
    ASSERT_EQ(Put("new" + std::to_string(i) + "@example.org", "subscribed").status, 200);
  }
  clock_.Advance(1000);
  // A member from the first batch changes: it is now "since" the cursor too.
  ASSERT_EQ(Api("PATCH", MemberPath("old2@example.org"), {{"status", "unsubscribed"}}).status, 200);

  std::vector<std::string> seen;
  for (int offset = 0;; offset += 3) {
    json page = Body(Api("GET", ListPath() + "/members?since_last_changed=" + cursor +
                                    "&count=3&offset=" + std::to_string(offset) +
                                    "&sort_field=last_changed&sort_dir=ASC"));
    EXPECT_EQ(page["total_items"], 8);
    for (const json& m : page["members"]) seen.push_back(m["email_address"]);
    if (page["members"].size() < 3) break;
  }
  ASSERT_EQ(seen.size(), 8u);
  EXPECT_EQ(seen.front(), "new0@example.org");
  EXPECT_EQ(seen.back(), "old2@example.org");
  // "since" is strict and has a one-second resolution.
  json exact =
      Body(Api("GET", ListPath() + "/members?since_last_changed=2026-09-21T14:13:31%2B00:00"));
  EXPECT_EQ(exact["total_items"], 7);  // new1..new6 and old2; not new0, changed at :31
  json before = Body(Api("GET", ListPath() + "/members?before_last_changed=" + cursor));
  EXPECT_EQ(before["total_items"], 4);
}

// consentd's poll reads a window of last_changed oldest first, page by page,
// without total_items; the audience answers that from its last_changed index
// instead of scanning every member. Its pages must be exactly those of the
// scan (which still answers whenever total_items is asked for): same members,
// same order (creation order within one millisecond), every window and page.
TEST_F(SimMailchimpApiTest, WindowReadFromTheIndexEqualsTheScan) {
  int n = 0;
  for (int second = 0; second < 6; ++second) {
    for (int i = 0; i < 5; ++i) {  // five members a second, two in one millisecond
      ASSERT_EQ(Put("m" + std::to_string(n++) + "@example.org", "subscribed").status, 200);
      if (i != 1) clock_.Advance(150);
    }
    clock_.Advance(1000 - 600);
  }
  // Later changes move members to the end of the order; some leave it.
  ASSERT_EQ(Api("PATCH", MemberPath("m3@example.org"), {{"status", "unsubscribed"}}).status, 200);
  ASSERT_EQ(Api("PATCH", MemberPath("m7@example.org"), {{"email_address", "m7b@example.org"}}).status,
            200);
  ASSERT_EQ(Api("DELETE", MemberPath("m11@example.org")).status, 204);  // archived: still listed
  ASSERT_EQ(Api("POST", MemberPath("m12@example.org") + "/actions/delete-permanent").status, 204);
  clock_.Advance(1000);
  ASSERT_EQ(Api("PATCH", MemberPath("m0@example.org"), {{"status", "unsubscribed"}}).status, 200);

  auto page = [&](const std::string& window, int count, int offset, bool with_total) {
    json b = Body(Api("GET", ListPath() + "/members?sort_field=last_changed&sort_dir=ASC" +
                                 window + "&count=" + std::to_string(count) +
                                 "&offset=" + std::to_string(offset) + "&fields=" +
                                 (with_total ? "total_items," : "") + "members.email_address"));
    EXPECT_EQ(b.contains("total_items"), with_total);
    std::vector<std::string> out;
    for (const json& m : b["members"]) out.push_back(m["email_address"]);
    return out;
  };
  const std::vector<std::string> windows = {
      "",
      "&since_last_changed=2026-09-21T14:13:21%2B00:00",
      "&before_last_changed=2026-09-21T14:13:23%2B00:00",
      "&since_last_changed=2026-09-21T14:13:20%2B00:00&before_last_changed=2026-09-21T14:13:24%2B00:00",
      "&since_last_changed=2026-09-21T14:13:24%2B00:00&before_last_changed=2026-09-21T14:13:25%2B00:00",
      "&since_last_changed=2030-01-01T00:00:00Z"};
  std::size_t compared = 0;
  for (const std::string& w : windows) {
    const std::vector<std::string> all = page(w, 1000, 0, true);
    EXPECT_EQ(page(w, 1000, 0, false), all) << w;
    for (int count : {1, 2, 3, 7}) {
      for (int offset = 0; offset <= static_cast<int>(all.size()) + 1; ++offset) {
        EXPECT_EQ(page(w, count, offset, false), page(w, count, offset, true))
            << w << " count " << count << " offset " << offset;
        ++compared;
      }
    }
  }
  EXPECT_GT(compared, 100u);
  // The whole audience in order: m0 (changed last) at the end, m12 gone.
  const std::vector<std::string> all = page("", 1000, 0, false);
  ASSERT_EQ(all.size(), 29u);
  EXPECT_EQ(all.front(), "m1@example.org");
  EXPECT_EQ(all.back(), "m0@example.org");
}

// consentd reads the members changed last (newest first, no filter) after
// a round of webhooks; the audience answers from its last_changed index,
// which must follow every change: writes, renames, archives, deletions.
TEST_F(SimMailchimpApiTest, NewestFirstListFollowsEveryChangeOfLastChanged) {
  for (const char* e : {"a", "b", "c", "d", "e", "f"}) {
    clock_.Advance(1000);
    ASSERT_EQ(Put(std::string(e) + "@example.org", "subscribed").status, 200);
  }
  clock_.Advance(1000);
  ASSERT_EQ(Api("PATCH", MemberPath("b@example.org"), {{"status", "unsubscribed"}}).status, 200);
  clock_.Advance(1000);
  ASSERT_EQ(Api("PATCH", MemberPath("c@example.org"), {{"email_address", "c2@example.org"}}).status,
            200);
  clock_.Advance(1000);
  ASSERT_EQ(Api("DELETE", MemberPath("a@example.org")).status, 204);  // archived
  clock_.Advance(1000);
  ASSERT_EQ(Api("POST", MemberPath("e@example.org") + "/actions/delete-permanent").status, 204);
  clock_.Advance(1000);
  ASSERT_EQ(Put("g@example.org", "subscribed").status, 200);

  auto emails = [](const json& page) {
    std::vector<std::string> out;
    for (const json& m : page["members"]) out.push_back(m["email_address"]);
    return out;
  };
  const std::string newest = ListPath() + "/members?sort_field=last_changed&sort_dir=DESC";
  json all = Body(Api("GET", newest + "&count=100"));
  EXPECT_EQ(all["total_items"], 6);
  const std::vector<std::string> expected = {"g@example.org", "a@example.org", "c2@example.org",
                                             "b@example.org", "f@example.org", "d@example.org"};
  EXPECT_EQ(emails(all), expected);
  EXPECT_EQ(emails(Body(Api("GET", newest + "&count=2&offset=2"))),
            (std::vector<std::string>{"c2@example.org", "b@example.org"}));
  // The same order as the filtered listing, which scans the audience.
  json filtered = Body(Api("GET", newest + "&count=100&since_last_changed=2000-01-01T00:00:00Z"));
  EXPECT_EQ(emails(filtered), expected);
}

TEST_F(SimMailchimpApiTest, InterestFilterMatchesAnyAllNone) {
  const std::string cat = sim_.audience().categories().front().id;
  const auto& ints = sim_.audience().interests();
  ASSERT_EQ(Api("PUT", MemberPath("a@example.org"),
                {{"email_address", "a@example.org"},
                 {"status_if_new", "subscribed"},
                 {"interests", {{ints[0].id, true}, {ints[1].id, true}}}})
                .status,
            200);
  ASSERT_EQ(Api("PUT", MemberPath("b@example.org"),
                {{"email_address", "b@example.org"},
                 {"status_if_new", "subscribed"},
                 {"interests", {{ints[0].id, true}}}})
                .status,
            200);
  ASSERT_EQ(Put("c@example.org", "subscribed").status, 200);
  const std::string q = ListPath() + "/members?interest_category_id=" + cat +
                        "&interest_ids=" + ints[0].id + "," + ints[1].id + "&interest_match=";
  EXPECT_EQ(Body(Api("GET", q + "any"))["total_items"], 2);
  EXPECT_EQ(Body(Api("GET", q + "all"))["total_items"], 1);
  EXPECT_EQ(Body(Api("GET", q + "none"))["total_items"], 1);
}

// --- batch subscribe ------------------------------------------------------------

TEST_F(SimMailchimpApiTest, BatchSubscribeReportsNewUpdatedAndErrors) {
  ASSERT_EQ(Put("existing@example.org", "subscribed").status, 200);
  ASSERT_EQ(Put("unsub@example.org", "unsubscribed").status, 200);
  json body = {{"members",
                {{{"email_address", "new@example.org"}, {"status", "subscribed"}},
                 {{"email_address", "existing@example.org"}, {"status", "subscribed"}},
                 {{"email_address", "unsub@example.org"}, {"status", "subscribed"}},
                 {{"email_address", "bad-address"}, {"status", "subscribed"}},
                 {{"email_address", "enum@example.org"}, {"status", "happy"}},
                 {{"email_address", "nostatus@example.org"}}}}};
  json r = Body(Api("POST", ListPath(), body));
  EXPECT_EQ(r["total_created"], 1);
  EXPECT_EQ(r["total_updated"], 0);
  EXPECT_EQ(r["error_count"], 5);
  EXPECT_EQ(r["new_members"][0]["email_address"], "new@example.org");
  EXPECT_EQ(r["errors"][0]["email_address"], "existing@example.org");
  EXPECT_EQ(r["errors"][0]["error_code"], "ERROR_CONTACT_EXISTS");
  EXPECT_EQ(r["errors"][1]["email_address"], "unsub@example.org");
  EXPECT_EQ(r["errors"][2]["error"], "Please provide a valid email address.");
  EXPECT_EQ(r["errors"][3]["field"], "status");
  EXPECT_EQ(r["errors"][4]["field"], "status");

  body["update_existing"] = true;
  body["members"] = {{{"email_address", "existing@example.org"}, {"status", "unsubscribed"}},
                     {{"email_address", "unsub@example.org"}, {"status", "subscribed"}}};
  json u = Body(Api("POST", ListPath(), body));
  EXPECT_EQ(u["total_updated"], 1);
  EXPECT_EQ(u["updated_members"][0]["status"], "unsubscribed");
  ASSERT_EQ(u["error_count"], 1);
  EXPECT_NE(u["errors"][0]["error"].get<std::string>().find("compliance state"), std::string::npos);
  EXPECT_EQ(u["errors"][0]["error_code"], "ERROR_GENERIC");
}

// The batch answer is written as text (sim/mailchimp/member_text.h): each
// member as a read right after the batch returns it.
TEST_F(SimMailchimpApiTest, BatchSubscribeAnswersEachMemberAsItIsReadAfterwards) {
  ASSERT_EQ(Put("old@example.org", "subscribed").status, 200);
  json body = {{"members",
                {{{"email_address", "fresh@example.org"},
                  {"status", "pending"},
                  {"interests", {{FirstInterestId(), true}}},
                  {"merge_fields", {{"FNAME", "A \"quoted\"\nname"}, {"LNAME", "\\x"}}}},
                 {{"email_address", "old@example.org"}, {"status", "unsubscribed"}}}},
               {"update_existing", true}};
  json r = Body(Api("POST", ListPath(), body));
  ASSERT_EQ(r["total_created"], 1);
  ASSERT_EQ(r["total_updated"], 1);
  EXPECT_EQ(r["error_count"], 0);
  EXPECT_TRUE(r["errors"].is_array());
  // The spec's batch members (ListMembers5) have fewer keys than a read
  // (ListMembers2): no marketing_permissions, full_name, web_id, source or
  // SMS fields. Every key they have is the read's, with the read's value.
  for (const auto& [list, email] : {std::pair{"new_members", "fresh@example.org"},
                                    std::pair{"updated_members", "old@example.org"}}) {
    const json& member = r[list][0];
    const json read = Body(Api("GET", MemberPath(email)));
    ASSERT_TRUE(read.contains("marketing_permissions"));
    EXPECT_FALSE(member.contains("marketing_permissions")) << list;
    EXPECT_FALSE(member.contains("full_name")) << list;
    for (const auto& [key, value] : member.items())
      EXPECT_EQ(value, read[key]) << list << "." << key;
    EXPECT_EQ(member["status"], read["status"]);
  }
  EXPECT_EQ(Body(Api("GET", MemberPath("fresh@example.org")))["full_name"],
            "A \"quoted\"\nname \\x");
}

TEST_F(SimMailchimpApiTest, BatchSubscribeValidatesTheEnvelope) {
  ExpectProblem(Api("POST", ListPath(), json::object()), 400, "Invalid Resource");
  ExpectProblem(Api("POST", ListPath(), {{"members", "x"}}), 400, "Invalid Resource");
  ExpectProblem(Api("POST", ListPath(), {{"members", json::array()}, {"update_existing", "yes"}}),
                400, "Invalid Resource");
  json many = {{"members", json::array()}};
  for (int i = 0; i < 501; ++i) many["members"].push_back({{"email_address", "x@example.org"}});
  ExpectProblem(Api("POST", ListPath(), many), 400, "Invalid Resource");
  ExpectProblem(sim_.HandleApi(Request("POST", ListPath(), "not json")), 400, "JSON Parse Error");
}

TEST_F(SimMailchimpApiTest, ErrorInstancesAreDeterministic) {
  MailchimpSim other(TestOptions(), clock_);
  auto a = sim_.HandleApi(Request("GET", ListPath() + "/members/nope"));
  auto b = other.HandleApi(Request("GET", ListPath() + "/members/nope"));
  EXPECT_EQ(a.body, b.body);
}

}  // namespace
}  // namespace consentd::sim::mailchimp::testing
