// The seven rules of DESIGN.md §2, one or more tests each, named after the
// rule they state.
#include "core/reconciler.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "core/may_contact.h"
#include "tests/core/fixtures.h"

namespace consentd {
namespace {

using testing::BlockChange;
using testing::ConsentChange;
using testing::kSubject;
using testing::World;

constexpr TimestampMs T = 1'700'000'000'000;
constexpr auto kGranted = ConsentStatus::kGranted;
constexpr auto kWithdrawn = ConsentStatus::kWithdrawn;
constexpr auto kPending = ConsentStatus::kPending;

std::vector<std::string> Targets(const Decision& d) {
  std::vector<std::string> out;
  for (const Write& w : d.writes) out.push_back(w.target);
  std::sort(out.begin(), out.end());
  return out;
}

bool HasEntry(const Decision& d, ProofKind kind) {
  return std::any_of(d.proof.begin(), d.proof.end(),
                     [kind](const ProofEntry& e) { return e.kind == kind; });
}

// ---- rule 1: privacy by default ---------------------------------------

TEST(Reconciler, UnknownIsNotAskedAndNeverInferredGranted) {
  World w;
  const Decision d = w.Feed(ConsentChange("offers", ConsentStatus::kNotAsked, T));
  EXPECT_EQ(d.outcome, Outcome::kApplied);
  EXPECT_EQ(w.Status("offers"), ConsentStatus::kNotAsked);
  EXPECT_EQ(w.Status("newsletter"), ConsentStatus::kNotAsked);  // never seen
  EXPECT_FALSE(MayContact(w.state, kSubject, "email", "offers", "", T).allowed);
}

TEST(Reconciler, GrantWithoutRequiredEvidenceIsHeldPending) {
  World w;
  const Decision d =
      w.Feed(ConsentChange("newsletter", kGranted, T, "hubspot", ConsentMethod::kForm));
  EXPECT_EQ(d.outcome, Outcome::kHeldPending);
  ASSERT_TRUE(d.consent.has_value());
  EXPECT_EQ(d.consent->status, kPending);
  EXPECT_EQ(d.proof.front().kind, ProofKind::kHeldPending);
  EXPECT_EQ(d.proof.front().new_status, "pending");
  EXPECT_EQ(w.Status("newsletter"), kPending);
  EXPECT_FALSE(MayContact(w.state, kSubject, "email", "newsletter", "", T).allowed);
  // The pending state goes to Mailchimp, which runs the double opt-in.
  ASSERT_EQ(d.writes.size(), 1u);
  EXPECT_EQ(d.writes[0].target, "mailchimp");
  EXPECT_EQ(d.writes[0].desired, "pending");

  // The confirmation is the evidence: now granted.
  const Decision confirmed = w.Feed(
      ConsentChange("newsletter", kGranted, T + 60'000, "mailchimp", ConsentMethod::kDoubleOptIn));
  EXPECT_EQ(confirmed.outcome, Outcome::kApplied);
  EXPECT_EQ(w.Status("newsletter"), kGranted);
  EXPECT_TRUE(MayContact(w.state, kSubject, "email", "newsletter", "", T + 60'000).allowed);
  EXPECT_EQ(Targets(confirmed), std::vector<std::string>{"hubspot"});
}

TEST(Reconciler, ReportedAbsenceWithNothingAskedStatesNothingAndWritesNothing) {
  World w;
  Change unticked = ConsentChange("offers", kWithdrawn, T, "mailchimp");
  unticked.reports_absence = true;
  const Decision d = w.Feed(unticked);
  EXPECT_EQ(d.outcome, Outcome::kDuplicate);
  EXPECT_TRUE(d.writes.empty());
  EXPECT_EQ(w.Status("offers"), ConsentStatus::kNotAsked);
  EXPECT_EQ(w.state.FindConsent({kSubject, "offers", "email", ""}), nullptr);
}

TEST(Reconciler, ReportedAbsenceAfterAGrantIsAWithdrawal) {
  World w;
  w.Feed(ConsentChange("offers", kGranted, T, "hubspot"));
  Change unticked = ConsentChange("offers", kWithdrawn, T + 60'000, "mailchimp");
  unticked.reports_absence = true;
  const Decision d = w.Feed(unticked);
  EXPECT_EQ(d.outcome, Outcome::kApplied);
  EXPECT_EQ(w.Status("offers"), kWithdrawn);
  EXPECT_EQ(Targets(d), std::vector<std::string>{"hubspot"});
}

TEST(Reconciler, ReportedAbsenceOfABlockNobodySetRecordsAndWritesNothing) {
  World w;
  Change not_blocked = BlockChange(BlockScope::All(), false, T, "mailchimp");
  not_blocked.reports_absence = true;
  const Decision d = w.Feed(not_blocked);
  EXPECT_EQ(d.outcome, Outcome::kDuplicate);
  EXPECT_TRUE(d.writes.empty());
  EXPECT_TRUE(w.state.blocks.empty());
}

TEST(Reconciler, ReportedAbsenceLiftsAnActiveBlock) {
  World w;
  w.Feed(BlockChange(BlockScope::All(), true, T, "hubspot"));
  Change not_blocked = BlockChange(BlockScope::All(), false, T + 60'000, "mailchimp");
  not_blocked.reports_absence = true;
  const Decision d = w.Feed(not_blocked);
  EXPECT_EQ(d.outcome, Outcome::kApplied);
  EXPECT_FALSE(w.state.blocks.at(BlockScope::All()).active);
  EXPECT_EQ(Targets(d), std::vector<std::string>{"hubspot"});
}

TEST(Reconciler, ReportedAbsenceWhileABlockIsActiveIsExplainedByTheBlock) {
  // A CRM block makes consentd write Mailchimp `unsubscribed`; reading that
  // back must not withdraw the person's topics in the CRM.
  World w;
  w.Feed(ConsentChange("offers", kGranted, T, "hubspot"));
  w.Feed(BlockChange(BlockScope::All(), true, T + 1'000, "hubspot"));
  Change off = ConsentChange("offers", kWithdrawn, T + 60'000, "mailchimp",
                             ConsentMethod::kUnsubscribeLink);
  off.reports_absence = true;
  const Decision d = w.Feed(off);
  EXPECT_EQ(d.outcome, Outcome::kDuplicate);
  EXPECT_TRUE(d.writes.empty());
  EXPECT_EQ(w.Status("offers"), kGranted);  // still granted, and blocked
}

TEST(Reconciler, ReportedAbsenceWhilePendingSaysNothingNew) {
  World w;
  w.Feed(ConsentChange("newsletter", kGranted, T, "hubspot", ConsentMethod::kForm));  // held
  ASSERT_EQ(w.Status("newsletter"), kPending);
  Change unticked = ConsentChange("newsletter", kWithdrawn, T + 60'000, "mailchimp");
  unticked.reports_absence = true;
  const Decision d = w.Feed(unticked);
  EXPECT_EQ(d.outcome, Outcome::kDuplicate);
  EXPECT_TRUE(d.writes.empty());
  EXPECT_EQ(w.Status("newsletter"), kPending);
}

TEST(Reconciler, ReportedBlockExplainedByAnActiveChannelBlockSetsNoNewOne) {
  // A CRM unsubscribe-all (channel block) is written to Mailchimp as
  // `unsubscribed`; read back it must not become an advertising block.
  World w;
  w.Feed(BlockChange(BlockScope::Channel("email"), true, T, "hubspot"));
  Change back = BlockChange(BlockScope::All(), true, T + 60'000, "mailchimp");
  back.reports_absence = true;
  const Decision d = w.Feed(back);
  EXPECT_EQ(d.outcome, Outcome::kDuplicate);
  EXPECT_TRUE(d.writes.empty());
  EXPECT_EQ(w.state.blocks.count(BlockScope::All()), 0u);
}

TEST(Reconciler, ReportedBlockExplainedByEveryCarriedTopicWithdrawnSetsNoBlock) {
  // Every topic withdrawn in the CRM makes consentd write Mailchimp
  // `unsubscribed`; read back it must not become an advertising block.
  World w;
  w.Feed(ConsentChange("offers", kGranted, T, "hubspot"));
  w.Feed(ConsentChange("offers", kWithdrawn, T + 1'000, "hubspot"));
  Change back = BlockChange(BlockScope::All(), true, T + 60'000, "mailchimp");
  back.reports_absence = true;
  const Decision d = w.Feed(back);
  EXPECT_EQ(d.outcome, Outcome::kDuplicate);
  EXPECT_TRUE(d.writes.empty());
  EXPECT_EQ(w.state.blocks.count(BlockScope::All()), 0u);
}

TEST(Reconciler, ReportedBlockWithTheWithdrawalsOfTheSameReportIsAPersonsUnsubscribe) {
  // Mailchimp reports one unsubscribe as topic withdrawals and the block,
  // decided in that order: the withdrawals of the same event do not
  // explain the block away.
  World w;
  w.Feed(ConsentChange("offers", kGranted, T, "hubspot"));
  Change off = ConsentChange("offers", kWithdrawn, T + 60'000, "mailchimp",
                             ConsentMethod::kUnsubscribeLink);
  off.reports_absence = true;
  off.provenance.source_event_id = "unsub-1";
  ASSERT_EQ(w.Feed(off).outcome, Outcome::kApplied);
  Change block = BlockChange(BlockScope::All(), true, T + 60'000, "mailchimp");
  block.reports_absence = true;
  block.provenance.source_event_id = "unsub-1";
  const Decision d = w.Feed(block);
  EXPECT_EQ(d.outcome, Outcome::kApplied);
  EXPECT_TRUE(w.state.blocks.at(BlockScope::All()).active);
}

TEST(Reconciler, ReportedBlockWithAGrantedCarriedTopicIsAPersonsUnsubscribe) {
  // A person who still has a granted topic and unsubscribes in Mailchimp:
  // nothing explains it, so the block is set and propagated.
  World w;
  w.Feed(ConsentChange("offers", kGranted, T, "hubspot"));
  Change back = BlockChange(BlockScope::All(), true, T + 60'000, "mailchimp");
  back.reports_absence = true;
  const Decision d = w.Feed(back);
  EXPECT_EQ(d.outcome, Outcome::kApplied);
  EXPECT_TRUE(w.state.blocks.at(BlockScope::All()).active);
  EXPECT_EQ(Targets(d), std::vector<std::string>{"hubspot"});
}

TEST(Reconciler, SameStatementUnderAnotherEventIdIsADuplicate) {
  World w;
  Change first = ConsentChange("offers", kGranted, T, "mailchimp");
  first.provenance.source_event_id = "webhook-1";
  w.Feed(first);
  Change polled = first;
  polled.provenance.source_event_id = "poll:abc:1700000000";
  const Decision d = w.Feed(polled);
  EXPECT_EQ(d.outcome, Outcome::kDuplicate);
  EXPECT_TRUE(d.writes.empty());
  EXPECT_EQ(w.Status("offers"), kGranted);
}

TEST(Reconciler, GrantOnTopicWithoutEvidenceRequirementIsApplied) {
  World w;
  const Decision d = w.Feed(ConsentChange("offers", kGranted, T));
  EXPECT_EQ(d.outcome, Outcome::kApplied);
  EXPECT_EQ(w.Status("offers"), kGranted);
  EXPECT_EQ(d.consent->legal_basis, "eu-gdpr:A6-1-a");  // a grant is Art. 6(1)(a)
}

TEST(Reconciler, UnmappedTopicNeverPropagates) {
  World w;
  const Decision topic = w.Feed(ConsentChange("lottery", kGranted, T));
  EXPECT_EQ(topic.outcome, Outcome::kRejectedUnmapped);
  EXPECT_TRUE(topic.writes.empty());
  EXPECT_FALSE(topic.consent.has_value());
  EXPECT_EQ(topic.proof.size(), 1u);
  EXPECT_EQ(topic.proof[0].kind, ProofKind::kRejected);
  EXPECT_TRUE(topic.proof[0].evidence.empty());
  EXPECT_TRUE(w.state.consents.empty());

  Change fax = ConsentChange("offers", kGranted, T);
  fax.key.channel = "fax";
  EXPECT_EQ(w.Feed(fax).outcome, Outcome::kRejectedUnmapped);

  // A system the topic is not synchronised with is not a source either.
  EXPECT_EQ(w.Feed(ConsentChange("offers", kGranted, T, "shop")).outcome,
            Outcome::kRejectedUnmapped);
  EXPECT_EQ(w.Feed(ConsentChange("newsletter", kGranted, T, "legacy")).outcome,
            Outcome::kRejectedUnmapped);
  EXPECT_TRUE(w.state.consents.empty());

  // Blocks on unmapped channels and topics are refused too.
  EXPECT_EQ(w.Feed(BlockChange(BlockScope::Channel("fax"), true, T)).outcome,
            Outcome::kRejectedUnmapped);
  EXPECT_EQ(w.Feed(BlockChange(BlockScope::Topic("lottery"), true, T)).outcome,
            Outcome::kRejectedUnmapped);
}

TEST(Reconciler, InboundOnlySystemIsNeverWrittenTo) {
  World w;
  const Decision d = w.Feed(ConsentChange("offers", kGranted, T, "legacy"));
  EXPECT_EQ(d.outcome, Outcome::kApplied);
  EXPECT_EQ(Targets(d), (std::vector<std::string>{"hubspot", "mailchimp"}));
  const Decision back = w.Feed(ConsentChange("offers", kWithdrawn, T + 10'000, "hubspot"));
  EXPECT_EQ(Targets(back), std::vector<std::string>{"mailchimp"});
}

// ---- rule 2: order by capture time -------------------------------------

TEST(Reconciler, LateOlderEventIsSupersededNotApplied) {
  World w;
  w.Feed(ConsentChange("offers", kWithdrawn, T + 20'000, "hubspot"));
  const SubjectState before = w.state;
  const Decision late = w.Feed(ConsentChange("offers", kGranted, T, "mailchimp"));
  EXPECT_EQ(late.outcome, Outcome::kSuperseded);
  EXPECT_FALSE(late.consent.has_value());
  EXPECT_TRUE(late.writes.empty());  // stale news: nobody is told anything
  ASSERT_EQ(late.proof.size(), 1u);
  EXPECT_EQ(late.proof[0].kind, ProofKind::kSuperseded);
  EXPECT_EQ(late.proof[0].old_status, "withdrawn");
  EXPECT_EQ(late.proof[0].new_status, "withdrawn");
  EXPECT_NE(late.reason.find("older"), std::string::npos) << late.reason;
  EXPECT_EQ(w.state, before);
}

TEST(Reconciler, LatestCaptureTimeWinsRegardlessOfArrival) {
  World w;
  w.Feed(ConsentChange("offers", kWithdrawn, T, "hubspot"));
  const Decision d = w.Feed(ConsentChange("offers", kGranted, T + 30'000, "mailchimp"));
  EXPECT_EQ(d.outcome, Outcome::kApplied);
  EXPECT_EQ(w.Status("offers"), kGranted);
}

// ---- rule 3: withdrawal wins ties --------------------------------------

TEST(Reconciler, WithdrawalWinsWithinSkewWindow) {
  // Withdrawal captured before the grant, both orders of arrival.
  for (bool withdrawal_first : {true, false}) {
    World w;
    const Change grant = ConsentChange("offers", kGranted, T + 1500, "hubspot");
    const Change withdraw = ConsentChange("offers", kWithdrawn, T, "mailchimp");
    w.Feed(withdrawal_first ? withdraw : grant);
    w.Feed(withdrawal_first ? grant : withdraw);
    EXPECT_EQ(w.Status("offers"), kWithdrawn) << "withdrawal first: " << withdrawal_first;
  }
  // Exactly at the window's edge the restrictive side still wins.
  World edge;
  edge.Feed(ConsentChange("offers", kWithdrawn, T, "mailchimp"));
  edge.Feed(ConsentChange("offers", kGranted, T + 2000, "hubspot"));
  EXPECT_EQ(edge.Status("offers"), kWithdrawn);
  // Refusal is restrictive too.
  World refuse;
  refuse.Feed(ConsentChange("offers", kGranted, T + 100, "hubspot"));
  refuse.Feed(ConsentChange("offers", ConsentStatus::kRefused, T, "mailchimp"));
  EXPECT_EQ(refuse.Status("offers"), ConsentStatus::kRefused);
}

TEST(Reconciler, GrantBeyondSkewWindowWins) {
  World w;
  w.Feed(ConsentChange("offers", kWithdrawn, T, "mailchimp"));
  const Decision d = w.Feed(ConsentChange("offers", kGranted, T + 2001, "hubspot"));
  EXPECT_EQ(d.outcome, Outcome::kApplied);
  EXPECT_EQ(w.Status("offers"), kGranted);
}

TEST(Reconciler, SkewWindowComesFromPolicy) {
  World w;
  w.policy.skew_window_ms = 0;
  w.Feed(ConsentChange("offers", kWithdrawn, T, "mailchimp"));
  w.Feed(ConsentChange("offers", kGranted, T + 1, "hubspot"));
  EXPECT_EQ(w.Status("offers"), kGranted);
}

TEST(Reconciler, SourceThatLostTieIsToldTheCanonicalState) {
  World w;
  w.Feed(ConsentChange("offers", kWithdrawn, T, "hubspot"));
  // Mailchimp's newer grant loses the tie: Mailchimp now disagrees.
  const Decision d = w.Feed(ConsentChange("offers", kGranted, T + 1000, "mailchimp"));
  EXPECT_EQ(d.outcome, Outcome::kSuperseded);
  EXPECT_NE(d.reason.find("skew window"), std::string::npos) << d.reason;
  ASSERT_EQ(d.writes.size(), 1u);
  EXPECT_EQ(d.writes[0].target, "mailchimp");
  EXPECT_EQ(d.writes[0].desired, "withdrawn");
  EXPECT_EQ(d.writes[0].occurred_at, T + 1000);  // answers the losing event
  EXPECT_EQ(w.Status("offers"), kWithdrawn);
}

TEST(Reconciler, BlockSetWinsTieAgainstClear) {
  for (bool set_first : {true, false}) {
    World w;
    const Change set =
        BlockChange(BlockScope::All(), true, T, "mailchimp", BlockReason::kComplaint);
    const Change clear = BlockChange(BlockScope::All(), false, T + 1999, "hubspot");
    w.Feed(set_first ? set : clear);
    w.Feed(set_first ? clear : set);
    ASSERT_TRUE(w.state.blocks.contains(BlockScope::All()));
    EXPECT_TRUE(w.state.blocks.at(BlockScope::All()).active) << "set first: " << set_first;
  }
}

TEST(Reconciler, BlockIsAChangeThatPropagatesAndForbidsContact) {
  World w;
  w.Feed(ConsentChange("offers", kGranted, T));
  const Decision d = w.Feed(BlockChange(BlockScope::Address("jane@example.com"), true, T + 10,
                                        "mailchimp", BlockReason::kBounced));
  EXPECT_EQ(d.outcome, Outcome::kApplied);
  ASSERT_EQ(d.writes.size(), 1u);
  EXPECT_EQ(d.writes[0].target, "hubspot");
  EXPECT_EQ(d.writes[0].kind, WriteKind::kBlock);
  EXPECT_EQ(d.writes[0].desired, "set");
  // The address is personal data: only in the (encrypted) evidence.
  EXPECT_EQ(d.proof[0].evidence.at("address"), "jane@example.com");
  EXPECT_EQ(d.proof[0].reason.find("jane"), std::string::npos);
  EXPECT_FALSE(
      MayContact(w.state, kSubject, "email", "offers", "jane@example.com", T + 20).allowed);
  EXPECT_TRUE(
      MayContact(w.state, kSubject, "email", "offers", "other@example.com", T + 20).allowed);

  const Decision cleared =
      w.Feed(BlockChange(BlockScope::Address("jane@example.com"), false, T + 60'000, "mailchimp"));
  EXPECT_EQ(cleared.outcome, Outcome::kApplied);
  EXPECT_EQ(cleared.writes.at(0).desired, "cleared");
  EXPECT_TRUE(
      MayContact(w.state, kSubject, "email", "offers", "jane@example.com", T + 60'001).allowed);
}

// ---- rule 4: erasure is terminal ---------------------------------------

World ErasedWorld() {
  World w;
  Change grant = ConsentChange("offers", kGranted, T);
  grant.identifier_hashes = {"h-email"};
  w.Feed(grant);
  Change erase;
  erase.kind = ChangeKind::kErasure;
  erase.key.subject = kSubject;
  erase.provenance = Provenance{T + 50'000, T + 50'100, "admin", "erase-1"};
  const Decision d = w.Feed(erase);
  EXPECT_EQ(d.outcome, Outcome::kApplied);
  EXPECT_TRUE(HasEntry(d, ProofKind::kErasureRequested));
  EXPECT_EQ(Targets(d), (std::vector<std::string>{"hubspot", "mailchimp"}));
  EXPECT_EQ(d.writes[0].desired, "erased");
  return w;
}

// A system that receives topics but no blocks holds the person too: the
// erasure goes there as well (the shipped generic examples map no blocks).
TEST(Reconciler, ErasureReachesASystemThatReceivesTopicsButNoBlocks) {
  Policy p = testing::TestPolicy();
  p.block_systems = {{"hubspot", Direction::kBoth}};
  Change erase;
  erase.kind = ChangeKind::kErasure;
  erase.key.subject = kSubject;
  erase.provenance = Provenance{T, T + 100, "hubspot", "gdpr-1"};
  const Decision d = Reconcile(erase, SubjectState{}, EchoMemory{}, Tombstones{}, p);
  EXPECT_EQ(d.outcome, Outcome::kApplied);
  EXPECT_EQ(Targets(d), (std::vector<std::string>{"mailchimp"}));
  // "legacy" only sends to consentd: nothing is written there.
  p.block_systems.clear();
  EXPECT_EQ(Targets(Reconcile(erase, SubjectState{}, EchoMemory{}, Tombstones{}, p)),
            (std::vector<std::string>{"mailchimp"}));
}

TEST(Reconciler, ErasureWipesTheSubjectAndLeavesATombstone) {
  World w = ErasedWorld();
  EXPECT_TRUE(w.state.consents.empty());
  EXPECT_EQ(w.state.erased_at, T + 50'000);
  ASSERT_EQ(w.tombstones.entries().size(), 1u);
  EXPECT_EQ(w.tombstones.entries()[0].identifier_hashes, std::set<std::string>{"h-email"});
  EXPECT_FALSE(MayContact(w.state, kSubject, "email", "offers", "", T + 60'000).allowed);
}

TEST(Reconciler, EventBeforeErasureIsDropped) {
  World w = ErasedWorld();
  // On the erased subject itself...
  Change late = ConsentChange("offers", kGranted, T + 40'000, "mailchimp");
  const Decision d = w.Feed(late);
  EXPECT_EQ(d.outcome, Outcome::kDroppedErased);
  EXPECT_EQ(d.reason, "identity erased at " + std::to_string(T + 50'000) + "; change captured at " +
                          std::to_string(T + 40'000) +
                          " is not later than that by more than the clock-skew window (" +
                          std::to_string(w.policy.skew_window_ms) + " ms)");
  EXPECT_TRUE(d.writes.empty());
  ASSERT_EQ(d.proof.size(), 1u);
  EXPECT_EQ(d.proof[0].kind, ProofKind::kRejected);
  EXPECT_TRUE(d.proof[0].evidence.empty());  // nothing personal kept about them
  // ...and on a fresh subject the identity step made for the same address.
  Change routed =
      ConsentChange("offers", kGranted, T + 50'000, "mailchimp", ConsentMethod::kForm, "s-fresh");
  routed.identifier_hashes = {"h-email"};
  const Decision fresh = Reconcile(routed, SubjectState{}, w.echoes, w.tombstones, w.policy);
  EXPECT_EQ(fresh.outcome, Outcome::kDroppedErased);  // "not after" includes equal
  EXPECT_FALSE(fresh.consent.has_value());
}

TEST(Reconciler, ErasureWinsTiesWithinTheSkewWindow) {
  // Erased at T + 50 s. A grant dated 1.5 s later may be older than the
  // erasure (clock skew; Mailchimp's whole seconds rounded up), e.g. a stale
  // poll page with consentd's own write from just before: erasure wins.
  World w = ErasedWorld();
  Change close = ConsentChange("offers", kGranted, T + 51'500, "mailchimp", ConsentMethod::kForm,
                               "s-fresh");
  close.identifier_hashes = {"h-email"};
  EXPECT_EQ(Reconcile(close, SubjectState{}, w.echoes, w.tombstones, w.policy).outcome,
            Outcome::kDroppedErased);
  // Just beyond the window it is a new person's sign-up.
  Change later = close;
  later.provenance.occurred_at = T + 50'000 + w.policy.skew_window_ms + 1;
  EXPECT_EQ(Reconcile(later, SubjectState{}, w.echoes, w.tombstones, w.policy).outcome,
            Outcome::kApplied);
}

TEST(Reconciler, NewSignupAfterErasureStartsNewSubject) {
  World w = ErasedWorld();
  Change signup = ConsentChange("offers", kGranted, T + 90'000, "mailchimp");
  signup.identifier_hashes = {"h-email"};
  const Decision d = w.Feed(signup);
  EXPECT_EQ(d.outcome, Outcome::kNewSubjectRequired);
  EXPECT_FALSE(d.consent.has_value());
  EXPECT_TRUE(d.writes.empty());
  EXPECT_TRUE(d.proof.empty());
  EXPECT_TRUE(w.state.consents.empty());  // the erased subject stays erased

  // The caller mints a new subject and reconciles again.
  signup.key.subject = "s-2";
  SubjectState fresh;
  const Decision again = Reconcile(signup, fresh, w.echoes, w.tombstones, w.policy);
  EXPECT_EQ(again.outcome, Outcome::kApplied);
  ApplyToState(again, "s-2", fresh);
  EXPECT_TRUE(MayContact(fresh, "s-2", "email", "offers", "", T + 90'001).allowed);
  EXPECT_EQ(again.proof.front().subject, "s-2");
}

TEST(Reconciler, NonSignupAfterErasureIsDroppedNotResurrected) {
  World w = ErasedWorld();
  const Decision d = w.Feed(ConsentChange("offers", kWithdrawn, T + 90'000, "mailchimp"));
  EXPECT_EQ(d.outcome, Outcome::kDroppedErased);
  Change again;
  again.kind = ChangeKind::kErasure;
  again.key.subject = kSubject;
  again.provenance = Provenance{T + 95'000, T + 95'000, "hubspot", "erase-2"};
  EXPECT_EQ(w.Feed(again).outcome, Outcome::kDroppedErased);
}

TEST(Reconciler, DeletionReportForAnErasedIdentityOnAFreshSubjectIsDropped) {
  // The target reports the deletion consentd's erasure caused; the
  // identity step finds no live subject and makes a fresh one.
  World w = ErasedWorld();
  for (ChangeKind kind : {ChangeKind::kErasure, ChangeKind::kTargetDeleted}) {
    Change gone;
    gone.kind = kind;
    gone.key.subject = "s-fresh";
    gone.identifier_hashes = {"h-email"};
    gone.provenance = Provenance{T + 90'000, T + 90'000, "hubspot", "deleted-1"};
    const Decision d = Reconcile(gone, SubjectState{}, w.echoes, w.tombstones, w.policy);
    EXPECT_EQ(d.outcome, Outcome::kDroppedErased);
    EXPECT_TRUE(d.writes.empty()) << "no erasure queued for an empty subject";
  }
}

// A target that keeps the erased person's record (erasure mode restrict or
// anonymize) shows consentd's own restriction there, dated by the record's
// latest edit. Read back after the erasure, it must not make a new person
// out of the erased one's identifiers; a new record (an identifier the
// erasure never covered) or a subject that holds something is decided.
TEST(Reconciler, ARestrictionReadBackFromAKeptRecordDoesNotMakeANewPerson) {
  World w = ErasedWorld();
  Change unsubscribed =
      ConsentChange("offers", kWithdrawn, T + 90'000, "hubspot", ConsentMethod::kForm, "s-fresh");
  unsubscribed.identifier_hashes = {"h-email"};
  Change blocked = BlockChange(BlockScope::All(), true, T + 90'000, "hubspot");
  blocked.key.subject = "s-fresh";
  blocked.identifier_hashes = {"h-email"};
  for (const Change& c : {unsubscribed, blocked}) {
    const Decision d = Reconcile(c, SubjectState{}, w.echoes, w.tombstones, w.policy);
    EXPECT_EQ(d.outcome, Outcome::kDroppedErased) << d.reason;
    EXPECT_TRUE(d.writes.empty());
    EXPECT_FALSE(d.consent.has_value());
    ASSERT_EQ(d.proof.size(), 1u);
    EXPECT_TRUE(d.proof[0].evidence.empty());
  }
  // A record the erasure never covered (a new contact of the address).
  Change new_contact = unsubscribed;
  new_contact.identifier_hashes = {"h-email", "h-contact-2"};
  EXPECT_EQ(Reconcile(new_contact, SubjectState{}, w.echoes, w.tombstones, w.policy).outcome,
            Outcome::kApplied);
  // The person came back: a subject holding their new sign-up takes it.
  SubjectState returned;
  Change signup =
      ConsentChange("offers", kGranted, T + 80'000, "mailchimp", ConsentMethod::kForm, "s-fresh");
  signup.identifier_hashes = {"h-email"};
  const Decision back = Reconcile(signup, returned, w.echoes, w.tombstones, w.policy);
  ASSERT_EQ(back.outcome, Outcome::kApplied) << back.reason;
  ApplyToState(back, "s-fresh", returned);
  EXPECT_EQ(Reconcile(unsubscribed, returned, w.echoes, w.tombstones, w.policy).outcome,
            Outcome::kApplied);
}

// ---- rule 5: no echoes -------------------------------------------------

TEST(Reconciler, EchoOfOwnWriteIsNotPropagated) {
  World w;
  const Decision first = w.Feed(ConsentChange("offers", kGranted, T, "hubspot"));
  ASSERT_EQ(Targets(first), std::vector<std::string>{"mailchimp"});
  // Mailchimp's webhook for consentd's own write.
  const Decision echo = w.Feed(ConsentChange("offers", kGranted, T + 3000, "mailchimp"));
  EXPECT_EQ(echo.outcome, Outcome::kEcho);
  EXPECT_TRUE(echo.writes.empty());
  EXPECT_FALSE(echo.consent.has_value());
  EXPECT_EQ(echo.proof.front().kind, ProofKind::kEcho);
  // A real change at Mailchimp afterwards is not an echo...
  const Decision real = w.Feed(ConsentChange("offers", kWithdrawn, T + 60'000, "mailchimp"));
  EXPECT_EQ(real.outcome, Outcome::kApplied);
  EXPECT_EQ(Targets(real), std::vector<std::string>{"hubspot"});
  // ...and neither is the person re-subscribing there later.
  const Decision resub = w.Feed(ConsentChange("offers", kGranted, T + 120'000, "mailchimp"));
  EXPECT_EQ(resub.outcome, Outcome::kApplied);
}

// Mailchimp dates an unticked box (only an absence, "off") by the member's
// last change. When the member showed that box off before, and the read
// shows it as it was before any write of consentd that may have ticked it
// (ShownOff, loaded by the sync engine), a member edit read before
// consentd's grant from the CRM lands is the same "off" again, not the
// person unticking it.
TEST(Reconciler, AnUntickedBoxTheRecordShowedOffBeforeIsNotAWithdrawal) {
  const auto untick_after_grant = [](bool shown_off_before, ConsentMethod method, bool snapshot) {
    World w;
    w.policy.constraints["mailchimp"].grant_time_is_record_time = true;
    const Decision grant = w.Feed(ConsentChange("offers", kGranted, T, "hubspot"));
    EXPECT_EQ(Targets(grant), std::vector<std::string>{"mailchimp"});
    const std::string key = ConsentKeyString(grant.writes[0].consent.key);
    if (shown_off_before) w.echoes.RememberShownOff(ShownOff{"mailchimp", key, T - 60'000});
    Change unticked = ConsentChange("offers", kWithdrawn, T + 30'000, "mailchimp");
    unticked.reports_absence = true;
    unticked.method = method;
    unticked.snapshot = snapshot;
    const Decision d = w.Feed(unticked);
    return std::pair{d, w.Status("offers")};
  };
  const auto [same, same_status] = untick_after_grant(true, ConsentMethod::kForm, false);
  EXPECT_EQ(same.outcome, Outcome::kDuplicate) << same.reason;
  EXPECT_TRUE(same.writes.empty());
  EXPECT_NE(same.reason.find("showed it already at"), std::string::npos) << same.reason;
  EXPECT_EQ(same_status, kGranted);

  // A resync's read: the journey is behind, and is written the grant again.
  const auto [behind, behind_status] = untick_after_grant(true, ConsentMethod::kForm, true);
  EXPECT_EQ(behind.outcome, Outcome::kDuplicate) << behind.reason;
  EXPECT_EQ(Targets(behind), std::vector<std::string>{"mailchimp"});
  EXPECT_EQ(behind_status, kGranted);

  // Not known to have shown it off (the grant may have landed and been
  // unticked): a withdrawal.
  const auto [news, news_status] = untick_after_grant(false, ConsentMethod::kForm, false);
  EXPECT_EQ(news.outcome, Outcome::kApplied) << news.reason;
  EXPECT_EQ(news_status, kWithdrawn);

  // An unsubscribe is the person's action: it withdraws whatever the box
  // showed before.
  const auto [gone, gone_status] = untick_after_grant(true, ConsentMethod::kUnsubscribeLink, false);
  EXPECT_EQ(gone.outcome, Outcome::kApplied) << gone.reason;
  EXPECT_EQ(gone_status, kWithdrawn);
}

// Only a source that dates values by its record's last change re-dates an
// unchanged "off"; from another, "off" against a grant is decided as usual.
TEST(Reconciler, ShownOffHoldsOnlyForARecordDatedSource) {
  World w;
  const Decision grant = w.Feed(ConsentChange("offers", kGranted, T, "hubspot"));
  ASSERT_EQ(Targets(grant), std::vector<std::string>{"mailchimp"});
  const std::string key = ConsentKeyString(grant.writes[0].consent.key);
  w.echoes.RememberShownOff(ShownOff{"mailchimp", key, T - 60'000});
  Change unticked = ConsentChange("offers", kWithdrawn, T + 30'000, "mailchimp");
  unticked.reports_absence = true;
  EXPECT_EQ(w.Feed(unticked).outcome, Outcome::kApplied);
  EXPECT_EQ(w.Status("offers"), kWithdrawn);
}

// Mailchimp dates every value by the member's last change, so an edit of
// the first name re-dates an old grant. While consentd's withdrawal from the
// CRM has not landed there, that grant is the member's value from before
// the withdrawal, however new its date: it must not undo the withdrawal.
TEST(Reconciler, ARecordDatedGrantBeforeOurWithdrawalLandsIsNotANewGrant) {
  World w;
  w.policy.constraints["mailchimp"].grant_time_is_record_time = true;
  w.Feed(ConsentChange("offers", kGranted, T - 60'000, "mailchimp"));
  const Decision withdrawal = w.Feed(ConsentChange("offers", kWithdrawn, T, "hubspot"));
  ASSERT_EQ(Targets(withdrawal), std::vector<std::string>{"mailchimp"});
  const std::string key = ConsentKeyString(withdrawal.writes[0].consent.key);
  w.echoes.RememberUndelivered(
      UndeliveredWrite{"mailchimp", key, "withdrawn", "hubspot", 7, "pending"});

  const Decision edit = w.Feed(ConsentChange("offers", kGranted, T + 30'000, "mailchimp"));
  EXPECT_EQ(edit.outcome, Outcome::kSuperseded) << edit.reason;
  EXPECT_TRUE(edit.writes.empty());
  EXPECT_NE(edit.reason.find("outbox #7, is queued"), std::string::npos) << edit.reason;
  EXPECT_EQ(w.Status("offers"), kWithdrawn);
  // consentd's write is still remembered, so its read-back is an echo.
  EXPECT_EQ(w.Feed(ConsentChange("offers", kWithdrawn, T + 40'000, "mailchimp")).outcome,
            Outcome::kEcho);

  // A restrictive report is never held back.
  World v = w;
  v.echoes.RememberUndelivered(
      UndeliveredWrite{"mailchimp", key, "granted", "hubspot", 8, "inflight"});
  v.Feed(ConsentChange("offers", kGranted, T + 50'000, "hubspot"));
  EXPECT_EQ(v.Feed(ConsentChange("offers", kWithdrawn, T + 60'000, "mailchimp")).outcome,
            Outcome::kApplied);
}

TEST(Reconciler, AnUndeliveredWriteHoldsBackOnlyRecordDatedNewsFromElsewhere) {
  const auto grant_after_withdrawal = [](bool record_dated, const std::string& origin) {
    World w;
    w.policy.constraints["mailchimp"].grant_time_is_record_time = record_dated;
    w.Feed(ConsentChange("offers", kWithdrawn, T, origin));
    const std::string key = ConsentKeyString(ConsentKey{kSubject, "offers", "email", ""});
    w.echoes.RememberUndelivered(
        UndeliveredWrite{"mailchimp", key, "withdrawn", origin, 9, "inflight"});
    return w.Feed(ConsentChange("offers", kGranted, T + 30'000, "mailchimp")).outcome;
  };
  EXPECT_EQ(grant_after_withdrawal(true, "hubspot"), Outcome::kSuperseded);
  // The system dates each change itself: its grant is a new statement.
  EXPECT_EQ(grant_after_withdrawal(false, "hubspot"), Outcome::kApplied);
  // The withdrawal came from Mailchimp itself (the row only sends its own
  // value back): a grant there since is a change there.
  EXPECT_EQ(grant_after_withdrawal(true, "mailchimp"), Outcome::kApplied);
}

// HubSpot dates a status when consentd's write lands. A grant consentd
// wrote there, read back before its later withdrawal landed, is dated
// after that withdrawal was captured; it must not undo it.
TEST(Reconciler, ConsentdsOwnEarlierGrantReadBackLateIsNotNews) {
  World w;
  w.Feed(ConsentChange("offers", kGranted, T, "mailchimp"));
  const Decision withdrawal = w.Feed(ConsentChange("offers", kWithdrawn, T + 500, "mailchimp"));
  ASSERT_EQ(Targets(withdrawal), std::vector<std::string>{"hubspot"});
  const std::string key = ConsentKeyString(withdrawal.writes[0].consent.key);
  const auto crm_grant = [&](const LandedWrite& landed, TimestampMs at) {
    World v = w;
    v.echoes.RememberLanded(landed);
    return v.Feed(ConsentChange("offers", kGranted, at, "hubspot"));
  };
  // The grant's row was answered at T + 5 s; the withdrawal's is on its way.
  const LandedWrite grant_landed{"hubspot", key, "granted", 7, T + 5'000};
  Decision d = crm_grant(grant_landed, T + 4'950);
  EXPECT_EQ(d.outcome, Outcome::kSuperseded) << d.reason;
  EXPECT_NE(d.reason.find("that write read back before consentd's later write of 'withdrawn'"),
            std::string::npos)
      << d.reason;
  EXPECT_NE(d.reason.find("outbox #7"), std::string::npos) << d.reason;
  // Like any report that loses, the source is told the canonical state.
  ASSERT_EQ(Targets(d), std::vector<std::string>{"hubspot"});
  EXPECT_EQ(d.writes[0].consent.status, kWithdrawn);
  // Within the skew window after the answer, still; beyond it, a new grant.
  EXPECT_EQ(crm_grant(grant_landed, T + 7'000).outcome, Outcome::kSuperseded);
  EXPECT_EQ(crm_grant(grant_landed, T + 7'001).outcome, Outcome::kApplied);
  // A delivered write of another value says nothing about this one.
  EXPECT_EQ(crm_grant(LandedWrite{"hubspot", key, "withdrawn", 8, T + 6'000}, T + 4'950).outcome,
            Outcome::kApplied);
  EXPECT_EQ(crm_grant(LandedWrite{"hubspot", key, "pending", 9, T + 6'000}, T + 4'950).outcome,
            Outcome::kApplied);
  // Nothing delivered known: decided as before.
  EXPECT_EQ(w.Feed(ConsentChange("offers", kGranted, T + 4'950, "hubspot")).outcome,
            Outcome::kApplied);
}

TEST(Reconciler, AnOwnEarlierGrantReadBackLateIsLeftToTheRulesOfRecordDatedSystems) {
  World w;
  w.policy.constraints["hubspot"].grant_time_is_record_time = true;
  w.Feed(ConsentChange("offers", kGranted, T, "mailchimp"));
  const Decision withdrawal = w.Feed(ConsentChange("offers", kWithdrawn, T + 500, "mailchimp"));
  const std::string key = ConsentKeyString(withdrawal.writes[0].consent.key);
  w.echoes.RememberLanded(LandedWrite{"hubspot", key, "granted", 7, T + 5'000});
  EXPECT_EQ(w.Feed(ConsentChange("offers", kGranted, T + 4'950, "hubspot")).outcome,
            Outcome::kApplied);
}

TEST(Reconciler, ALiftedBlockReadBackLateFromConsentdsOwnEarlierWriteIsNotNews) {
  World w;
  const BlockScope scope = BlockScope::Channel("email");
  w.Feed(BlockChange(scope, false, T, "mailchimp"));
  w.Feed(BlockChange(scope, true, T + 500, "mailchimp"));
  const std::string key = BlockEchoKey(kSubject, scope);
  ASSERT_NE(w.echoes.Find("hubspot", key), nullptr);
  w.echoes.RememberLanded(LandedWrite{"hubspot", key, "cleared", 7, T + 5'000});
  World v = w;
  const Decision d = v.Feed(BlockChange(scope, false, T + 4'950, "hubspot"));
  EXPECT_EQ(d.outcome, Outcome::kSuperseded) << d.reason;
  EXPECT_EQ(w.Feed(BlockChange(scope, false, T + 7'001, "hubspot")).outcome, Outcome::kApplied);
}

TEST(Reconciler, TwoWaySyncNeverPingPongs) {
  World w;
  std::vector<Change> inbox{
      ConsentChange("offers", kGranted, T, "hubspot"),
      ConsentChange("newsletter", kGranted, T, "mailchimp", ConsentMethod::kDoubleOptIn),
      BlockChange(BlockScope::Channel("email"), true, T + 5000, "hubspot")};
  int rounds = 0;
  while (!inbox.empty()) {
    ASSERT_LT(++rounds, 20) << "writes keep bouncing between the systems";
    const Change c = inbox.front();
    inbox.erase(inbox.begin());
    const Decision d = w.Feed(c);
    for (const Write& wr : d.writes) {  // each target reports the write back
      Change back = c;
      back.provenance = Provenance{c.provenance.recorded_at + 700, c.provenance.recorded_at + 900,
                                   wr.target, "echo-" + wr.idempotency_key};
      if (wr.kind == WriteKind::kConsent) back.status = wr.consent.status;
      inbox.push_back(back);
    }
  }
  EXPECT_EQ(w.Status("offers"), kGranted);
  EXPECT_EQ(w.Status("newsletter"), kGranted);
}

// ---- rule 6: absolute state, idempotent writes -------------------------

TEST(Reconciler, WritesCarryAbsoluteStateAndStableIdempotencyKey) {
  World w;
  const Change c = ConsentChange("offers", kWithdrawn, T, "legacy");
  const Decision a = Reconcile(c, w.state, w.echoes, w.tombstones, w.policy);
  const Decision b = Reconcile(c, w.state, w.echoes, w.tombstones, w.policy);
  ASSERT_EQ(a.writes.size(), 2u);
  EXPECT_EQ(a.writes, b.writes);  // pure: same inputs, same writes
  for (const Write& wr : a.writes) {
    EXPECT_EQ(wr.desired, "withdrawn");
    EXPECT_EQ(wr.consent.status, kWithdrawn);
    EXPECT_EQ(wr.idempotency_key.size(), 64u);
  }
  EXPECT_NE(a.writes[0].idempotency_key, a.writes[1].idempotency_key);
  // Redelivery of the same change is a duplicate and writes nothing.
  w.Feed(c);
  Change redelivered = c;
  redelivered.provenance.recorded_at += 10'000;
  const Decision dup = w.Feed(redelivered);
  EXPECT_EQ(dup.outcome, Outcome::kDuplicate);
  EXPECT_TRUE(dup.writes.empty());
}

// ---- rule 7: target constraints ----------------------------------------

TEST(Reconciler, ReconsentForUnsubscribedMemberIsWrittenAsPending) {
  World w;
  w.Feed(ConsentChange("offers", kWithdrawn, T, "mailchimp"));
  const Decision d = w.Feed(ConsentChange("offers", kGranted, T + 60'000, "legacy"));
  EXPECT_EQ(d.outcome, Outcome::kApplied);
  EXPECT_EQ(w.Status("offers"), kGranted);  // canonical truth
  const auto mc = std::find_if(d.writes.begin(), d.writes.end(),
                               [](const Write& wr) { return wr.target == "mailchimp"; });
  ASSERT_NE(mc, d.writes.end());
  EXPECT_EQ(mc->desired, "pending");
  EXPECT_TRUE(mc->reconsent);
  const auto hs = std::find_if(d.writes.begin(), d.writes.end(),
                               [](const Write& wr) { return wr.target == "hubspot"; });
  ASSERT_NE(hs, d.writes.end());
  EXPECT_EQ(hs->desired, "granted");
  EXPECT_TRUE(HasEntry(d, ProofKind::kReconsentRequired));
  // Mailchimp's pending coming back is the echo of that write.
  EXPECT_EQ(w.Feed(ConsentChange("offers", kPending, T + 61'000, "mailchimp")).outcome,
            Outcome::kEcho);
}

TEST(Reconciler, DeletedAddressCannotBeReAdded) {
  World w;
  Change deleted;
  deleted.kind = ChangeKind::kTargetDeleted;
  deleted.key.subject = kSubject;
  deleted.provenance = Provenance{T, T + 10, "mailchimp", "mc-del-1"};
  EXPECT_EQ(w.Feed(deleted).outcome, Outcome::kApplied);
  const Decision d = w.Feed(ConsentChange("offers", kGranted, T + 5000, "hubspot"));
  EXPECT_EQ(d.outcome, Outcome::kApplied);
  EXPECT_TRUE(d.writes.empty());  // nothing is sent (and so nothing retried)
  ASSERT_EQ(d.blocked_by_target.size(), 1u);
  EXPECT_EQ(d.blocked_by_target[0].target, "mailchimp");
  EXPECT_TRUE(HasEntry(d, ProofKind::kBlockedByTarget));
  EXPECT_EQ(w.Status("offers"), kGranted);
}

// ---- validation and proof entries --------------------------------------

TEST(Reconciler, MalformedChangeIsRejected) {
  World w;
  Change c = ConsentChange("offers", kGranted, T);
  c.key.subject.clear();
  EXPECT_EQ(w.Feed(c).outcome, Outcome::kRejectedInvalid);
  c = ConsentChange("offers", kGranted, T);
  c.legal_basis = "eu-gdpr:A99";
  EXPECT_EQ(w.Feed(c).outcome, Outcome::kRejectedInvalid);
  EXPECT_TRUE(w.state.consents.empty());
}

TEST(Reconciler, ProofEntryRecordsTheDecision) {
  World w;
  Change c = ConsentChange("offers", kGranted, T, "hubspot");
  c.notice_version = "privacy-2026-01";
  c.signature_scheme = "hubspot-v3";
  c.key.address = "jane@example.com";
  const Decision d = w.Feed(c);
  const ProofEntry& e = d.proof.front();
  EXPECT_EQ(e.kind, ProofKind::kDecided);
  EXPECT_EQ(e.subject, kSubject);
  EXPECT_EQ(e.topic, "offers");
  EXPECT_EQ(e.channel, "email");
  EXPECT_EQ(e.old_status, "not_asked");
  EXPECT_EQ(e.new_status, "granted");
  EXPECT_EQ(e.method, "form");
  EXPECT_EQ(e.notice_version, "privacy-2026-01");
  EXPECT_EQ(e.source_system, "hubspot");
  EXPECT_EQ(e.source_event_id, c.provenance.source_event_id);
  EXPECT_EQ(e.signature_scheme, "hubspot-v3");
  EXPECT_EQ(e.occurred_at, T);
  EXPECT_EQ(e.recorded_at, T + 500);
  EXPECT_EQ(e.evidence.at("address"), "jane@example.com");
  EXPECT_EQ(e.evidence.at("ip"), "192.0.2.7");
}

}  // namespace
}  // namespace consentd
