// Erasure requests (store/erasure_requests.h) on a real SQLite store: the
// per-target state machine, the request's open/done state, the legal
// deadline (one calendar month, core/legal_deadline.h) seen through an
// injected "now", and the counts for the gauges.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "core/proof/entry_codec.h"
#include "store/erasure_manual.h"
#include "store/erasure_requests.h"
#include "store/proof_log_store.h"
#include "store_test_util.h"

namespace consentd::store {
namespace {

using testing::OpenOrDie;
using testing::TempDir;
using S = ErasureTargetState;

// 2026-01-31T10:00:00Z: the month after it has no 31st.
constexpr TimestampMs kJan31 = 1769853600000;
// 2026-02-28T10:00:00Z, the deadline of a request of kJan31.
constexpr TimestampMs kFeb28 = 1772272800000;

class StoreErasureRequestsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = OpenOrDie(dir_.File("store.db"));
    ASSERT_NE(store_, nullptr);
  }

  Status Run(const Work& work) { return store_->Run(work); }

  // A request from the CRM: the CRM erased first, the journey is pending
  // with outbox row 7.
  static ErasureRequestRecord CrmRequest(std::string id = "hs-1", std::string subject = "s1") {
    ErasureRequestRecord r;
    r.id = std::move(id);
    r.subject = std::move(subject);
    r.source = "hubspot";
    r.requested_by = "hubspot";
    r.requested_at = kJan31;
    r.targets.push_back({"hubspot", S::kDone, "delete", "", "erased at the source first", 0, 0});
    r.targets.push_back({"mailchimp", S::kPending, "delete", "", "", 0, 0});
    return r;
  }

