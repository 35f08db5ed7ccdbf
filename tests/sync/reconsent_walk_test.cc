// Re-consent when terms change (issue #7) on the real engine and a real
// SQLite store: recording notice versions, the walk that marks stored
// grants (bounded pages, durable position, idempotent), the counts, the
// Mailchimp rows that carry the marker, and the answer that clears it.
#include <gtest/gtest.h>

#include "core/proof/entry_codec.h"
#include "mapping/policy.h"
#include "store/config_history.h"
#include "store/consent_counts.h"
#include "sync/consent_stats.h"
#include "sync_test_util.h"

namespace consentd::sync {
namespace {

using testing::Consent;
using testing::Record;
using testing::T;

constexpr TimestampMs kStart = T + 1'000;
constexpr TimestampMs kBump = T + 100'000;  // notice 2026-02 comes into force

class ReconsentWalkTest : public testing::SyncEngineTest {
 protected:
  void SetUp() override {
    SyncEngineTest::SetUp();
    ASSERT_NO_FATAL_FAILURE(Recorded(*engine_, kStart));
  }

  // The mapping with newsletter's notice at `version`.
  std::shared_ptr<const mapping::MappingSpec> WithNewsletterNotice(const std::string& version) {
    mapping::MappingSpec spec = *spec_;
    for (mapping::TopicSpec& t : spec.topics) {
      if (t.name == "newsletter") t.notice_version = version;
    }
    return std::make_shared<const mapping::MappingSpec>(std::move(spec));
  }

  // What the daemon does when a mapping comes into force at `now`.
  NoticeUpdate Recorded(SyncEngine& engine, TimestampMs now) {
    NoticeUpdate out;
    Run([&](store::Transaction& txn) -> Status {
      auto r = store::RecordMappingInForce(txn, engine.mapping_hash(), {}, "test", now);
      if (!r.ok()) return r.status();
      auto u = engine.ApplyNoticeVersions(txn, now);
      if (!u.ok()) return u.status();
      out = std::move(*u);
      return Status::Ok();
    });
    return out;
  }

  ReconsentWalkPage WalkPage(SyncEngine& engine, TimestampMs now, int page_size) {
    ReconsentWalkPage out;
    Run([&](store::Transaction& txn) -> Status {
      auto r = engine.WalkReconsent(txn, now, page_size);
      if (!r.ok()) return r.status();
      out = std::move(*r);
      return Status::Ok();
    });
    return out;
  }

  // Walks to the end; returns the grants marked.
  int WalkAll(SyncEngine& engine, TimestampMs now, int page_size = 1) {
    int marked = 0;
    for (int pages = 0; pages < 100; ++pages) {
      ReconsentWalkPage p = WalkPage(engine, now, page_size);
      marked += p.marked;
      if (p.done) return marked;
    }
    ADD_FAILURE() << "the walk does not finish";
    return marked;
  }

  // A newsletter grant given in HubSpot at `at` by contact `id`.
  void Grant(const std::string& id, TimestampMs at, TimestampMs now, std::string event = "") {
    Ingest("hubspot",
           {Record(event.empty() ? "ev-" + id + "-" + std::to_string(at) : event, id,
                   id + "@example.org", {Consent("newsletter", ConsentStatus::kGranted, at)})},
           now);
  }

  std::map<std::string, std::int64_t> Counts() {
    std::map<std::string, std::int64_t> out;
    Run([&](store::Transaction& txn) -> Status {
      auto r = store::CountConsents(txn, "newsletter", "email");
      if (!r.ok()) return r.status();
      out = *r;
      return Status::Ok();
    });
    return out;
  }

  ConsentRecord Newsletter(const std::string& contact) {
    const std::string subject = SubjectOf("hubspot", contact);
    for (const store::ConsentRow& row : Consents(subject)) {
      if (row.key.topic != "newsletter") continue;
      auto r = connectors::DecodeConsentRecord(row.state_json, subject);
      EXPECT_TRUE(r.ok()) << r.status().ToString();
      return r.ok() ? *r : ConsentRecord{};
    }
    ADD_FAILURE() << "no newsletter consent for " << contact;
    return {};
  }

  // The proof entries of `kind`, over the whole log.
  std::vector<ProofEntry> Logged(ProofKind kind) {
    std::vector<ProofEntry> out;
    const std::uint64_t n = ProofSize();
    Run([&](store::Transaction& txn) -> Status {
      for (std::uint64_t seq = 0; seq < n; ++seq) {
        auto bytes = store::ReadProofEntry(txn, seq);
        if (!bytes.ok()) return bytes.status();
        auto e = proof::DecodeEntry(*bytes);
        if (!e.ok()) return e.status();
        if (e->entry.kind == kind) out.push_back(e->entry);
      }
      return Status::Ok();
    });
    return out;
  }

  // The newest pending Mailchimp row for `contact`.
  connectors::DesiredState MailchimpRow(const std::string& contact) {
    const std::string subject = SubjectOf("hubspot", contact);
    std::vector<store::OutboxRow> rows = Outbox("mailchimp");
    for (auto it = rows.rbegin(); it != rows.rend(); ++it) {
      if (it->key == subject) return Desired(*it);
    }
    ADD_FAILURE() << "no pending mailchimp row for " << contact;
    return {};
  }

