// Re-consent when terms change (issue #7) end to end: real consentd and
// consentd-sim over loopback. A grant is given; the topic's notice version
// is raised by a mapping reload; the Mailchimp member gets the re-consent
// tag and the counts move from granted to reconsent_required; a full
// re-read of the old grant changes nothing; the person's new grant after
// the bump removes the tag and the counts return.
#include <gtest/gtest.h>

#include <future>
#include <string>

#include "tests/e2e/sync_fixture.h"

namespace consentd::testing {
namespace {

constexpr char kTag[] = "consentd-reconsent-product_news";
// What `consentctl explain` says of the current state (not the history).
constexpr char kAwaiting[] = "re-consent required: granted for notice 2026-01, current 2026-02";

class ReconsentE2E : public SyncE2E {
 protected:
  bool HasTag(const std::string& email, const std::string& tag) {
    const Json m = Member(email);
    if (!m.is_object() || !m.contains("tags")) return false;
    for (const Json& t : m.at("tags")) {
      if (t.value("name", "") == tag) return true;
    }
    return false;
  }

  // product_news/email counts from GET /api/v1/stats (bucket -> n).
  std::map<std::string, int> Counts() {
    std::map<std::string, int> out;
    auto r = Admin("GET", "/api/v1/stats");
    last_stats_ = r ? r->body : "(no answer)";
    if (!r || r->status != 200) return out;
    const Json stats = Json::parse(r->body);
    for (const Json& row : stats.at("topics")) {
      if (row.at("topic") != "product_news") continue;
      for (const auto& [bucket, n] : row.at("counts").items()) out[bucket] = n.get<int>();
    }
    return out;
  }

  std::string last_stats_;  // for failure messages

