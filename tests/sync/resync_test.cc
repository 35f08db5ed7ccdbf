// Full reconciliation (sync/resync.h): the real HubSpot connector reads the
// in-process consentd-sim's snapshot over loopback HTTP, and the real sync
// engine decides it against a real SQLite store in a temp directory.
#include "sync/resync.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "connectors/common/http_client.h"
#include "connectors/hubspot/hubspot_connector.h"
#include "mapping/loader.h"
#include "store/proof_log_store.h"
#include "sync/outbound.h"
#include "tests/sim/sim_fixture.h"
#include "tests/store/store_test_util.h"

namespace consentd::sync {
namespace {

using nlohmann::json;

const std::string kIdentityKey(32, 'k');

// Bound to the simulator's subscription types (101 = Newsletter, 102 =
// Product updates) and block property; Mailchimp is mapped so that changes
// propagate there (no Mailchimp connector is needed for these tests).
constexpr char kMapping[] = R"(
mapping:
  systems:
    hubspot: {kind: hubspot, role: crm}
    mailchimp: {kind: mailchimp, role: journey, confirms_double_opt_in: true}
  identity:
    keys: [email]
  channels:
    email: {hubspot: EMAIL, mailchimp: email}
  topics:
    - name: newsletter
      notice_version: "2026-01"
      double_opt_in: true
      channels: [email]
      systems:
        hubspot: {subscriptions: {email: 101}}
        mailchimp: {interest: "9a1c2e3f4b"}
    - name: product_news
      notice_version: "2026-01"
      double_opt_in: false
      channels: [email]
      systems:
        hubspot: {subscriptions: {email: 102}}
        mailchimp: {interest: "7d8e9f0a1b"}
  blocks:
    - name: werbesperre
      scope: all
      direction: both
      systems:
        hubspot: {property: consentd_werbesperre, value: "true"}
        mailchimp: {status: unsubscribed}
)";

class SyncResyncTest : public sim::testing::SimFixture {
 protected:
  void SetUp() override {
    SimFixture::SetUp();
    store_ = store::testing::OpenOrDie(dir_.File("consentd.db"));
    ASSERT_NE(store_, nullptr);
    Result<mapping::MappingSpec> spec = mapping::LoadMappingFromConfigString(kMapping, "test");
    ASSERT_TRUE(spec.ok()) << spec.status().ToString();
    spec_ = std::make_shared<const mapping::MappingSpec>(std::move(*spec));
    engine_ = std::make_unique<SyncEngine>(EngineSettings{spec_, kIdentityKey});
    http_ = connectors::MakeCurlHttpClient("consentd-test");
    connectors::HubSpotSettings s;
    s.name = "hubspot";
    s.base_url = BaseUrl();
    s.token = "test-token";
    s.client_secret = "test-client-secret";
    s.timeout = std::chrono::milliseconds(10000);
    connector_ = connectors::MakeHubSpotConnector(s, spec_, *http_);
    ASSERT_NE(connector_, nullptr);
  }

  ResyncReport Resync(bool dry_run, ResyncOptions o = {}) {
    o.dry_run = dry_run;
    Result<ResyncReport> r = RunResync(*store_, *engine_, *connector_, o);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : ResyncReport{};
  }

  // The options of an operator who has checked the missing records.
  static ResyncOptions AnyShare() {
    ResyncOptions o;
    o.missing_read_max_share = 1.0;
    return o;
  }

