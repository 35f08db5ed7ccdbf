// The sync engine against a real SQLite store: identity, decisions, state,
// proof log, echo memory, tombstones and the outbox, one unit of work per
// call (sync/sync_engine.h).
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "mapping/policy.h"
#include "store/erasure_requests.h"
#include "store/proof_log_store.h"
#include "store/sqlite_db.h"
#include "store/sqlite_transaction.h"
#include "store/subject_records.h"
#include "sync/hint_codec.h"
#include "sync/outbound.h"
#include "sync/subject_store.h"
#include "sync/version_memory.h"
#include "sync_test_util.h"

namespace consentd::sync {
namespace {

using testing::Block;
using testing::Consent;
using testing::Erasure;
using testing::Record;
using testing::SyncEngineTest;
using testing::T;
constexpr ConsentStatus kGranted = ConsentStatus::kGranted;
constexpr ConsentStatus kWithdrawn = ConsentStatus::kWithdrawn;

TEST(MintSubjectIdTest, IdsAreDistinctHexAndSortInTheOrderTheyWereMinted) {
  std::vector<std::string> ids;
  for (int i = 0; i < 1000; ++i) {
    Result<std::string> id = MintSubjectId();
    ASSERT_TRUE(id.ok()) << id.status().ToString();
    ASSERT_EQ(id->size(), 18u) << *id;
    EXPECT_TRUE(id->starts_with("s-")) << *id;
    EXPECT_EQ(id->find_first_not_of("0123456789abcdef", 2), std::string::npos) << *id;
    ids.push_back(std::move(*id));
  }
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), ids.size());
  // Ascending, except where the 32-bit counter wraps (at most once here).
  int descents = 0;
  for (std::size_t i = 1; i < ids.size(); ++i) descents += ids[i] < ids[i - 1] ? 1 : 0;
  EXPECT_LE(descents, 1);
}

// Two merges into one survivor in the same round of hints must both be
// read: each names the record it folds in. Plain repeats about one record
// share a read.
TEST(ReadsForHintsTest, OneReadPerRecordUnlessTheReferencesSayDifferentThings) {
  auto hint = [](std::string event_id, connectors::RecordHint kind,
                 std::vector<std::string> merged = {}) {
    PendingHint h;
    h.source = "hubspot";
    h.ref.event_id = std::move(event_id);
    h.ref.system_id = "101";
    h.ref.hint = kind;
    h.ref.merged_ids = std::move(merged);
    h.ref.occurred_at = T + static_cast<TimestampMs>(h.ref.event_id.size());
    return h;
  };
  const std::vector<PendingHint> pending = {
      hint("e1", connectors::RecordHint::kChanged),
      hint("e22", connectors::RecordHint::kChanged),  // another event, same read
      hint("e3", connectors::RecordHint::kMerged, {"201"}),
      hint("e4", connectors::RecordHint::kMerged, {"202"}),
      hint("e555", connectors::RecordHint::kMerged, {"201"}),  // a repeat of e3
  };
  const std::vector<connectors::RecordRef> reads = ReadsForHints(pending);
  ASSERT_EQ(reads.size(), 3u);
  EXPECT_EQ(reads[0].event_id, "e1");
  EXPECT_EQ(reads[1].merged_ids, std::vector<std::string>{"201"});
  EXPECT_EQ(reads[2].merged_ids, std::vector<std::string>{"202"});
}

TEST_F(SyncEngineTest, CrmGrantBecomesStateProofAndOneOutboxRowForTheJourney) {
  IngestSummary s = Ingest(
      "hubspot", {Record("ev-1", "101", "anna@example.org", {Consent("newsletter", kGranted, T)})},
      T + 100);
  EXPECT_EQ(s.records, 1);
  EXPECT_EQ(s.outcomes[Outcome::kApplied], 1);
  EXPECT_EQ(s.enqueued["mailchimp"], 1);
  EXPECT_FALSE(s.enqueued.contains("hubspot"));
  ASSERT_EQ(s.notes.size(), 1u);
  EXPECT_EQ(s.notes[0].what, "consent newsletter/email");

  const std::string subject = SubjectOf("hubspot", "101");
  ASSERT_EQ(subject.size(), 18u);
  EXPECT_EQ(subject.rfind("s-", 0), 0u);
  EXPECT_EQ(s.notes[0].subject, subject);
  const auto consents = Consents(subject);
  ASSERT_EQ(consents.size(), 1u);
  EXPECT_EQ(consents[0].status, "granted");
  EXPECT_GE(s.proof_entries, 1u);
  EXPECT_EQ(ProofSize(), s.proof_entries);

  const auto rows = Outbox("mailchimp");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].key, subject);
  EXPECT_EQ(rows[0].idempotency_key, Sha256Hex("mailchimp\n" + rows[0].desired_json));
  const connectors::DesiredState d = Desired(rows[0]);
  EXPECT_EQ(d.subject, subject);
  EXPECT_EQ(d.email, "anna@example.org");
  EXPECT_FALSE(d.erase);
  EXPECT_EQ(d.mapping_hash, engine_->mapping_hash());
  ASSERT_EQ(d.state.consents.size(), 1u);
  EXPECT_EQ(d.state.consents.begin()->second.status, kGranted);
  EXPECT_TRUE(Outbox("hubspot").empty());
}

