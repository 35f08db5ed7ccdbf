// consentd-sim --state-file: each system's SaveState/LoadState round trip
// into a fresh instance gives equal state and the same behaviour (GDPR
// blocklist, forgotten addresses, id counters), and the state file is
// versioned, atomic and refuses to load garbage.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "core/clock.h"
#include "net/http_types.h"
#include "sim/hubspot/hubspot_system.h"
#include "sim/state_file.h"
#include "tests/sim/mailchimp_test_util.h"

namespace consentd::sim {
namespace {

using nlohmann::json;

net::HttpRequest HubSpotRequest(const std::string& method, const std::string& path,
                                const json& body = nullptr) {
  net::HttpRequest r;
  r.method = method;
  r.target = r.path = path;
  r.headers = {{"Authorization", "Bearer sim-hubspot-token"}};
  if (!body.is_null()) {
    r.headers.emplace_back("Content-Type", "application/json");
    r.body = body.dump();
  }
  r.remote_address = "127.0.0.1";
  return r;
}

hubspot::HubSpotOptions HubSpotTestOptions() {
  hubspot::HubSpotOptions o;
  o.rate_limits = false;
  return o;
}

std::string CreateContact(hubspot::HubSpotSystem& hs, const std::string& email) {
  net::HttpResponse r = hs.HandleApi(
      HubSpotRequest("POST", "/crm/v3/objects/contacts", {{"properties", {{"email", email}}}}));
  EXPECT_EQ(r.status, 201) << r.body;
  return json::parse(r.body).value("id", "");
}

json ControlState(SimSystem& s) {
  net::HttpRequest r;
  r.method = "GET";
  r.target = r.path = "/state";
  return json::parse(s.HandleControl(r).body);
}

class SimStateHubSpot : public ::testing::Test {
 protected:
  // A portal with live, archived, merged and GDPR-deleted contacts and
  // statuses with legal basis.
  void Populate() {
    ada_ = CreateContact(hs_, "ada@example.com");
    const std::string bob = CreateContact(hs_, "bob@example.com");
    const std::string eve = CreateContact(hs_, "eve@example.com");
    const std::string dup = CreateContact(hs_, "dup@example.com");
    clock_.Advance(1000);
    hs_.model().SetStatus("EMAIL", "ada@example.com", 102, "SUBSCRIBED", "CONSENT_WITH_NOTICE",
                          "signed up at the fair", {});
    hs_.model().UnsubscribeAll("EMAIL", "bob@example.com", {});
    hs_.model().Archive(*hs_.model().Find(std::stoll(bob)), {});
    hs_.model().Merge(*hs_.model().Find(std::stoll(ada_)), *hs_.model().Find(std::stoll(dup)), {});
    net::HttpResponse del = hs_.HandleApi(
        HubSpotRequest("POST", "/crm/v3/objects/contacts/gdpr-delete", {{"objectId", eve}}));
    ASSERT_EQ(del.status, 204) << del.body;
    hs_.HandleControl([] {
      net::HttpRequest r;
      r.method = "POST";
      r.target = r.path = "/webhook";
      r.body = json{{"url", "http://127.0.0.1:9/hs"}}.dump();
      return r;
    }());
    hs_.model().TakeEvents();
  }