  void Run(const store::Work& work) {
    Status s = store_->Run(work);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  // What the store holds that a resync could add: proof entries and outbox
  // rows (pending and done).
  struct Footprint {
    std::uint64_t proof = 0;
    std::int64_t pending = 0;
    std::int64_t done = 0;
    bool operator==(const Footprint&) const = default;
  };
  Footprint Measure() {
    Footprint f;
    Run([&](store::Transaction& txn) -> Status {
      Result<std::uint64_t> proof = store::ProofTreeSize(txn);
      Result<std::int64_t> pending = txn.CountOutbox(store::OutboxStatus::kPending);
      Result<std::int64_t> done = txn.CountOutbox(store::OutboxStatus::kDone);
      if (!proof.ok()) return proof.status();
      if (!pending.ok()) return pending.status();
      if (!done.ok()) return done.status();
      f = {*proof, *pending, *done};
      return Status::Ok();
    });
    return f;
  }

  std::vector<store::OutboxRow> Pending(const std::string& target) {
    std::vector<store::OutboxRow> out;
    Run([&](store::Transaction& txn) -> Status {
      auto r = txn.ListOutbox(store::OutboxStatus::kPending, 0, 1000);
      if (!r.ok()) return r.status();
      for (store::OutboxRow& row : *r) {
        if (row.target == target) out.push_back(std::move(row));
      }
      return Status::Ok();
    });
    return out;
  }

  // The subject consentd links HubSpot contact `contact_id` to; "" if none.
  std::string SubjectOfContact(const std::string& contact_id) {
    std::string subject;
    Run([&](store::Transaction& txn) -> Status {
      auto s = txn.FindSubjectBySystemId("hubspot", contact_id);
      if (!s.ok()) return s.status();
      subject = s->value_or("");
      return Status::Ok();
    });
    return subject;
  }

  std::vector<std::pair<std::string, TimestampMs>> TargetDeletions(const std::string& subject) {
    std::vector<std::pair<std::string, TimestampMs>> out;
    Run([&](store::Transaction& txn) -> Status {
      auto d = txn.ListTargetDeletions(subject);
      if (!d.ok()) return d.status();
      out = std::move(*d);
      return Status::Ok();
    });
    return out;
  }

  // (email, contact id) of a seeded contact subscribed to the newsletter.
  std::pair<std::string, std::string> SubscribedContact() {
    const json state = Control("GET", "/_sim/hubspot/state").Json();
    for (const json& s : state["subscriptionStatuses"]) {
      if (s["subscriptionId"] != 101 || s["status"] != "SUBSCRIBED") continue;
      const std::string email = s["subscriberIdString"];
      for (const json& c : state["contacts"]) {
        if (c["properties"].value("email", "") == email) {
          return {email, c["id"].is_string() ? c["id"].get<std::string>()
                                             : std::to_string(c["id"].get<std::int64_t>())};
        }
      }
    }
    return {};
  }

  store::testing::TempDir dir_;
  std::unique_ptr<store::SqliteStore> store_;
  std::shared_ptr<const mapping::MappingSpec> spec_;
  std::unique_ptr<SyncEngine> engine_;
  std::unique_ptr<connectors::HttpClient> http_;
  std::unique_ptr<connectors::Connector> connector_;
};

TEST_F(SyncResyncTest, LearnsWhatConsentdMissedThenFindsEverythingInStep) {
  // More than one page of HubSpot's contact list (100 a page).
  ASSERT_EQ(Control("POST", "/_sim/hubspot/seed", {{"count", 120}, {"seed", 3}}).status, 200);
  std::vector<int> page_sizes;
  const Footprint empty = Measure();

  const ResyncReport dry = Resync(/*dry_run=*/true);
  EXPECT_TRUE(dry.complete);
  EXPECT_TRUE(dry.dry_run);
  EXPECT_EQ(dry.records, 120);
  EXPECT_EQ(dry.pages, 2);
  EXPECT_GT(dry.consentd_behind, 0);
  EXPECT_EQ(dry.system_behind, 0);
  EXPECT_GT(dry.enqueued.count("mailchimp"), 0u) << "what consentd learns propagates";
  EXPECT_EQ(Measure(), empty) << "a dry run stores nothing";

  ResyncOptions o;
  o.on_page_committed = [&](const IngestSummary& page) { page_sizes.push_back(page.records); };
  Result<ResyncReport> committed = RunResync(*store_, *engine_, *connector_, o);
  ASSERT_TRUE(committed.ok()) << committed.status().ToString();
  const ResyncReport& real = *committed;
  EXPECT_TRUE(real.complete);
  EXPECT_EQ(page_sizes, (std::vector<int>{100, 20})) << "one unit of work per page";
  EXPECT_EQ(real.records, dry.records);
  EXPECT_EQ(real.consentd_behind, dry.consentd_behind) << "the dry run predicted the real one";
  EXPECT_EQ(real.outcomes, dry.outcomes);
  EXPECT_EQ(real.enqueued, dry.enqueued);
  const Footprint after = Measure();
  EXPECT_GT(after.proof, empty.proof);
  EXPECT_EQ(after.pending, empty.pending + real.enqueued.at("mailchimp"));

  const ResyncReport again = Resync(/*dry_run=*/false);
  EXPECT_TRUE(again.complete);
  EXPECT_EQ(again.records, 120);
  EXPECT_EQ(again.drift(), 0) << FormatResyncReport(again);
  EXPECT_EQ(again.consentd_behind, 0);
  EXPECT_EQ(again.superseded, 0);
  EXPECT_GT(again.in_step, 0);
  EXPECT_TRUE(again.enqueued.empty());
  EXPECT_EQ(Measure().pending, after.pending) << "nothing new to send";
}

TEST_F(SyncResyncTest, RepairsASystemThatIsBehindAndDryRunOnlyReportsIt) {
  ASSERT_EQ(Control("POST", "/_sim/hubspot/seed", {{"count", 12}, {"seed", 3}}).status, 200);
  ASSERT_TRUE(Resync(/*dry_run=*/false).complete);
  const auto [email, contact_id] = SubscribedContact();
  ASSERT_FALSE(email.empty()) << "the seed has a newsletter subscriber";

  // consentd learns a newer withdrawal that HubSpot no longer shows (say a
  // backup restore rolled the contact back): HubSpot is now behind.
  connectors::InboundRecord rec;
  rec.event_id = "evt-withdraw";
  rec.system_id = contact_id;
  rec.email = email;
  Change c;
  c.kind = ChangeKind::kConsent;
  c.key.topic = "newsletter";
  c.key.channel = "email";
  c.status = ConsentStatus::kWithdrawn;
  c.method = ConsentMethod::kUnsubscribeLink;
  c.provenance.occurred_at = clock_.NowMs() + 10000;
  c.provenance.source_system = "hubspot";
  c.provenance.source_event_id = rec.event_id;
  rec.mapped.changes.push_back(c);
  Run([&](store::Transaction& txn) -> Status {
    Result<IngestSummary> r = engine_->Ingest(txn, "hubspot", {rec}, clock_.NowMs());
    if (!r.ok()) return r.status();
    EXPECT_EQ(r->outcomes[Outcome::kApplied], 1);
    return Status::Ok();
  });
  ASSERT_TRUE(Pending("hubspot").empty()) << "a change from HubSpot is not written back";
  const Footprint before = Measure();

  const ResyncReport dry = Resync(/*dry_run=*/true);
  EXPECT_TRUE(dry.complete);
  EXPECT_EQ(dry.system_behind, 1) << FormatResyncReport(dry);
  EXPECT_GE(dry.superseded, 1);
  EXPECT_EQ(dry.consentd_behind, 0);
  EXPECT_EQ(Measure(), before) << "a dry run stores nothing";
  EXPECT_TRUE(Pending("hubspot").empty());

  const ResyncReport real = Resync(/*dry_run=*/false);
  EXPECT_EQ(real.system_behind, 1);
  EXPECT_EQ(real.outcomes, dry.outcomes);
  const std::vector<store::OutboxRow> repairs = Pending("hubspot");
  ASSERT_EQ(repairs.size(), 1u);
  Result<connectors::DesiredState> desired =
      connectors::DecodeDesiredState(repairs[0].desired_json);
  ASSERT_TRUE(desired.ok()) << desired.status().ToString();
  bool withdrawn = false;
  for (const auto& [key, consent] : desired->state.consents) {
    if (key.topic == "newsletter") withdrawn = consent.status == ConsentStatus::kWithdrawn;
  }
  EXPECT_TRUE(withdrawn) << "the repair carries the canonical state";
  EXPECT_GT(Measure().proof, before.proof);

  // The repair dies (a long outage). The next run finds HubSpot still
  // behind: the same state is the dead letter's, which is not queued again
  // (the operator replays it) but counted and named, not passed over.
  Run([&](store::Transaction& txn) -> Status {
    auto claimed = txn.ClaimOutbox("hubspot", clock_.NowMs(), 10, clock_.NowMs() + 60'000);
    if (!claimed.ok()) return claimed.status();
    if (claimed->size() != 1u) return Internal("expected the repair");
    return txn.MarkDead(claimed->front().id, "503 Service Unavailable", clock_.NowMs());
  });
  const ResyncReport held = Resync(/*dry_run=*/false);
  EXPECT_EQ(held.system_behind, 1) << FormatResyncReport(held);
  EXPECT_EQ(held.held_by_dead_letters, 1) << FormatResyncReport(held);
  EXPECT_EQ(held.drift(), 1);
  EXPECT_NE(FormatResyncReport(held).find("system behind 1 (1 held by dead letters: consentctl "
                                          "dlq list, then dlq replay)"),
            std::string::npos)
      << FormatResyncReport(held);
  EXPECT_TRUE(Pending("hubspot").empty()) << "a dead letter is replayed, not re-added";
}

// A record deleted in the system with its webhook lost is simply absent
// from the next snapshot. Resync reads the linked records it did not find,
// and the system's "not found" is decided as a deletion, once.
TEST_F(SyncResyncTest, ReadsTheLinkedRecordsTheSnapshotNoLongerHasAndDecidesThemDeleted) {
  ASSERT_EQ(Control("POST", "/_sim/hubspot/seed", {{"count", 12}, {"seed", 3}}).status, 200);
  const ResyncReport first = Resync(/*dry_run=*/false);
  EXPECT_EQ(first.missing, 0) << FormatResyncReport(first);
  const auto [email, contact_id] = SubscribedContact();
  ASSERT_FALSE(contact_id.empty());
  const std::string subject = SubjectOfContact(contact_id);
  ASSERT_FALSE(subject.empty());
  // Deleted in HubSpot; no webhook reaches consentd.
  ASSERT_EQ(Api("DELETE", "/crm/v3/objects/contacts/" + contact_id).status, 204);

  const ResyncReport second = Resync(/*dry_run=*/false);
  EXPECT_EQ(second.records, 11);
  EXPECT_EQ(second.missing, 1) << FormatResyncReport(second);
  EXPECT_EQ(second.missing_read, 1);
  EXPECT_EQ(second.missing_gone, 1);
  EXPECT_NE(FormatResyncReport(second).find("missing 1 (read 1, gone 1)"), std::string::npos)
      << FormatResyncReport(second);
  const auto deletions = TargetDeletions(subject);
  ASSERT_EQ(deletions.size(), 1u);
  EXPECT_EQ(deletions[0].first, "hubspot");

  const ResyncReport third = Resync(/*dry_run=*/false);
  EXPECT_EQ(third.missing, 0) << "a record known deleted is not looked for again";
  EXPECT_EQ(third.missing_read, 0);
}

// A contact whose statuses HubSpot fails on its side (in a read that
// answers for the others) is neither compared nor taken as found: the run
// leaves it to be read again as a hint of consentd's own (one, though the
// run reads it twice), and looking for it among the missing records, whose
// read fails it again, records no deletion. A dry run leaves nothing
// behind.
TEST_F(SyncResyncTest, AContactHubSpotFailsToReadIsLeftToBeReadAgainNotComparedNorGone) {
  ASSERT_EQ(Control("POST", "/_sim/hubspot/seed", {{"count", 12}, {"seed", 3}}).status, 200);
  ASSERT_TRUE(Resync(/*dry_run=*/false).complete);
  const auto [email, contact_id] = SubscribedContact();
  ASSERT_FALSE(contact_id.empty());
  const std::string subject = SubjectOfContact(contact_id);
  ASSERT_EQ(Control("POST", "/_sim/hubspot/read-failure", {{"email", email}}).status, 200);
  auto hints = [&] {
    std::vector<store::InboxRow> out;
    Run([&](store::Transaction& txn) -> Status {
      auto r = txn.ListUnprocessedInbox("hubspot", 100);
      if (!r.ok()) return r.status();
      out = std::move(*r);
      return Status::Ok();
    });
    return out;
  };

  const ResyncReport dry = Resync(/*dry_run=*/true);
  EXPECT_EQ(dry.not_read, 1) << FormatResyncReport(dry);
  EXPECT_TRUE(hints().empty()) << "a dry run stores nothing";

  const ResyncReport run = Resync(/*dry_run=*/false);
  EXPECT_EQ(run.records, 12);
  EXPECT_EQ(run.not_read, 1) << FormatResyncReport(run);
  EXPECT_NE(FormatResyncReport(run).find("1 record(s) the system failed to answer for"),
            std::string::npos)
      << FormatResyncReport(run);
  EXPECT_EQ(run.missing, 1) << "not found by the run: " << FormatResyncReport(run);
  EXPECT_EQ(run.missing_read, 1);
  EXPECT_EQ(run.missing_gone, 0);
  EXPECT_TRUE(TargetDeletions(subject).empty());
  const auto queued = hints();
  ASSERT_EQ(queued.size(), 1u);
  EXPECT_TRUE(queued[0].event_id.starts_with("consentd:reread:unread:" + contact_id + ":"))
      << queued[0].event_id;
  EXPECT_EQ(queued[0].event_id.find(email), std::string::npos);
}

// So many missing records usually means the connector points at another
// account: none is read (each could become a deletion, even an erasure
// everywhere). A dry run cannot tell which records its pages found.
TEST_F(SyncResyncTest, MissingRecordsAboveTheLimitAreCountedNotReadAndADryRunDoesNotLook) {
  ASSERT_EQ(Control("POST", "/_sim/hubspot/seed", {{"count", 100}, {"seed", 3}}).status, 200);
  ASSERT_TRUE(Resync(/*dry_run=*/false).complete);
  // Four contacts consentd knows (a contact with nothing mapped is not linked).
  std::vector<std::string> linked;
  const json state = Control("GET", "/_sim/hubspot/state").Json();
  for (const json& c : state["contacts"]) {
    const json& id = c["id"];
    const std::string text =
        id.is_string() ? id.get<std::string>() : std::to_string(id.get<std::int64_t>());
    if (!SubjectOfContact(text).empty() && linked.size() < 4) linked.push_back(text);
  }
  ASSERT_EQ(linked.size(), 4u);
  for (const std::string& id : linked) {
    ASSERT_EQ(Api("DELETE", "/crm/v3/objects/contacts/" + id).status, 204);
  }
  const ResyncReport dry = Resync(/*dry_run=*/true);
  EXPECT_EQ(dry.missing, -1);
  EXPECT_EQ(dry.missing_read, 0);

  // Four is more than the three always read and more than 5 % of the
  // linked contacts: none is read.
  const ResyncReport careful = Resync(/*dry_run=*/false);
  EXPECT_EQ(careful.missing, 4);
  ASSERT_GT(careful.linked, 4);
  ASSERT_LT(careful.linked, 80) << "the share must be what stops it";
  EXPECT_TRUE(careful.missing_over_limit);
  EXPECT_EQ(careful.missing_read, 0);
  EXPECT_NE(FormatResyncReport(careful).find("none read"), std::string::npos);

  ResyncOptions o = AnyShare();
  o.missing_read_limit = 3;
  Result<ResyncReport> limited = RunResync(*store_, *engine_, *connector_, o);
  ASSERT_TRUE(limited.ok()) << limited.status().ToString();
  EXPECT_EQ(limited->missing, 4);
  EXPECT_TRUE(limited->missing_over_limit) << "over the absolute limit";
  EXPECT_EQ(limited->missing_read, 0);

  o.missing_read_limit = 4;
  o.missing_read_batch = 3;  // two reads
  Result<ResyncReport> read = RunResync(*store_, *engine_, *connector_, o);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->missing, 4);
  EXPECT_EQ(read->missing_read, 4);
  EXPECT_EQ(read->missing_gone, 4);
}

// A missing record whose person has another record the snapshot did list
// is most often an address change whose webhook was lost: once the read
// confirms it gone, it is retired (no longer written to), and the person
// is not decided deleted there.
TEST_F(SyncResyncTest, AMissingRecordOfAPersonFoundUnderAnotherRecordIsRetiredNotDeleted) {
  ASSERT_EQ(Control("POST", "/_sim/hubspot/seed", {{"count", 12}, {"seed", 3}}).status, 200);
  ASSERT_TRUE(Resync(/*dry_run=*/false).complete);
  const auto [email, contact_id] = SubscribedContact();
  ASSERT_FALSE(contact_id.empty());
  const std::string subject = SubjectOfContact(contact_id);
  ASSERT_FALSE(subject.empty());
  Run([&](store::Transaction& txn) -> Status {
    // The person's record under an id HubSpot no longer has.
    return txn.LinkSystemId({subject, "hubspot", "999999", 1, "old@example.org"});
  });

  const ResyncReport r = Resync(/*dry_run=*/false);
  EXPECT_EQ(r.missing, 1) << FormatResyncReport(r);
  EXPECT_EQ(r.missing_read, 1) << "read first: only HubSpot can say it is gone";
  EXPECT_EQ(r.missing_gone, 0);
  EXPECT_EQ(r.missing_retired, 1);
  EXPECT_NE(FormatResyncReport(r).find("1 gone but the person has another record there"),
            std::string::npos)
      << FormatResyncReport(r);
  std::vector<store::IdentityLink> links;
  Run([&](store::Transaction& txn) -> Status {
    auto l = txn.ListSystemIds(subject);
    if (!l.ok()) return l.status();
    links = std::move(*l);
    return Status::Ok();
  });
  const auto deletions = TargetDeletions(subject);
  for (const store::IdentityLink& link : links) {
    if (link.system_id == "999999") {
      EXPECT_EQ(link.address, "") << "retired";
    } else if (link.system_id == contact_id) {
      EXPECT_EQ(link.address, email) << "kept";
    }
  }
  EXPECT_TRUE(deletions.empty()) << "the person is still in HubSpot";
  EXPECT_EQ(Resync(/*dry_run=*/false).missing, 0) << "a retired record is not looked for again";
}

// Forwards to another connector; after each snapshot page is fetched,
// `after_page` runs (a decision the daemon makes while the page is on its
// way).
class ConnectorWithPageHook : public connectors::Connector {
 public:
  ConnectorWithPageHook(connectors::Connector& inner,
                        std::function<void(const connectors::PollPage&)> after_page)
      : inner_(inner), after_page_(std::move(after_page)) {}
  const std::string& name() const override { return inner_.name(); }
  Result<std::vector<connectors::RecordRef>> ParseWebhook(const net::HttpRequest& req,
                                                          std::string_view public_url,
                                                          TimestampMs now) const override {
    return inner_.ParseWebhook(req, public_url, now);
  }
  int max_batch() const override { return inner_.max_batch(); }
  Status Check() override { return inner_.Check(); }
  Result<std::vector<connectors::InboundRecord>> Read(
      const std::vector<connectors::RecordRef>& refs) override {
    return inner_.Read(refs);
  }
  Result<connectors::PollPage> Poll(std::string_view cursor, TimestampMs now) override {
    Result<connectors::PollPage> page = inner_.Poll(cursor, now);
    if (page.ok()) after_page_(*page);
    return page;
  }
  std::vector<connectors::DeliveryResult> Deliver(
      const std::vector<connectors::OutboundItem>& items) override {
    return inner_.Deliver(items);
  }
  Result<std::vector<connectors::InboundRecord>> MapRecordPayload(
      std::string_view payload) const override {
    return inner_.MapRecordPayload(payload);
  }
  Result<std::vector<connectors::RecordRef>> ParseWebhookUnverified(
      std::string_view body, TimestampMs now) const override {
    return inner_.ParseWebhookUnverified(body, now);
  }
  Result<std::vector<connectors::NativeTopic>> ListNativeTopics() override {
    return inner_.ListNativeTopics();
  }