  ErasureRequestRecord Get(const std::string& id) {
    ErasureRequestRecord out;
    Status s = Run([&](Transaction& txn) -> Status {
      Result<std::optional<ErasureRequestRecord>> r = GetErasureRequest(txn, id);
      if (!r.ok()) return r.status();
      if (!r->has_value()) return NotFound(id);
      out = std::move(**r);
      return Status::Ok();
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out;
  }

  S TargetState(const std::string& id, const std::string& target) {
    for (const ErasureTarget& t : Get(id).targets) {
      if (t.target == target) return t.state;
    }
    ADD_FAILURE() << "no target " << target;
    return S::kPending;
  }

  OpenErasureCounts Counts(TimestampMs now) {
    OpenErasureCounts out;
    Status s = Run([&](Transaction& txn) -> Status {
      Result<OpenErasureCounts> c = CountOpenErasures(txn, now);
      if (!c.ok()) return c.status();
      out = *c;
      return Status::Ok();
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out;
  }

  Status Outcome(const std::string& subject, const std::string& target, S state) {
    return Run([&](Transaction& txn) {
      return RecordErasureOutcome(txn, subject, target, state, "test", kJan31 + 1000);
    });
  }

  TempDir dir_;
  std::unique_ptr<SqliteStore> store_;
};

TEST(ErasureStateMachine, SettledStatesAreTerminal) {
  for (S from : {S::kDone, S::kAlreadyDone, S::kManual}) {
    for (S to : {S::kPending, S::kSent, S::kDone, S::kAlreadyDone, S::kUnsupported, S::kFailed,
                 S::kManual}) {
      EXPECT_FALSE(ErasureTransitionAllowed(from, to))
          << ErasureTargetStateName(from) << " -> " << ErasureTargetStateName(to);
    }
  }
}

TEST(ErasureStateMachine, OnlyDeadLetteredTargetsGoBackToPending) {
  EXPECT_TRUE(ErasureTransitionAllowed(S::kFailed, S::kPending));
  EXPECT_TRUE(ErasureTransitionAllowed(S::kUnsupported, S::kPending));
  EXPECT_FALSE(ErasureTransitionAllowed(S::kSent, S::kPending));
  EXPECT_TRUE(ErasureTransitionAllowed(S::kPending, S::kSent));
  EXPECT_FALSE(ErasureTransitionAllowed(S::kFailed, S::kDone)) << "replay first";
  EXPECT_TRUE(ErasureTransitionAllowed(S::kFailed, S::kManual));
  EXPECT_TRUE(ErasureTransitionAllowed(S::kSent, S::kAlreadyDone));
}

TEST(ErasureStateMachine, StateNamesRoundTrip) {
  for (S s : {S::kPending, S::kSent, S::kDone, S::kAlreadyDone, S::kUnsupported, S::kFailed,
              S::kManual}) {
    EXPECT_EQ(ParseErasureTargetState(ErasureTargetStateName(s)), s);
  }
  EXPECT_FALSE(ParseErasureTargetState("gone").has_value());
}

TEST_F(StoreErasureRequestsTest, DeadlineIsOneCalendarMonthAfterTheRequest) {
  ASSERT_TRUE(
      Run([](Transaction& txn) { return CreateErasureRequest(txn, CrmRequest(), kJan31); }).ok());
  const ErasureRequestRecord r = Get("hs-1");
  EXPECT_EQ(r.deadline, kFeb28);
  EXPECT_EQ(r.legal_ground, "GDPR Art. 17(1)");
}

TEST_F(StoreErasureRequestsTest, OpenRequestIsOverdueAfterOneMonthAndNotBefore) {
  ASSERT_TRUE(
      Run([](Transaction& txn) { return CreateErasureRequest(txn, CrmRequest(), kJan31); }).ok());
  const ErasureRequestRecord r = Get("hs-1");
  EXPECT_FALSE(r.overdue(kFeb28)) << "due on the deadline itself, not overdue";
  EXPECT_TRUE(r.overdue(kFeb28 + 1));
  // 30 days after 31 January is 2 March: a "30 days" rule would be wrong here.
  EXPECT_TRUE(r.overdue(kJan31 + std::chrono::milliseconds(std::chrono::hours(24 * 30)).count()));
  EXPECT_EQ(Counts(kFeb28).open, 1);
  EXPECT_EQ(Counts(kFeb28).overdue, 0);
  EXPECT_EQ(Counts(kFeb28 + 1).overdue, 1);
}

TEST_F(StoreErasureRequestsTest, RequestIsDoneWhenEveryTargetIsSettledAndThenNeverOverdue) {
  ASSERT_TRUE(
      Run([](Transaction& txn) { return CreateErasureRequest(txn, CrmRequest(), kJan31); }).ok());
  ASSERT_TRUE(Run([](Transaction& txn) {
                return AttachErasureOutbox(txn, "s1", "mailchimp", 7, kJan31);
              }).ok());
  OutboxRow claimed;
  claimed.id = 7;
  ASSERT_TRUE(Run([&](Transaction& txn) {
                return MarkErasureTargetsSent(txn, {claimed}, kJan31 + 10);
              }).ok());
  EXPECT_EQ(TargetState("hs-1", "mailchimp"), S::kSent);
  EXPECT_TRUE(Get("hs-1").open());
  ASSERT_TRUE(Outcome("s1", "mailchimp", S::kAlreadyDone).ok());
  const ErasureRequestRecord r = Get("hs-1");
  EXPECT_FALSE(r.open());
  EXPECT_FALSE(r.overdue(kFeb28 + 1));
  EXPECT_EQ(Counts(kFeb28 + 1).open, 0);
  EXPECT_EQ(ErasureRequestJson(r, kFeb28 + 1)["state"], "done");
  EXPECT_EQ(ErasureRequestJson(r, kFeb28 + 1)["targets"][1]["state"], "already_done");
}

TEST_F(StoreErasureRequestsTest, LateOutcomeDoesNotUndoAnOperatorsManualMark) {
  ASSERT_TRUE(
      Run([](Transaction& txn) { return CreateErasureRequest(txn, CrmRequest(), kJan31); }).ok());
  ASSERT_TRUE(Outcome("s1", "mailchimp", S::kFailed).ok());
  EXPECT_EQ(TargetState("hs-1", "mailchimp"), S::kFailed);
  ASSERT_TRUE(Run([](Transaction& txn) {
                return MarkErasureTargetManual(txn, "hs-1", "mailchimp", "ticket 42", kJan31);
              }).ok());
  ASSERT_TRUE(Outcome("s1", "mailchimp", S::kDone).ok());
  const ErasureRequestRecord r = Get("hs-1");
  EXPECT_EQ(r.targets[1].state, S::kManual);
  EXPECT_EQ(r.targets[1].reason, "by hand: ticket 42");
  EXPECT_FALSE(r.open());
}

// The request outlives the erasure, so the operator's free-text note keeps
// no address or subscriber hash of the person.
TEST_F(StoreErasureRequestsTest, ManualMarksNoteKeepsNoAddressOrHash) {
  ASSERT_TRUE(
      Run([](Transaction& txn) { return CreateErasureRequest(txn, CrmRequest(), kJan31); }).ok());
  ASSERT_TRUE(Run([](Transaction& txn) {
                return MarkErasureTargetManual(
                    txn, "hs-1", "mailchimp",
                    "ticket 42: anna@example.org, member 0123456789abcdef0123456789abcdef", kJan31);
              }).ok());
  const ErasureRequestRecord r = Get("hs-1");
  EXPECT_EQ(r.targets[1].reason, "by hand: ticket 42: <address>, member <hash>");
  EXPECT_EQ(ErasureRequestJson(r, kJan31).dump().find("anna@"), std::string::npos);
}

// A target's reason often quotes a vendor's error (a generic system's is
// not masked at all); the request outlives the erasure, so it keeps no
// address or subscriber hash either.
TEST_F(StoreErasureRequestsTest, ATargetsReasonKeepsNoAddressOrHash) {
  ASSERT_TRUE(
      Run([](Transaction& txn) { return CreateErasureRequest(txn, CrmRequest(), kJan31); }).ok());
  ASSERT_TRUE(Run([](Transaction& txn) {
                return RecordErasureOutcome(
                    txn, "s1", "mailchimp", S::kFailed,
                    "retries exhausted: 400 for anna@example.org (a***@example.org), member "
                    "0123456789abcdef0123456789abcdef",
                    kJan31 + 1000);
              }).ok());
  const ErasureRequestRecord r = Get("hs-1");
  EXPECT_EQ(r.targets[1].reason, "retries exhausted: 400 for <address> (<address>), member <hash>");
}

// The operator's mark lands in the proof log with the state change: one
// propagated entry under the request's subject, without the free-text note
// (which may name the person); a refused mark writes nothing.
TEST_F(StoreErasureRequestsTest, ManualMarkIsRecordedInTheProofLogWithoutTheNote) {
  ASSERT_TRUE(
      Run([](Transaction& txn) { return CreateErasureRequest(txn, CrmRequest(), kJan31); }).ok());
  std::uint64_t sequence = 99;
  ASSERT_TRUE(Run([&](Transaction& txn) -> Status {
                Result<std::uint64_t> r =
                    RecordManualErasure(txn, "hs-1", "mailchimp", "ticket 42 for Eve", kJan31);
                if (!r.ok()) return r.status();
                sequence = *r;
                return Status::Ok();
              }).ok());
  EXPECT_EQ(TargetState("hs-1", "mailchimp"), S::kManual);
  auto proof_size = [&] {
    std::uint64_t size = 99;
    EXPECT_TRUE(Run([&](Transaction& txn) -> Status {
                  Result<std::uint64_t> n = ProofTreeSize(txn);
                  if (!n.ok()) return n.status();
                  size = *n;
                  return Status::Ok();
                }).ok());
    return size;
  };
  std::string bytes;
  ASSERT_TRUE(Run([&](Transaction& txn) -> Status {
                Result<std::string> b = ReadProofEntry(txn, sequence);
                if (!b.ok()) return b.status();
                bytes = *b;
                return Status::Ok();
              }).ok());
  EXPECT_EQ(proof_size(), 1U);
  Result<proof::DecodedEntry> entry = proof::DecodeEntry(bytes);
  ASSERT_TRUE(entry.ok()) << entry.status().ToString();
  EXPECT_EQ(entry->entry.kind, ProofKind::kPropagated);
  EXPECT_EQ(entry->entry.subject, "s1");
  EXPECT_EQ(entry->entry.source_system, "admin");
  EXPECT_EQ(entry->entry.source_event_id, "hs-1");
  EXPECT_EQ(entry->entry.method, "manual");
  EXPECT_NE(entry->entry.reason.find("mailchimp"), std::string::npos) << entry->entry.reason;
  EXPECT_EQ(bytes.find("Eve"), std::string::npos) << bytes;

  Status again = Run([](Transaction& txn) {
    return RecordManualErasure(txn, "hs-1", "mailchimp", "", kJan31 + 1).status();
  });
  EXPECT_EQ(again.code(), StatusCode::kFailedPrecondition) << again.ToString();
  EXPECT_EQ(proof_size(), 1U);  // the refused mark wrote nothing
}

TEST_F(StoreErasureRequestsTest, ManualMarkRefusesSettledTargetsAndUnknownNames) {
  ASSERT_TRUE(
      Run([](Transaction& txn) { return CreateErasureRequest(txn, CrmRequest(), kJan31); }).ok());
  Status settled = Run(
      [](Transaction& txn) { return MarkErasureTargetManual(txn, "hs-1", "hubspot", "", kJan31); });
  EXPECT_EQ(settled.code(), StatusCode::kFailedPrecondition) << settled.ToString();
  Status unknown_target = Run([](Transaction& txn) {
    return MarkErasureTargetManual(txn, "hs-1", "salesforce", "", kJan31);
  });
  EXPECT_EQ(unknown_target.code(), StatusCode::kNotFound);
  Status unknown_request = Run(
      [](Transaction& txn) { return MarkErasureTargetManual(txn, "x", "hubspot", "", kJan31); });
  EXPECT_EQ(unknown_request.code(), StatusCode::kNotFound);
}

// A note that is not UTF-8 would make every JSON view of the request (the
// erasures API, the status page) fail for as long as the request is kept:
// refused, and the target stays as it was.
TEST_F(StoreErasureRequestsTest, ManualMarkRefusesANoteThatIsNotUtf8) {
  ASSERT_TRUE(
      Run([](Transaction& txn) { return CreateErasureRequest(txn, CrmRequest(), kJan31); }).ok());
  Status latin1 = Run([](Transaction& txn) {
    return MarkErasureTargetManual(txn, "hs-1", "mailchimp", "Herr M\xfcller", kJan31);
  });
  EXPECT_EQ(latin1.code(), StatusCode::kInvalidArgument) << latin1.ToString();
  EXPECT_NE(TargetState("hs-1", "mailchimp"), S::kManual);
  EXPECT_NO_THROW(ErasureRequestJson(Get("hs-1"), kJan31).dump());
}

TEST_F(StoreErasureRequestsTest, DeadLetterReplayReopensTheTargetAndTheRequest) {
  ASSERT_TRUE(Run([](Transaction& txn) -> Status {
                CONSENTD_RETURN_IF_ERROR(CreateErasureRequest(txn, CrmRequest(), kJan31));
                return AttachErasureOutbox(txn, "s1", "mailchimp", 9, kJan31);
              }).ok());
  ASSERT_TRUE(Outcome("s1", "mailchimp", S::kFailed).ok());
  ASSERT_TRUE(Run([](Transaction& txn) { return ReopenErasureTarget(txn, 9, kJan31); }).ok());
  EXPECT_EQ(TargetState("hs-1", "mailchimp"), S::kPending);
  // Another row's replay touches nothing.
  ASSERT_TRUE(Run([](Transaction& txn) { return ReopenErasureTarget(txn, 10, kJan31); }).ok());
  ASSERT_TRUE(Outcome("s1", "mailchimp", S::kDone).ok());
  EXPECT_FALSE(Get("hs-1").open());
}

TEST_F(StoreErasureRequestsTest, ListsOverdueRequestsOnlyWhenAsked) {
  ASSERT_TRUE(Run([](Transaction& txn) -> Status {
                CONSENTD_RETURN_IF_ERROR(
                    CreateErasureRequest(txn, CrmRequest("old", "s1"), kJan31));
                ErasureRequestRecord recent = CrmRequest("new", "s2");
                recent.requested_at = kFeb28;
                return CreateErasureRequest(txn, recent, kFeb28);
              }).ok());
  std::vector<ErasureRequestRecord> all, overdue;
  ASSERT_TRUE(Run([&](Transaction& txn) -> Status {
                auto a = ListErasureRequests(txn, kFeb28 + 1, {});
                if (!a.ok()) return a.status();
                all = std::move(*a);
                ErasureListOptions o;
                o.overdue_only = true;
                auto b = ListErasureRequests(txn, kFeb28 + 1, o);
                if (!b.ok()) return b.status();
                overdue = std::move(*b);
                return Status::Ok();
              }).ok());
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].id, "new") << "newest first";
  ASSERT_EQ(overdue.size(), 1u);
  EXPECT_EQ(overdue[0].id, "old");
  EXPECT_EQ(overdue[0].targets.size(), 2u);
}

TEST_F(StoreErasureRequestsTest, CreatingTheSameRequestTwiceIsRefused) {
  ASSERT_TRUE(
      Run([](Transaction& txn) { return CreateErasureRequest(txn, CrmRequest(), kJan31); }).ok());
  Status again =
      Run([](Transaction& txn) { return CreateErasureRequest(txn, CrmRequest(), kJan31); });
  EXPECT_EQ(again.code(), StatusCode::kAlreadyExists);
}

TEST_F(StoreErasureRequestsTest, OutcomeForASubjectWithoutRequestChangesNothing) {
  EXPECT_TRUE(Outcome("nobody", "mailchimp", S::kDone).ok());
  EXPECT_EQ(Counts(kJan31).open, 0);
}

// Outbox rows carry the person's state and address. Once a target is
// settled, s1's delivered and dead rows there go; an unsettled target keeps
// its rows (a dead erasure row is what a replay retries), and so do other
// people's rows and rows still to be sent.
TEST_F(StoreErasureRequestsTest, AnErasedPersonsOutboxRowsGoOnceTheirTargetIsSettled) {
  std::map<std::string, std::int64_t> ids;
  const Status setup = Run([&](Transaction& txn) -> Status {
    auto add = [&](const std::string& name, const std::string& target,
                   const std::string& key) -> Status {
      OutboxRow row;
      row.target = target;
      row.key = key;
      row.desired_json = R"({"email":"s1@example.org"})";
      row.idempotency_key = name;
      row.created_at = kJan31;
      Result<std::int64_t> id = txn.Enqueue(row);
      if (!id.ok()) return id.status();
      ids[name] = *id;
      return Status::Ok();
    };
    // Each row is claimed (in flight) before its outcome, as the dispatcher does.
    auto settle = [&](const std::string& name, const std::string& target, const std::string& key,
                      bool dead) -> Status {
      CONSENTD_RETURN_IF_ERROR(add(name, target, key));
      Result<std::vector<OutboxRow>> claimed = txn.ClaimOutbox(target, kJan31, 10, kJan31 + 1000);
      if (!claimed.ok()) return claimed.status();
      return dead ? txn.MarkDead(ids[name], "400", kJan31) : txn.MarkDone(ids[name], kJan31);
    };
    CONSENTD_RETURN_IF_ERROR(settle("hs-done", "hubspot", "s1", false));
    CONSENTD_RETURN_IF_ERROR(settle("mc-done", "mailchimp", "s1", false));
    CONSENTD_RETURN_IF_ERROR(settle("mc-dead", "mailchimp", "s1", true));
    CONSENTD_RETURN_IF_ERROR(settle("other", "mailchimp", "s2", false));
    return add("hs-later", "hubspot", "s1");  // pending
  });
  ASSERT_TRUE(setup.ok()) << setup.ToString();
  auto exists = [&](const std::string& name) {
    bool found = false;
    EXPECT_TRUE(Run([&](Transaction& txn) -> Status {
                  Result<std::optional<OutboxRow>> row = txn.GetOutbox(ids[name]);
                  if (!row.ok()) return row.status();
                  found = row->has_value();
                  return Status::Ok();
                }).ok());
    return found;
  };

  // The CRM erased first: its target is settled from the start.
  ASSERT_TRUE(
      Run([](Transaction& txn) { return CreateErasureRequest(txn, CrmRequest(), kJan31); }).ok());
  EXPECT_FALSE(exists("hs-done"));
  EXPECT_TRUE(exists("hs-later"));
  EXPECT_TRUE(exists("mc-done"));
  EXPECT_TRUE(exists("mc-dead"));

  ASSERT_TRUE(Outcome("s1", "mailchimp", S::kFailed).ok());
  EXPECT_TRUE(exists("mc-done"));
  EXPECT_TRUE(exists("mc-dead"));

  ASSERT_TRUE(Run([](Transaction& txn) {
                return MarkErasureTargetManual(txn, "hs-1", "mailchimp", "by hand", kJan31);
              }).ok());
  EXPECT_FALSE(exists("mc-done"));
  EXPECT_FALSE(exists("mc-dead"));
  EXPECT_TRUE(exists("other"));
  EXPECT_TRUE(exists("hs-later"));
}

// An erasure row is retried until the target answers for good. Once the
// operator marks that target erased by hand, the row waiting for its next
// attempt goes too (it would ask again forever, the address in it); the
// person's other rows still to be sent stay.
TEST_F(StoreErasureRequestsTest, AManualMarkRemovesTheTargetsWaitingErasureRow) {
  std::int64_t erasure_row = 0;
  std::int64_t other_row = 0;
  const Status setup = Run([&](Transaction& txn) -> Status {
    OutboxRow row;
    row.target = "mailchimp";
    row.key = "s1";
    row.desired_json = R"({"email":"s1@example.org","erased":true})";
    row.idempotency_key = "erase-s1";
    row.created_at = kJan31;
    Result<std::int64_t> id = txn.Enqueue(row);
    if (!id.ok()) return id.status();
    erasure_row = *id;
    row.target = "hubspot";
    row.idempotency_key = "later-s1";
    Result<std::int64_t> other = txn.Enqueue(row);
    if (!other.ok()) return other.status();
    other_row = *other;
    ErasureRequestRecord r = CrmRequest();
    r.targets[1].outbox_id = erasure_row;
    return CreateErasureRequest(txn, std::move(r), kJan31);
  });
  ASSERT_TRUE(setup.ok()) << setup.ToString();
  auto exists = [&](std::int64_t id) {
    bool found = false;
    EXPECT_TRUE(Run([&](Transaction& txn) -> Status {
                  Result<std::optional<OutboxRow>> row = txn.GetOutbox(id);
                  if (!row.ok()) return row.status();
                  found = row->has_value();
                  return Status::Ok();
                }).ok());
    return found;
  };
  ASSERT_TRUE(exists(erasure_row));
  ASSERT_TRUE(Run([](Transaction& txn) {
                return MarkErasureTargetManual(txn, "hs-1", "mailchimp", "ticket 7", kJan31);
              }).ok());
  EXPECT_FALSE(exists(erasure_row));
  EXPECT_TRUE(exists(other_row));
}

}  // namespace
}  // namespace consentd::store