  ManualClock clock_{1'790'000'000'000};
  hubspot::HubSpotSystem hs_{clock_, HubSpotTestOptions()};
  std::string ada_;
};

TEST_F(SimStateHubSpot, SaveLoadRoundTripGivesEqualState) {
  Populate();
  const json saved = hs_.SaveState();
  hubspot::HubSpotSystem fresh(clock_, HubSpotTestOptions());
  ASSERT_TRUE(fresh.LoadState(saved).ok());
  EXPECT_EQ(fresh.SaveState(), saved);
  EXPECT_EQ(ControlState(fresh), ControlState(hs_));
  EXPECT_EQ(ControlState(fresh)["webhookUrl"], "http://127.0.0.1:9/hs");
  const auto s = fresh.model().GetStatus("EMAIL", "ada@example.com", 102);
  EXPECT_EQ(s.state, "SUBSCRIBED");
  EXPECT_EQ(s.legal_basis, "CONSENT_WITH_NOTICE");
  EXPECT_EQ(s.legal_basis_explanation, "signed up at the fair");
  EXPECT_TRUE(fresh.model().GetWide("EMAIL", "bob@example.com").unsubscribed);
}

TEST_F(SimStateHubSpot, GdprDeletedAddressStaysRefusedAfterLoad) {
  Populate();
  hubspot::HubSpotSystem fresh(clock_, HubSpotTestOptions());
  ASSERT_TRUE(fresh.LoadState(hs_.SaveState()).ok());
  net::HttpResponse r = fresh.HandleApi(HubSpotRequest(
      "POST", "/crm/v3/objects/contacts", {{"properties", {{"email", "eve@example.com"}}}}));
  EXPECT_GE(r.status, 400) << r.body;
  EXPECT_LT(r.status, 500) << r.body;
  EXPECT_TRUE(fresh.model().IsBlocklisted("EVE@example.com"));
}

TEST_F(SimStateHubSpot, NewIdsDoNotRepeatAndIndexesWorkAfterLoad) {
  Populate();
  hubspot::HubSpotSystem fresh(clock_, HubSpotTestOptions());
  ASSERT_TRUE(fresh.LoadState(hs_.SaveState()).ok());
  std::set<std::string> old_ids;
  for (const auto& [id, c] : hs_.model().contacts()) old_ids.insert(std::to_string(id));
  old_ids.insert(ada_);
  const std::string id = CreateContact(fresh, "new@example.com");
  EXPECT_EQ(old_ids.count(id), 0u) << id;
  EXPECT_GT(std::stoll(id), std::stoll(ada_));
  // The e-mail index is rebuilt: a live address is a duplicate, the merged
  // id still resolves to the primary.
  EXPECT_EQ(fresh
                .HandleApi(HubSpotRequest("POST", "/crm/v3/objects/contacts",
                                          {{"properties", {{"email", "ada@example.com"}}}}))
                .status,
            409);
  ASSERT_NE(fresh.model().FindByEmail("ada@example.com"), nullptr);
  EXPECT_EQ(fresh.model().FindByEmail("bob@example.com"), nullptr);  // archived
}

TEST_F(SimStateHubSpot, MalformedStateIsRefusedWithTheField) {
  Populate();
  json bad = hs_.SaveState();
  bad["model"]["contacts"][0].erase("properties");
  hubspot::HubSpotSystem fresh(clock_, HubSpotTestOptions());
  Status st = fresh.LoadState(bad);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("properties"), std::string::npos) << st.message();
}

using mailchimp::testing::SimFixture;

class SimStateMailchimp : public ::testing::Test {
 protected:
  void Populate() {
    EXPECT_EQ(a_.Put("sub@example.com", "subscribed").status, 200);
    EXPECT_EQ(a_.Put("uns@example.com", "unsubscribed").status, 200);
    json patch = {{"interests", {{a_.FirstInterestId(), true}}},
                  {"marketing_permissions",
                   {{{"marketing_permission_id", a_.FirstPermissionId()}, {"enabled", true}}}},
                  {"merge_fields", {{"FNAME", "Sub"}}}};
    EXPECT_EQ(a_.Api("PATCH", a_.MemberPath("sub@example.com"), patch).status, 200);
    EXPECT_EQ(a_.Put("gone@example.com", "subscribed").status, 200);
    EXPECT_EQ(
        a_.Api("POST", a_.MemberPath("gone@example.com") + "/actions/delete-permanent").status,
        204);
    net::HttpResponse signup =
        a_.Control("POST", "/person/signup", {{"email_address", "pend@example.com"}});
    EXPECT_EQ(signup.status, 200) << signup.body;
    token_ = mailchimp::testing::Body(signup).value("confirmation_token", "");
    EXPECT_EQ(
        a_.Control("POST", "/webhook", {{"sources", {{"api", false}, {"admin", false}}}}).status,
        200);
  }