// Rule 7 for writes decided before the deletion: a row to the journey
// still queued (waiting out a backoff) when the member is permanently
// deleted there would create it again; it is superseded instead, and an
// erasure row is left alone (its request waits for its answer).
TEST_F(SyncEngineTest, ARowQueuedBeforeAPermanentDeletionAtItsTargetIsNotSent) {
  Ingest("mailchimp",
         {Record("mc-ev-0", "mc-1", "anna@example.org",
                 {Consent("newsletter", kGranted, T - 60'000, "mailchimp")})},
         T - 59'000);
  Ingest("hubspot",
         {Record("ev-1", "101", "anna@example.org", {Consent("newsletter", kWithdrawn, T)})},
         T + 100);
  const auto queued = Outbox("mailchimp");
  ASSERT_EQ(queued.size(), 1u);

  Change gone;
  gone.kind = ChangeKind::kTargetDeleted;
  gone.provenance.occurred_at = T + 200;
  gone.provenance.source_system = "mailchimp";
  Ingest("mailchimp", {Record("mc-ev-1", "mc-1", "anna@example.org", {gone})}, T + 300);
  EXPECT_TRUE(Outbox("mailchimp").empty()) << "the queued write would re-create the member";
  const auto done = Outbox("mailchimp", store::OutboxStatus::kDone);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].id, queued[0].id);
  EXPECT_EQ(done[0].reason, "superseded: record permanently deleted at mailchimp");
}

// Rule 7 holds while the record stays deleted. The person subscribes again
// at the journey after their member was permanently deleted there (the
// same holds for a CRM contact restored from the archive where the CRM's
// deletion is permanent): read after consentd decided the deletion, the
// member exists again, so writes go there again, starting with the
// person's whole state (a CRM grant made while it was gone). A read begun
// before the deletion was decided shows the member as it was and changes
// nothing.
TEST_F(SyncEngineTest, ARecordReadAgainAfterItsDeletionWasDecidedIsWrittenAgain) {
  auto member_read = [](std::string event, TimestampMs read_at, TimestampMs granted_at) {
    connectors::InboundRecord r =
        Record(std::move(event), "mc-1", "anna@example.org",
               {Consent("newsletter", kGranted, granted_at, "mailchimp")});
    r.read_at = read_at;
    return r;
  };
  Ingest("mailchimp", {member_read("mc-ev-1", T + 50, T)}, T + 100);
  const std::string anna = SubjectOf("mailchimp", "mc-1");
  ASSERT_NE(anna, "");
  Change deleted;
  deleted.kind = ChangeKind::kTargetDeleted;
  deleted.provenance.occurred_at = T + 200;
  deleted.provenance.source_system = "mailchimp";
  connectors::InboundRecord gone = Record("mc-ev-2", "mc-1", "anna@example.org", {deleted});
  gone.read_at = T + 250;
  Ingest("mailchimp", {gone}, T + 300);  // the deletion is decided at T + 300

  IngestSummary granted = Ingest("hubspot",
                                 {Record("ev-1", "101", "anna@example.org",
                                         {Consent("product_news", kGranted, T + 400, "hubspot")})},
                                 T + 500);
  ASSERT_EQ(granted.notes.size(), 1u);
  EXPECT_EQ(granted.notes[0].blocked_targets, std::vector<std::string>{"mailchimp"});
  EXPECT_TRUE(Outbox("mailchimp").empty());

  // Begun at T + 280, before the deletion was decided: the member as it
  // was then.
  Ingest("mailchimp", {member_read("mc-ev-3", T + 280, T)}, T + 600);
  EXPECT_TRUE(Outbox("mailchimp").empty()) << "a read from before the deletion brings nothing back";
  // Nor does a later one found in an index that lags (HubSpot's search),
  // or one that states nothing (a member read archived).
  connectors::InboundRecord lagging = member_read("mc-ev-5", T + 610, T);
  lagging.found_in_lagging_index = true;
  IngestSummary hinted = Ingest("mailchimp", {lagging}, T + 620);
  EXPECT_EQ(hinted.hinted, std::set<std::string>{"mailchimp"})
      << "found in a lagging index: read again from the system itself";
  std::vector<store::InboxRow> rereads;
  Run([&](store::Transaction& txn) -> Status {
    Result<std::vector<store::InboxRow>> r = txn.ListUnprocessedInbox("mailchimp", 10);
    if (!r.ok()) return r.status();
    rereads = std::move(*r);
    return Status::Ok();
  });
  ASSERT_EQ(rereads.size(), 1u);
  EXPECT_TRUE(rereads[0].event_id.starts_with(kRereadEventPrefix)) << rereads[0].event_id;
  Result<connectors::RecordRef> ref = DecodeRecordRef(rereads[0].payload);
  ASSERT_TRUE(ref.ok()) << ref.status().ToString();
  EXPECT_EQ(ref->system_id, "mc-1");
  Ingest("mailchimp", {[] {
           connectors::InboundRecord r = Record("mc-ev-6", "mc-1", "anna@example.org", {});
           r.read_at = T + 630;
           return r;
         }()},
         T + 640);
  EXPECT_TRUE(Outbox("mailchimp").empty()) << "no evidence that the member is there again";

  // Begun at T + 700: she subscribed again.
  Ingest("mailchimp", {member_read("mc-ev-4", T + 700, T + 650)}, T + 800);
  const auto rows = Outbox("mailchimp");
  ASSERT_EQ(rows.size(), 1u) << "the member there again gets what it missed";
  const connectors::DesiredState d = Desired(rows[0]);
  std::map<std::string, ConsentStatus> topics;
  for (const auto& [key, value] : d.state.consents) topics[key.topic] = value.status;
  EXPECT_EQ(topics["product_news"], kGranted);
  EXPECT_EQ(topics["newsletter"], kGranted);
  bool explained = false;
  Run([&](store::Transaction& txn) -> Status {
    return store::ForEachSubjectProofEntry(
        txn, anna, [&](std::uint64_t, std::string_view bytes) -> Status {
          if (bytes.find("a record of the person at mailchimp exists again") !=
              std::string_view::npos) {
            explained = true;
          }
          return Status::Ok();
        });
  });
  EXPECT_TRUE(explained);

  // And the CRM's next change is written there, not refused.
  IngestSummary withdrawn =
      Ingest("hubspot",
             {Record("ev-2", "101", "anna@example.org",
                     {Consent("product_news", kWithdrawn, T + 900, "hubspot")})},
             T + 1000);
  ASSERT_EQ(withdrawn.notes.size(), 1u);
  EXPECT_TRUE(withdrawn.notes[0].blocked_targets.empty());
}

// Privacy by default: a record deleted at its system that belongs to no
// one consentd knows (an unsubscribe webhook for an address never
// synchronised, read back as gone) stores nothing: no subject with that
// address, no proof entry, no write. A known person's deletion is
// recorded as before.
TEST_F(SyncEngineTest, ADeletionOfARecordOfNoOneKnownStoresNothing) {
  Change gone;
  gone.kind = ChangeKind::kTargetDeleted;
  gone.provenance.occurred_at = T;
  gone.provenance.source_system = "mailchimp";
  IngestSummary s =
      Ingest("mailchimp", {Record("mc-ev-1", "mc-9", "zed@example.org", {gone})}, T + 100);
  EXPECT_EQ(s.unknown_deletions, 1);
  EXPECT_TRUE(s.notes.empty());
  EXPECT_EQ(SubjectOf("mailchimp", "mc-9"), "");
  EXPECT_EQ(ProofSize(), 0u);
  EXPECT_TRUE(Outbox("hubspot").empty());

  Ingest("mailchimp",
         {Record("mc-ev-2", "mc-1", "ann@example.org",
                 {Consent("newsletter", kGranted, T + 200, "mailchimp")})},
         T + 300);
  const std::string ann = SubjectOf("mailchimp", "mc-1");
  ASSERT_NE(ann, "");
  gone.provenance.occurred_at = T + 400;
  IngestSummary known =
      Ingest("mailchimp", {Record("mc-ev-3", "mc-1", "ann@example.org", {gone})}, T + 500);
  EXPECT_EQ(known.unknown_deletions, 0);
  ASSERT_EQ(known.notes.size(), 1u);
  EXPECT_EQ(known.notes[0].what, "deleted at mailchimp");

  // A deleted record unknown itself that names a known record merged into
  // it (a CRM merge into a contact not read yet, then deleted) still folds
  // that record in: it must not stay a live link that gets writes.
  Ingest("hubspot",
         {Record("hs-ev-1", "101", "bob@example.org",
                 {Consent("newsletter", kGranted, T + 600, "hubspot")})},
         T + 700);
  ASSERT_NE(SubjectOf("hubspot", "101"), "");
  Change crm_gone = gone;
  crm_gone.provenance.source_system = "hubspot";
  crm_gone.provenance.occurred_at = T + 800;
  connectors::InboundRecord merged_then_deleted = Record("hs-ev-2", "202", "", {crm_gone});
  merged_then_deleted.merged_ids = {"101"};
  IngestSummary folded = Ingest("hubspot", {merged_then_deleted}, T + 900);
  EXPECT_EQ(folded.unknown_deletions, 0);
  EXPECT_FALSE(folded.notes.empty());
}

TEST_F(SyncEngineTest, SameRecordAgainIsADuplicateAndEnqueuesNothing) {
  const auto rec = Record("ev-1", "101", "anna@example.org", {Consent("newsletter", kGranted, T)});
  Ingest("hubspot", {rec}, T + 100);
  const std::uint64_t proof = ProofSize();
  IngestSummary again = Ingest("hubspot", {rec}, T + 200);
  EXPECT_EQ(again.outcomes[Outcome::kDuplicate], 1);
  EXPECT_TRUE(again.enqueued.empty());
  EXPECT_EQ(Outbox("mailchimp").size(), 1u);
  EXPECT_EQ(ProofSize(), proof + again.proof_entries) << "the duplicate is still logged";
}

TEST_F(SyncEngineTest, OlderRecordIsSupersededAndChangesNothing) {
  Ingest("hubspot",
         {Record("ev-1", "101", "anna@example.org", {Consent("newsletter", kGranted, T)})},
         T + 100);
  IngestSummary late = Ingest(
      "hubspot",
      {Record("ev-0", "101", "anna@example.org", {Consent("newsletter", kWithdrawn, T - 60'000)})},
      T + 200);
  EXPECT_EQ(late.outcomes[Outcome::kSuperseded], 1);
  EXPECT_TRUE(late.enqueued.empty());
  EXPECT_EQ(Consents(SubjectOf("hubspot", "101"))[0].status, "granted");
}

TEST_F(SyncEngineTest, WithdrawalWinsAGrantWithinTheSkewWindow) {
  Ingest("hubspot",
         {Record("ev-1", "101", "anna@example.org", {Consent("newsletter", kGranted, T)})},
         T + 100);
  IngestSummary s = Ingest("mailchimp",
                           {Record("mc-ev-1", "mc-1", "anna@example.org",
                                   {Consent("newsletter", kWithdrawn, T - 1000, "mailchimp")})},
                           T + 200);
  EXPECT_EQ(s.outcomes[Outcome::kApplied], 1);
  const std::string subject = SubjectOf("hubspot", "101");
  EXPECT_EQ(SubjectOf("mailchimp", "mc-1"), subject);
  EXPECT_EQ(Consents(subject)[0].status, "withdrawn");
  const auto rows = Outbox("hubspot");
  ASSERT_EQ(rows.size(), 1u);
  const connectors::DesiredState d = Desired(rows[0]);
  EXPECT_EQ(d.system_id, "101");
  EXPECT_EQ(d.state.consents.begin()->second.status, kWithdrawn);
}

// The repair a source gets after losing a tie carries the state that was
// delivered to it before, byte for byte. That earlier row is done, so the
// repair must still be queued as a new row, not folded into the done one:
// otherwise the journey keeps the grant the withdrawal beat.
TEST_F(SyncEngineTest, ARepairEqualToAStateDeliveredBeforeIsQueuedAgain) {
  // Both systems know the person, so every row to the journey names its id.
  Ingest("mailchimp",
         {Record("mc-ev-0", "mc-1", "anna@example.org",
                 {Consent("newsletter", kGranted, T - 60'000, "mailchimp")})},
         T);
  Ingest("hubspot",
         {Record("ev-1", "101", "anna@example.org", {Consent("newsletter", kWithdrawn, T)})},
         T + 100);
  Run([&](store::Transaction& txn) -> Status {
    auto claimed = txn.ClaimOutbox("mailchimp", T + 200, 10, T + 60'000);
    if (!claimed.ok()) return claimed.status();
    if (claimed->size() != 1u) return Internal("expected the withdrawal's row");
    return txn.MarkDone(claimed->front().id, T + 300);
  });
  const auto delivered = Outbox("mailchimp", store::OutboxStatus::kDone);
  ASSERT_EQ(delivered.size(), 1u);

  IngestSummary s = Ingest("mailchimp",
                           {Record("mc-ev-1", "mc-1", "anna@example.org",
                                   {Consent("newsletter", kGranted, T + 1000, "mailchimp")})},
                           T + 1100);
  EXPECT_EQ(s.outcomes[Outcome::kSuperseded], 1);
  EXPECT_EQ(s.enqueued["mailchimp"], 1);
  const auto repair = Outbox("mailchimp");
  ASSERT_EQ(repair.size(), 1u) << "the repair is pending, to be sent";
  EXPECT_NE(repair[0].id, delivered[0].id);
  EXPECT_EQ(Desired(repair[0]).state.consents.begin()->second.status, kWithdrawn);
}

// Mailchimp dates a member's values by its last change, and any edit (a
// first name) moves that. A withdrawal from the CRM that has not reached
// Mailchimp yet must not be undone by the member's old grant read again
// after such an edit: while the write is queued, in flight or dead, that
// grant is the member's value from before it.
TEST_F(SyncEngineTest, AnEditedMemberDoesNotUndoAWithdrawalThatHasNotLandedThere) {
  GrantedAtJourneyThenWithdrawnInCrm();
  const std::string person = SubjectOf("hubspot", "101");
  const auto crm_rows = [&] {
    std::vector<std::int64_t> ids;
    for (const store::OutboxRow& row : Outbox("hubspot")) ids.push_back(row.id);
    return ids;
  };
  const std::vector<std::int64_t> crm_before = crm_rows();
  const auto queued = Outbox("mailchimp");
  ASSERT_EQ(queued.size(), 1u);
  ASSERT_EQ(Desired(queued[0]).state.consents.begin()->second.status, kWithdrawn);

  const auto edited_member = [&](const std::string& event, TimestampMs at) {
    return JourneyReports(event, kGranted, at);
  };
  IngestSummary s = edited_member("mc-ev-1", T + 30'000);
  EXPECT_EQ(s.outcomes[Outcome::kSuperseded], 1);
  EXPECT_EQ(Consents(person)[0].status, "withdrawn");
  EXPECT_EQ(crm_rows(), crm_before) << "the CRM is not told of a grant";
  const auto still = Outbox("mailchimp");
  ASSERT_EQ(still.size(), 1u);
  EXPECT_EQ(still[0].id, queued[0].id) << "the withdrawal is still the write to send";

  // The same while the write is in flight (claimed, not yet answered).
  const std::int64_t claimed_id = ClaimTheOnlyRow("mailchimp", T + 40'000);
  s = edited_member("mc-ev-2", T + 50'000);
  EXPECT_EQ(s.outcomes[Outcome::kSuperseded], 1);
  EXPECT_EQ(Consents(person)[0].status, "withdrawn");
  EXPECT_EQ(crm_rows(), crm_before);

  // Once the withdrawal has landed, a grant there is the person's own.
  Run([&](store::Transaction& txn) -> Status { return txn.MarkDone(claimed_id, T + 60'100); });
  s = edited_member("mc-ev-3", T + 70'000);
  EXPECT_EQ(s.outcomes[Outcome::kApplied], 1);
  EXPECT_EQ(Consents(person)[0].status, "granted");
  const auto crm = Outbox("hubspot");
  ASSERT_FALSE(crm.empty());
  EXPECT_EQ(Desired(crm.back()).state.consents.begin()->second.status, kGranted);
}

// An unticked Mailchimp box is only an absence ("off"), dated by the
// member's last change (docs/model.md, "Sources that can only say 'off'").
// The engine remembers which boxes each member showed off (store.h,
// RememberShownOff) until the member shows them on or a write of consentd
// that ticks them may have landed: "off" again from such a member is the
// same value, not a withdrawal. Every other "off" against a grant is a
// withdrawal, or may be one, and must withdraw it.
class UntickedBoxTest : public SyncEngineTest {
 protected:
  // The grant lands by T + 2'100; a read begun at T + 1'000, dated before the
  // grant, loses, and what it shows is not remembered: the untick read
  // afterwards withdraws. `read_before`: the member's read before the grant.
  void ExpectAReadBegunBeforeTheWriteLandedChangesNothing(std::optional<TimestampMs> read_before) {
    MemberThenGrant(read_before, T);
    AnswerTheOnlyRow(T + 2'000, Status::Ok());
    EXPECT_EQ(Untick(T - 5'000, ConsentMethod::kForm, T + 1'000), Outcome::kSuperseded);
    EXPECT_FALSE(Shown().has_value());
    EXPECT_EQ(Untick(T + 40'000), Outcome::kApplied);
    EXPECT_EQ(Newsletter(), "withdrawn");
  }

  // A member linked at `member_at` (if given) with the box off, then a CRM
  // grant decided at `grant_at`, queued for the journey.
  void MemberThenGrant(std::optional<TimestampMs> member_at, TimestampMs grant_at) {
    if (member_at) {
      Change off = Consent("newsletter", kWithdrawn, *member_at, "mailchimp");
      off.reports_absence = true;
      connectors::InboundRecord r = Record("mc-ev-0", "mc-1", "anna@example.org", {off});
      r.read_at = *member_at + 500;
      Ingest("mailchimp", {r}, *member_at + 1'000);
    }
    Ingest("hubspot",
           {Record("ev-1", "101", "anna@example.org", {Consent("newsletter", kGranted, grant_at)})},
           grant_at + 100);
    person_ = SubjectOf("hubspot", "101");
  }
  // The member read with the box off, dated `read_at` (its last change), by
  // a read begun then or at `began`; `method`: how the journey says it was
  // withdrawn. The outcome of that one change.
  Outcome Untick(TimestampMs read_at, ConsentMethod method = ConsentMethod::kForm,
                 std::optional<TimestampMs> began = std::nullopt) {
    Change c = Consent("newsletter", kWithdrawn, read_at, "mailchimp");
    c.reports_absence = true;
    c.method = method;
    connectors::InboundRecord r =
        Record("mc-ev-" + std::to_string(++reads_), "mc-1", "anna@example.org", {c});
    r.read_at = began.value_or(read_at);
    IngestSummary s = Ingest("mailchimp", {r}, std::max(read_at, r.read_at) + 100);
    for (const auto& [outcome, n] : s.outcomes) {
      if (n > 0) return outcome;
    }
    ADD_FAILURE() << "no outcome";
    return Outcome::kRejectedInvalid;
  }
  Outcome UntickAfterGrant(std::optional<TimestampMs> member_at, TimestampMs grant_at,
                           TimestampMs read_at, ConsentMethod method = ConsentMethod::kForm) {
    MemberThenGrant(member_at, grant_at);
    EXPECT_EQ(Outbox("mailchimp").size(), 1u) << "the grant is queued for the journey";
    return Untick(read_at, method);
  }
  // Claims the one row queued for the journey at `at` and records the
  // journey's answer, as the daemon's dispatcher does.
  void AnswerTheOnlyRow(TimestampMs at, Status status, bool known_not_written = false) {
    std::vector<store::OutboxRow> rows;
    Run([&](store::Transaction& txn) -> Status {
      auto claimed = txn.ClaimOutbox("mailchimp", at, 10, at + 60'000);
      if (!claimed.ok()) return claimed.status();
      rows = std::move(*claimed);
      return Status::Ok();
    });
    ASSERT_EQ(rows.size(), 1u);
    connectors::DeliveryResult r;
    r.outbox_id = rows[0].id;
    r.status = std::move(status);
    r.known_not_written = known_not_written;
    if (r.status.ok()) r.system_id = "mc-1";
    Run([&](store::Transaction& txn) -> Status {
      return engine_->RecordDeliveries(txn, "mailchimp", rows, {r}, {}, 5, at + 100).status();
    });
  }
  std::string Newsletter() { return Consents(person_).at(0).status; }
  // What the member is remembered showing of the newsletter box, if that
  // still holds.
  std::optional<store::ShownOffRow> Shown() {
    std::optional<store::ShownOffRow> row;
    Run([&](store::Transaction& txn) -> Status {
      auto r = txn.FindStandingShownOff("mailchimp", "anna@example.org", "newsletter|email|");
      if (!r.ok()) return r.status();
      row = std::move(*r);
      return Status::Ok();
    });
    return row;
  }

  std::string person_;
  int reads_ = 0;
};

// The member showed the box off, the CRM grant is queued, and an edit of
// the member (a first name) re-dates the box after the grant: the same
// "off", not the person unticking it. Before the fix it withdrew the grant
// everywhere. Once the grant has landed, "off" is her untick.
TEST_F(UntickedBoxTest, AMemberEditedBeforeTheGrantLandsDoesNotWithdrawIt) {
  EXPECT_EQ(UntickAfterGrant(T - 60'000, T, T + 30'000), Outcome::kDuplicate);
  EXPECT_EQ(Newsletter(), "granted");
  EXPECT_EQ(Outbox("mailchimp").size(), 1u) << "the grant is still on its way";
  AnswerTheOnlyRow(T + 40'000, Status::Ok());
  EXPECT_EQ(Untick(T + 50'000), Outcome::kApplied);
  EXPECT_EQ(Newsletter(), "withdrawn");
}

// An initial sync (or a member found by address) reads the member for the
// first time after the CRM grant: its unticked box may be a withdrawal made
// there that consentd never saw.
TEST_F(UntickedBoxTest, AMemberFirstReadAfterTheGrantWithdrawsIt) {
  EXPECT_EQ(UntickAfterGrant(std::nullopt, T, T + 30'000), Outcome::kApplied);
  EXPECT_EQ(Newsletter(), "withdrawn");
}

// A grant delivered long ago: its row may be pruned since, but the delivery
// forgot what the member showed, so an unticked box is her withdrawal.
TEST_F(UntickedBoxTest, AGrantThatLandedLongAgoIsWithdrawn) {
  MemberThenGrant(T - 60'000, T);
  AnswerTheOnlyRow(T + 200, Status::Ok());
  const TimestampMs day = store::kDoneOutboxRowsKeptMs;
  EXPECT_EQ(Untick(T + day + 1'000), Outcome::kApplied);
  EXPECT_EQ(Newsletter(), "withdrawn");
}

// An unsubscribe withdraws topics by absence too, but it is an action.
TEST_F(UntickedBoxTest, AnUnsubscribeWithdrawsIt) {
  EXPECT_EQ(UntickAfterGrant(T - 60'000, T, T + 30'000, ConsentMethod::kUnsubscribeLink),
            Outcome::kApplied);
  EXPECT_EQ(Newsletter(), "withdrawn");
}

// A failed write with no answer that says it changed nothing (a timeout, a
// 502) may have ticked the box: "off" after it is a withdrawal. One the
// journey refused (a 4xx, a 503) did not: "off" is still the same value.
TEST_F(UntickedBoxTest, AFailedWriteThatMayHaveLandedLetsTheUntickWithdraw) {
  MemberThenGrant(T - 60'000, T);
  AnswerTheOnlyRow(T + 200, Unavailable("mailchimp: 503"), /*known_not_written=*/true);
  EXPECT_EQ(Untick(T + 30'000), Outcome::kDuplicate);
  EXPECT_EQ(Newsletter(), "granted");
  AnswerTheOnlyRow(T + 40'000, Unavailable("mailchimp: timed out"), /*known_not_written=*/false);
  EXPECT_EQ(Untick(T + 50'000), Outcome::kApplied);
  EXPECT_EQ(Newsletter(), "withdrawn");
}

// A claimed write may land at any moment until it is answered: an "off"
// read meanwhile may be her untick of it.
TEST_F(UntickedBoxTest, AWriteInFlightLetsTheUntickWithdraw) {
  MemberThenGrant(T - 60'000, T);
  ASSERT_TRUE(Shown().has_value());
  ClaimTheOnlyRow("mailchimp", T + 20'000);  // not answered yet
  EXPECT_FALSE(Shown().has_value());
  EXPECT_EQ(Untick(T + 21'000), Outcome::kApplied);
  EXPECT_EQ(Newsletter(), "withdrawn");
}

// A write whose lease ran out unanswered (consentd crashed while sending
// it) may have landed, whatever the answer to its next attempt says.
TEST_F(UntickedBoxTest, AWriteWhoseLeaseRanOutMayHaveLanded) {
  MemberThenGrant(T - 60'000, T);
  ClaimTheOnlyRow("mailchimp", T + 200);  // lease until T + 100'200, never answered
  AnswerTheOnlyRow(T + 100'300, Unavailable("mailchimp: 503"), /*known_not_written=*/true);
  EXPECT_FALSE(Shown().has_value());
  EXPECT_EQ(Untick(T + 100'500), Outcome::kApplied);
  EXPECT_EQ(Newsletter(), "withdrawn");
}

// A read begun before the grant's write landed but decided after its answer
// shows the member as it was before the write: it must not make consentd
// remember the box off, whether for the first time or again. Her untick
// read afterwards withdraws the grant. (In an earlier version of the fix
// such a late read made it remember "off", and her untick was taken for
// the same value.)
TEST_F(UntickedBoxTest, AReadBegunBeforeTheWriteLandedDoesNotHideALaterUntick) {
  ExpectAReadBegunBeforeTheWriteLandedChangesNothing(std::nullopt);  // never read before
}

TEST_F(UntickedBoxTest, AReadBegunBeforeTheWriteLandedDoesNotRenewWhatWasRemembered) {
  ExpectAReadBegunBeforeTheWriteLandedChangesNothing(T - 60'000);
}

// A write that failed without an answer showing it changed nothing (a
// timeout) may still be applied at the journey a while later: a read begun
// soon after that answer does not make consentd remember the box off.
TEST_F(UntickedBoxTest, AWriteThatTimedOutMayStillLandForAWhile) {
  MemberThenGrant(T - 60'000, T);
  AnswerTheOnlyRow(T + 1'000, DeadlineExceeded("mailchimp: timed out"),
                   /*known_not_written=*/false);
  // Begun a minute after that answer, dated before the grant: it loses.
  EXPECT_EQ(Untick(T - 5'000, ConsentMethod::kForm, T + 60'000), Outcome::kSuperseded);
  EXPECT_FALSE(Shown().has_value());
  EXPECT_EQ(Untick(T + 120'000), Outcome::kApplied);
  EXPECT_EQ(Newsletter(), "withdrawn");
}

// The member showed the box on (she ticked it there); a read begun before
// that, decided after it, shows the box as it was before and must not make
// consentd remember it off again: her later untick is hers.
TEST_F(UntickedBoxTest, AReadOlderThanTheBoxShownOnDoesNotHideALaterUntick) {
  MemberThenGrant(T - 60'000, T);
  connectors::InboundRecord on = Record("mc-ev-on", "mc-1", "anna@example.org",
                                        {Consent("newsletter", kGranted, T + 10'000, "mailchimp")});
  on.read_at = T + 10'000;
  Ingest("mailchimp", {on}, T + 10'100);
  EXPECT_EQ(Untick(T - 30'000, ConsentMethod::kForm, T + 5'000), Outcome::kSuperseded);
  EXPECT_FALSE(Shown().has_value());
  EXPECT_EQ(Untick(T + 30'000), Outcome::kApplied);
  EXPECT_EQ(Newsletter(), "withdrawn");
}

// A report about an erased person is dropped, and leaves nothing of theirs
// (their address) in the memory of what the member showed.
TEST_F(UntickedBoxTest, AReportAboutAnErasedPersonLeavesNothingBehind) {
  MemberThenGrant(T - 60'000, T);
  Ingest("hubspot", {Record("ev-erase", "101", "anna@example.org", {Erasure(T + 1'000)})},
         T + 1'100);
  connectors::InboundRecord late = Record("mc-ev-late", "mc-1", "anna@example.org",
                                          {Consent("newsletter", kGranted, T + 500, "mailchimp")});
  late.read_at = T + 2'000;
  IngestSummary s = Ingest("mailchimp", {late}, T + 2'100);
  EXPECT_EQ(s.outcomes[Outcome::kDroppedErased], 1);
  Run([&](store::Transaction& txn) -> Status {
    Result<store::Db*> db = store::SqliteDbOf(txn, "test");
    if (!db.ok()) return db.status();
    for (const char* sql :
         {"SELECT count(*) FROM shown_off WHERE record = 'anna@example.org'",
          "SELECT count(*) FROM record_writes WHERE record = 'anna@example.org'"}) {
      Result<store::Stmt*> st = (*db)->Prepare(sql);
      if (!st.ok()) return st.status();
      Result<bool> row = (*st)->Step();
      if (!row.ok()) return row.status();
      EXPECT_EQ((*st)->Int(0), 0) << sql;
      (*st)->Reset();
    }
    return Status::Ok();
  });
}

// The member deleted at the journey: what it showed goes with it. A member
// added again at the address is a new record, read for the first time.
TEST_F(UntickedBoxTest, ADeletedMemberForgetsWhatItShowed) {
  MemberThenGrant(T - 60'000, T);
  ASSERT_TRUE(Shown().has_value());
  EXPECT_EQ(Shown()->seen_at, T - 60'000);
  EXPECT_EQ(Shown()->subject, person_);
  Change gone;
  gone.kind = ChangeKind::kTargetDeleted;
  gone.provenance.source_system = "mailchimp";
  gone.provenance.occurred_at = T + 1'000;
  Ingest("mailchimp", {Record("mc-ev-gone", "mc-1", "anna@example.org", {gone})}, T + 1'100);
  EXPECT_FALSE(Shown().has_value());
}

// The member itself showed the box on (she ticked it there): her untick
// after that is a withdrawal, even with the CRM's later grant queued.
TEST_F(UntickedBoxTest, AMemberThatShowedTheBoxOnForgetsItWasOff) {
  MemberThenGrant(T - 60'000, T);
  Ingest("mailchimp",
         {Record("mc-ev-on", "mc-1", "anna@example.org",
                 {Consent("newsletter", kGranted, T + 10'000, "mailchimp")})},
         T + 10'100);
  EXPECT_EQ(Untick(T + 30'000), Outcome::kApplied);
  EXPECT_EQ(Newsletter(), "withdrawn");
}

// Every row carries the person's whole state: a row queued for another
// topic carries the grant again after it landed. The delivered row shows
// the grant reached the journey, so an unticked box is her withdrawal.
TEST_F(UntickedBoxTest, AGrantThatLandedIsWithdrawnWhileAnotherTopicsRowIsQueued) {
  MemberThenGrant(T - 60'000, T);
  AnswerTheOnlyRow(T + 200, Status::Ok());
  Ingest("hubspot",
         {Record(
             "ev-2", "101", "anna@example.org",
             {Consent("product_news", kGranted, T + 10'000, "hubspot", "", ConsentMethod::kForm)})},
         T + 10'100);
  ASSERT_EQ(Outbox("mailchimp").size(), 1u) << "a row for the other topic is queued";
  EXPECT_EQ(Untick(T + 30'000), Outcome::kApplied);
  EXPECT_EQ(Newsletter(), "withdrawn");
}

// HubSpot dates a status by when it was set there, so consentd's own write
// of a journey grant is dated when it landed, not when the person
// subscribed. She withdraws at the journey while that grant is on its way;
// a read of the CRM taken before the withdrawal's write lands there shows
// the grant dated after her withdrawal. Decided later, it is consentd's own
// older write read back, not a new grant: before the fix it was applied
// and her withdrawal undone everywhere.
TEST_F(SyncEngineTest, AStaleCrmReadOfConsentdsOwnGrantDoesNotUndoALaterWithdrawal) {
  const std::string person = WithdrawnInCrmLongAgo();
  // She subscribes at the journey at T; the grant's write to the CRM is
  // claimed at once, and answered only at T + 5 s.
  JourneyReports("mc-ev-1", kGranted, T);
  const std::int64_t grant_row = ClaimTheOnlyRow("hubspot", T + 200);
  // She unsubscribes at T + 500 ms; consentd decides it at T + 1 s, while the
  // grant is still in flight: the withdrawal is queued behind it.
  JourneyReports("mc-ev-2", kWithdrawn, T + 500);
  ASSERT_EQ(Consents(person)[0].status, "withdrawn");
  Run([&](store::Transaction& txn) -> Status { return txn.MarkDone(grant_row, T + 5'000); });

  const auto crm_reports = [&](const std::string& event, ConsentStatus status, TimestampMs at,
                               TimestampMs now) {
    return Ingest("hubspot",
                  {Record(event, "101", "anna@example.org", {Consent("newsletter", status, at)})},
                  now);
  };
  // The CRM read before the withdrawal landed: the grant, stamped T + 4.95 s.
  IngestSummary s = crm_reports("ev-1", kGranted, T + 4'950, T + 5'100);
  EXPECT_EQ(s.outcomes[Outcome::kSuperseded], 1);
  EXPECT_EQ(s.outcomes[Outcome::kApplied], 0);
  EXPECT_EQ(Consents(person)[0].status, "withdrawn");
  EXPECT_TRUE(Outbox("mailchimp").empty()) << "the journey is not told of a grant";
  ASSERT_EQ(Outbox("hubspot").size(), 1u) << "the queued withdrawal is all the CRM gets";

  // The same read decided after the withdrawal has landed (answered at
  // T + 6.1 s): still consentd's own grant read back. The CRM is told the
  // canonical state again, as a source whose report lost always is.
  DeliverTheOnlyRow("hubspot", T + 6'000);
  s = crm_reports("ev-2", kGranted, T + 4'950, T + 6'200);
  EXPECT_EQ(s.outcomes[Outcome::kSuperseded], 1);
  EXPECT_EQ(Consents(person)[0].status, "withdrawn");
  EXPECT_TRUE(Outbox("mailchimp").empty());
  const auto again = Outbox("hubspot");
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(
      Desired(again[0]).state.consents.at(ConsentKey{person, "newsletter", "email", ""}).status,
      kWithdrawn);
  DeliverTheOnlyRow("hubspot", T + 6'300);

  // A grant she makes in the CRM after the withdrawal landed is hers, also
  // when consentd wrote the CRM again since (a change of another topic at
  // the journey, whose row carries the newsletter's withdrawal and was
  // answered after her grant).
  Ingest("mailchimp",
         {Record("mc-ev-3", "mc-1", "anna@example.org",
                 {Consent("product_news", kGranted, T + 8'000, "mailchimp")})},
         T + 8'100);
  const auto other_topic = Outbox("hubspot");
  ASSERT_EQ(other_topic.size(), 1u);
  ASSERT_EQ(Desired(other_topic[0])
                .state.consents.at(ConsentKey{person, "newsletter", "email", ""})
                .status,
            kWithdrawn);
  DeliverTheOnlyRow("hubspot", T + 20'000);
  s = crm_reports("ev-3", kGranted, T + 9'000, T + 20'200);
  EXPECT_EQ(s.outcomes[Outcome::kApplied], 1);
  EXPECT_EQ(Consents(person)[0].status, "granted");
  const auto journey = Outbox("mailchimp");
  ASSERT_FALSE(journey.empty());
  EXPECT_EQ(Desired(journey.back())
                .state.consents.at(ConsentKey{person, "newsletter", "email", ""})
                .status,
            kGranted);
}

// While the withdrawal's write waits (an outage of the CRM), a grant the
// person makes in the CRM well after consentd's earlier grant landed is a
// new statement, dated after the withdrawal: it is decided as such.
TEST_F(SyncEngineTest, ACrmGrantMadeWhileAWithdrawalWaitsForTheCrmIsStillDecided) {
  const std::string person = WithdrawnInCrmLongAgo();
  JourneyReports("mc-ev-1", kGranted, T);
  DeliverTheOnlyRow("hubspot", T + 200);  // answered at T + 300
  JourneyReports("mc-ev-2", kWithdrawn, T + 500);
  ASSERT_EQ(Outbox("hubspot").size(), 1u) << "the withdrawal waits for the CRM";
  IngestSummary s = Ingest(
      "hubspot",
      {Record("ev-1", "101", "anna@example.org", {Consent("newsletter", kGranted, T + 60'000)})},
      T + 60'100);
  EXPECT_EQ(s.outcomes[Outcome::kApplied], 1);
  EXPECT_EQ(Consents(person)[0].status, "granted");
}

// A dead letter does not hold the source's reports back: it may stay for
// months, and a person who subscribes there again meanwhile must be heard.
TEST_F(SyncEngineTest, ADeadWithdrawalDoesNotHoldBackTheSourcesLaterGrants) {
  GrantedAtJourneyThenWithdrawnInCrm();
  const std::int64_t withdrawal = ClaimTheOnlyRow("mailchimp", T + 200);
  Run([&](store::Transaction& txn) -> Status {
    return txn.MarkDead(withdrawal, "400 Bad Request", T + 300);
  });
  IngestSummary s = JourneyReports("mc-ev-1", kGranted, T + 30'000);
  EXPECT_EQ(s.outcomes[Outcome::kApplied], 1);
}

// A withdrawal that reached the journey long ago is carried again by every
// later row to it (the row holds the whole state). That is no news to the
// journey: a grant there while such a row waits is the person's own.
TEST_F(SyncEngineTest, AnOldWithdrawalCarriedAgainByANewRowDoesNotHoldBackAGrant) {
  GrantedAtJourneyThenWithdrawnInCrm();
  DeliverTheOnlyRow("mailchimp", T + 200);
  // Another topic changes in the CRM: its row carries the old withdrawal.
  Ingest("hubspot",
         {Record(
             "ev-2", "101", "anna@example.org",
             {Consent("product_news", kGranted, T + 10'000, "hubspot", "", ConsentMethod::kForm)})},
         T + 10'100);
  ASSERT_EQ(Outbox("mailchimp").size(), 1u);
  IngestSummary s = JourneyReports("mc-ev-1", kGranted, T + 30'000);
  EXPECT_EQ(s.outcomes[Outcome::kApplied], 1);
}

// The same withdrawal read twice (the webhook, then the poll's copy under
// another event id) is stamped again; what counts is whether the value
// reached the journey, not when consentd last read it.
TEST_F(SyncEngineTest, AWithdrawalReadAgainAfterItWasDeliveredIsStillOldNewsToTheJourney) {
  GrantedAtJourneyThenWithdrawnInCrm();
  DeliverTheOnlyRow("mailchimp", T + 200);
  Ingest("hubspot",
         {Record("poll:101:ev-1", "101", "anna@example.org",
                 {Consent("newsletter", kWithdrawn, T, "hubspot", "zz-poll-copy")})},
         T + 5'000);
  Ingest("hubspot",
         {Record(
             "ev-2", "101", "anna@example.org",
             {Consent("product_news", kGranted, T + 10'000, "hubspot", "", ConsentMethod::kForm)})},
         T + 10'100);
  ASSERT_EQ(Outbox("mailchimp").size(), 1u);
  IngestSummary s = JourneyReports("mc-ev-1", kGranted, T + 30'000);
  EXPECT_EQ(s.outcomes[Outcome::kApplied], 1);
}

// An earlier withdrawal was delivered; the person subscribed again at the
// journey, then withdrew again in the CRM. The new withdrawal carries the
// old one's value but is news to the journey: an edited member's grant
// read before it lands must not undo it.
TEST_F(SyncEngineTest, ANewWithdrawalWithTheValueOfADeliveredOneIsStillNews) {
  GrantedAtJourneyThenWithdrawnInCrm();
  DeliverTheOnlyRow("mailchimp", T + 200);
  ASSERT_EQ(JourneyReports("mc-ev-1", kGranted, T + 20'000).outcomes[Outcome::kApplied], 1);
  Ingest(
      "hubspot",
      {Record("ev-2", "101", "anna@example.org", {Consent("newsletter", kWithdrawn, T + 40'000)})},
      T + 40'100);
  IngestSummary s = JourneyReports("mc-ev-2", kGranted, T + 60'000);
  EXPECT_EQ(s.outcomes[Outcome::kSuperseded], 1);
  EXPECT_EQ(Consents(SubjectOf("hubspot", "101"))[0].status, "withdrawn");
}

// A withdrawal still on its way after more than a day (an outage, a
// resync's repair of an old state) is still news to the journey: an edited
// member's old grant does not undo it.
TEST_F(SyncEngineTest, AWithdrawalQueuedForMoreThanADayStillHoldsBackAnEditedMembersGrant) {
  GrantedAtJourneyThenWithdrawnInCrm();
  constexpr TimestampMs kTwoDays = 2 * 24 * 3600 * 1000LL;
  IngestSummary s = Ingest("mailchimp",
                           {Record("mc-ev-1", "mc-1", "anna@example.org",
                                   {Consent("newsletter", kGranted, T + kTwoDays, "mailchimp")})},
                           T + kTwoDays + 100);
  EXPECT_EQ(s.outcomes[Outcome::kSuperseded], 1);
  EXPECT_EQ(Consents(SubjectOf("hubspot", "101"))[0].status, "withdrawn");
}

// The same for a block the CRM set: the member's subscribed status read
// after an unrelated edit does not lift it while the block's write is queued.
TEST_F(SyncEngineTest, AnEditedMemberDoesNotLiftABlockThatHasNotLandedThere) {
  Ingest("hubspot",
         {Record("ev-1", "101", "anna@example.org", {Block(BlockScope::All(), true, T)})}, T + 100);
  ASSERT_EQ(Outbox("mailchimp").size(), 1u);
  IngestSummary s = Ingest("mailchimp",
                           {Record("mc-ev-1", "mc-1", "anna@example.org",
                                   {Block(BlockScope::All(), false, T + 30'000, "mailchimp")})},
                           T + 30'100);
  EXPECT_EQ(s.outcomes[Outcome::kSuperseded], 1);
  EXPECT_TRUE(Outbox("hubspot").empty());
}

TEST_F(SyncEngineTest, EchoOfOwnWriteIsRecognisedAndNotSentBack) {
  Ingest("hubspot",
         {Record("ev-1", "101", "anna@example.org", {Consent("newsletter", kGranted, T)})},
         T + 100);
  ASSERT_EQ(Outbox("mailchimp").size(), 1u);
  IngestSummary s = Ingest("mailchimp",
                           {Record("mc-ev-1", "mc-1", "anna@example.org",
                                   {Consent("newsletter", kGranted, T + 5000, "mailchimp")})},
                           T + 5100);
  EXPECT_EQ(s.outcomes[Outcome::kEcho], 1);
  EXPECT_TRUE(s.enqueued.empty());
  EXPECT_TRUE(Outbox("hubspot").empty());
  EXPECT_EQ(Outbox("mailchimp").size(), 1u);
}

TEST_F(SyncEngineTest, ARealChangeAfterAnEchoedValueIsNotMistakenForAnEcho) {
  Ingest("hubspot",
         {Record("ev-1", "101", "anna@example.org", {Consent("newsletter", kGranted, T)})},
         T + 100);
  // The person unsubscribes at the journey, then subscribes there again.
  Ingest("mailchimp",
         {Record("mc-ev-1", "mc-1", "anna@example.org",
                 {Consent("newsletter", kWithdrawn, T + 10'000, "mailchimp")})},
         T + 10'100);
  IngestSummary again = Ingest("mailchimp",
                               {Record("mc-ev-2", "mc-1", "anna@example.org",
                                       {Consent("newsletter", kGranted, T + 20'000, "mailchimp")})},
                               T + 20'100);
  EXPECT_EQ(again.outcomes[Outcome::kApplied], 1);
  EXPECT_EQ(Consents(SubjectOf("hubspot", "101"))[0].status, "granted");
}

TEST_F(SyncEngineTest, EmailLinksOneSubjectAcrossSystems) {
  Ingest("hubspot",
         {Record("ev-1", "101", "anna@Example.ORG", {Consent("newsletter", kGranted, T)})},
         T + 100);
  IngestSummary s = Ingest("mailchimp",
                           {Record("mc-ev-1", "mc-1", "anna@example.org",
                                   {Consent("product_news", kGranted, T + 1000, "mailchimp")})},
                           T + 1100);
  EXPECT_EQ(s.outcomes[Outcome::kApplied], 1);
  const std::string subject = SubjectOf("hubspot", "101");
  EXPECT_EQ(SubjectOf("mailchimp", "mc-1"), subject);
  EXPECT_EQ(Consents(subject).size(), 2u);
  const auto rows = Outbox("hubspot");
  ASSERT_EQ(rows.size(), 1u);
  const connectors::DesiredState d = Desired(rows[0]);
  EXPECT_EQ(d.system_id, "101");
  EXPECT_EQ(d.state.consents.size(), 2u) << "the whole state the CRM receives";
}

TEST_F(SyncEngineTest, MergeCombinesBothSubjectsAndTheRestrictiveSideWins) {
  Ingest("hubspot",
         {Record("ev-1", "101", "anna@example.org", {Consent("newsletter", kGranted, T + 1500)})},
         T + 2000);
  Ingest("hubspot",
         {Record("ev-2", "102", "anna.b@example.org",
                 {Consent("newsletter", kWithdrawn, T, "hubspot", "",
                          ConsentMethod::kUnsubscribeLink)})},
         T + 2000);
  const std::string survivor = SubjectOf("hubspot", "101");
  const std::string merged = SubjectOf("hubspot", "102");
  ASSERT_NE(survivor, merged);
  const std::uint64_t proof = ProofSize();

  connectors::InboundRecord rec = Record("ev-3", "101", "anna@example.org", {});
  rec.merged_ids = {"102"};
  IngestSummary s = Ingest("hubspot", {rec}, T + 3000);
  EXPECT_EQ(s.outcomes[Outcome::kApplied], 1);
  EXPECT_EQ(SubjectOf("hubspot", "102"), survivor);
  Run([&](store::Transaction& txn) -> Status {
    auto by_email = txn.FindSubjectByEmailHash(EmailHash("anna.b@example.org"));
    if (!by_email.ok()) return by_email.status();
    EXPECT_EQ(by_email->value_or(""), survivor);
    return Status::Ok();
  });
  const auto consents = Consents(survivor);
  ASSERT_EQ(consents.size(), 1u);
  EXPECT_EQ(consents[0].status, "withdrawn");
  EXPECT_TRUE(Consents(merged).empty());
  EXPECT_EQ(ProofSize(), proof + s.proof_entries);
  const auto rows = Outbox("mailchimp");
  ASSERT_FALSE(rows.empty());
  EXPECT_EQ(Desired(rows.back()).state.consents.begin()->second.status, kWithdrawn);
  // The CRM's survivor record still holds its own grant: the merge came
  // from the CRM, and the CRM gets the combined state too.
  const auto crm = Outbox("hubspot");
  ASSERT_EQ(crm.size(), 1u);
  EXPECT_EQ(crm[0].key, survivor);
  EXPECT_EQ(Desired(crm[0]).system_id, "101");
  EXPECT_EQ(Desired(crm[0]).state.consents.begin()->second.status, kWithdrawn);
}

// The CRM's survivor is written the combined state after a merge, and the
// CRM reports that write back dated when it landed. That report is
// consentd's own write (an echo), not a statement the person made then: as
// a decision it would record a capture time, method and source that never
// happened, and send the journey a write for nothing.
TEST_F(SyncEngineTest, TheReadBackOfTheCombinedStateWrittenAfterAMergeIsAnEcho) {
  Ingest("hubspot",
         {Record("ev-1", "101", "anna@example.org",
                 {Consent("newsletter", kGranted, T + 1500), Block(BlockScope::All(), false, T)})},
         T + 2000);
  Ingest(
      "hubspot",
      {Record("ev-2", "102", "anna.b@example.org",
              {Consent("newsletter", kWithdrawn, T, "hubspot", "", ConsentMethod::kUnsubscribeLink),
               Block(BlockScope::All(), true, T + 1000)})},
      T + 2000);
  const std::string survivor = SubjectOf("hubspot", "101");
  connectors::InboundRecord rec = Record("ev-3", "101", "anna@example.org", {});
  rec.merged_ids = {"102"};
  Ingest("hubspot", {rec}, T + 3000);
  const auto crm = Outbox("hubspot");
  ASSERT_EQ(crm.size(), 1u) << "the survivor is written the combined state";
  const connectors::DesiredState written = Desired(crm[0]);
  EXPECT_EQ(written.state.consents.begin()->second.status, kWithdrawn);
  ASSERT_EQ(written.state.blocks.size(), 1u);
  EXPECT_TRUE(written.state.blocks.begin()->second.active);
  DeliverTheOnlyRow("hubspot", T + 3100);
  const std::size_t journey_rows = Outbox("mailchimp").size();
  const std::uint64_t proof = ProofSize();

  // HubSpot's read-back of that write, dated when it landed.
  IngestSummary back = Ingest("hubspot",
                              {Record("ev-4", "101", "anna@example.org",
                                      {Consent("newsletter", kWithdrawn, T + 3150, "hubspot", "",
                                               ConsentMethod::kUnsubscribeLink),
                                       Block(BlockScope::All(), true, T + 3150)})},
                              T + 4000);
  EXPECT_EQ(back.outcomes[Outcome::kEcho], 2);
  EXPECT_EQ(back.outcomes[Outcome::kApplied], 0);
  EXPECT_TRUE(back.enqueued.empty());
  EXPECT_EQ(Outbox("mailchimp").size(), journey_rows);
  const auto consents = Consents(survivor);
  ASSERT_EQ(consents.size(), 1u);
  EXPECT_EQ(consents[0].occurred_at, T) << "the withdrawal keeps the time the person made it";
  EXPECT_EQ(ProofSize(), proof + back.proof_entries);

  // A change there after the write is still the person's: decided.
  IngestSummary later = Ingest(
      "hubspot",
      {Record("ev-5", "101", "anna@example.org", {Consent("newsletter", kGranted, T + 9000)})},
      T + 9100);
  EXPECT_EQ(later.outcomes[Outcome::kApplied], 1);
  EXPECT_EQ(Consents(survivor)[0].status, "granted");
}

// Where consentd last wrote `pending` to a target that takes re-consent
// through its double opt-in (Mailchimp), a whole-state row showing the
// grant keeps that memory: the connector writes pending again, and the
// pending read-back is its echo, not a new statement that would turn the
// grant into pending. A target without double opt-in remembers the grant.
TEST_F(SyncEngineTest, AWholeStateRowKeepsAPendingWriteRememberedForATargetWithDoubleOptIn) {
  Ingest("hubspot",
         {Record("ev-1", "101", "anna@example.org", {Consent("newsletter", kGranted, T)})},
         T + 100);
  const std::string subject = SubjectOf("hubspot", "101");
  const auto consents = Consents(subject);
  ASSERT_EQ(consents.size(), 1u);
  ASSERT_EQ(consents[0].status, "granted");
  const store::ConsentKey& k = consents[0].key;
  const std::string key = ConsentKeyString(ConsentKey{k.subject_id, k.topic, k.channel, k.address});
  const Policy policy = mapping::ToPolicy(*spec_);
  Run([&](store::Transaction& txn) -> Status {
    CONSENTD_RETURN_IF_ERROR(txn.ForgetWrites("mailchimp", key));
    CONSENTD_RETURN_IF_ERROR(txn.ForgetWrites("hubspot", key));
    CONSENTD_RETURN_IF_ERROR(
        txn.RememberWrite(store::EchoRow{"mailchimp", key, "pending", T + 100}));
    Result<SubjectIdentity> identity = LoadIdentity(txn, subject);
    if (!identity.ok()) return identity.status();
    OutboundBatch batch;
    batch.AddState("mailchimp", subject, *identity);
    batch.AddState("hubspot", subject, *identity);
    std::map<std::string, int> enqueued;
    CONSENTD_RETURN_IF_ERROR(batch.Flush(txn, *spec_, engine_->mapping_hash(), testing::kKey,
                                         T + 200, enqueued, &policy));
    Result<std::optional<store::EchoRow>> journey = txn.FindLatestWrite("mailchimp", key);
    if (!journey.ok()) return journey.status();
    EXPECT_EQ(journey->has_value() ? (*journey)->value : "<none>", "pending");
    Result<std::optional<store::EchoRow>> crm = txn.FindLatestWrite("hubspot", key);
    if (!crm.ok()) return crm.status();
    EXPECT_EQ(crm->has_value() ? (*crm)->value : "<none>", "granted");
    return Status::Ok();
  });
  // A `pending` remembered is not a member awaiting its confirmation: it
  // may be a re-consent decided but not delivered yet (the member stays
  // subscribed if the target takes the grant as it is).
  const std::vector<store::OutboxRow> journey = Outbox("mailchimp");
  ASSERT_FALSE(journey.empty());
  EXPECT_TRUE(Desired(journey.back()).reconsent_topics.empty());
}

// A member the target took as `pending` awaits its double opt-in's
// confirmation: every later row holds its grants as re-consents, so the
// connector keeps it pending (a row for another change of the person must
// not subscribe them unconfirmed), until the target reports it confirmed.
TEST_F(SyncEngineTest, AMemberAwaitingItsConfirmationIsWrittenPendingUntilItConfirms) {
  Ingest("hubspot",
         {Record("ev-1", "101", "anna@example.org", {Consent("newsletter", kGranted, T)})},
         T + 100);
  const std::string subject = SubjectOf("hubspot", "101");
  Run([&](store::Transaction& txn) -> Status {
    return txn.RememberWrite(store::EchoRow{"mailchimp", AwaitingConfirmationKey(subject),
                                            std::string(kAwaitingConfirmation), T + 100});
  });
  // Another change of hers at the CRM: an advertising block.
  Ingest("hubspot",
         {Record("ev-2", "101", "anna@example.org", {Block(BlockScope::All(), true, T + 5000)})},
         T + 5100);
  std::vector<store::OutboxRow> journey = Outbox("mailchimp");
  ASSERT_FALSE(journey.empty());
  EXPECT_EQ(Desired(journey.back()).reconsent_topics, std::set<std::string>{"newsletter"});
  const std::vector<store::OutboxRow> crm = Outbox("hubspot");
  for (const store::OutboxRow& row : crm) {
    EXPECT_TRUE(Desired(row).reconsent_topics.empty()) << "HubSpot has no double opt-in";
  }

  // She confirms at Mailchimp: the member is subscribed, the wait is over.
  Ingest("mailchimp",
         {Record("mc-ev-1", "mc-1", "anna@example.org",
                 {Consent("newsletter", kGranted, T + 60'000, "mailchimp")})},
         T + 60'100);
  Run([&](store::Transaction& txn) -> Status {
    Result<bool> awaits = AwaitsConfirmation(txn, "mailchimp", subject);
    if (!awaits.ok()) return awaits.status();
    EXPECT_FALSE(*awaits);
    return Status::Ok();
  });
  Ingest("hubspot",
         {Record("ev-3", "101", "anna@example.org", {Block(BlockScope::All(), true, T + 90'000)})},
         T + 90'100);
  Ingest("hubspot",
         {Record("ev-4", "101", "anna@example.org", {Block(BlockScope::All(), false, T + 99'000)})},
         T + 99'100);
  journey = Outbox("mailchimp");
  ASSERT_FALSE(journey.empty());
  EXPECT_TRUE(Desired(journey.back()).reconsent_topics.empty());
}

// Two CRM records that both hold the grant: the merge changes nothing the
// CRM shows, so nothing is written back to it. Such a write would land after
// a withdrawal the person makes there meanwhile, and undo it.
TEST_F(SyncEngineTest, AMergeOfRecordsThatAgreeWritesNothingBackToTheMergingSystem) {
  Ingest("hubspot",
         {Record("ev-1", "101", "anna@example.org", {Consent("newsletter", kGranted, T + 1000)})},
         T + 2000);
  // The merged record's grant is the later one: it wins, same status.
  Ingest("hubspot",
         {Record("ev-2", "102", "anna.b@example.org", {Consent("newsletter", kGranted, T + 1500)})},
         T + 2000);
  ASSERT_TRUE(Outbox("hubspot").empty());
  connectors::InboundRecord rec = Record("ev-3", "101", "anna@example.org", {});
  rec.merged_ids = {"102"};
  IngestSummary s = Ingest("hubspot", {rec}, T + 3000);
  EXPECT_EQ(s.outcomes[Outcome::kApplied], 1) << "the later grant is the person's now";
  EXPECT_EQ(SubjectOf("hubspot", "102"), SubjectOf("hubspot", "101"));
  EXPECT_TRUE(Outbox("hubspot").empty()) << Desired(Outbox("hubspot")[0]).email;

  // A third record that withdrew: merged in, the CRM's survivor is written.
  Ingest("hubspot",
         {Record("ev-4", "103", "anna.c@example.org",
                 {Consent("newsletter", kWithdrawn, T + 2500, "hubspot", "",
                          ConsentMethod::kUnsubscribeLink)})},
         T + 4000);
  connectors::InboundRecord again = Record("ev-5", "101", "anna@example.org", {});
  again.merged_ids = {"103"};
  Ingest("hubspot", {again}, T + 5000);
  const auto crm = Outbox("hubspot");
  ASSERT_EQ(crm.size(), 1u);
  EXPECT_EQ(Desired(crm[0]).system_id, "101");
  EXPECT_EQ(Desired(crm[0]).state.consents.begin()->second.status, kWithdrawn);
}

// A merged-away person's queued write carries its state from before the
// merge, under its own key, so no row of the survivor supersedes it. Sent
// after the merged state (it waits for a retry), it would undo it: the
// merge replaces it with the combined state, for that target too.
TEST_F(SyncEngineTest, AMergeReplacesTheMergedPersonsQueuedWritesWithTheCombinedState) {
  Ingest("hubspot",
         {Record("ev-1", "101", "anna@example.org",
                 {Consent("newsletter", kWithdrawn, T, "hubspot", "",
                          ConsentMethod::kUnsubscribeLink)})},
         T + 100);
  Ingest("hubspot",
         {Record("ev-2", "102", "anna.b@example.org", {Consent("newsletter", kGranted, T - 1000)})},
         T + 200);
  const std::string survivor = SubjectOf("hubspot", "101");
  const std::string merged = SubjectOf("hubspot", "102");
  ASSERT_NE(survivor, merged);
  // The survivor's withdrawal is delivered; the merged person's grant failed
  // once and waits for its retry.
  std::int64_t waiting = 0;
  Run([&](store::Transaction& txn) -> Status {
    auto claimed = txn.ClaimOutbox("mailchimp", T + 300, 10, T + 60'000);
    if (!claimed.ok()) return claimed.status();
    EXPECT_EQ(claimed->size(), 2u);
    for (const store::OutboxRow& r : *claimed) {
      if (r.key == merged) {
        waiting = r.id;
        CONSENTD_RETURN_IF_ERROR(txn.MarkRetry(r.id, T + 30'000, "HTTP 503", T + 400));
      } else {
        CONSENTD_RETURN_IF_ERROR(txn.MarkDone(r.id, T + 400));
      }
    }
    return Status::Ok();
  });
  ASSERT_NE(waiting, 0);

  connectors::InboundRecord rec = Record("ev-3", "101", "anna@example.org", {});
  rec.merged_ids = {"102"};
  Ingest("hubspot", {rec}, T + 500);
  const auto queued = Outbox("mailchimp");
  ASSERT_FALSE(queued.empty()) << "the combined state is queued for the journey";
  for (const store::OutboxRow& row : queued) {
    EXPECT_EQ(row.key, survivor) << "row " << row.id
                                 << " of the merged-away person is still queued";
    EXPECT_EQ(Desired(row).state.consents.begin()->second.status, kWithdrawn);
  }
  Run([&](store::Transaction& txn) -> Status {
    auto row = txn.GetOutbox(waiting);
    if (!row.ok()) return row.status();
    EXPECT_EQ((*row)->status, store::OutboxStatus::kDone);
    EXPECT_EQ((*row)->reason, "superseded: merged into " + survivor + " (was: HTTP 503)");
    return Status::Ok();
  });
}

TEST_F(SyncEngineTest, AChangeFromASystemIsFollowedByItsNewStateWhereAnOlderRowIsStillQueued) {
  auto journey_grant = [&](const std::string& name, const std::string& event, TimestampMs now) {
    return Ingest("mailchimp",
                  {Record(event, "mc-" + name, name + "@example.org",
                          {Consent("newsletter", kGranted, T, "mailchimp")})},
                  now);
  };
  auto crm_withdrawal = [&](const std::string& name, const std::string& id,
                            const std::string& event, TimestampMs at, TimestampMs now) {
    return Ingest("hubspot",
                  {Record(event, id, name + "@example.org",
                          {Consent("newsletter", kWithdrawn, at, "hubspot", "",
                                   ConsentMethod::kUnsubscribeLink)})},
                  now);
  };
  // The journey's grant queues a write of `granted` for the CRM...
  journey_grant("anna", "mc-1", T + 100);
  ASSERT_EQ(Outbox("hubspot").size(), 1u);
  // ...and before it is delivered the person withdraws in the CRM. That row
  // would overwrite the withdrawal; a row with the state after it follows.
  IngestSummary s = crm_withdrawal("anna", "101", "hs-1", T + 5000, T + 200);
  EXPECT_EQ(s.outcomes[Outcome::kApplied], 1);
  const auto rows = Outbox("hubspot");
  ASSERT_EQ(rows.size(), 1u) << "the older row is superseded";
  EXPECT_EQ(Desired(rows[0]).state.consents.begin()->second.status, kWithdrawn);
  // Without a queued row, a change from the CRM writes nothing back to it.
  journey_grant("bea", "mc-2", T + 300);
  ASSERT_EQ(Outbox("hubspot").size(), 2u);
  Run([&](store::Transaction& txn) -> Status {
    auto claimed = txn.ClaimOutbox("hubspot", T + 400, 10, T + 60'000);
    if (!claimed.ok()) return claimed.status();
    for (const store::OutboxRow& r : *claimed) {
      CONSENTD_RETURN_IF_ERROR(txn.MarkDone(r.id, T + 400));
    }
    return Status::Ok();
  });
  IngestSummary none = crm_withdrawal("bea", "102", "hs-2", T + 6000, T + 500);
  EXPECT_EQ(none.outcomes[Outcome::kApplied], 1);
  EXPECT_FALSE(none.enqueued.contains("hubspot"));
}

// After a merge the journey holds two members for the person. A late report
// about the merged member links its address as the person's latest, so the
// row that follows it goes to that member; the queued row with the merged
// state for the survivor's member must still be delivered, not superseded.
TEST_F(SyncEngineTest, ARowForAnotherAddressOfTheSamePersonDoesNotSupersedeAQueuedRow) {
  Ingest("hubspot",
         {Record("ev-1", "101", "anna@example.org", {Consent("newsletter", kGranted, T - 120'000)})},
         T + 100);
  Ingest("hubspot",
         {Record("ev-2", "102", "anna.b@example.org",
                 {Consent("newsletter", kWithdrawn, T - 60'000, "hubspot", "",
                          ConsentMethod::kUnsubscribeLink)})},
         T + 200);
  connectors::InboundRecord merge = Record("ev-3", "101", "anna@example.org", {});
  merge.merged_ids = {"102"};
  Ingest("hubspot", {merge}, T + 300);
  const std::string person = SubjectOf("hubspot", "101");
  auto queued_for = [&](const std::string& email) {
    std::vector<connectors::DesiredState> out;
    for (const store::OutboxRow& row : Outbox("mailchimp")) {
      if (Desired(row).email == email) out.push_back(Desired(row));
    }
    return out;
  };
  ASSERT_EQ(queued_for("anna@example.org").size(), 1u);
  // The journey reports the merged member (its earlier write, seen late).
  IngestSummary late = Ingest("mailchimp",
                              {Record("mc-ev-1", "mc-2", "anna.b@example.org",
                                      {Consent("newsletter", kWithdrawn, T - 60'000, "mailchimp")})},
                              T + 400);
  EXPECT_EQ(SubjectOf("mailchimp", "mc-2"), person);
  const auto survivor_rows = queued_for("anna@example.org");
  ASSERT_EQ(survivor_rows.size(), 1u) << "the survivor's member still gets the merged state";
  ASSERT_EQ(survivor_rows[0].state.consents.size(), 1u);
  EXPECT_EQ(survivor_rows[0].state.consents.begin()->second.status, kWithdrawn);
  EXPECT_EQ(late.records, 1);
  // An erasure replaces every queued write of the person, whatever address.
  Ingest("hubspot", {Record("ev-4", "101", "anna@example.org", {Erasure(T + 5000)})}, T + 500);
  std::vector<connectors::DesiredState> left;
  for (const store::OutboxRow& row : Outbox("mailchimp")) {
    if (Desired(row).subject == person) left.push_back(Desired(row));
  }
  ASSERT_EQ(left.size(), 1u) << "only the erasure is still queued";
  EXPECT_TRUE(left[0].erase);
}

// The queued `rows` writing `person`'s withdrawal: address -> record id.
// Each row's address is the one its desired state writes.
std::map<std::string, std::string> QueuedWithdrawals(const std::vector<store::OutboxRow>& rows,
                                                     const std::string& person) {
  std::map<std::string, std::string> out;
  for (const store::OutboxRow& row : rows) {
    Result<connectors::DesiredState> d = connectors::DecodeDesiredState(row.desired_json);
    EXPECT_TRUE(d.ok()) << d.status().ToString();
    if (!d.ok() || d->subject != person || d->state.consents.empty()) continue;
    if (d->state.consents.begin()->second.status != kWithdrawn) continue;
    EXPECT_EQ(row.address, d->email);
    out[d->email] = d->system_id;
  }
  return out;
}

// After a CRM merge the journey still holds a member for each address. A
// later withdrawal must reach both members, not only the one linked last;
// the CRM's merged record is gone and gets nothing.
TEST_F(SyncEngineTest, AfterAMergeEveryRecordOfThePersonInTheJourneyGetsTheWithdrawal) {
  Ingest("hubspot",
         {Record("ev-1", "101", "anna@example.org", {Consent("newsletter", kGranted, T - 120'000)})},
         T + 100);
  Ingest("mailchimp",
         {Record("mc-ev-1", "mc-1", "anna@example.org",
                 {Consent("newsletter", kGranted, T - 120'000, "mailchimp")})},
         T + 150);
  Ingest("hubspot",
         {Record("ev-2", "102", "anna.b@example.org",
                 {Consent("newsletter", kGranted, T - 100'000)})},
         T + 200);
  Ingest("mailchimp",
         {Record("mc-ev-2", "mc-2", "anna.b@example.org",
                 {Consent("newsletter", kGranted, T - 100'000, "mailchimp")})},
         T + 250);
  connectors::InboundRecord merge = Record("ev-3", "101", "anna@example.org", {});
  merge.merged_ids = {"102"};
  Ingest("hubspot", {merge}, T + 300);
  const std::string person = SubjectOf("hubspot", "101");
  ASSERT_EQ(SubjectOf("mailchimp", "mc-2"), person);

  IngestSummary s = Ingest("hubspot",
                           {Record("ev-4", "101", "anna@example.org",
                                   {Consent("newsletter", kWithdrawn, T - 1000, "hubspot", "",
                                            ConsentMethod::kUnsubscribeLink)})},
                           T + 400);
  EXPECT_EQ(s.outcomes[Outcome::kApplied], 1);
  EXPECT_EQ(s.enqueued["mailchimp"], 2) << "one row per member of the person";
  EXPECT_EQ(QueuedWithdrawals(Outbox("mailchimp"), person),
            (std::map<std::string, std::string>{{"anna@example.org", "mc-1"},
                                                {"anna.b@example.org", "mc-2"}}));
  for (const store::OutboxRow& row : Outbox("hubspot")) {
    EXPECT_NE(Desired(row).email, "anna.b@example.org") << "the merged contact is gone";
  }
  // The erasure is one row for the whole person, naming the other member.
  Ingest("hubspot", {Record("ev-5", "101", "anna@example.org", {Erasure(T + 5000)})}, T + 500);
  std::vector<connectors::DesiredState> left;
  for (const store::OutboxRow& row : Outbox("mailchimp")) {
    if (Desired(row).subject == person) left.push_back(Desired(row));
  }
  ASSERT_EQ(left.size(), 1u);
  EXPECT_TRUE(left[0].erase);
  EXPECT_EQ(left[0].email, "anna@example.org");
  EXPECT_EQ(left[0].also_erase, std::set<std::string>{"anna.b@example.org"});
}

// The merged person of the tests below (anna@ / mc-1, anna.b@ / mc-2, both
// granted `topics` in both systems).
class SyncEngineMergedMembersTest : public SyncEngineTest {
 protected:
  // anna@ (CRM 101, journey mc-1) merged with anna.b@ (CRM 102, journey
  // mc-2) in the CRM, 102 into 101; returns the person.
  std::string MergedPerson(const std::vector<std::string>& topics) {
    TwoPeopleWithMembers(topics);
    connectors::InboundRecord merge = Record("ev-3", "101", "anna@example.org", {});
    merge.merged_ids = {"102"};
    Ingest("hubspot", {merge}, T + 300);
    return SubjectOf("hubspot", "101");
  }
  // The two people before the merge, each granted `topics` in both systems.
  void TwoPeopleWithMembers(const std::vector<std::string>& topics) {
    auto grants = [&](TimestampMs at, const std::string& source) {
      std::vector<Change> out;
      for (const std::string& topic : topics) out.push_back(Consent(topic, kGranted, at, source));
      return out;
    };
    Ingest("hubspot", {Record("ev-1", "101", "anna@example.org", grants(T - 120'000, "hubspot"))},
           T + 100);
    Ingest("mailchimp",
           {Record("mc-ev-1", "mc-1", "anna@example.org", grants(T - 120'000, "mailchimp"))},
           T + 150);
    Ingest("hubspot", {Record("ev-2", "102", "anna.b@example.org", grants(T - 100'000, "hubspot"))},
           T + 200);
    Ingest("mailchimp",
           {Record("mc-ev-2", "mc-2", "anna.b@example.org", grants(T - 100'000, "mailchimp"))},
           T + 250);
  }
  // anna.b's member (mc-2) is deleted; a read begun after the deletion
  // shows it added again and is decided after the CRM merges `merged_id`
  // into `survivor_id`; then the CRM withdraws the survivor's newsletter.
  // The withdrawals queued for Mailchimp, address -> member.
  std::map<std::string, std::string> WithdrawalsAfterAMemberAddedAgainAroundAMerge(
      const std::string& survivor_id, const std::string& survivor_email,
      const std::string& merged_id) {
    TwoPeopleWithMembers({"newsletter"});
    Ingest("mailchimp", {Record("mc-ev-3", "mc-2", "anna.b@example.org", {MemberDeleted(T + 255)})},
           T + 260);
    connectors::InboundRecord back =
        Record("mc-poll-1", "mc-2", "anna.b@example.org",
               {Consent("newsletter", kGranted, T + 270, "mailchimp")});
    back.read_at = T + 280;
    connectors::InboundRecord merge = Record("ev-3", survivor_id, survivor_email, {});
    merge.merged_ids = {merged_id};
    Ingest("hubspot", {merge}, T + 300);
    const std::string person = SubjectOf("hubspot", survivor_id);
    Ingest("mailchimp", {back}, T + 320);
    DeliverAll();
    Ingest("hubspot",
           {Record("ev-4", survivor_id, survivor_email,
                   {Consent("newsletter", kWithdrawn, T + 400, "hubspot", "",
                            ConsentMethod::kUnsubscribeLink)})},
           T + 450);
    return QueuedWithdrawals(Outbox("mailchimp"), person);
  }
  // A member's permanent deletion as the journey reports it.
  static Change MemberDeleted(TimestampMs at) {
    Change gone;
    gone.kind = ChangeKind::kTargetDeleted;
    gone.provenance.occurred_at = at;
    gone.provenance.source_system = "mailchimp";
    return gone;
  }
  // Every queued row is delivered.
  void DeliverAll() {
    for (const char* target : {"mailchimp", "hubspot"}) {
      for (;;) {
        std::vector<store::OutboxRow> rows;
        Run([&](store::Transaction& txn) -> Status {
          auto claimed = txn.ClaimOutbox(target, T + 350, 100, T + 10'000);
          if (!claimed.ok()) return claimed.status();
          rows = std::move(claimed).value();
          for (const store::OutboxRow& r : rows) {
            CONSENTD_RETURN_IF_ERROR(txn.MarkDone(r.id, T + 350));
          }
          return Status::Ok();
        });
        if (rows.empty()) break;
      }
    }
  }
};

// After a CRM merge the journey holds a member per address of the person.
// A withdrawal reported by one of them must reach the other too (before,
// nothing was written back to the system a change came from, so the other
// member stayed subscribed), and is not written back to the member that
// reported it.
TEST_F(SyncEngineMergedMembersTest, AWithdrawalAtOneMemberOfAMergedPersonReachesTheOtherMember) {
  const std::string person = MergedPerson({"newsletter"});
  ASSERT_EQ(SubjectOf("mailchimp", "mc-2"), person);
  DeliverAll();

  IngestSummary s = Ingest("mailchimp",
                           {Record("mc-ev-4", "mc-2", "anna.b@example.org",
                                   {Consent("newsletter", kWithdrawn, T - 1000, "mailchimp", "",
                                            ConsentMethod::kUnsubscribeLink)})},
                           T + 400);
  EXPECT_EQ(s.outcomes[Outcome::kApplied], 1);
  EXPECT_EQ(QueuedWithdrawals(Outbox("mailchimp"), person),
            (std::map<std::string, std::string>{{"anna@example.org", "mc-1"}}))
      << "the other member gets it; the member that reported it does not";
  EXPECT_EQ(QueuedWithdrawals(Outbox("hubspot"), person),
            (std::map<std::string, std::string>{{"anna@example.org", "101"}}));
  // The other member's read-back is consentd's own write, not news.
  IngestSummary echo = Ingest("mailchimp",
                              {Record("mc-ev-5", "mc-1", "anna@example.org",
                                      {Consent("newsletter", kWithdrawn, T + 500, "mailchimp")})},
                              T + 600);
  EXPECT_EQ(echo.outcomes[Outcome::kApplied], 0);
}

// A member's permanent deletion, taken as the person's erasure
// (`on_permanent_delete: erase`), erases the person everywhere: in the
// journey too, their other members (after a CRM merge, one per address).
// Before, the source got no erasure row, so the merged address's member
// stayed subscribed, address and all. The reporting member is gone already
// and is not named again; the source's target in the erasure request waits
// for that row.
TEST_F(SyncEngineMergedMembersTest, AnErasureReportedByOneMemberErasesThePersonsOtherMembers) {
  const std::string person = MergedPerson({"newsletter"});
  DeliverAll();
  IngestSummary s = Ingest(
      "mailchimp",
      {Record("mc-ev-4", "mc-2", "anna.b@example.org", {Erasure(T - 1000, "mailchimp")})}, T + 400);
  EXPECT_EQ(s.outcomes[Outcome::kApplied], 1);
  std::vector<store::OutboxRow> rows;
  for (const store::OutboxRow& row : Outbox("mailchimp")) {
    if (row.key == person) rows.push_back(row);
  }
  ASSERT_EQ(rows.size(), 1u) << "one erasure row for the person's other members";
  const connectors::DesiredState d = Desired(rows[0]);
  EXPECT_TRUE(d.erase);
  EXPECT_EQ(d.email, "anna@example.org");
  EXPECT_EQ(d.system_id, "mc-1");
  EXPECT_TRUE(d.also_erase.empty()) << "the reporting member is not erased again";
  // The CRM erases its contact that lives on, at its own address: the
  // merged address, reported last, no longer finds it there.
  ASSERT_EQ(Outbox("hubspot").size(), 1u);
  const connectors::DesiredState crm = Desired(Outbox("hubspot")[0]);
  EXPECT_TRUE(crm.erase);
  EXPECT_EQ(crm.email, "anna@example.org");
  EXPECT_EQ(crm.system_id, "101");

  std::optional<store::ErasureRequestRecord> request;
  Run([&](store::Transaction& txn) -> Status {
    auto r = store::FindErasureRequestBySubject(txn, person);
    if (!r.ok()) return r.status();
    request = std::move(*r);
    return Status::Ok();
  });
  ASSERT_TRUE(request.has_value());
  for (const store::ErasureTarget& t : request->targets) {
    EXPECT_EQ(t.state, store::ErasureTargetState::kPending) << t.target << ": " << t.reason;
    if (t.target == "mailchimp") {
      EXPECT_EQ(t.outbox_id, rows[0].id);
    }
  }
}

// The erasure of the other members names the records the person has when
// the erasure is decided: here a member first seen earlier in the same
// call, after the reporting member's own change had already asked for a
// row there (review finding: the row kept the identity of that first ask,
// which knew no other member, so no row was queued and the request's
// target waited for good).
TEST_F(SyncEngineTest, AnErasureOfOtherMembersNamesTheMembersKnownAtTheErasure) {
  Ingest(
      "hubspot",
      {Record("ev-1", "101", "anna@example.org", {Consent("newsletter", kGranted, T - 120'000)})},
      T + 100);
  Ingest("mailchimp",
         {Record("mc-ev-1", "mc-1", "anna@example.org",
                 {Consent("newsletter", kGranted, T - 120'000, "mailchimp")})},
         T + 150);
  Ingest(
      "hubspot",
      {Record("ev-2", "102", "anna.b@example.org", {Consent("newsletter", kGranted, T - 100'000)})},
      T + 200);
  connectors::InboundRecord merge = Record("ev-3", "101", "anna@example.org", {});
  merge.merged_ids = {"102"};
  Ingest("hubspot", {merge}, T + 300);  // the merge's rows to Mailchimp stay open
  const std::string person = SubjectOf("hubspot", "101");
  Ingest("mailchimp",
         {Record("mc-ev-3", "mc-1", "anna@example.org",
                 {Consent("newsletter", kWithdrawn, T - 2000, "mailchimp")}),
          Record("mc-ev-4", "mc-2", "anna.b@example.org",
                 {Consent("newsletter", kWithdrawn, T - 1500, "mailchimp")}),
          Record("mc-ev-5", "mc-1", "anna@example.org", {Erasure(T - 1000, "mailchimp")})},
         T + 400);
  std::vector<store::OutboxRow> rows;
  for (const store::OutboxRow& row : Outbox("mailchimp")) {
    if (row.key == person) rows.push_back(row);
  }
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_TRUE(Desired(rows[0]).erase);
  EXPECT_EQ(Desired(rows[0]).email, "anna.b@example.org");
}

// An erasure row that finds no record left to name (every other record the
// person had there was the reporting one) settles the source's target at
// once instead of leaving it pending with no row.
TEST_F(SyncEngineTest, AnErasureOfOtherRecordsWithNoneLeftSettlesTheSourceTarget) {
  OutboundBatch batch;
  SubjectIdentity identity;
  identity.email = "anna@example.org";
  identity.record_addresses["mailchimp"] = {{"mc-1", "anna@example.org"}};
  identity.system_ids["mailchimp"] = "mc-1";
  batch.AddErasureOfOtherRecords("mailchimp", "s-0000000000000001", identity, "anna@example.org");
  std::map<std::string, int> enqueued;
  Run([&](store::Transaction& txn) -> Status {
    store::ErasureRequestRecord r;
    r.id = "req-1";
    r.subject = "s-0000000000000001";
    r.source = "mailchimp";
    r.requested_by = "mailchimp";
    r.requested_at = T;
    store::ErasureTarget t;
    t.target = "mailchimp";
    t.state = store::ErasureTargetState::kPending;
    t.mode = "delete";
    r.targets.push_back(t);
    CONSENTD_RETURN_IF_ERROR(store::CreateErasureRequest(txn, r, T));
    return batch.Flush(txn, *spec_, "hash", "key", T + 10, enqueued);
  });
  EXPECT_TRUE(Outbox("mailchimp").empty());
  std::optional<store::ErasureRequestRecord> request;
  Run([&](store::Transaction& txn) -> Status {
    auto r = store::GetErasureRequest(txn, "req-1");
    if (!r.ok()) return r.status();
    request = std::move(*r);
    return Status::Ok();
  });
  ASSERT_TRUE(request.has_value());
  ASSERT_EQ(request->targets.size(), 1u);
  EXPECT_EQ(request->targets[0].state, store::ErasureTargetState::kDone)
      << request->targets[0].reason;
}

// A CRM row queued at the contact's old address is answered after the
// contact's address changed there: the answer names the id the row gave,
// so the write says nothing about the contact's address, and the next
// write (here the person's erasure) goes to the address the CRM reported
// last (review finding: the late answer linked the contact back to its old
// address, the erasure went there, found nothing, and the contact lived on).
TEST_F(SyncEngineTest, ALateCrmAnswerDoesNotLinkTheContactBackToItsOldAddress) {
  Ingest(
      "hubspot",
      {Record("ev-1", "101", "anna@example.org", {Consent("newsletter", kGranted, T - 120'000)})},
      T + 100);
  Ingest("mailchimp",
         {Record("mc-ev-1", "mc-1", "anna@example.org",
                 {Consent("newsletter", kWithdrawn, T - 60'000, "mailchimp")})},
         T + 200);
  std::vector<store::OutboxRow> crm;
  Run([&](store::Transaction& txn) -> Status {
    auto r = txn.ClaimOutbox("hubspot", T + 300, 10, T + 60'000);
    if (!r.ok()) return r.status();
    crm = std::move(*r);
    return Status::Ok();
  });
  ASSERT_EQ(crm.size(), 1u);
  ASSERT_EQ(Desired(crm[0]).system_id, "101");
  Ingest("hubspot",
         {Record("ev-2", "101", "anna.new@example.org",
                 {Consent("newsletter", kWithdrawn, T - 60'000)})},
         T + 400);
  connectors::DeliveryResult ok;
  ok.outbox_id = crm[0].id;
  ok.status = Status::Ok();
  ok.system_id = "101";
  Run([&](store::Transaction& txn) -> Status {
    return engine_->RecordDeliveries(txn, "hubspot", crm, {ok}, {}, 5, T + 500).status();
  });
  Ingest("mailchimp",
         {Record("mc-ev-2", "mc-1", "anna@example.org", {Erasure(T + 1000, "mailchimp")})},
         T + 1100);
  std::vector<connectors::DesiredState> erasures;
  for (const store::OutboxRow& row : Outbox("hubspot")) {
    if (Desired(row).erase) erasures.push_back(Desired(row));
  }
  ASSERT_EQ(erasures.size(), 1u);
  EXPECT_EQ(erasures[0].email, "anna.new@example.org");
  EXPECT_EQ(erasures[0].system_id, "101");
}

// After a CRM merge, one of the person's members is permanently deleted in
// the journey: that is the end of that member (its address), not of the
// person there. The other member still gets the person's changes (before,
// the deletion was recorded for the whole person, and every later write to
// the journey was refused as blocked_by_target: a withdrawal in the CRM
// left the live member subscribed).
TEST_F(SyncEngineMergedMembersTest, AMembersPermanentDeletionDoesNotBlockThePersonsOtherMember) {
  const std::string person = MergedPerson({"newsletter"});
  DeliverAll();
  const Change gone = MemberDeleted(T - 2000);
  IngestSummary deleted =
      Ingest("mailchimp", {Record("mc-ev-4", "mc-2", "anna.b@example.org", {gone})}, T + 400);
  EXPECT_EQ(deleted.outcomes[Outcome::kApplied], 1);
  IngestSummary s = Ingest("hubspot",
                           {Record("ev-4", "101", "anna@example.org",
                                   {Consent("newsletter", kWithdrawn, T - 1000, "hubspot", "",
                                            ConsentMethod::kUnsubscribeLink)})},
                           T + 500);
  EXPECT_EQ(s.outcomes[Outcome::kApplied], 1);
  EXPECT_EQ(QueuedWithdrawals(Outbox("mailchimp"), person),
            (std::map<std::string, std::string>{{"anna@example.org", "mc-1"}}))
      << "the live member gets the withdrawal; the deleted one nothing";
  // The last member's deletion is the person's there: nothing more is sent.
  Ingest("mailchimp", {Record("mc-ev-5", "mc-1", "anna@example.org", {gone})}, T + 600);
  Ingest("hubspot",
         {Record("ev-5", "101", "anna@example.org",
                 {Consent("newsletter", kGranted, T + 550, "hubspot")})},
         T + 700);
  for (const store::OutboxRow& row : Outbox("mailchimp")) {
    EXPECT_LT(row.created_at, T + 700) << "the person has no member left there: " << row.address;
  }
}

// A poll page (or read-back) read before a member's deletion was decided,
// and decided after it, shows the member as it was: it does not make the
// retired member live again (before, it did, and the person's writes went
// to the deleted member too, refused there until a full reconciliation).
// A report read after the deletion does.
TEST_F(SyncEngineMergedMembersTest, AReportReadBeforeAMembersDeletionDoesNotMakeItLiveAgain) {
  const std::string person = MergedPerson({"newsletter"});
  DeliverAll();
  connectors::InboundRecord stale =
      Record("mc-poll-1", "mc-2", "anna.b@example.org",
             {Consent("newsletter", kGranted, T - 100'000, "mailchimp")});
  stale.read_at = T + 390;
  Ingest("mailchimp", {Record("mc-ev-4", "mc-2", "anna.b@example.org", {MemberDeleted(T - 2000)})},
         T + 400);
  Ingest("mailchimp", {stale}, T + 450);
  Ingest("hubspot",
         {Record("ev-4", "101", "anna@example.org",
                 {Consent("newsletter", kWithdrawn, T - 1000, "hubspot", "",
                          ConsentMethod::kUnsubscribeLink)})},
         T + 500);
  EXPECT_EQ(QueuedWithdrawals(Outbox("mailchimp"), person),
            (std::map<std::string, std::string>{{"anna@example.org", "mc-1"}}))
      << "the stale page's member stays retired";
  DeliverAll();

  connectors::InboundRecord again = Record("mc-poll-2", "mc-2", "anna.b@example.org",
                                           {Consent("newsletter", kGranted, T + 580, "mailchimp")});
  again.read_at = T + 600;
  Ingest("mailchimp", {again}, T + 650);
  DeliverAll();
  Ingest("hubspot",
         {Record("ev-5", "101", "anna@example.org",
                 {Consent("newsletter", kWithdrawn, T + 700, "hubspot", "",
                          ConsentMethod::kUnsubscribeLink)})},
         T + 750);
  EXPECT_EQ(QueuedWithdrawals(Outbox("mailchimp"), person),
            (std::map<std::string, std::string>{{"anna@example.org", "mc-1"},
                                                {"anna.b@example.org", "mc-2"}}))
      << "a member read after its deletion is live again";
}

// A member's deletion is retired as of the read that found it gone, not
// as of when it was decided: a read begun after that one (the member added
// again at its address) shows the member as it is now and makes it live,
// even when decided after the deletion (review finding: it stayed retired,
// and the person's writes skipped a member that exists).
TEST_F(SyncEngineMergedMembersTest, AReportReadAfterTheReadThatFoundAMemberGoneMakesItLiveAgain) {
  const std::string person = MergedPerson({"newsletter"});
  DeliverAll();
  connectors::InboundRecord gone =
      Record("mc-ev-4", "mc-2", "anna.b@example.org", {MemberDeleted(T - 2000)});
  gone.read_at = T + 100;
  connectors::InboundRecord back = Record("mc-poll-1", "mc-2", "anna.b@example.org",
                                          {Consent("newsletter", kGranted, T + 200, "mailchimp")});
  back.read_at = T + 300;
  Ingest("mailchimp", {gone}, T + 400);
  Ingest("mailchimp", {back}, T + 450);
  DeliverAll();
  Ingest("hubspot",
         {Record("ev-4", "101", "anna@example.org",
                 {Consent("newsletter", kWithdrawn, T + 500, "hubspot", "",
                          ConsentMethod::kUnsubscribeLink)})},
         T + 550);
  EXPECT_EQ(QueuedWithdrawals(Outbox("mailchimp"), person),
            (std::map<std::string, std::string>{{"anna@example.org", "mc-1"},
                                                {"anna.b@example.org", "mc-2"}}));
}

// A CRM link from before schema v13 knows no address: a delivery answered
// with the id its row gave still teaches it the row's address (the
// migration promises it is filled when the record is next written), while
// a known one stays (ALateCrmAnswerDoesNotLinkTheContactBackToItsOldAddress).
TEST_F(SyncEngineTest, ACrmDeliveryTeachesALinkWithoutAnAddressTheRowsAddress) {
  Ingest(
      "hubspot",
      {Record("ev-1", "101", "anna@example.org", {Consent("newsletter", kGranted, T - 120'000)})},
      T + 100);
  const std::string person = SubjectOf("hubspot", "101");
  Run([&](store::Transaction& txn) -> Status {
    Result<store::Db*> db = store::SqliteDbOf(txn, "test");
    if (!db.ok()) return db.status();
    return (*db)->Exec("UPDATE identity_links SET address = '' WHERE system = 'hubspot'");
  });
  Ingest("mailchimp",
         {Record("mc-ev-1", "mc-1", "anna@example.org",
                 {Consent("newsletter", kWithdrawn, T - 60'000, "mailchimp")})},
         T + 200);
  std::vector<store::OutboxRow> crm;
  Run([&](store::Transaction& txn) -> Status {
    auto r = txn.ClaimOutbox("hubspot", T + 300, 10, T + 60'000);
    if (!r.ok()) return r.status();
    crm = std::move(*r);
    return Status::Ok();
  });
  ASSERT_EQ(crm.size(), 1u);
  ASSERT_EQ(Desired(crm[0]).system_id, "101");
  connectors::DeliveryResult ok;
  ok.outbox_id = crm[0].id;
  ok.status = Status::Ok();
  ok.system_id = "101";
  Run([&](store::Transaction& txn) -> Status {
    return engine_->RecordDeliveries(txn, "hubspot", crm, {ok}, {}, 5, T + 400).status();
  });
  Run([&](store::Transaction& txn) -> Status {
    Result<SubjectIdentity> identity = LoadIdentity(txn, person);
    if (!identity.ok()) return identity.status();
    EXPECT_EQ(identity->record_addresses["hubspot"]["101"], "anna@example.org");
    return Status::Ok();
  });
}

// One CRM batch: a change of the person merged away queues a journey write
// with that person's identity, the merge moves it to the survivor, and the
// survivor's erasure follows. The erasure names the members of both (review
// finding: it kept the identity of the first ask, the merged person's, and
// the survivor's own member outlived the erasure).
TEST_F(SyncEngineMergedMembersTest, AnErasureInTheCallOfAMergeNamesTheMembersOfBothPeople) {
  TwoPeopleWithMembers({"newsletter"});
  const std::string survivor = SubjectOf("hubspot", "101");
  connectors::InboundRecord merge = Record("ev-4", "101", "anna@example.org", {});
  merge.merged_ids = {"102"};
  Ingest("hubspot",
         {Record("ev-3", "102", "anna.b@example.org",
                 {Consent("newsletter", kWithdrawn, T - 1000, "hubspot")}),
          merge, Record("ev-5", "101", "anna@example.org", {Erasure(T - 500)})},
         T + 300);
  std::vector<connectors::DesiredState> erasures;
  for (const store::OutboxRow& row : Outbox("mailchimp")) {
    if (Desired(row).erase) erasures.push_back(Desired(row));
  }
  ASSERT_EQ(erasures.size(), 1u);
  std::set<std::string> named = erasures[0].also_erase;
  named.insert(erasures[0].email);
  EXPECT_EQ(named, (std::set<std::string>{"anna@example.org", "anna.b@example.org"}));
  EXPECT_EQ(erasures[0].subject, survivor);
}

// With one member, its own deletion leaves nothing to erase there.
TEST_F(SyncEngineTest, AnErasureReportedByAPersonsOnlyMemberQueuesNothingForTheJourney) {
  Ingest("mailchimp",
         {Record("mc-ev-1", "mc-1", "anna@example.org",
                 {Consent("newsletter", kGranted, T - 120'000, "mailchimp")})},
         T + 100);
  const std::string person = SubjectOf("mailchimp", "mc-1");
  Ingest("mailchimp",
         {Record("mc-ev-2", "mc-1", "anna@example.org", {Erasure(T - 1000, "mailchimp")})},
         T + 200);
  for (const store::OutboxRow& row : Outbox("mailchimp")) EXPECT_NE(row.key, person);
  std::optional<store::ErasureRequestRecord> request;
  Run([&](store::Transaction& txn) -> Status {
    auto r = store::FindErasureRequestBySubject(txn, person);
    if (!r.ok()) return r.status();
    request = std::move(*r);
    return Status::Ok();
  });
  ASSERT_TRUE(request.has_value());
  for (const store::ErasureTarget& t : request->targets) {
    if (t.target == "mailchimp") {
      EXPECT_EQ(t.state, store::ErasureTargetState::kDone);
    }
  }
}

// address -> topic -> status of the newest pending row to Mailchimp.
std::map<std::string, std::map<std::string, ConsentStatus>> NewestMailchimpRows(
    const std::vector<store::OutboxRow>& rows) {
  std::map<std::string, std::map<std::string, ConsentStatus>> out;
  std::map<std::string, std::int64_t> newest;
  for (const store::OutboxRow& row : rows) {
    if (row.id < newest[row.address]) continue;
    newest[row.address] = row.id;
    auto d = connectors::DecodeDesiredState(row.desired_json);
    EXPECT_TRUE(d.ok());
    if (!d.ok()) continue;
    out[row.address].clear();
    for (const auto& [key, c] : d->state.consents) out[row.address][key.topic] = c.status;
  }
  return out;
}

// A row still queued to the member that reports a withdrawal (the merge's
// grant) would land after it and subscribe that member again: every member
// gets the whole state then, the reporting one included.
TEST_F(SyncEngineMergedMembersTest, AMemberWithAQueuedRowGetsTheChangeItReportedToo) {
  MergedPerson({"newsletter"});
  Ingest("mailchimp",
         {Record("mc-ev-4", "mc-2", "anna.b@example.org",
                 {Consent("newsletter", kWithdrawn, T - 1000, "mailchimp", "",
                          ConsentMethod::kUnsubscribeLink)})},
         T + 400);
  const auto newest = NewestMailchimpRows(Outbox("mailchimp"));
  ASSERT_TRUE(newest.contains("anna.b@example.org"));
  EXPECT_EQ(newest.at("anna.b@example.org").at("newsletter"), kWithdrawn);
  ASSERT_TRUE(newest.contains("anna@example.org"));
  EXPECT_EQ(newest.at("anna@example.org").at("newsletter"), kWithdrawn);
}

// A write to the member is on its way when the member is permanently
// deleted (and retired: the person has another member). Its answer comes
// after, and says nothing about the member's life now: the member stays
// retired (review finding: the answer linked it live again, and every later
// write there was refused and kept as a dead letter with the address).
TEST_F(SyncEngineMergedMembersTest, TheAnswerToAWriteSentBeforeAMembersDeletionDoesNotRevive) {
  const std::string person = MergedPerson({"newsletter", "product_news"});
  DeliverAll();
  Ingest("hubspot",
         {Record("ev-4", "101", "anna@example.org",
                 {Consent("newsletter", kWithdrawn, T - 1000, "hubspot", "",
                          ConsentMethod::kUnsubscribeLink)})},
         T + 400);
  // The deleted member's row in flight (one row of a person at a time; the
  // other member's is delivered first if it comes first).
  std::vector<store::OutboxRow> rows;
  for (int i = 0; i < 2 && rows.empty(); ++i) {
    Run([&](store::Transaction& txn) -> Status {
      auto claimed = txn.ClaimOutbox("mailchimp", T + 450, 10, T + 60'000);
      if (!claimed.ok()) return claimed.status();
      for (const store::OutboxRow& row : *claimed) {
        if (row.address == "anna.b@example.org") {
          rows.push_back(row);
        } else {
          CONSENTD_RETURN_IF_ERROR(txn.MarkDone(row.id, T + 450));
        }
      }
      return Status::Ok();
    });
  }
  ASSERT_EQ(rows.size(), 1u);
  const Change gone = MemberDeleted(T - 500);
  Ingest("mailchimp", {Record("mc-ev-4", "mc-2", "anna.b@example.org", {gone})}, T + 500);
  std::vector<connectors::DeliveryResult> results;
  for (const store::OutboxRow& row : rows) {
    connectors::DeliveryResult ok;
    ok.outbox_id = row.id;
    ok.status = Status::Ok();
    ok.system_id = Desired(row).system_id;
    results.push_back(ok);
  }
  Run([&](store::Transaction& txn) -> Status {
    return engine_->RecordDeliveries(txn, "mailchimp", rows, results, {}, 5, T + 600).status();
  });
  Ingest("hubspot",
         {Record("ev-5", "101", "anna@example.org",
                 {Consent("product_news", kWithdrawn, T + 650, "hubspot")})},
         T + 700);
  std::set<std::string> written;
  for (const store::OutboxRow& row : Outbox("mailchimp")) {
    if (row.created_at == T + 700) written.insert(row.address);
  }
  EXPECT_EQ(written, std::set<std::string>{"anna@example.org"});
}

// Two members report two changes in one call (one poll page): each member
// must get the other's change, so both get the whole state.
TEST_F(SyncEngineMergedMembersTest, TwoMembersReportingTwoChangesInOneCallEachGetTheOthers) {
  MergedPerson({"newsletter", "product_news"});
  DeliverAll();
  Ingest("mailchimp",
         {Record("mc-ev-4", "mc-1", "anna@example.org",
                 {Consent("newsletter", kWithdrawn, T - 1000, "mailchimp")}),
          Record("mc-ev-5", "mc-2", "anna.b@example.org",
                 {Consent("product_news", kWithdrawn, T - 900, "mailchimp")})},
         T + 400);
  const auto newest = NewestMailchimpRows(Outbox("mailchimp"));
  for (const char* address : {"anna@example.org", "anna.b@example.org"}) {
    ASSERT_TRUE(newest.contains(address)) << address << " got no row";
    EXPECT_EQ(newest.at(address).at("newsletter"), kWithdrawn) << address;
    EXPECT_EQ(newest.at(address).at("product_news"), kWithdrawn) << address;
  }
}

// A member permanently deleted in the journey is a deletion of that
// address, not of the person: when its person is merged into another one
// in the CRM, the survivor's own member still gets the survivor's writes
// (before, the deletion was copied onto the survivor and every later
// write to the journey was refused as blocked_by_target), and nothing is
// written at the deleted member's address.
TEST_F(SyncEngineMergedMembersTest, AMergedPersonsDeletedMemberDoesNotBlockTheSurvivorsMember) {
  TwoPeopleWithMembers({"newsletter"});
  const Change gone = MemberDeleted(T - 90'000);
  Ingest("mailchimp", {Record("mc-ev-3", "mc-2", "anna.b@example.org", {gone})}, T + 260);
  connectors::InboundRecord merge = Record("ev-3", "101", "anna@example.org", {});
  merge.merged_ids = {"102"};
  Ingest("hubspot", {merge}, T + 300);
  const std::string person = SubjectOf("hubspot", "101");

  IngestSummary s = Ingest("hubspot",
                           {Record("ev-4", "101", "anna@example.org",
                                   {Consent("newsletter", kWithdrawn, T - 1000, "hubspot", "",
                                            ConsentMethod::kUnsubscribeLink)})},
                           T + 400);
  EXPECT_EQ(s.outcomes[Outcome::kApplied], 1);
  EXPECT_EQ(QueuedWithdrawals(Outbox("mailchimp"), person),
            (std::map<std::string, std::string>{{"anna@example.org", "mc-1"}}))
      << "the survivor's member gets the withdrawal; the deleted one nothing";
}

// The merge retires the merged person's deleted member as of its deletion,
// not as of the merge: a read of that member begun after the deletion and
// decided after the merge (the member added again at its address) is news
// and makes it live (review finding: retired as of the merge, the read
// counted as older than the retirement and the member stayed out of use).
TEST_F(SyncEngineMergedMembersTest,
       AMemberAddedAgainAfterItsDeletionIsLiveThoughReadBeforeTheMerge) {
  EXPECT_EQ(WithdrawalsAfterAMemberAddedAgainAroundAMerge("101", "anna@example.org", "102"),
            (std::map<std::string, std::string>{{"anna@example.org", "mc-1"},
                                                {"anna.b@example.org", "mc-2"}}))
      << "the member read after its deletion is live again";
}

// A merge retires the merged person's records at a system that reported
// its deletion, but one of them retired earlier keeps its own time: a read
// of it begun after that retirement (the member added again) and decided
// after the merge is news (review finding: re-retired at the other
// member's later deletion, the read counted as older than the retirement).
TEST_F(SyncEngineMergedMembersTest, AMergeLeavesAMemberRetiredEarlierWithItsOwnTime) {
  TwoPeopleWithMembers({"newsletter"});
  const std::string merged = SubjectOf("hubspot", "102");
  Run([&](store::Transaction& txn) -> Status {
    CONSENTD_RETURN_IF_ERROR(
        txn.LinkSystemId({merged, "mailchimp", "mc-3", T + 251, "anna.c@example.org"}));
    return txn.RetireSystemId("mailchimp", "mc-3", T + 252);
  });
  Ingest("mailchimp", {Record("mc-ev-3", "mc-2", "anna.b@example.org", {MemberDeleted(T + 255)})},
         T + 260);
  connectors::InboundRecord back = Record("mc-poll-1", "mc-3", "anna.c@example.org",
                                          {Consent("newsletter", kGranted, T + 253, "mailchimp")});
  back.read_at = T + 254;  // after mc-3's retirement, before mc-2's deletion
  connectors::InboundRecord merge = Record("ev-3", "101", "anna@example.org", {});
  merge.merged_ids = {"102"};
  Ingest("hubspot", {merge}, T + 300);
  const std::string person = SubjectOf("hubspot", "101");
  Ingest("mailchimp", {back}, T + 320);
  DeliverAll();
  Ingest("hubspot",
         {Record("ev-4", "101", "anna@example.org",
                 {Consent("newsletter", kWithdrawn, T + 400, "hubspot", "",
                          ConsentMethod::kUnsubscribeLink)})},
         T + 450);
  const std::map<std::string, std::string> queued = QueuedWithdrawals(Outbox("mailchimp"), person);
  EXPECT_EQ(queued.count("anna.c@example.org"), 1u) << "the member read after its own retirement "
                                                       "is live again";
  EXPECT_EQ(queued.count("anna.b@example.org"), 0u) << "the deleted member stays retired";
}

// The other way round: the survivor's only member was permanently deleted
// (the deletion is the survivor's there), and the merge brings in the
// merged person's live member. The person has a live member there again:
// the deletion no longer refuses writes, and it is the deleted member that
// goes out of use (review finding: a CRM withdrawal was refused as
// blocked_by_target and the live member stayed subscribed).
TEST_F(SyncEngineMergedMembersTest, ASurvivorsDeletedMemberDoesNotBlockTheMergedPersonsLiveMember) {
  TwoPeopleWithMembers({"newsletter"});
  const Change gone = MemberDeleted(T - 90'000);
  Ingest("mailchimp", {Record("mc-ev-3", "mc-2", "anna.b@example.org", {gone})}, T + 260);
  connectors::InboundRecord merge = Record("ev-3", "102", "anna.b@example.org", {});
  merge.merged_ids = {"101"};
  Ingest("hubspot", {merge}, T + 300);
  const std::string person = SubjectOf("hubspot", "102");
  ASSERT_EQ(SubjectOf("mailchimp", "mc-1"), person);

  IngestSummary s = Ingest("hubspot",
                           {Record("ev-4", "102", "anna.b@example.org",
                                   {Consent("newsletter", kWithdrawn, T - 1000, "hubspot", "",
                                            ConsentMethod::kUnsubscribeLink)})},
                           T + 400);
  EXPECT_EQ(s.outcomes[Outcome::kApplied], 1);
  EXPECT_EQ(QueuedWithdrawals(Outbox("mailchimp"), person),
            (std::map<std::string, std::string>{{"anna@example.org", "mc-1"}}))
      << "the live member gets the withdrawal; the deleted one nothing";
  // The log says why the deletion no longer refuses writes there.
  bool explained = false;
  Run([&](store::Transaction& txn) -> Status {
    return store::ForEachSubjectProofEntry(
        txn, person, [&](std::uint64_t, std::string_view bytes) -> Status {
          if (bytes.find("no longer stands for the person") != std::string_view::npos) {
            explained = true;
          }
          return Status::Ok();
        });
  });
  EXPECT_TRUE(explained);
}

// The survivor's side of AMergeLeavesAMemberRetiredEarlierWithItsOwnTime:
// the survivor's deletion there gives way to the merged person's live
// member, and the survivor's records there are retired as of the deletion,
// but one retired earlier keeps its own time, so a read of it begun after
// that retirement (the member added again) and decided after the merge is
// news.
TEST_F(SyncEngineMergedMembersTest, AMergeLeavesASurvivorsMemberRetiredEarlierWithItsOwnTime) {
  TwoPeopleWithMembers({"newsletter"});
  const std::string survivor = SubjectOf("hubspot", "102");
  Run([&](store::Transaction& txn) -> Status {
    CONSENTD_RETURN_IF_ERROR(
        txn.LinkSystemId({survivor, "mailchimp", "mc-3", T + 251, "anna.c@example.org"}));
    return txn.RetireSystemId("mailchimp", "mc-3", T + 252);
  });
  Ingest("mailchimp", {Record("mc-ev-3", "mc-2", "anna.b@example.org", {MemberDeleted(T + 255)})},
         T + 260);
  connectors::InboundRecord back = Record("mc-poll-1", "mc-3", "anna.c@example.org",
                                          {Consent("newsletter", kGranted, T + 253, "mailchimp")});
  back.read_at = T + 254;  // after mc-3's retirement, before mc-2's deletion
  connectors::InboundRecord merge = Record("ev-3", "102", "anna.b@example.org", {});
  merge.merged_ids = {"101"};
  Ingest("hubspot", {merge}, T + 300);
  ASSERT_EQ(SubjectOf("hubspot", "101"), survivor);
  Ingest("mailchimp", {back}, T + 320);
  DeliverAll();
  Ingest("hubspot",
         {Record("ev-4", "102", "anna.b@example.org",
                 {Consent("newsletter", kWithdrawn, T + 400, "hubspot", "",
                          ConsentMethod::kUnsubscribeLink)})},
         T + 450);
  const std::map<std::string, std::string> queued =
      QueuedWithdrawals(Outbox("mailchimp"), survivor);
  EXPECT_EQ(queued.count("anna.c@example.org"), 1u) << "the member read after its own retirement "
                                                       "is live again";
  EXPECT_EQ(queued.count("anna@example.org"), 1u) << "the merged person's live member";
  EXPECT_EQ(queued.count("anna.b@example.org"), 0u) << "the deleted member stays retired";
}

// The same for the survivor's deleted member: retired by the merge as of
// its deletion, so a read begun after the deletion that shows it added
// again, decided after the merge, makes it live.
TEST_F(SyncEngineMergedMembersTest, ASurvivorsMemberAddedAgainAfterItsDeletionIsLiveAfterTheMerge) {
  EXPECT_EQ(WithdrawalsAfterAMemberAddedAgainAroundAMerge("102", "anna.b@example.org", "101"),
            (std::map<std::string, std::string>{{"anna@example.org", "mc-1"},
                                                {"anna.b@example.org", "mc-2"}}))
      << "the member read after its deletion is live again";
}

// A member whose address changed in the journey (Mailchimp's upemail: the
// old subscriber hash is merged into the new one) no longer exists under its
// old address: nothing is written there, or the write would create it anew.
TEST_F(SyncEngineTest, AMemberWhoseAddressChangedIsNotWrittenAtItsOldAddress) {
  Ingest("hubspot",
         {Record("ev-1", "101", "anna@example.org", {Consent("newsletter", kGranted, T - 120'000)})},
         T + 100);
  Ingest("mailchimp",
         {Record("mc-ev-1", "mc-old", "anna@example.org",
                 {Consent("newsletter", kGranted, T - 120'000, "mailchimp")})},
         T + 150);
  connectors::InboundRecord moved =
      Record("mc-ev-2", "mc-new", "anna.new@example.org",
             {Consent("newsletter", kGranted, T - 120'000, "mailchimp")});
  moved.merged_ids = {"mc-old"};
  Ingest("mailchimp", {moved}, T + 200);
  const std::string person = SubjectOf("hubspot", "101");
  ASSERT_EQ(SubjectOf("mailchimp", "mc-new"), person);

  // The CRM's report names the contact by id only.
  IngestSummary s = Ingest("hubspot",
                           {Record("ev-2", "101", "",
                                   {Consent("newsletter", kWithdrawn, T - 1000, "hubspot", "",
                                            ConsentMethod::kUnsubscribeLink)})},
                           T + 300);
  EXPECT_EQ(s.outcomes[Outcome::kApplied], 1);
  EXPECT_EQ(QueuedWithdrawals(Outbox("mailchimp"), person),
            (std::map<std::string, std::string>{{"anna.new@example.org", "mc-new"}}))
      << "the member's new address gets the write, its old one nothing";
}

// The CRM keeps the address a journey member had before it changed
// (upemail: the old member is retired, merged into the new one). A CRM report
// naming that old address must not re-create the old member: the write goes
// to the member that lives on.
TEST_F(SyncEngineTest, ACrmReportAtAMembersOldAddressIsWrittenToTheMemberThatLivesOn) {
  Ingest(
      "hubspot",
      {Record("ev-1", "101", "anna@example.org", {Consent("newsletter", kGranted, T - 120'000)})},
      T + 100);
  Ingest("mailchimp",
         {Record("mc-ev-1", "mc-old", "anna@example.org",
                 {Consent("newsletter", kGranted, T - 120'000, "mailchimp")})},
         T + 150);
  connectors::InboundRecord moved =
      Record("mc-ev-2", "mc-new", "anna.new@example.org",
             {Consent("newsletter", kGranted, T - 120'000, "mailchimp")});
  moved.merged_ids = {"mc-old"};
  Ingest("mailchimp", {moved}, T + 200);
  const std::string person = SubjectOf("hubspot", "101");
  ASSERT_EQ(SubjectOf("mailchimp", "mc-new"), person);

  // HubSpot still has the contact under the old address, and says so.
  IngestSummary s = Ingest("hubspot",
                           {Record("ev-2", "101", "anna@example.org",
                                   {Consent("newsletter", kWithdrawn, T - 1000, "hubspot", "",
                                            ConsentMethod::kUnsubscribeLink)})},
                           T + 300);
  EXPECT_EQ(s.outcomes[Outcome::kApplied], 1);
  EXPECT_EQ(QueuedWithdrawals(Outbox("mailchimp"), person),
            (std::map<std::string, std::string>{{"anna.new@example.org", "mc-new"}}))
      << "nothing at the retired member's address, nothing under another member's id";
}

// A retired record is never the person's current id in its system, even
// when it was linked last: a write by id would go to a record that is gone.
TEST_F(SyncEngineTest, ARetiredRecordIsNotThePersonsCurrentIdThere) {
  Ingest(
      "hubspot",
      {Record("ev-1", "101", "anna@example.org", {Consent("newsletter", kGranted, T - 120'000)})},
      T + 100);
  const std::string person = SubjectOf("hubspot", "101");
  Run([&](store::Transaction& txn) -> Status {
    CONSENTD_RETURN_IF_ERROR(
        txn.LinkSystemId({person, "hubspot", "102", T + 200, "anna.b@example.org"}));
    return RetireRecord(txn, *spec_, "hubspot", "102", T + 250, T + 250);
  });
  Run([&](store::Transaction& txn) -> Status {
    Result<SubjectIdentity> identity = LoadIdentity(txn, person);
    if (!identity.ok()) return identity.status();
    EXPECT_EQ(identity->system_ids["hubspot"], "101");
    EXPECT_TRUE(identity->all_ids.contains({"hubspot", "102"})) << "still the person's id";
    EXPECT_EQ(identity->retired_addresses["hubspot"], std::set<std::string>{"anna.b@example.org"});
    return Status::Ok();
  });
}

// A member a full reconciliation found deleted while the person lives on
// under another member (resync retires it) gets no more writes, even where
// its address is the one the person was linked with last.
TEST_F(SyncEngineTest, AMemberRetiredByAResyncIsNotCreatedAgainByTheNextWrite) {
  Ingest(
      "hubspot",
      {Record("ev-1", "101", "anna@example.org", {Consent("newsletter", kGranted, T - 120'000)})},
      T + 100);
  Ingest("mailchimp",
         {Record("mc-ev-2", "mc-2", "anna@example.org",
                 {Consent("newsletter", kGranted, T - 120'000, "mailchimp")})},
         T + 200);
  const std::string person = SubjectOf("hubspot", "101");
  // Her second member, from a CRM merge (linked before the first).
  Run([&](store::Transaction& txn) -> Status {
    return txn.LinkSystemId({person, "mailchimp", "mc-1", T + 150, "anna.b@example.org"});
  });
  ASSERT_EQ(SubjectOf("mailchimp", "mc-2"), person);
  Run([&](store::Transaction& txn) -> Status {
    return RetireRecord(txn, *spec_, "mailchimp", "mc-2", T + 250, T + 250);
  });

  IngestSummary s = Ingest("hubspot",
                           {Record("ev-2", "101", "anna@example.org",
                                   {Consent("newsletter", kWithdrawn, T - 1000, "hubspot", "",
                                            ConsentMethod::kUnsubscribeLink)})},
                           T + 300);
  EXPECT_EQ(s.outcomes[Outcome::kApplied], 1);
  EXPECT_EQ(QueuedWithdrawals(Outbox("mailchimp"), person),
            (std::map<std::string, std::string>{{"anna.b@example.org", "mc-1"}}));

  for (const store::OutboxRow& row : Outbox("mailchimp")) {
    EXPECT_NE(row.address, "anna@example.org")
        << "row " << row.id << " (queued before the record was retired) was not superseded";
  }

  // Reported alive again (the person signed up there anew), it is written again.
  Ingest("mailchimp",
         {Record("mc-ev-3", "mc-2", "anna@example.org",
                 {Consent("newsletter", kWithdrawn, T - 500, "mailchimp")})},
         T + 400);
  Ingest("hubspot",
         {Record("ev-3", "101", "anna@example.org",
                 {Consent("newsletter", kGranted, T + 600'000, "hubspot", "",
                          ConsentMethod::kDoubleOptIn)})},
         T + 600'100);
  std::map<std::string, std::string> written;  // address -> record id, of the grant's rows
  for (const store::OutboxRow& row : Outbox("mailchimp")) {
    if (row.created_at == T + 600'100) written[Desired(row).email] = Desired(row).system_id;
  }
  EXPECT_EQ(written, (std::map<std::string, std::string>{{"anna.b@example.org", "mc-1"},
                                                         {"anna@example.org", "mc-2"}}))
      << "the member lives again";
}

// A CRM folds a merged contact into the survivor, so only the journey
// platform is written at every address: a CRM write to another contact's
// address could create that contact again (when its merge went unreported).
TEST_F(SyncEngineTest, TheCrmIsWrittenAtTheAddressLinkedLastOnly) {
  Ingest("hubspot",
         {Record("ev-1", "101", "anna@example.org", {Consent("newsletter", kGranted, T - 120'000)})},
         T + 100);
  const std::string person = SubjectOf("hubspot", "101");
  Run([&](store::Transaction& txn) -> Status {
    return txn.LinkSystemId({person, "hubspot", "103", T + 150, "anna.other@example.org"});
  });
  IngestSummary s = Ingest("mailchimp",
                           {Record("mc-ev-1", "mc-1", "anna@example.org",
                                   {Consent("newsletter", kWithdrawn, T - 1000, "mailchimp")})},
                           T + 200);
  EXPECT_EQ(s.outcomes[Outcome::kApplied], 1);
  std::set<std::string> written;
  for (const store::OutboxRow& row : Outbox("hubspot")) written.insert(Desired(row).email);
  EXPECT_EQ(written, std::set<std::string>{"anna@example.org"});
}

TEST_F(SyncEngineTest, ErasureIsTerminalAndALaterSignupStartsANewSubject) {
  Ingest("hubspot",
         {Record("ev-1", "101", "anna@example.org", {Consent("newsletter", kGranted, T)})},
         T + 100);
  const std::string erased = SubjectOf("hubspot", "101");
  IngestSummary s = Ingest(
      "hubspot", {Record("ev-2", "101", "anna@example.org", {Erasure(T + 10'000)})}, T + 10'100);
  EXPECT_EQ(s.outcomes[Outcome::kApplied], 1);
  EXPECT_TRUE(Consents(erased).empty());
  EXPECT_EQ(SubjectOf("hubspot", "101"), "");
  Run([&](store::Transaction& txn) -> Status {
    auto t = txn.FindTombstone(EmailHash("anna@example.org"));
    if (!t.ok()) return t.status();
    EXPECT_TRUE(t->has_value());
    auto links = txn.ListSystemIds(erased);
    if (!links.ok()) return links.status();
    EXPECT_TRUE(links->empty()) << "the address must not stay linked";
    return Status::Ok();
  });
  const auto rows = Outbox("mailchimp");
  ASSERT_EQ(rows.size(), 1u) << "the erasure supersedes the pending grant";
  const connectors::DesiredState d = Desired(rows[0]);
  EXPECT_TRUE(d.erase);
  EXPECT_EQ(d.email, "anna@example.org");
  EXPECT_TRUE(d.state.consents.empty());

  IngestSummary stale = Ingest("mailchimp",
                               {Record("mc-ev-1", "mc-1", "anna@example.org",
                                       {Consent("newsletter", kGranted, T + 5000, "mailchimp")})},
                               T + 11'000);
  EXPECT_EQ(stale.outcomes[Outcome::kDroppedErased], 1);
  EXPECT_EQ(SubjectOf("mailchimp", "mc-1"), "");
  Run([&](store::Transaction& txn) -> Status {
    auto by_email = txn.FindSubjectByEmailHash(EmailHash("anna@example.org"));
    if (!by_email.ok()) return by_email.status();
    EXPECT_FALSE(by_email->has_value()) << "a dropped record links nothing";
    return Status::Ok();
  });

  IngestSummary signup = Ingest(
      "hubspot",
      {Record("ev-3", "201", "anna@example.org", {Consent("newsletter", kGranted, T + 20'000)})},
      T + 20'100);
  EXPECT_EQ(signup.outcomes[Outcome::kApplied], 1);
  const std::string fresh = SubjectOf("hubspot", "201");
  EXPECT_FALSE(fresh.empty());
  EXPECT_NE(fresh, erased);
}

// A person erased once who signs up again at Mailchimp gets a member with
// the same id (the address's hash), and every identifier the erasure
// covered. A deletion there dated after that sign-up is about her new
// member and is decided; the journey's late report of the first erasure
// still is not.
TEST_F(SyncEngineTest, ADeletionAtTheJourneyOfAPersonWhoSignedUpAgainIsDecided) {
  Ingest("mailchimp",
         {Record("mc-ev-1", "mc-1", "anna@example.org",
                 {Consent("newsletter", kGranted, T, "mailchimp")})},
         T + 100);
  Ingest("mailchimp",
         {Record("mc-ev-2", "mc-1", "anna@example.org", {Erasure(T + 10'000, "mailchimp")})},
         T + 10'100);
  IngestSummary signup =
      Ingest("mailchimp",
             {Record("mc-ev-3", "mc-1", "anna@example.org",
                     {Consent("newsletter", kGranted, T + 20'000, "mailchimp")})},
             T + 20'100);
  ASSERT_EQ(signup.outcomes[Outcome::kApplied], 1);
  const std::string fresh = SubjectOf("mailchimp", "mc-1");
  ASSERT_FALSE(fresh.empty());

  // Dated after the erasure (beyond the skew window) and before her return.
  IngestSummary late =
      Ingest("mailchimp",
             {Record("mc-ev-4", "mc-1", "anna@example.org", {Erasure(T + 15'000, "mailchimp")})},
             T + 21'000);
  EXPECT_EQ(late.outcomes[Outcome::kDroppedErased], 1) << "the first erasure's own report";
  EXPECT_EQ(SubjectOf("mailchimp", "mc-1"), fresh);
  EXPECT_EQ(Consents(fresh).size(), 1u);

  IngestSummary again =
      Ingest("mailchimp",
             {Record("mc-ev-5", "mc-1", "anna@example.org", {Erasure(T + 30'000, "mailchimp")})},
             T + 30'100);
  EXPECT_EQ(again.outcomes[Outcome::kApplied], 1);
  EXPECT_EQ(again.outcomes[Outcome::kDroppedErased], 0);
  EXPECT_TRUE(Consents(fresh).empty()) << "erased again";
  EXPECT_EQ(SubjectOf("mailchimp", "mc-1"), "");
}

// A topic withdrawn and granted again while another grant keeps the
// person's member subscribed: Mailchimp's double opt-in is for the member's
// status, so the grant is written (and remembered) as a grant, not as a
// re-consent through pending.
// The wait for a member's confirmation ends when Mailchimp reports the
// member subscribed, even where no topic flows back from it (a report of
// only a lifted block); a `pending` read of the member while it waits is
// consentd's own write however old (the per-topic memory is pruned after a
// day, the mark is not); a CRM merge hands the mark to the survivor.
TEST_F(SyncEngineTest, TheWaitForAConfirmationEndsOnASubscribedMemberAndSurvivesAMerge) {
  Ingest("hubspot",
         {Record("ev-1", "101", "anna@example.org", {Consent("newsletter", kGranted, T)})},
         T + 100);
  Ingest("hubspot",
         {Record("ev-2", "102", "anna.b@example.org", {Consent("newsletter", kGranted, T)})},
         T + 200);
  const std::string anna = SubjectOf("hubspot", "101");
  const std::string merged = SubjectOf("hubspot", "102");
  auto mark = [&](const std::string& subject) {
    Run([&](store::Transaction& txn) -> Status {
      return txn.RememberWrite(store::EchoRow{"mailchimp", AwaitingConfirmationKey(subject),
                                              std::string(kAwaitingConfirmation), T + 300});
    });
  };
  auto awaits = [&](const std::string& subject) {
    bool out = false;
    Run([&](store::Transaction& txn) -> Status {
      Result<bool> a = AwaitsConfirmation(txn, "mailchimp", subject);
      if (!a.ok()) return a.status();
      out = *a;
      return Status::Ok();
    });
    return out;
  };
  mark(anna);
  // Her pending member read a week later: no per-topic memory is left.
  Run([&](store::Transaction& txn) -> Status {
    auto consents = txn.ListConsents(anna);
    if (!consents.ok()) return consents.status();
    for (const store::ConsentRow& c : *consents) {
      CONSENTD_RETURN_IF_ERROR(txn.ForgetWrites(
          "mailchimp", ConsentKeyString(ConsentKey{c.key.subject_id, c.key.topic, c.key.channel,
                                                   c.key.address})));
    }
    return Status::Ok();
  });
  IngestSummary read = Ingest(
      "mailchimp",
      {Record("mc-ev-1", "mc-1", "anna@example.org",
              {Consent("newsletter", ConsentStatus::kPending, T + 7 * 86'400'000LL, "mailchimp")})},
      T + 7 * 86'400'000LL + 100);
  EXPECT_EQ(read.outcomes[Outcome::kEcho], 1);
  EXPECT_EQ(Consents(anna).at(0).status, "granted");
  EXPECT_TRUE(awaits(anna));

  // Subscribed, reported with a lifted block only: the wait is over.
  connectors::InboundRecord confirmed =
      Record("mc-ev-2", "mc-1", "anna@example.org",
             {Block(BlockScope::All(), false, T + 8 * 86'400'000LL, "mailchimp")});
  confirmed.member_subscribed = true;
  Ingest("mailchimp", {confirmed}, T + 8 * 86'400'000LL + 100);
  EXPECT_FALSE(awaits(anna));

  // The merged-away person's member awaits its confirmation: after the
  // CRM merge, the survivor's does.
  mark(merged);
  connectors::InboundRecord merge = Record("ev-3", "101", "anna@example.org", {});
  merge.merged_ids = {"102"};
  Ingest("hubspot", {merge}, T + 9 * 86'400'000LL);
  ASSERT_EQ(SubjectOf("hubspot", "102"), anna);
  EXPECT_TRUE(awaits(anna));
  EXPECT_FALSE(awaits(merged));
}

TEST_F(SyncEngineTest, ARegrantOnAMemberAnotherGrantKeepsSubscribedIsWrittenAsAGrant) {
  Ingest("hubspot",
         {Record("ev-1", "101", "anna@example.org",
                 {Consent("newsletter", kGranted, T), Consent("product_news", kGranted, T)})},
         T + 100);
  Ingest("mailchimp",
         {Record("mc-ev-1", "mc-1", "anna@example.org",
                 {Consent("newsletter", kWithdrawn, T + 10'000, "mailchimp")})},
         T + 10'100);
  IngestSummary s = Ingest(
      "hubspot",
      {Record("ev-2", "101", "anna@example.org", {Consent("newsletter", kGranted, T + 20'000)})},
      T + 20'100);
  EXPECT_EQ(s.enqueued["mailchimp"], 1);
  const auto rows = Outbox("mailchimp");
  ASSERT_FALSE(rows.empty());
  EXPECT_TRUE(Desired(rows.back()).reconsent_topics.empty());
  const std::string subject = SubjectOf("hubspot", "101");
  std::string remembered = "<none>";
  Run([&](store::Transaction& txn) -> Status {
    auto consents = txn.ListConsents(subject);
    if (!consents.ok()) return consents.status();
    for (const store::ConsentRow& c : *consents) {
      if (c.key.topic != "newsletter") continue;
      auto w = txn.FindLatestWrite(
          "mailchimp", ConsentKeyString(ConsentKey{c.key.subject_id, c.key.topic, c.key.channel,
                                                   c.key.address}));
      if (!w.ok()) return w.status();
      if (w->has_value()) remembered = (*w)->value;
    }
    return Status::Ok();
  });
  EXPECT_EQ(remembered, "granted") << "its read-back is consentd's echo";
}

// The CRM's unsubscribe-all on a channel holds a grant made elsewhere back
// from it (a SUBSCRIBED write would lift it). Lifted at the CRM, the grant
// goes there: the CRM, the block's source, gets the whole state.
TEST_F(SyncEngineTest, AGrantHeldBackByTheCrmsUnsubscribeAllGoesThereOnceItIsLifted) {
  Ingest(
      "hubspot",
      {Record("ev-1", "101", "anna@example.org", {Block(BlockScope::Channel("email"), true, T)})},
      T + 100);
  Ingest("mailchimp",
         {Record("mc-ev-1", "mc-1", "anna@example.org",
                 {Consent("product_news", kGranted, T + 10'000, "mailchimp")})},
         T + 10'100);
  for (const store::OutboxRow& row : Outbox("hubspot")) {
    EXPECT_TRUE(Desired(row).state.consents.empty()) << "held back while the block is active";
  }
  // That row is delivered: nothing is open to the CRM when the lift comes.
  const std::vector<store::OutboxRow> held = Outbox("hubspot");
  ASSERT_EQ(held.size(), 1u);
  const std::int64_t before = held.back().id;
  DeliverTheOnlyRow("hubspot", T + 10'200);
  IngestSummary lifted = Ingest("hubspot",
                                {Record("ev-2", "101", "anna@example.org",
                                        {Block(BlockScope::Channel("email"), false, T + 20'000)})},
                                T + 20'100);
  EXPECT_EQ(lifted.outcomes[Outcome::kApplied], 1);
  const auto rows = Outbox("hubspot");
  ASSERT_FALSE(rows.empty());
  ASSERT_GT(rows.back().id, before) << "a row queued by the lift";
  bool grant = false;
  for (const auto& [key, record] : Desired(rows.back()).state.consents) {
    grant |= key.topic == "product_news" && record.status == ConsentStatus::kGranted;
  }
  EXPECT_TRUE(grant) << rows.back().desired_json;
}

TEST_F(SyncEngineTest, RegrantAfterJourneyUnsubscribeIsSentAsReconsent) {
  Ingest("hubspot",
         {Record("ev-1", "101", "anna@example.org", {Consent("newsletter", kGranted, T)})},
         T + 100);
  Ingest("mailchimp",
         {Record("mc-ev-1", "mc-1", "anna@example.org",
                 {Consent("newsletter", kWithdrawn, T + 10'000, "mailchimp")})},
         T + 10'100);
  IngestSummary s = Ingest(
      "hubspot",
      {Record("ev-2", "101", "anna@example.org", {Consent("newsletter", kGranted, T + 20'000)})},
      T + 20'100);
  EXPECT_EQ(s.enqueued["mailchimp"], 1);
  const auto rows = Outbox("mailchimp");
  ASSERT_FALSE(rows.empty());
  const connectors::DesiredState d = Desired(rows.back());
  EXPECT_EQ(d.reconsent_topics, std::set<std::string>{"newsletter"});
  EXPECT_EQ(d.system_id, "mc-1");
}

TEST_F(SyncEngineTest, BlockReachesTheJourneyInItsDesiredState) {
  IngestSummary s = Ingest(
      "hubspot", {Record("ev-1", "101", "anna@example.org", {Block(BlockScope::All(), true, T)})},
      T + 100);
  EXPECT_EQ(s.outcomes[Outcome::kApplied], 1);
  const auto rows = Outbox("mailchimp");
  ASSERT_EQ(rows.size(), 1u);
  const connectors::DesiredState d = Desired(rows[0]);
  ASSERT_EQ(d.state.blocks.size(), 1u);
  EXPECT_TRUE(d.state.blocks.begin()->second.active);
}

TEST_F(SyncEngineTest, HintsAreStoredOnceListedUntilDoneAndSurviveAsRecordRefs) {
  connectors::RecordRef a;
  a.event_id = "ev-a";
  a.system_id = "101";
  a.hint = connectors::RecordHint::kMerged;
  a.merged_ids = {"102"};
  connectors::RecordRef b;
  b.event_id = "ev-b";
  b.system_id = "103";
  IngestSummary first;
  Run([&](store::Transaction& txn) -> Status {
    auto r = engine_->AcceptHints(txn, "hubspot", {a, b, a}, T);
    if (!r.ok()) return r.status();
    first = *r;
    return Status::Ok();
  });
  EXPECT_EQ(first.records, 2);
  EXPECT_EQ(first.duplicates, 1);

  std::vector<PendingHint> pending;
  Run([&](store::Transaction& txn) -> Status {
    auto again = engine_->AcceptHints(txn, "hubspot", {b}, T + 1);
    if (!again.ok()) return again.status();
    EXPECT_EQ(again->duplicates, 1);
    auto other = engine_->PendingHints(txn, "mailchimp", 10);
    if (!other.ok()) return other.status();
    EXPECT_TRUE(other->empty());
    auto p = engine_->PendingHints(txn, "hubspot", 10);
    if (!p.ok()) return p.status();
    pending = *p;
    return Status::Ok();
  });
  ASSERT_EQ(pending.size(), 2u);
  EXPECT_EQ(pending[0].ref.event_id, "ev-a");
  EXPECT_EQ(pending[0].ref.hint, connectors::RecordHint::kMerged);
  EXPECT_EQ(pending[0].ref.merged_ids, std::vector<std::string>{"102"});
  EXPECT_EQ(pending[0].source, "hubspot");
  EXPECT_EQ(pending[0].received_at, T);

  Run([&](store::Transaction& txn) -> Status {
    CONSENTD_RETURN_IF_ERROR(engine_->MarkHintsDone(txn, "hubspot", {"ev-a"}, T + 2));
    auto p = engine_->PendingHints(txn, "hubspot", 10);
    if (!p.ok()) return p.status();
    EXPECT_EQ(p->size(), 1u);
    if (p->size() == 1) {
      EXPECT_EQ(p->front().ref.event_id, "ev-b");
    }
    // Done hints are still in the inbox: their redelivery is a duplicate.
    auto dup = engine_->AcceptHints(txn, "hubspot", {a}, T + 3);
    if (!dup.ok()) return dup.status();
    EXPECT_EQ(dup->duplicates, 1);
    return Status::Ok();
  });
}

// A fault in the middle of a unit (here: the proof-log append, after state
// and outbox rows were written) rolls back the whole unit, cursor included.
TEST_F(SyncEngineTest, FailingUnitRollsBackStateOutboxProofAndCursor) {
  store::FailAtCall fault(1, 10 /* SQLITE_IOERR */, store::FailAtCall::Mode::kTransient,
                          "INSERT INTO proof_entries", store::SqliteOp::kStep);
  store::SqliteStoreOptions options;
  options.path = dir_.File("faulty.db");
  options.faults = &fault;
  auto faulty = store::testing::OpenOrDie(options);
  ASSERT_NE(faulty, nullptr);
  const auto records =
      std::vector{Record("ev-1", "101", "anna@example.org", {Consent("newsletter", kGranted, T)})};
  const auto poll = [&](store::Transaction& txn) -> Status {
    Result<IngestSummary> r = engine_->Ingest(txn, "hubspot", records, T + 100);
    if (!r.ok()) return r.status();
    return txn.AdvanceCursor("hubspot", "page-2", T + 100);
  };
  Status s = faulty->Run(poll);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(fault.failures(), 1);

  const auto check = [&](bool expect_data) {
    ASSERT_TRUE(faulty
                    ->Run([&](store::Transaction& txn) -> Status {
                      auto subject = txn.FindSubjectBySystemId("hubspot", "101");
                      if (!subject.ok()) return subject.status();
                      EXPECT_EQ(subject->has_value(), expect_data);
                      auto pending = txn.CountOutbox(store::OutboxStatus::kPending);
                      if (!pending.ok()) return pending.status();
                      EXPECT_EQ(*pending, expect_data ? 1 : 0);
                      auto size = store::ProofTreeSize(txn);
                      if (!size.ok()) return size.status();
                      EXPECT_EQ(*size > 0, expect_data);
                      auto cursor = txn.GetCursor("hubspot");
                      if (!cursor.ok()) return cursor.status();
                      EXPECT_EQ(cursor->has_value(), expect_data);
                      auto state = txn.ScanConsents({}, 10);
                      if (!state.ok()) return state.status();
                      EXPECT_EQ(state->size(), expect_data ? 1u : 0u);
                      return Status::Ok();
                    })
                    .ok());
  };
  check(false);
  ASSERT_TRUE(faulty->Run(poll).ok()) << "the fault was transient: a retry commits";
  check(true);
}

}  // namespace
}  // namespace consentd::sync