  std::string Explain(const std::string& email) {
    CommandResult r = Ctl({"explain", "--email", email, "--topic", "product_news"});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return r.output;
  }
};

TEST_F(ReconsentE2E, RaisedNoticeMarksTheMemberUntilThePersonAnswersAgain) {
  StartAll();
  const std::string ada = "ada@example.com";
  Crm("POST", "/_sim/hubspot/person/signup", {{"email", ada}, {"subscriptionId", kProductUpdates}});
  ASSERT_TRUE(Eventually([&] { return MemberInterest(ada, "Product news"); }));
  ASSERT_TRUE(Eventually([&] { return Counts()["granted"] == 1; })) << last_stats_;
  EXPECT_FALSE(HasTag(ada, kTag));
  // A misspelt topic (or one removed from the mapping: its history is
  // still shown) gets a note naming the mapping's topics.
  CommandResult typo = Ctl({"explain", "--email", ada, "--topic", "product_nesw"});
  EXPECT_EQ(typo.exit_code, 0) << typo.output;
  EXPECT_NE(typo.output.find("note: no topic 'product_nesw' in the mapping of " + config_path_ +
                             " (topics: newsletter, product_news); showing what the store "
                             "holds of it"),
            std::string::npos)
      << typo.output;

  // The notice of product_news rises to 2026-02 (a reload, as an operator does).
  ASSERT_NO_FATAL_FAILURE(RaiseProductNewsNoticeInTheFile());
  auto reload = Admin("POST", "/api/v1/reload");
  ASSERT_TRUE(reload);
  ASSERT_EQ(reload->status, 200) << reload->body;

  // The journey keeps the person, tagged so it can ask again; the grant no
  // longer counts as granted.
  ASSERT_TRUE(Eventually([&] { return HasTag(ada, kTag); })) << Log();
  EXPECT_TRUE(MemberInterest(ada, "Product news"));
  ASSERT_TRUE(Eventually([&] {
    auto c = Counts();
    return c["reconsent_required"] == 1 && c["granted"] == 0;
  })) << Log();
  EXPECT_NE(Explain(ada).find(kAwaiting), std::string::npos) << Explain(ada);

  // Both systems read in full again: the old grant is read once more (now
  // under the new mapping) and is not an answer.
  for (const char* system : {"hubspot", "mailchimp"}) {
    CommandResult r = Ctl({"resync", "--connector", system});
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  EXPECT_NE(Explain(ada).find(kAwaiting), std::string::npos) << Explain(ada);
  EXPECT_TRUE(HasTag(ada, kTag));

  // The person signs up again on the CRM's form after the bump: the answer.
  Crm("POST", "/_sim/hubspot/person/signup", {{"email", ada}, {"subscriptionId", kProductUpdates}});
  CommandResult r = Ctl({"resync", "--connector", "hubspot"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_TRUE(Eventually([&] { return !HasTag(ada, kTag); })) << Log();
  EXPECT_EQ(Explain(ada).find(kAwaiting), std::string::npos) << Explain(ada);
  EXPECT_NE(Explain(ada).find("notice 2026-02, source hubspot"), std::string::npos) << Explain(ada);
  ASSERT_TRUE(Eventually([&] {
    auto c = Counts();
    return c["reconsent_required"] == 0 && c["granted"] == 1;
  }));
  EXPECT_TRUE(MemberInterest(ada, "Product news"));
}

// A mapping edited in the file but not reloaded is not in force: a resync
// by it would repair both systems to rules consentd does not apply. The
// real run refuses and says what to do; a dry run previews it, and says so.
TEST_F(ReconsentE2E, AResyncRefusesAMappingThatIsNotInForceYet) {
  StartAll();
  CommandResult same = Ctl({"resync", "--connector", "hubspot"});
  ASSERT_EQ(same.exit_code, 0) << same.output;
  EXPECT_EQ(same.output.find("not the one consentd runs with"), std::string::npos) << same.output;

  ASSERT_NO_FATAL_FAILURE(RaiseProductNewsNoticeInTheFile());

  CommandResult refused = Ctl({"resync", "--connector", "hubspot"});
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_NE(refused.output.find("is not the one consentd runs with"), std::string::npos)
      << refused.output;
  EXPECT_NE(refused.output.find("run consentctl reload"), std::string::npos) << refused.output;
  EXPECT_EQ(refused.output.find("page(s)"), std::string::npos) << "it ran: " << refused.output;

  CommandResult preview = Ctl({"resync", "--connector", "hubspot", "--dry-run"});
  EXPECT_EQ(preview.exit_code, 0) << preview.output;
  EXPECT_NE(preview.output.find("this dry run decides by the file's"), std::string::npos)
      << preview.output;

  auto reload = Admin("POST", "/api/v1/reload");
  ASSERT_TRUE(reload);
  ASSERT_EQ(reload->status, 200) << reload->body;
  // The reload's answer means its mapping is recorded as in force: a
  // script's `consentctl reload && consentctl resync` is not refused.
  CommandResult after = Ctl({"resync", "--connector", "hubspot"});
  EXPECT_EQ(after.exit_code, 0) << after.output << Log();
}

// A reload while a resync runs puts another mapping in force. The pages
// decided before it stay; the run does not decide another page by the old
// mapping (each unit checks, in its own transaction, which one is in
// force): it ends with exit 1 and says to run it again.
TEST_F(ReconsentE2E, AReloadDuringAResyncEndsItBeforeItDecidesByTheOldMapping) {
  StartAll();
  const std::string ada = "ada.midrun@example.com";
  Crm("POST", "/_sim/hubspot/person/signup", {{"email", ada}, {"subscriptionId", kProductUpdates}});
  ASSERT_TRUE(Eventually([&] { return MemberInterest(ada, "Product news"); }));
  // The snapshot's first page is answered 5 s late: time for a reload.
  const Json added = Crm("POST", "/_sim/faults",
                         {{"kind", "latency"},
                          {"system", "hubspot"},
                          {"method", "GET"},
                          {"route", "/crm/v3/objects/contacts*"},
                          {"latency_ms", 5000},
                          {"count", 1}});
  ASSERT_TRUE(added.contains("ids")) << added.dump();
  std::future<CommandResult> run = std::async(std::launch::async, [&] {
    return Ctl({"resync", "--connector", "hubspot"});
  });
  ASSERT_TRUE(Eventually([&] {
    const Json faults = Crm("GET", "/_sim/faults");
    for (const Json& f : faults["faults"]) {
      if (f.value("hits", 0) == 1) return true;
    }
    return false;
  })) << "the resync never asked for its first page";

  ASSERT_NO_FATAL_FAILURE(RaiseProductNewsNoticeInTheFile());
  auto reload = Admin("POST", "/api/v1/reload");
  ASSERT_TRUE(reload);
  ASSERT_EQ(reload->status, 200) << reload->body;

  const CommandResult ended = run.get();
  EXPECT_EQ(ended.exit_code, 1) << ended.output;
  EXPECT_NE(ended.output.find("consentd was reloaded during this run"), std::string::npos)
      << ended.output;
  EXPECT_NE(ended.output.find("run consentctl resync again"), std::string::npos) << ended.output;
  // Run again, it decides by the mapping in force.
  CommandResult again = Ctl({"resync", "--connector", "hubspot"});
  EXPECT_EQ(again.exit_code, 0) << again.output;
}

}  // namespace
}  // namespace consentd::testing