  SimFixture a_;
  std::string token_;
};

TEST_F(SimStateMailchimp, SaveLoadRoundTripGivesEqualState) {
  Populate();
  const json saved = a_.sim_.SaveState();
  SimFixture b;
  ASSERT_TRUE(b.sim_.LoadState(saved).ok());
  EXPECT_EQ(b.sim_.SaveState(), saved);
  EXPECT_EQ(ControlState(b.sim_), ControlState(a_.sim_));
  ASSERT_EQ(b.sim_.audience().Members().size(), a_.sim_.audience().Members().size());
  for (size_t i = 0; i < a_.sim_.audience().Members().size(); ++i) {
    EXPECT_EQ(*b.sim_.audience().Members()[i], *a_.sim_.audience().Members()[i]);
  }
  EXPECT_FALSE(b.sim_.webhook_config().api);
  EXPECT_FALSE(b.sim_.webhook_config().admin);
}

TEST_F(SimStateMailchimp, ForgottenAndUnsubscribedStayRefusedAfterLoad) {
  Populate();
  SimFixture b;
  ASSERT_TRUE(b.sim_.LoadState(a_.sim_.SaveState()).ok());
  net::HttpResponse gone = b.Put("gone@example.com", "subscribed");
  EXPECT_EQ(gone.status, 400);
  EXPECT_EQ(mailchimp::testing::Body(gone)["title"], "Forgotten Email Not Subscribed");
  net::HttpResponse uns = b.Put("uns@example.com", "subscribed", "subscribed");
  EXPECT_EQ(uns.status, 400);
  EXPECT_EQ(mailchimp::testing::Body(uns)["title"], "Member In Compliance State");
}

TEST_F(SimStateMailchimp, PendingConfirmationCanBeClickedAfterLoad) {
  Populate();
  ASSERT_FALSE(token_.empty());
  SimFixture b;
  ASSERT_TRUE(b.sim_.LoadState(a_.sim_.SaveState()).ok());
  net::HttpResponse r = b.Control("POST", "/person/confirm", {{"token", token_}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(b.sim_.audience().Find("pend@example.com")->status,
            mailchimp::MemberStatus::kSubscribed);
  // A member created after the load comes after the old ones.
  EXPECT_EQ(b.Put("late@example.com", "subscribed").status, 200);
  EXPECT_EQ(b.sim_.audience().Members().back()->email, "late@example.com");
}

TEST_F(SimStateMailchimp, UnknownStatusIsRefusedAndLeavesAnEmptyAudience) {
  Populate();
  json bad = a_.sim_.SaveState();
  bad["audience"]["members"][0]["status"] = "wobbly";
  SimFixture b;
  Status st = b.sim_.LoadState(bad);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("wobbly"), std::string::npos) << st.message();
  EXPECT_TRUE(b.sim_.audience().Members().empty());
}

class SimStateFile : public ::testing::Test {
 protected:
  std::string Path() const {
    return (std::filesystem::path(::testing::TempDir()) /
            ("sim-state-" +
             std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) +
             ".json"))
        .string();
  }
  void SetUp() override {
    std::filesystem::remove(Path());
    std::filesystem::remove(Path() + ".tmp");
  }

  ManualClock clock_{1'790'000'000'000};
  hubspot::HubSpotSystem hs_{clock_, HubSpotTestOptions()};
  SimFixture mc_;
};

TEST_F(SimStateFile, SavedFileIsVersionedAndLoadsIntoFreshSystems) {
  CreateContact(hs_, "ada@example.com");
  EXPECT_EQ(mc_.Put("m@example.com", "subscribed").status, 200);
  ASSERT_TRUE(SaveStateFile(Path(), {&hs_, &mc_.sim_}).ok());
  EXPECT_FALSE(std::filesystem::exists(Path() + ".tmp"));
  std::ifstream in(Path());
  const json doc = json::parse(in);
  EXPECT_EQ(doc["version"], 1);
  EXPECT_TRUE(doc.contains("hubspot"));
  EXPECT_TRUE(doc.contains("mailchimp"));

  hubspot::HubSpotSystem hs2(clock_, HubSpotTestOptions());
  SimFixture mc2;
  ASSERT_TRUE(LoadStateFile(Path(), {&hs2, &mc2.sim_}).ok());
  EXPECT_EQ(hs2.SaveState(), hs_.SaveState());
  EXPECT_EQ(mc2.sim_.SaveState(), mc_.sim_.SaveState());
}

TEST_F(SimStateFile, MissingFileIsNotFound) {
  EXPECT_EQ(LoadStateFile(Path(), {&hs_, &mc_.sim_}).code(), StatusCode::kNotFound);
}

TEST_F(SimStateFile, CorruptFileIsAnErrorNamingTheFile) {
  std::ofstream(Path()) << "{\"version\":1, \"hubspot\": {";
  Status st = LoadStateFile(Path(), {&hs_, &mc_.sim_});
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find(Path()), std::string::npos) << st.message();
}

TEST_F(SimStateFile, OtherVersionOrMissingSectionIsRefused) {
  json doc = BuildStateDocument({&hs_, &mc_.sim_});
  doc["version"] = 2;
  EXPECT_FALSE(ApplyStateDocument(doc, {&hs_, &mc_.sim_}).ok());
  doc["version"] = 1;
  doc.erase("mailchimp");
  Status st = ApplyStateDocument(doc, {&hs_, &mc_.sim_});
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("mailchimp"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace consentd::sim