 private:
  connectors::Connector& inner_;
  std::function<void(const connectors::PollPage&)> after_page_;
};

// A record retired while the snapshot page that holds it was on its way
// (the daemon decided its deletion meanwhile) stays retired: the page shows
// it as it was before. A later snapshot that still holds it makes it live.
TEST_F(SyncResyncTest, ARecordRetiredWhileItsPageWasOnItsWayStaysRetired) {
  ASSERT_EQ(Control("POST", "/_sim/hubspot/seed", {{"count", 12}, {"seed", 3}}).status, 200);
  ASSERT_TRUE(Resync(/*dry_run=*/false).complete);
  const auto [email, contact_id] = SubscribedContact();
  ASSERT_FALSE(contact_id.empty());
  const std::string subject = SubjectOfContact(contact_id);
  auto link_of_contact = [&] {
    store::IdentityLink out;
    Run([&](store::Transaction& txn) -> Status {
      auto l = txn.ListSystemIds(subject);
      if (!l.ok()) return l.status();
      for (const store::IdentityLink& link : *l) {
        if (link.system == "hubspot" && link.system_id == contact_id) out = link;
      }
      return Status::Ok();
    });
    return out;
  };
  ConnectorWithPageHook retiring(*connector_, [&](const connectors::PollPage& page) {
    for (const connectors::InboundRecord& r : page.records) {
      if (r.system_id != contact_id) continue;
      Run([&](store::Transaction& txn) -> Status {
        const TimestampMs now = SystemClock().NowMs();
        return RetireRecord(txn, *spec_, "hubspot", contact_id, now, now);
      });
    }
  });
  Result<ResyncReport> r = RunResync(*store_, *engine_, retiring, ResyncOptions{});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  store::IdentityLink retired = link_of_contact();
  EXPECT_EQ(retired.address, "") << "made live by a page read before it was retired";
  EXPECT_EQ(retired.retired_address, email);

  ASSERT_TRUE(Resync(/*dry_run=*/false).complete);
  EXPECT_EQ(link_of_contact().address, email) << "a snapshot read after it holds it: live";
}

// A person changes her mind at HubSpot while the resync's page holding her
// contact is on its way, and that change is decided first (a webhook). The
// page then no longer states HubSpot's current state: it is decided as
// an older event (superseded), not as a snapshot HubSpot is behind, so no
// "repair" writes the newer state back to HubSpot, which holds it already.
TEST_F(SyncResyncTest, APageReadBeforeANewerChangeOfItsRecordRepairsNothing) {
  ASSERT_EQ(Control("POST", "/_sim/hubspot/seed", {{"count", 12}, {"seed", 3}}).status, 200);
  ASSERT_TRUE(Resync(/*dry_run=*/false).complete);
  const auto [email, contact_id] = SubscribedContact();
  ASSERT_FALSE(contact_id.empty());
  bool changed = false;
  ConnectorWithPageHook racing(*connector_, [&](const connectors::PollPage& page) {
    for (const connectors::InboundRecord& r : page.records) {
      if (r.system_id != contact_id || changed) continue;
      changed = true;
      ASSERT_EQ(Control("POST", "/_sim/hubspot/person/unsubscribe", {{"email", email}}).status,
                200);
      connectors::RecordRef ref;
      ref.event_id = "evt-webhook";
      ref.system_id = contact_id;
      Result<std::vector<connectors::InboundRecord>> read = connector_->Read({ref});
      ASSERT_TRUE(read.ok()) << read.status().ToString();
      Run([&](store::Transaction& txn) -> Status {
        return engine_->Ingest(txn, "hubspot", *read, SystemClock().NowMs()).status();
      });
    }
  });
  Result<ResyncReport> r = RunResync(*store_, *engine_, racing, ResyncOptions{});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_TRUE(changed) << "the contact was on no page";
  EXPECT_EQ(r->system_behind, 0) << FormatResyncReport(*r);
  EXPECT_TRUE(Pending("hubspot").empty()) << "HubSpot is written the change it made itself";
}

// A read HubSpot keeps refusing ends the looking for missing records, not
// the resync: the snapshot's decisions stand, and the report names it.
TEST_F(SyncResyncTest, AFailingReadOfMissingRecordsIsReportedWithoutFailingTheRun) {
  ASSERT_EQ(Control("POST", "/_sim/hubspot/seed", {{"count", 12}, {"seed", 3}}).status, 200);
  ASSERT_TRUE(Resync(/*dry_run=*/false).complete);
  const auto [email, contact_id] = SubscribedContact();
  ASSERT_EQ(Api("DELETE", "/crm/v3/objects/contacts/" + contact_id).status, 204);
  ASSERT_EQ(Control("POST", "/_sim/faults",
                    {{"kind", "error"},
                     {"system", "hubspot"},
                     {"route", "/crm/v3/objects/contacts/batch/read"},
                     {"status", 503}})
                .status,
            201);
  const ResyncReport r = Resync(/*dry_run=*/false, AnyShare());
  EXPECT_TRUE(r.complete);
  EXPECT_EQ(r.missing, 1);
  EXPECT_EQ(r.missing_read, 0);
  EXPECT_FALSE(r.missing_error.empty());
  EXPECT_NE(FormatResyncReport(r).find("; stopped: "), std::string::npos) << FormatResyncReport(r);
}

TEST_F(SyncResyncTest, StopsBeforeTheNextPageWhenAskedTo) {
  ASSERT_EQ(Control("POST", "/_sim/hubspot/seed", {{"count", 3}, {"seed", 3}}).status, 200);
  std::atomic<bool> stop{true};
  ResyncOptions o;
  o.stop = &stop;
  Result<ResyncReport> r = RunResync(*store_, *engine_, *connector_, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->complete);
  EXPECT_EQ(r->pages, 0);
  EXPECT_EQ(Measure(), Footprint{});
}

// A 5xx on one page of thousands must not end the run (which would start
// again from page one, and so may never finish on a large portal): the
// page is fetched again.
TEST_F(SyncResyncTest, APageThatFailsOnceIsFetchedAgainAndTheRunCompletes) {
  ASSERT_EQ(Control("POST", "/_sim/hubspot/seed", {{"count", 120}, {"seed", 3}}).status, 200);
  ResyncOptions o;
  o.page_retry_wait = std::chrono::milliseconds(10);
  int committed = 0;
  o.on_page_committed = [&](const IngestSummary&) {
    // After the first page: the next list request fails once.
    if (++committed == 1) {
      EXPECT_EQ(Control("POST", "/_sim/faults",
                        {{"kind", "error"},
                         {"status", 503},
                         {"route", "/crm/v3/objects/contacts*"},
                         {"count", 1}})
                    .status,
                201);
    }
  };
  const ResyncReport r = Resync(/*dry_run=*/false, o);
  EXPECT_TRUE(r.complete) << FormatResyncReport(r);
  EXPECT_EQ(r.pages, 2);
  EXPECT_EQ(r.records, 120);

  // A page that keeps failing ends the run after page_attempts, as an error.
  ASSERT_EQ(Control("POST", "/_sim/faults",
                    {{"kind", "error"}, {"status", 503}, {"route", "/crm/v3/objects/contacts*"}})
                .status,
            201);
  o.page_attempts = 3;
  o.on_page_committed = nullptr;
  Result<ResyncReport> failed = RunResync(*store_, *engine_, *connector_, o);
  EXPECT_FALSE(failed.ok());
}

// The time of the last complete run is kept, so the periodic run is due an
// interval after it, also across restarts (a daemon restarted every night
// with a 24 h interval never ran one). A dry run keeps nothing.
TEST_F(SyncResyncTest, ACompleteRunIsRecordedForTheNextPeriodicOne) {
  ASSERT_EQ(Control("POST", "/_sim/hubspot/seed", {{"count", 3}, {"seed", 3}}).status, 200);
  const auto last_done = [&] {
    std::optional<std::string> v;
    Run([&](store::Transaction& txn) -> Status {
      Result<std::optional<std::string>> c = txn.GetCursor(LastResyncKey("hubspot"));
      if (!c.ok()) return c.status();
      v = *c;
      return Status::Ok();
    });
    return v;
  };
  ASSERT_TRUE(Resync(/*dry_run=*/true).complete);
  EXPECT_EQ(last_done(), std::nullopt);
  const TimestampMs before = SystemClock().NowMs();
  ASSERT_TRUE(Resync(/*dry_run=*/false, AnyShare()).complete);
  const std::optional<std::string> done = last_done();
  ASSERT_TRUE(done.has_value());
  EXPECT_GE(std::stoll(*done), before);
  EXPECT_LE(std::stoll(*done), SystemClock().NowMs());
}

// The guard runs in each unit's own transaction (consentctl: is the
// mapping it decides by still in force?). Once it refuses, that unit is
// rolled back and the run ends with its reason: the first page stays
// decided, the second is not, and the run is not recorded as complete.
TEST_F(SyncResyncTest, AGuardThatRefusesEndsTheRunAndItsUnitStoresNothing) {
  ASSERT_EQ(Control("POST", "/_sim/hubspot/seed", {{"count", 120}, {"seed", 3}}).status, 200);
  ResyncOptions o = AnyShare();
  int committed = 0;
  int guarded = 0;
  Footprint after_first;
  o.on_page_committed = [&](const IngestSummary&) {
    if (++committed == 1) after_first = Measure();
  };
  o.guard = [&](store::Transaction&) -> Status {
    ++guarded;
    if (committed == 0) return Status::Ok();
    return FailedPrecondition("another mapping is in force");
  };
  Result<ResyncReport> r = RunResync(*store_, *engine_, *connector_, o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("another mapping is in force"), std::string::npos)
      << r.status().ToString();
  EXPECT_EQ(committed, 1);
  EXPECT_EQ(guarded, 2);
  EXPECT_GT(after_first.proof, 0u);
  EXPECT_EQ(Measure(), after_first) << "the refused page stored something";
  std::optional<std::string> done;
  Run([&](store::Transaction& txn) -> Status {
    Result<std::optional<std::string>> c = txn.GetCursor(LastResyncKey("hubspot"));
    if (!c.ok()) return c.status();
    done = *c;
    return Status::Ok();
  });
  EXPECT_EQ(done, std::nullopt);
}

// The daemon's guard: a reload that swaps the mapping mid-run ends the run
// before the next page, whose records the run's connector mapped by the
// old mapping (before, the daemon's runs had no guard and decided every
// later page by the old connector under the new rules).
TEST_F(SyncResyncTest, AMappingSwappedDuringARunEndsItBeforeTheNextPage) {
  ASSERT_EQ(Control("POST", "/_sim/hubspot/seed", {{"count", 120}, {"seed", 3}}).status, 200);
  ResyncOptions o = AnyShare();
  auto ended_by_reload = std::make_shared<std::atomic<bool>>(false);
  o.guard = MappingUnchangedGuard(*engine_, engine_->mapping_hash(), ended_by_reload);
  int committed = 0;
  o.on_page_committed = [&](const IngestSummary&) {
    if (++committed != 1) return;
    // A reload: another mapping (a raised notice), swapped on the store
    // thread between units of work, as the daemon does.
    auto changed = std::make_shared<mapping::MappingSpec>(*spec_);
    changed->topics.front().notice_version += "-2";
    Run([&](store::Transaction&) -> Status {
      engine_->SetMapping(changed);
      return Status::Ok();
    });
  };
  Result<ResyncReport> r = RunResync(*store_, *engine_, *connector_, o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("the mapping changed during this run"), std::string::npos)
      << r.status().ToString();
  EXPECT_EQ(committed, 1);
  EXPECT_TRUE(ended_by_reload->load());

  // Unchanged, the guard lets every page through.
  engine_->SetMapping(spec_);
  auto untouched = std::make_shared<std::atomic<bool>>(false);
  ResyncOptions again = AnyShare();
  again.guard = MappingUnchangedGuard(*engine_, engine_->mapping_hash(), untouched);
  Result<ResyncReport> whole = RunResync(*store_, *engine_, *connector_, again);
  ASSERT_TRUE(whole.ok()) << whole.status().ToString();
  EXPECT_TRUE(whole->complete);
  EXPECT_FALSE(untouched->load());
}

TEST(ResyncScheduleTest, TheFirstPeriodicRunIsAnIntervalAfterTheLastCompleteOne) {
  using std::chrono::hours;
  using std::chrono::milliseconds;
  using std::chrono::minutes;
  const TimestampMs now = 1'750'000'000'000;
  const milliseconds day = hours(24);
  // Never ran: one interval after start.
  EXPECT_EQ(FirstResyncDelay(std::nullopt, day, now, minutes(1)), day);
  // Ran 20 h ago: due in 4 h, not 24.
  EXPECT_EQ(FirstResyncDelay(now - milliseconds(hours(20)).count(), day, now, minutes(1)),
            milliseconds(hours(4)));
  // Overdue (ran 3 days ago): a minute after start, after the first poll.
  EXPECT_EQ(FirstResyncDelay(now - 3 * day.count(), day, now, minutes(1)), minutes(1));
  // A last run dated in the future (the clock was set back): an interval.
  EXPECT_EQ(FirstResyncDelay(now + 1000, day, now, minutes(1)), day);
}

TEST_F(SyncResyncTest, AFailedReadIsAnErrorAndStoresNothing) {
  ASSERT_EQ(Control("POST", "/_sim/hubspot/seed", {{"count", 3}, {"seed", 3}}).status, 200);
  connectors::HubSpotSettings s;
  s.name = "hubspot";
  s.base_url = BaseUrl();
  s.token = "wrong-token";
  s.timeout = std::chrono::milliseconds(10000);
  auto bad = connectors::MakeHubSpotConnector(s, spec_, *http_);
  Result<ResyncReport> r = RunResync(*store_, *engine_, *bad, ResyncOptions{});
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(Measure(), Footprint{});
}

}  // namespace
}  // namespace consentd::sync
