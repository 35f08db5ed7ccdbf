// Re-consent when terms change (issue #7): notice versions (core/notice.h)
// and what the reconciler makes of grants given for an older notice.
#include <gtest/gtest.h>

#include <algorithm>

#include "core/may_contact.h"
#include "core/notice.h"
#include "tests/core/fixtures.h"

namespace consentd {
namespace {

using testing::ConsentChange;
using testing::World;

constexpr TimestampMs kBump = 10'000;  // when notice 2026-02 took effect

NoticeTimeline Before() { return NoticeTimeline{{{0, "2026-01"}}}; }
NoticeTimeline After() { return NoticeTimeline{{{0, "2026-01"}, {kBump, "2026-02"}}}; }

// "offers" with notice versions; Mailchimp shows a re-consent marker and
// dates consents by its record's last change.
World NoticeWorld(NoticeTimeline notice) {
  World w;
  w.policy.topics["offers"].notice = std::move(notice);
  w.policy.constraints["mailchimp"].reconsent_marker = true;
  w.policy.constraints["mailchimp"].grant_time_is_record_time = true;
  return w;
}

// A change as the mappers make it: stamped with the version in force now.
Change Stamped(ConsentStatus status, TimestampMs at, std::string system,
               std::string version = "2026-02") {
  Change c = ConsentChange("offers", status, at, std::move(system));
  c.notice_version = std::move(version);
  return c;
}

const ConsentRecord& Offers(const World& w) {
  return *w.state.FindConsent(ConsentKey{testing::kSubject, "offers", "email", ""});
}

std::vector<std::string> Targets(const Decision& d) {
  std::vector<std::string> out;
  for (const Write& wr : d.writes) out.push_back(wr.target);
  std::sort(out.begin(), out.end());
  return out;
}

bool Logged(const Decision& d, ProofKind kind) {
  return std::any_of(d.proof.begin(), d.proof.end(),
                     [kind](const ProofEntry& e) { return e.kind == kind; });
}

// The walk's effect (sync/reconsent.cc) on the one record, for these tests.
void BumpNotice(World& w) {
  w.policy.topics["offers"].notice = After();
  for (auto& [key, r] : w.state.consents) r.reconsent_notice = ReconsentNoticeFor(r, After());
}

TEST(NoticeVersion, VersionsCompareInNaturalOrder) {
  EXPECT_LT(CompareNoticeVersions("2026-01", "2026-02"), 0);
  EXPECT_LT(CompareNoticeVersions("v2", "v10"), 0);
  EXPECT_GT(CompareNoticeVersions("1.10", "1.9"), 0);
  EXPECT_EQ(CompareNoticeVersions("2026-02", "2026-02"), 0);
  EXPECT_NE(CompareNoticeVersions("v01", "v1"), 0);  // distinct texts never tie
}

TEST(NoticeVersion, GrantIsForTheVersionInForceWhenItWasCaptured) {
  const NoticeTimeline t = After();
  EXPECT_EQ(t.VersionAt(-5), "2026-01");  // before anything was recorded: the first
  EXPECT_EQ(t.VersionAt(kBump - 1), "2026-01");
  EXPECT_EQ(t.VersionAt(kBump), "2026-02");
  // The mapper's stamp of the current version is not believed for an old
  // capture; an explicit other version is kept.
  EXPECT_EQ(GrantNoticeVersion(t, "2026-02", kBump - 1), "2026-01");
  EXPECT_EQ(GrantNoticeVersion(t, "", kBump + 1), "2026-02");
  EXPECT_EQ(GrantNoticeVersion(t, "2025-12", kBump + 1), "2025-12");
}

TEST(NoticeVersion, OnlyAGrantBelowTheCurrentVersionNeedsReconsent) {
  ConsentRecord r;
  r.status = ConsentStatus::kGranted;
  r.notice_version = "2026-01";
  EXPECT_EQ(ReconsentNoticeFor(r, After()), "2026-02");
  EXPECT_EQ(ReconsentNoticeFor(r, Before()), "");
  EXPECT_EQ(ReconsentNoticeFor(r, NoticeTimeline{}), "");  // no versions: never
  r.status = ConsentStatus::kWithdrawn;
  EXPECT_EQ(ReconsentNoticeFor(r, After()), "");
  EXPECT_TRUE(After().HasRisen());
  EXPECT_FALSE(Before().HasRisen());
}

TEST(NoticeVersion, LoweredVersionLiftsReconsentForGrantsAtOrAboveIt) {
  const NoticeTimeline rolled_back{{{0, "2026-01"}, {kBump, "2026-02"}, {kBump * 2, "2026-01"}}};
  ConsentRecord r;
  r.status = ConsentStatus::kGranted;
  r.notice_version = "2026-01";
  EXPECT_EQ(ReconsentNoticeFor(r, rolled_back), "");
  r.notice_version = "2025-12";  // older than what is back in force: still asked
  EXPECT_EQ(ReconsentNoticeFor(r, rolled_back), "2026-01");
}

TEST(Reconsent, GrantCapturedBeforeTheBumpNeedsReconsentAndOnlyMarkerTargetsHearOfIt) {
  World w = NoticeWorld(After());
  // Read after the bump (so stamped 2026-02), but given before it.
  const Decision d = w.Feed(Stamped(ConsentStatus::kGranted, kBump - 1000, "legacy"));
  ASSERT_EQ(d.outcome, Outcome::kApplied);
  EXPECT_EQ(Offers(w).notice_version, "2026-01");
  EXPECT_EQ(Offers(w).reconsent_notice, "2026-02");
  // Not propagated as a grant for the new notice: HubSpot is told nothing,
  // Mailchimp gets the person with the marker.
  EXPECT_EQ(Targets(d), std::vector<std::string>{"mailchimp"});
  EXPECT_TRUE(Logged(d, ProofKind::kNoticeReconsentRequired));
}

TEST(Reconsent, OldGrantReadAgainAfterTheBumpIsNotAnAnswer) {
  World w = NoticeWorld(Before());
  w.Feed(Stamped(ConsentStatus::kGranted, 5000, "hubspot", "2026-01"));
  BumpNotice(w);
  ASSERT_EQ(Offers(w).reconsent_notice, "2026-02");
  // A poll or resync reads the same grant again, now stamped 2026-02.
  Change again = Stamped(ConsentStatus::kGranted, 5000, "hubspot");
  again.provenance.source_event_id = "poll-later";
  const Decision d = w.Feed(again);
  EXPECT_EQ(d.outcome, Outcome::kDuplicate);
  EXPECT_TRUE(d.writes.empty());
  EXPECT_EQ(Offers(w).reconsent_notice, "2026-02");
  EXPECT_EQ(Offers(w).notice_version, "2026-01");
}

TEST(Reconsent, GrantFromARecordTimeSourceAfterTheBumpIsNotAnAnswer) {
  World w = NoticeWorld(Before());
  w.Feed(Stamped(ConsentStatus::kGranted, 5000, "hubspot", "2026-01"));
  BumpNotice(w);
  // Mailchimp's last_changed moved (any edit of the member): same grant.
  const Decision d = w.Feed(Stamped(ConsentStatus::kGranted, kBump + 5000, "mailchimp"));
  EXPECT_EQ(d.outcome, Outcome::kDuplicate);
  EXPECT_EQ(Offers(w).reconsent_notice, "2026-02");
}

TEST(Reconsent, NewGrantAfterTheBumpAnswersEvenWhereConsentdWroteTheOldGrant) {
  World w = NoticeWorld(Before());
  // Given in Mailchimp; consentd wrote "granted" to HubSpot then.
  w.Feed(Stamped(ConsentStatus::kGranted, 5000, "mailchimp", "2026-01"));
  ASSERT_NE(w.echoes.Find("hubspot", ConsentKeyString(Offers(w).key)), nullptr);
  BumpNotice(w);
  // The person grants again in HubSpot after the bump: not that old echo.
  const Decision d = w.Feed(Stamped(ConsentStatus::kGranted, kBump + 5000, "hubspot"));
  ASSERT_EQ(d.outcome, Outcome::kApplied) << d.reason;
  EXPECT_EQ(Offers(w).notice_version, "2026-02");
  EXPECT_EQ(Offers(w).reconsent_notice, "");
  EXPECT_NE(d.reason.find("answers the re-consent"), std::string::npos) << d.reason;
  // Mailchimp's marker is removed; HubSpot is the source.
  EXPECT_EQ(Targets(d), std::vector<std::string>{"mailchimp"});
}

TEST(Reconsent, WithdrawalAnswersAndTheMarkerGoesAtTheSourceToo) {
  World w = NoticeWorld(Before());
  w.Feed(Stamped(ConsentStatus::kGranted, 5000, "hubspot", "2026-01"));
  BumpNotice(w);
  const Decision d = w.Feed(Stamped(ConsentStatus::kWithdrawn, kBump + 5000, "mailchimp"));
  ASSERT_EQ(d.outcome, Outcome::kApplied) << d.reason;
  EXPECT_EQ(Offers(w).reconsent_notice, "");
  EXPECT_EQ(Targets(d), (std::vector<std::string>{"hubspot", "mailchimp"}));
}

TEST(Reconsent, GrantAwaitingReconsentMayNotBeContacted) {
  World w = NoticeWorld(Before());
  w.Feed(Stamped(ConsentStatus::kGranted, 5000, "hubspot", "2026-01"));
  BumpNotice(w);
  const MayContactAnswer a =
      MayContact(w.state, testing::kSubject, "email", "offers", "", kBump + 1, &w.policy);
  EXPECT_FALSE(a.allowed);
  EXPECT_EQ(a.reason, ContactReason::kReconsentRequired);
  EXPECT_NE(a.Explain().find("re-consent required: granted for notice 2026-01, current 2026-02"),
            std::string::npos)
      << a.Explain();
}

}  // namespace
}  // namespace consentd