  // Bumps newsletter to 2026-02 on `engine` at kBump.
  NoticeUpdate Bump(SyncEngine& engine) {
    engine.SetMapping(WithNewsletterNotice("2026-02"));
    return Recorded(engine, kBump);
  }
};

TEST_F(ReconsentWalkTest, RaisedNoticeMarksEveryOlderGrantOnceAndCountsIt) {
  Grant("c1", T, kStart + 1);
  Grant("c2", T + 5, kStart + 2);
  EXPECT_EQ(Counts()["granted"], 2);
  const std::size_t hubspot_rows = Outbox("hubspot").size();

  const NoticeUpdate u = Bump(*engine_);
  ASSERT_TRUE(u.walk_pending);
  ASSERT_EQ(u.lines.size(), 1u);
  EXPECT_NE(u.lines[0].find("newsletter: notice 2026-02 replaces 2026-01: raised"),
            std::string::npos)
      << u.lines[0];
  EXPECT_EQ(WalkAll(*engine_, kBump + 1), 2);

  EXPECT_EQ(Newsletter("c1").reconsent_notice, "2026-02");
  EXPECT_EQ(Newsletter("c1").notice_version, "2026-01");
  auto counts = Counts();
  EXPECT_EQ(counts["reconsent_required"], 2);
  EXPECT_EQ(counts["granted"], 0);
  EXPECT_EQ(Logged(ProofKind::kNoticeReconsentRequired).size(), 2u);
  // Mailchimp gets the person with the marker; HubSpot is told nothing new.
  const connectors::DesiredState d = MailchimpRow("c1");
  EXPECT_TRUE(d.notice_marker_topics.contains("newsletter"));
  ASSERT_EQ(d.state.consents.size(), 1u);
  EXPECT_EQ(d.state.consents.begin()->second.reconsent_notice, "2026-02");
  EXPECT_EQ(Outbox("hubspot").size(), hubspot_rows);
}

TEST_F(ReconsentWalkTest, WalkResumesWhereItStoppedAndRepeatsNothing) {
  Grant("c1", T, kStart + 1);
  Grant("c2", T + 5, kStart + 2);
  Grant("c3", T + 9, kStart + 3);
  ASSERT_TRUE(Bump(*engine_).walk_pending);
  ReconsentWalkPage first = WalkPage(*engine_, kBump + 1, 1);
  ASSERT_FALSE(first.done);

  // A restart: a new engine with the same mapping records nothing new, but
  // the unfinished walk is still pending and goes on from its position.
  SyncEngine restarted(EngineSettings{WithNewsletterNotice("2026-02"), testing::kKey});
  const NoticeUpdate again = Recorded(restarted, kBump + 10);
  EXPECT_TRUE(again.lines.empty());
  EXPECT_TRUE(again.walk_pending);
  EXPECT_EQ(first.marked + WalkAll(restarted, kBump + 11), 3);
  EXPECT_EQ(Logged(ProofKind::kNoticeReconsentRequired).size(), 3u);

  // The same mapping once more: nothing to record, nothing to walk.
  const NoticeUpdate third = Recorded(restarted, kBump + 20);
  EXPECT_TRUE(third.lines.empty());
  EXPECT_FALSE(third.walk_pending);
  EXPECT_TRUE(WalkPage(restarted, kBump + 21, 10).done);
  EXPECT_EQ(Logged(ProofKind::kNoticeReconsentRequired).size(), 3u);
}

TEST_F(ReconsentWalkTest, OldGrantReadAgainKeepsTheMarkAndANewGrantClearsIt) {
  Grant("c1", T, kStart + 1, "ev-1");
  Bump(*engine_);
  WalkAll(*engine_, kBump + 1);
  ASSERT_EQ(Counts()["reconsent_required"], 1);

  // A resync reads the grant of T again (stamped with the new version).
  Change reread = Consent("newsletter", ConsentStatus::kGranted, T);
  reread.notice_version = "2026-02";
  Ingest("hubspot", {Record("resync-1", "c1", "c1@example.org", {reread})}, kBump + 2);
  EXPECT_EQ(Newsletter("c1").reconsent_notice, "2026-02");
  EXPECT_EQ(Counts()["reconsent_required"], 1);

  // The person grants again after the bump: the answer.
  Change answer = Consent("newsletter", ConsentStatus::kGranted, kBump + 5'000);
  answer.notice_version = "2026-02";
  Ingest("hubspot", {Record("ev-2", "c1", "c1@example.org", {answer})}, kBump + 6'000);
  EXPECT_EQ(Newsletter("c1").reconsent_notice, "");
  EXPECT_EQ(Newsletter("c1").notice_version, "2026-02");
  auto counts = Counts();
  EXPECT_EQ(counts["reconsent_required"], 0);
  EXPECT_EQ(counts["granted"], 1);
  // Mailchimp's row says: marker off.
  const connectors::DesiredState d = MailchimpRow("c1");
  EXPECT_TRUE(d.notice_marker_topics.contains("newsletter"));
  EXPECT_EQ(d.state.consents.begin()->second.reconsent_notice, "");
}

TEST_F(ReconsentWalkTest, LoweredNoticeLiftsTheMarks) {
  Grant("c1", T, kStart + 1);
  Bump(*engine_);
  WalkAll(*engine_, kBump + 1);
  ASSERT_EQ(Newsletter("c1").reconsent_notice, "2026-02");

  engine_->SetMapping(WithNewsletterNotice("2026-01"));
  const NoticeUpdate u = Recorded(*engine_, kBump + 50'000);
  ASSERT_TRUE(u.walk_pending);
  EXPECT_NE(u.lines[0].find("lowered"), std::string::npos) << u.lines[0];
  WalkAll(*engine_, kBump + 50'001);
  EXPECT_EQ(Newsletter("c1").reconsent_notice, "");
  EXPECT_EQ(Counts()["granted"], 1);
}

}  // namespace
}  // namespace consentd::sync
