// Erasure requests end to end (issue #7 "Forget"): real consentd, real
// consentd-sim over loopback, a real SQLite store. Whichever side asks
// (the CRM's privacy deletion, a permanent deletion in the journey
// platform, the operator), the person ends up gone from both systems, the
// durable request lists every target as done / already_done, and events
// about the erased record that arrive later are dropped (dropped_erased),
// while a sign-up made after the erasure starts a new subject.
#include <gtest/gtest.h>

#include <string>
#include <thread>

#include "connectors/mailchimp/wire_format.h"
#include "core/clock.h"
#include "store/sqlite_db.h"
#include "tests/e2e/sync_fixture.h"

namespace consentd::testing {
namespace {

class ErasureE2E : public SyncE2E {
 protected:
  // The requests as `consentctl erasures --json` lists them.
  Json List() {
    CommandResult r = Ctl({"erasures", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return Json::parse(r.output, nullptr, false);
  }

  // consentd is stopped: its pollers start from the beginning next time,
  // as with a lost or replayed cursor.
  void ResetPollCursors() {
    auto db = store::Db::Open((dir_->path() / "consentd.db").string(), nullptr);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    ASSERT_TRUE((*db)->Exec("DELETE FROM cursors").ok());
  }

  // True once the only request is done and each target is in `states`.
  bool OnlyRequestSettled(const std::string& source) {
    Json list = List();
    if (!list.is_object() || list["erasures"].size() != 1) return false;
    const Json& r = list["erasures"][0];
    if (r["source"] != source || r["state"] != "done") return false;
    for (const Json& t : r["targets"]) {
      const std::string s = t["state"];
      if (s != "done" && s != "already_done") return false;
    }
    return r["targets"].size() == 2;
  }

  // Where `needle` occurs in the store's files (consentd stopped), with the
  // bytes around each hit; empty when it is nowhere. Raw bytes, so free
  // pages and the WAL count too.
  std::string FindInStore(const std::string& needle) {
    std::string hits;
    for (const char* file : {"consentd.db", "consentd.db-wal"}) {
      const std::filesystem::path path = dir_->path() / file;
      if (!std::filesystem::exists(path)) continue;
      const std::string bytes = ReadTextFile(path);
      for (std::size_t at = bytes.find(needle); at != std::string::npos;
           at = bytes.find(needle, at + 1)) {
        const std::size_t from = at < 60 ? 0 : at - 60;
        std::string around = bytes.substr(from, needle.size() + 120);
        for (char& c : around) {
          if (c < 0x20 || c > 0x7e) c = '.';
        }
        hits += std::string(file) + "@" + std::to_string(at) + ": " + around + "\n";
      }
    }
    return hits;
  }

  double Dropped(const std::string& source) {
    return MetricSum("consentd_decisions_total",
                     "source=\"" + source + "\",outcome=\"dropped_erased\"");
  }

  // A Mailchimp "subscribe" webhook for `email`, fired long before any
  // erasure in these tests (a delivery the platform retried for days).
  int LateSubscribeWebhook(const std::string& email) {
    std::string encoded;
    for (char c : email) encoded += c == '@' ? std::string("%40") : std::string(1, c);
    return PostMailchimpWebhook("type=subscribe&fired_at=2020-01-01+00%3A00%3A00&data%5Bemail%5D=" +
                                encoded + "&data%5Blist_id%5D=5e1c0a7b2d");
  }
};

TEST_F(ErasureE2E, CrmPrivacyDeletionIsARequestDoneInBothSystemsAndLateEventsAreDropped) {
  StartAll(WithPolling("1s"));
  const std::string lou = "lou@example.com";
  Crm("POST", "/_sim/hubspot/person/signup", {{"email", lou}, {"subscriptionId", kProductUpdates}});
  ASSERT_TRUE(Eventually([&] { return MemberStatus(lou) == "subscribed"; })) << Log();
  Crm("POST", "/_sim/hubspot/admin/gdpr-delete", {{"email", lou}});
  ASSERT_TRUE(Eventually([&] { return Member(lou).is_null(); })) << Log();
  ASSERT_TRUE(Eventually([&] { return OnlyRequestSettled("hubspot"); })) << List().dump(2);
  const Json request = List()["erasures"][0];
  EXPECT_EQ(request["legal_ground"], "GDPR Art. 17(1)");
  EXPECT_FALSE(request["overdue"].get<bool>());
  // One calendar month: 28 to 31 days.
  const std::int64_t days = (request["deadline_ms"].get<std::int64_t>() -
                             request["requested_at_ms"].get<std::int64_t>()) /
                            (std::int64_t{24} * 3600 * 1000);
  EXPECT_GE(days, 28);
  EXPECT_LE(days, 31);
  for (const Json& t : request["targets"]) {
    if (t["target"] == "hubspot") {
      EXPECT_EQ(t["state"], "done") << "the source erased first";
    }
  }

  // A late webhook about the erased record: read back, found gone, and
  // dropped as older than the erasure.
  const double before = Dropped("mailchimp");
  ASSERT_EQ(LateSubscribeWebhook(lou), 200);
  ASSERT_TRUE(Eventually([&] { return Dropped("mailchimp") > before; })) << Log();

  // The polls run again from the start (a stale cursor): nothing comes back.
  StopConsentd();
  {
    CommandResult r = Ctl({"erasures"});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("\tdone\n"), std::string::npos) << r.output;
  }
  ResetPollCursors();
  StartConsentd();
  // Two pages per connector at least: the first run from the start is done.
  ASSERT_TRUE(Eventually([&] { return MetricSum("consentd_polls_total") >= 4; })) << Log();
  EXPECT_TRUE(Member(lou).is_null());
  EXPECT_EQ(CrmStatus("GET", "/crm/v3/objects/contacts/lou%40example.com?idProperty=email"), 404);
  EXPECT_TRUE(OnlyRequestSettled("hubspot")) << List().dump(2);
  EXPECT_EQ(MetricSum("consentd_deliveries_total", "permanent"), 0) << Log();
}

TEST_F(ErasureE2E, MailchimpPermanentDeletionErasesTheCrmContactWhenTheMappingSaysErase) {
  SyncOptions options;
  options.mailchimp_erasure = "{mode: delete, on_permanent_delete: erase}";
  StartAll(options);
  const std::string kai = "kai@example.com";
  Crm("POST", "/_sim/hubspot/person/signup", {{"email", kai}, {"subscriptionId", kProductUpdates}});
  ASSERT_TRUE(Eventually([&] { return MemberStatus(kai) == "subscribed"; })) << Log();
  Journey("POST", "/_sim/mailchimp/admin/delete-permanent", {{"email_address", kai}});
  ASSERT_TRUE(Eventually([&] {
    return CrmStatus("GET", "/crm/v3/objects/contacts/kai%40example.com?idProperty=email") == 404;
  })) << Log();
  ASSERT_TRUE(Eventually([&] { return OnlyRequestSettled("mailchimp"); })) << List().dump(2);
  const std::string erased_subject = List()["erasures"][0]["subject"];

  // A late webhook from before the deletion is dropped.
  const double before = Dropped("mailchimp");
  ASSERT_EQ(LateSubscribeWebhook(kai), 200);
  ASSERT_TRUE(Eventually([&] { return Dropped("mailchimp") > before; })) << Log();

  // Kai signs up again through Mailchimp's form after the erasure (the CRM
  // blocklisted the address) and confirms: captured after the erasure, so
  // a new subject; the erased one stays erased, and no second request.
  // "After" means beyond the clock-skew window (2 s; docs/model.md rule 4)
  // and Mailchimp's whole-second timestamps: wait until the clock is there.
  const std::int64_t erased_ms = List()["erasures"][0]["requested_at_ms"];
  ASSERT_TRUE(Eventually([&] { return SystemClock().NowMs() > erased_ms + 3000; },
                         std::chrono::seconds(10)));
  Journey("POST", "/_sim/mailchimp/person/signup",
          {{"email_address", kai}, {"interests", {{interest_ids_["Product news"], true}}}});
  Journey("POST", "/_sim/mailchimp/person/confirm", {{"email_address", kai}});
  ASSERT_TRUE(Eventually([&] { return MemberStatus(kai) == "subscribed"; })) << Log();
  CommandResult explained;
  ASSERT_TRUE(Eventually([&] {
    explained = Ctl({"explain", "--email", kai, "--json"});
    return explained.exit_code == 0;
  })) << explained.output
      << Log();
  EXPECT_EQ(explained.output.find(erased_subject), std::string::npos) << explained.output;
  EXPECT_TRUE(OnlyRequestSettled("mailchimp")) << List().dump(2);

  // Her new member is deleted at Mailchimp too: she is erased again. The
  // member has the erased one's id (the address's hash), so every
  // identifier of the report is erased; until 2026-12-06 the deletion was
  // dropped as "already erased" and she stayed granted.
  const Json fresh = Json::parse(explained.output, nullptr, false);
  ASSERT_TRUE(fresh.is_object()) << explained.output;
  const std::string fresh_subject = fresh.value("subject", "");
  ASSERT_FALSE(fresh_subject.empty()) << explained.output;
  ASSERT_TRUE(Eventually([&] { return SystemClock().NowMs() > erased_ms + 6000; },
                         std::chrono::seconds(10)));
  Journey("POST", "/_sim/mailchimp/admin/delete-permanent", {{"email_address", kai}});
  ASSERT_TRUE(Eventually([&] {
    return List()["erasures"].dump().find(fresh_subject) != std::string::npos;
  })) << List().dump(2)
      << Log();
  ASSERT_TRUE(Eventually([&] {
    return Ctl({"explain", "--email", kai}).exit_code != 0;
  })) << Ctl({"explain", "--email", kai}).output
      << Log();
}

// After a CRM merge the journey holds a member per address of the person.
// One member's permanent deletion is the person's erasure here, so the
// other member goes too, and the request waits for it (before, it stayed
// subscribed, address and all, and the request said done).
TEST_F(ErasureE2E, AMembersPermanentDeletionErasesThePersonsOtherMemberAfterACrmMerge) {
  SyncOptions options;
  options.mailchimp_erasure = "{mode: delete, on_permanent_delete: erase}";
  StartAll(options);
  const std::string ivy = "ivy@example.com";
  const std::string jay = "jay@example.com";
  SignUpBothThenMergeInTheCrm(ivy, jay);
  if (HasFatalFailure()) return;

  Journey("POST", "/_sim/mailchimp/admin/delete-permanent", {{"email_address", jay}});
  ASSERT_TRUE(Eventually([&] { return Member(ivy).is_null(); }))
      << "the person's other member outlives the erasure: " << Member(ivy).dump() << Log();
  ASSERT_TRUE(Eventually([&] {
    return CrmStatus("GET", "/crm/v3/objects/contacts/ivy%40example.com?idProperty=email") == 404;
  })) << List().dump(2)
      << Log();
  ASSERT_TRUE(Eventually([&] { return OnlyRequestSettled("mailchimp"); })) << List().dump(2);
}

// The same deletion with its webhook lost: the poll cannot see it (the
// member is gone from the list), so the full reconciliation finds the
// linked member it no longer returns and reads it (404). An absence cannot
// tell a deletion from an address change whose webhook was lost, so it is
// recorded as a deletion there, never escalated to an erasure everywhere.
TEST_F(ErasureE2E, APermanentDeletionWhoseWebhookWasLostIsFoundByTheNextResyncNotErased) {
  SyncOptions options;
  options.mailchimp_erasure = "{mode: delete, on_permanent_delete: erase}";
  StartAll(options);
  // Mailchimp's webhooks are lost from the start: the webhook for
  // consentd's own write of Liv is a hint too, and a read for it after the
  // deletion below would find the deletion before the resync does (seen
  // once under ASan).
  Journey("POST", "/_sim/faults", {{"kind", "webhook_drop"}, {"system", "mailchimp"}});
  const std::string liv = "liv@example.com";
  Crm("POST", "/_sim/hubspot/person/signup", {{"email", liv}, {"subscriptionId", kProductUpdates}});
  ASSERT_TRUE(Eventually([&] { return MemberStatus(liv) == "subscribed"; })) << Log();
  // The member exists once Mailchimp has answered the write; consentd links
  // it when it commits that answer, a moment later. The resync below counts
  // linked members, so wait for the link.
  ASSERT_TRUE(Eventually([&] {
    const std::optional<RawResponse> r = Admin("GET", "/api/v1/subjects?email=liv%40example.com");
    return r && r->body.find(R"("system":"mailchimp")") != std::string::npos;
  })) << Log();

  Journey("POST", "/_sim/mailchimp/admin/delete-permanent", {{"email_address", liv}});

  // An operator's limit of 0 reads none...
  CommandResult careful = Ctl({"resync", "--connector", "mailchimp", "--missing-limit", "0"});
  ASSERT_EQ(careful.exit_code, 0) << careful.output;
  EXPECT_NE(careful.output.find("missing 1 of 1 linked (none read"), std::string::npos)
      << careful.output;
  // ...and by default one of one is read (up to three always are).
  CommandResult r = Ctl({"resync", "--connector", "mailchimp"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("missing 1 (read 1, gone 1)"), std::string::npos) << r.output;
  EXPECT_TRUE(List()["erasures"].empty()) << List().dump(2);
  EXPECT_EQ(CrmStatus("GET", "/crm/v3/objects/contacts/liv%40example.com?idProperty=email"), 200);

  // Mailchimp is known not to have the person any more: a change in the
  // CRM is decided and nothing is sent there.
  const double journey_deliveries = MetricSum("consentd_deliveries_total", "target=\"mailchimp\"");
  const double crm_decisions = MetricSum("consentd_decisions_total", "source=\"hubspot\"");
  Crm("POST", "/_sim/hubspot/person/unsubscribe",
      {{"email", liv}, {"subscriptionId", kProductUpdates}});
  ASSERT_TRUE(Eventually([&] {
    return MetricSum("consentd_decisions_total", "source=\"hubspot\"") > crm_decisions;
  })) << Log();
  std::this_thread::sleep_for(std::chrono::seconds(1));
  EXPECT_EQ(MetricSum("consentd_deliveries_total", "target=\"mailchimp\""), journey_deliveries)
      << Log();

  CommandResult again = Ctl({"resync", "--connector", "mailchimp"});
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("missing 0 (read 0, gone 0)"), std::string::npos) << again.output;
}

TEST_F(ErasureE2E, OperatorErasureIsTrackedPerTargetOverTheAdminApi) {
  StartAll();
  const std::string eve = "eve@example.com";
  Crm("POST", "/_sim/hubspot/person/signup", {{"email", eve}, {"subscriptionId", kProductUpdates}});
  ASSERT_TRUE(Eventually([&] { return MemberStatus(eve) == "subscribed"; })) << Log();
  CommandResult erased = Ctl({"erase", "--email", eve});
  ASSERT_EQ(erased.exit_code, 0) << erased.output;
  ASSERT_TRUE(Eventually([&] { return OnlyRequestSettled("admin"); })) << List().dump(2);
  EXPECT_TRUE(Member(eve).is_null());
  EXPECT_EQ(CrmStatus("GET", "/crm/v3/objects/contacts/eve%40example.com?idProperty=email"), 404);
  const Json request = List()["erasures"][0];
  EXPECT_NE(request["requested_by"].get<std::string>().find("admin API"), std::string::npos)
      << request.dump();
  const std::string id = request["id"];

  auto one = Admin("GET", "/api/v1/erasures/status?id=" + id);
  ASSERT_TRUE(one);
  ASSERT_EQ(one->status, 200) << one->body;
  const Json body = Json::parse(one->body);
  EXPECT_EQ(body["id"], id);
  EXPECT_EQ(body["state"], "done");
  auto all = Admin("GET", "/api/v1/erasures");
  ASSERT_TRUE(all);
  ASSERT_EQ(all->status, 200) << all->body;
  EXPECT_EQ(Json::parse(all->body)["erasures"].size(), 1u);
  auto overdue = Admin("GET", "/api/v1/erasures?overdue=true");
  ASSERT_TRUE(overdue);
  ASSERT_EQ(overdue->status, 200) << overdue->body;
  EXPECT_TRUE(Json::parse(overdue->body)["erasures"].empty());
  // The status page asks for the open ones only: a settled request is not.
  auto open = Admin("GET", "/api/v1/erasures?open=true");
  ASSERT_TRUE(open);
  ASSERT_EQ(open->status, 200) << open->body;
  EXPECT_TRUE(Json::parse(open->body)["erasures"].empty()) << open->body;
  auto bad_open = Admin("GET", "/api/v1/erasures?open=yes");
  ASSERT_TRUE(bad_open);
  EXPECT_EQ(bad_open->status, 400);
  EXPECT_TRUE(CheckProblem(*bad_open).empty()) << bad_open->body;
  CommandResult open_ctl = Ctl({"erasures", "--open", "--json"});
  ASSERT_EQ(open_ctl.exit_code, 0) << open_ctl.output;
  EXPECT_TRUE(Json::parse(open_ctl.output)["erasures"].empty()) << open_ctl.output;
  auto missing = Admin("GET", "/api/v1/erasures/status?id=nope");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_TRUE(CheckProblem(*missing).empty()) << missing->body;

  // A settled target cannot be marked by hand.
  CommandResult manual =
      Ctl({"erasures", "mark-manual", "--id", id, "--target", "mailchimp", "--note", "x"});
  EXPECT_NE(manual.exit_code, 0) << manual.output;
  EXPECT_NE(manual.output.find("already"), std::string::npos) << manual.output;
}

// An erasure cannot be undone, so it can be tried first: the dry run names
// the person's pseudonym and the systems it would ask, and changes nothing
// (no request, no ledger line, both records still there); the real erasure
// then erases that very subject.
TEST_F(ErasureE2E, AnErasureDryRunShowsWhatWouldHappenAndChangesNothing) {
  StartAll();
  const std::string eve = "eve@example.com";
  Crm("POST", "/_sim/hubspot/person/signup", {{"email", eve}, {"subscriptionId", kProductUpdates}});
  ASSERT_TRUE(Eventually([&] { return MemberStatus(eve) == "subscribed"; })) << Log();
  const std::filesystem::path ledger = dir_->path() / "erasures.ledger";
  const std::string ledger_before =
      std::filesystem::exists(ledger) ? ReadTextFile(ledger) : std::string();

  CommandResult tried = Ctl({"erase", "--email", eve, "--dry-run"});
  ASSERT_EQ(tried.exit_code, 0) << tried.output;
  EXPECT_NE(tried.output.find("nothing stored"), std::string::npos) << tried.output;
  EXPECT_NE(tried.output.find("would ask: hubspot (delete) mailchimp (delete)"), std::string::npos)
      << tried.output;
  const std::size_t at = tried.output.find("subject:  ");
  ASSERT_NE(at, std::string::npos) << tried.output;
  const std::string subject =
      tried.output.substr(at + 10, tried.output.find(' ', at + 10) - at - 10);
  EXPECT_EQ(tried.output.find(eve), std::string::npos)
      << "the address is printed: " << tried.output;

  EXPECT_TRUE(List()["erasures"].empty()) << List().dump(2);
  EXPECT_EQ(std::filesystem::exists(ledger) ? ReadTextFile(ledger) : std::string(), ledger_before);
  EXPECT_EQ(MemberStatus(eve), "subscribed");
  EXPECT_EQ(CrmStatus("GET", "/crm/v3/objects/contacts/eve%40example.com?idProperty=email"), 200);
  EXPECT_EQ(Ctl({"explain", "--email", eve}).exit_code, 0);
  EXPECT_EQ(Ctl({"erase", "--email", "nobody@example.com", "--dry-run"}).exit_code, 3);

  CommandResult erased = Ctl({"erase", "--email", eve});
  ASSERT_EQ(erased.exit_code, 0) << erased.output;
  EXPECT_NE(erased.output.find("subject:  " + subject + " "), std::string::npos)
      << subject << " / " << erased.output;
  ASSERT_TRUE(Eventually([&] { return OnlyRequestSettled("admin"); })) << List().dump(2);
  CommandResult again = Ctl({"erase", "--email", eve, "--dry-run"});
  EXPECT_EQ(again.exit_code, 3) << again.output;
}

// A stale poll page: the operator erases Eve while Mailchimp's permanent
// delete keeps failing, so Mailchimp still holds her member. consentd
// restarts with its poll cursors lost and reads the audience from the
// beginning: the page that still carries Eve is dropped as erased instead
// of bringing her back, and once Mailchimp answers again the erasure
// completes.
TEST_F(ErasureE2E, AStalePollPageCarryingTheErasedPersonIsDroppedNotResurrected) {
  StartAll(WithPolling("1s"));
  const std::string eve = "eve@example.com";
  Crm("POST", "/_sim/hubspot/person/signup", {{"email", eve}, {"subscriptionId", kProductUpdates}});
  ASSERT_TRUE(Eventually([&] { return MemberStatus(eve) == "subscribed"; })) << Log();
  Crm("POST", "/_sim/faults",
      Json::array({{{"kind", "error"},
                    {"system", "mailchimp"},
                    {"route", "/3.0/lists/*/members/*/actions/delete-permanent"},
                    {"status", 503}}}));
  CommandResult erased = Ctl({"erase", "--email", eve});
  ASSERT_EQ(erased.exit_code, 0) << erased.output;
  ASSERT_TRUE(Eventually([&] {
    return CrmStatus("GET", "/crm/v3/objects/contacts/eve%40example.com?idProperty=email") == 404;
  })) << Log();
  ASSERT_EQ(MemberStatus(eve), "subscribed");  // the failing delete left her there

  StopConsentd();
  ResetPollCursors();
  StartConsentd();
  ASSERT_TRUE(Eventually([&] { return Dropped("mailchimp") > 0; })) << Log();
  const Json pending = List();
  ASSERT_EQ(pending["erasures"].size(), 1u) << pending.dump(2);
  EXPECT_EQ(pending["erasures"][0]["state"], "open") << pending.dump(2);
  CommandResult explained = Ctl({"explain", "--email", eve});
  EXPECT_NE(explained.exit_code, 0) << "the erased person came back:\n" << explained.output;

  Crm("DELETE", "/_sim/faults");
  ASSERT_TRUE(Eventually([&] { return Member(eve).is_null(); })) << Log();
  ASSERT_TRUE(Eventually([&] { return OnlyRequestSettled("admin"); })) << List().dump(2);
}

// The proof log outlives an erasure (its evidence is crypto-shredded), so
// nothing in it may lead back to the address: not the address and not
// Mailchimp's subscriber hash, which is MD5 of the address and so can be
// computed by anyone who knows it. Ida is found by Mailchimp's poll
// (webhooks dropped), whose records carry version ids, then erased.
TEST_F(ErasureE2E, AfterAnErasureNeitherTheAddressNorItsSubscriberHashIsLeftInTheStore) {
  StartAll(WithPolling("1s"));
  Journey("POST", "/_sim/faults", {{"kind", "webhook_drop"}, {"system", "mailchimp"}});
  const std::string ida = "ida@example.com";
  const std::string hash = connectors::mailchimp::SubscriberHash(ida);
  Journey("POST", "/_sim/mailchimp/person/signup",
          {{"email_address", ida}, {"interests", {{interest_ids_["Product news"], true}}}});
  Journey("POST", "/_sim/mailchimp/person/confirm", {{"email_address", ida}});
  ASSERT_TRUE(Eventually([&] { return CrmSubscription(ida, kProductUpdates) == "SUBSCRIBED"; }))
      << Log();
  // While Ida is known the scan finds her (her identity and the outbox hold
  // the address): a scan that cannot see would prove nothing below.
  StopConsentd();
  ASSERT_FALSE(FindInStore(ida).empty());
  StartConsentd();

  CommandResult erased = Ctl({"erase", "--email", ida});
  ASSERT_EQ(erased.exit_code, 0) << erased.output;
  ASSERT_TRUE(Eventually([&] { return OnlyRequestSettled("admin"); })) << List().dump(2);
  StopConsentd();
  EXPECT_EQ(FindInStore(ida), "");
  EXPECT_EQ(FindInStore(hash), "");
}

// The same while consentd keeps running: the write-ahead log still held
// the pages written before the erasure (the person's rows, her address)
// until later writes overwrote them, which on a quiet install can take
// days. After an erasure the WAL is checkpointed and truncated.
TEST_F(ErasureE2E, AfterAnErasureTheRunningStoresWriteAheadLogHoldsNoCopyOfTheAddress) {
  StartAll();
  const std::string una = "una@example.com";
  Crm("POST", "/_sim/hubspot/person/signup", {{"email", una}, {"subscriptionId", kProductUpdates}});
  ASSERT_TRUE(Eventually([&] { return MemberStatus(una) == "subscribed"; })) << Log();
  // Mailchimp's webhook for consentd's own write carries her address; taken
  // in after the erasure's WAL truncation, it would write it there again.
  // Wait until consentd has recognised it.
  ASSERT_TRUE(Eventually([&] {
    return MetricSum("consentd_records_skipped_total", "connector=\"mailchimp\"") +
               MetricSum("consentd_decisions_total", "source=\"mailchimp\",outcome=\"echo\"") >
           0;
  })) << Log();
  ASSERT_FALSE(FindInStore(una).empty()) << "the scan must see her while she is known";
  CommandResult erased = Ctl({"erase", "--email", una});
  ASSERT_EQ(erased.exit_code, 0) << erased.output;
  ASSERT_TRUE(Eventually([&] { return OnlyRequestSettled("admin"); })) << List().dump(2);
  EXPECT_TRUE(Eventually([&] { return FindInStore(una).empty(); }, std::chrono::seconds(10)))
      << FindInStore(una);
}

// A backup put back after erasures (docs/operations.md, "Backup and
// restore"). The backup holds Eve alive, with a subscribe to Mailchimp
// still queued (Mailchimp was failing), and Frank; Gina signs up and is
// erased only after it. The erasure ledger beside the database, which the
// restore does not touch, lists both erasures. At start consentd erases
// Eve again before anything else runs: her queued subscribe is never sent
// (the only Mailchimp write after the restart is her erasure), nothing of
// her is left in the store, and Gina's tombstones, which the backup never
// had, are added back. Frank is untouched.
TEST_F(ErasureE2E, ADatabaseRestoredFromABackupTakenBeforeAnErasureErasesThePersonAgain) {
  StartAll();
  const std::string eve = "eve@example.com";
  const std::string frank = "frank@example.com";
  const std::string gina = "gina@example.com";
  Crm("POST", "/_sim/hubspot/person/signup",
      {{"email", frank}, {"subscriptionId", kProductUpdates}});
  ASSERT_TRUE(Eventually([&] { return MemberStatus(frank) == "subscribed"; })) << Log();
  Journey("POST", "/_sim/faults",
          Json::array({{{"kind", "error"},
                        {"system", "mailchimp"},
                        {"route", "/3.0/lists/*"},
                        {"status", 503}}}));
  Crm("POST", "/_sim/hubspot/person/signup", {{"email", eve}, {"subscriptionId", kProductUpdates}});
  ASSERT_TRUE(Eventually([&] {
    return MetricSum("consentd_deliveries_total", "target=\"mailchimp\",result=\"retryable\"") > 0;
  })) << Log();
  const std::filesystem::path backup = dir_->path() / "backup";
  CommandResult backed_up = Ctl({"backup", backup.string()});
  ASSERT_EQ(backed_up.exit_code, 0) << backed_up.output;
  Journey("DELETE", "/_sim/faults");
  ASSERT_TRUE(Eventually([&] { return MemberStatus(eve) == "subscribed"; })) << Log();

  ASSERT_EQ(Ctl({"erase", "--email", eve}).exit_code, 0);
  ASSERT_TRUE(Eventually([&] { return OnlyRequestSettled("admin"); })) << List().dump(2);
  Crm("POST", "/_sim/hubspot/person/signup",
      {{"email", gina}, {"subscriptionId", kProductUpdates}});
  ASSERT_TRUE(Eventually([&] { return MemberStatus(gina) == "subscribed"; })) << Log();
  ASSERT_EQ(Ctl({"erase", "--email", gina}).exit_code, 0);
  ASSERT_TRUE(Eventually([&] { return Member(gina).is_null(); })) << Log();
  StopConsentd();
  const std::string ledger = ReadTextFile(dir_->path() / "erasures.ledger");
  EXPECT_NE(ledger.find("subject "), std::string::npos) << ledger;
  EXPECT_NE(ledger.find("tombstone "), std::string::npos) << ledger;
  EXPECT_EQ(ledger.find("eve"), std::string::npos) << ledger;

  // The restore, as docs/operations.md describes it: the database only.
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::filesystem::remove(dir_->path() / (std::string("consentd.db") + suffix));
  }
  std::filesystem::copy_file(backup / "consentd.db", dir_->path() / "consentd.db");
  ASSERT_FALSE(FindInStore(eve).empty()) << "the backup predates the erasure";

  StartConsentd();
  ASSERT_TRUE(Eventually([&] {
    const Json list = List();
    for (const Json& r : list["erasures"]) {
      if (r["requested_by"].get<std::string>().find("erasure ledger") == std::string::npos) {
        continue;
      }
      if (r["state"] != "done") return false;
      for (const Json& t : r["targets"]) {
        if (t["state"] != "already_done" && t["state"] != "done") return false;
      }
      return true;
    }
    return false;
  })) << List().dump(2)
      << Log();
  EXPECT_NE(Log().find("1 erasure(s) missing from the database (restored from a backup?) made "
                       "again"),
            std::string::npos)
      << Log();
  EXPECT_NE(Log().find("tombstone(s) missing from the database added back"), std::string::npos)
      << Log();
  // Her queued subscribe (pending in the backup) was dropped with her:
  // Mailchimp got her erasure only. (Not a test of the order as such: at
  // start the dispatcher waits for the connector checks, which take longer
  // than the replay; the replay is the first unit queued by construction.)
  EXPECT_EQ(MetricSum("consentd_deliveries_total", "target=\"mailchimp\",result=\"done\""), 1)
      << Log();
  // Erased in the restored store: the operator's request finds no one.
  EXPECT_EQ(Ctl({"erase", "--email", eve}).exit_code, 3);
  EXPECT_TRUE(Member(eve).is_null());
  EXPECT_EQ(MemberStatus(frank), "subscribed");
  EXPECT_EQ(CrmSubscription(frank, kProductUpdates), "SUBSCRIBED");
  StopConsentd();
  EXPECT_EQ(FindInStore(eve), "");
}

// A ledger that is not what consentd wrote (edited by hand, another file
// configured by mistake) stops the start, naming the file and line:
// starting without it could bring erased people back.
TEST_F(ErasureE2E, AnErasureLedgerThatCannotBeReadStopsTheStartNamingFileAndLine) {
  StartAll();
  StopConsentd();
  const std::filesystem::path ledger = dir_->path() / "erasures.ledger";
  WriteTextFile(ledger, "subject s-0000000000000001 1764400000000\nnot a record\n");
  ChildProcess consentd(ConsentdBinary(), {"--config", config_path_}, {},
                        dir_->path() / "consentd.log");
  EXPECT_EQ(consentd.WaitExit(std::chrono::seconds(30)), std::optional<int>(1)) << Log();
  EXPECT_NE(Log().find(ledger.string() + ":2: not an erasure ledger record"), std::string::npos)
      << Log();
}

// A database restored without its signing key (or a config pointing at
// another file): consentd must not make a new key under the log's name,
// after which no key would verify the whole log. It refuses to start and
// says which key signed the log; with the key back it starts.
TEST_F(ErasureE2E, AMissingSigningKeyStopsTheStartInsteadOfSigningWithANewKey) {
  StartAll();
  const std::string kim = "kim@example.org";
  Crm("POST", "/_sim/hubspot/person/signup", {{"email", kim}, {"subscriptionId", kProductUpdates}});
  ASSERT_TRUE(Eventually([&] { return MemberStatus(kim) == "subscribed"; })) << Log();
  StopConsentd();  // the stop signs a checkpoint of the grown log
  const std::filesystem::path key = dir_->path() / "proof_signing.key";
  const std::filesystem::path kept = dir_->path() / "proof_signing.key.kept";
  std::filesystem::rename(key, kept);
  {
    ChildProcess consentd(ConsentdBinary(), {"--config", config_path_}, {},
                          dir_->path() / "consentd.log");
    EXPECT_EQ(consentd.WaitExit(std::chrono::seconds(30)), std::optional<int>(1)) << Log();
  }
  EXPECT_NE(Log().find("signing key " + key.string() +
                       " does not exist, but the proof log's "
                       "checkpoints are signed by key '"),
            std::string::npos)
      << Log();
  EXPECT_FALSE(std::filesystem::exists(key)) << "a new key was made";
  std::filesystem::rename(kept, key);
  StartConsentd();  // verified at TearDown with this key
}

// `export --deliver` for an address consentd holds nothing about exits 3,
// as `export` does: the deliveries route's "holds no data" is an answer,
// not a failure. Nothing is sent (the endpoint here does not exist).
TEST_F(ErasureE2E, ADeliveredExportForAnUnknownAddressExitsThree) {
  SyncOptions options;
  options.extra_config =
      "privacy:\n  export_delivery:\n    url: http://127.0.0.1:9/exports\n"
      "    secret_file: secrets/export_delivery_secret\n";
  StartAll(options);
  CommandResult r = Ctl({"export", "--email", "nobody@example.org", "--deliver"});
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.output.find("holds no data about this address"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace consentd::testing
