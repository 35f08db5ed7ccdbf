// The erasure ledger's replay (sync/ledger_replay.h) on a real store with
// the real sync engine: what a database restored from a backup gets back
// of the erasures made since.
#include "sync/ledger_replay.h"

#include <gtest/gtest.h>

#include "store/erasure_ledger.h"
#include "store/erasure_requests.h"
#include "tests/sync/sync_test_util.h"

namespace consentd::sync::testing {
namespace {

using Kind = store::LedgerRecord::Kind;

class LedgerReplayTest : public SyncEngineTest {
 protected:
  LedgerReplayOutcome Replay(const std::vector<store::LedgerRecord>& records, TimestampMs now) {
    LedgerReplayOutcome out;
    Run([&](store::Transaction& txn) -> Status {
      Result<LedgerReplayOutcome> r = ReapplyLedger(txn, *engine_, records, now);
      if (!r.ok()) return r.status();
      out = std::move(*r);
      return Status::Ok();
    });
    return out;
  }

  std::optional<TimestampMs> ErasedAt(const std::string& subject) {
    std::optional<TimestampMs> at;
    Run([&](store::Transaction& txn) -> Status {
      Result<std::optional<TimestampMs>> r = txn.FindSubjectErased(subject);
      if (!r.ok()) return r.status();
      at = *r;
      return Status::Ok();
    });
    return at;
  }

  std::optional<TimestampMs> TombstoneAt(const std::string& hash) {
    std::optional<TimestampMs> at;
    Run([&](store::Transaction& txn) -> Status {
      Result<std::optional<store::TombstoneRow>> r = txn.FindTombstone(hash);
      if (!r.ok()) return r.status();
      if (r->has_value()) at = (*r)->erased_at;
      return Status::Ok();
    });
    return at;
  }

  // Anna, granted the newsletter in HubSpot (contact 101) at T.
  std::string Anna() {
    Ingest("hubspot",
           {Record("ev-1", "101", "anna@example.org",
                   {Consent("newsletter", ConsentStatus::kGranted, T)})},
           T + 100);
    return SubjectOf("hubspot", "101");
  }
};

TEST_F(LedgerReplayTest, ASubjectErasedAfterTheBackupIsErasedAgainAtTheLedgersTime) {
  const std::string anna = Anna();
  ASSERT_FALSE(anna.empty());
  const TimestampMs erased = T + 1'000;
  const TimestampMs now = T + 60'000;
  LedgerReplayOutcome out =
      Replay({{Kind::kSubject, anna, erased},
              {Kind::kTombstone, "hash-of-someone-the-backup-never-had", T + 500}},
             now);
  EXPECT_EQ(out.erased, std::vector<std::string>{anna});
  EXPECT_EQ(out.tombstones_restored, 1);
  EXPECT_EQ(ErasedAt(anna), std::optional<TimestampMs>(erased));
  EXPECT_TRUE(Consents(anna).empty());
  EXPECT_EQ(TombstoneAt("hash-of-someone-the-backup-never-had"),
            std::optional<TimestampMs>(T + 500));
  // The request says where it came from, and asks Mailchimp again.
  Run([&](store::Transaction& txn) -> Status {
    auto r = store::GetErasureRequest(txn, "erasure-" + anna + "-" + std::to_string(now));
    if (!r.ok()) return r.status();
    EXPECT_TRUE(r->has_value());
    if (r->has_value()) {
      EXPECT_NE((*r)->requested_by.find("the erasure ledger (erased "), std::string::npos);
      EXPECT_EQ((*r)->source, "admin");
    }
    return Status::Ok();
  });
  EXPECT_GT(out.summary.enqueued["mailchimp"] + out.summary.enqueued["hubspot"], 0);

  // Dated at the ledger's time: Anna signing up again after it (before the
  // restore) is a new person, not dropped as erased.
  IngestSummary again =
      Ingest("mailchimp",
             {Record("mc-ev-9", "mc-9", "anna@example.org",
                     {Consent("newsletter", ConsentStatus::kGranted, T + 5'000, "mailchimp")})},
             now + 100);
  EXPECT_EQ(again.outcomes[Outcome::kApplied], 1);
  const std::string new_anna = SubjectOf("mailchimp", "mc-9");
  EXPECT_FALSE(new_anna.empty());
  EXPECT_NE(new_anna, anna);
}

TEST_F(LedgerReplayTest, ASubjectWithNoAddressIsErasedThroughItsRecord) {
  Ingest("hubspot",
         {Record("ev-2", "202", "", {Consent("newsletter", ConsentStatus::kGranted, T)})}, T + 100);
  const std::string nameless = SubjectOf("hubspot", "202");
  ASSERT_FALSE(nameless.empty());
  LedgerReplayOutcome out = Replay({{Kind::kSubject, nameless, T + 1'000}}, T + 60'000);
  EXPECT_TRUE(out.erased.empty());
  ASSERT_EQ(out.erased_without_address.size(), 1u);
  EXPECT_EQ(out.erased_without_address[0].subject, nameless);
  EXPECT_EQ(out.erased_without_address[0].system, "hubspot");
  EXPECT_EQ(out.erased_without_address[0].system_id, "202");
  EXPECT_EQ(ErasedAt(nameless), std::optional<TimestampMs>(T + 1'000));
  EXPECT_TRUE(Consents(nameless).empty());
}

// A subject whose address link went to another (its address is now that
// person's CRM address) and whose only record was retired since (deleted
// at its system) still holds state and an evidence key in a restored
// database: it is erased through that retired record, not skipped without
// a word.
TEST_F(LedgerReplayTest, ASubjectWithOnlyARetiredRecordIsErasedThroughIt) {
  const std::string anna = Anna();
  Ingest("mailchimp",
         {Record("mc-ev-5", "mc-5", "bea@example.org",
                 {Consent("newsletter", ConsentStatus::kGranted, T + 100, "mailchimp")})},
         T + 200);
  const std::string bea = SubjectOf("mailchimp", "mc-5");
  ASSERT_FALSE(bea.empty());
  ASSERT_NE(bea, anna);
  // HubSpot's contact takes Bea's address: the address link moves to Anna.
  Ingest("hubspot",
         {Record("ev-6", "101", "bea@example.org",
                 {Consent("newsletter", ConsentStatus::kGranted, T + 300)})},
         T + 400);
  ASSERT_EQ(SubjectOf("hubspot", "101"), anna);
  Run([&](store::Transaction& txn) -> Status {
    return txn.RetireSystemId("mailchimp", "mc-5", T + 500);
  });
  ASSERT_FALSE(Consents(bea).empty());
  LedgerReplayOutcome out = Replay({{Kind::kSubject, bea, T + 1'000}}, T + 60'000);
  EXPECT_TRUE(out.not_erased.empty());
  ASSERT_EQ(out.erased_without_address.size(), 1u);
  EXPECT_EQ(out.erased_without_address[0].system, "mailchimp");
  EXPECT_EQ(out.erased_without_address[0].system_id, "mc-5");
  EXPECT_EQ(ErasedAt(bea), std::optional<TimestampMs>(T + 1'000));
  EXPECT_TRUE(Consents(bea).empty());
  EXPECT_FALSE(ErasedAt(anna).has_value());
}

TEST_F(LedgerReplayTest, ATombstoneTheLedgerHasAtALaterTimeIsMovedToIt) {
  Run([](store::Transaction& txn) -> Status { return txn.AddTombstone({"h-1", T}); });
  LedgerReplayOutcome out = Replay(
      {{Kind::kTombstone, "h-1", T + 9'000}, {Kind::kTombstone, "h-1", T + 4'000}}, T + 60'000);
  EXPECT_EQ(out.tombstones_restored, 1);
  EXPECT_EQ(TombstoneAt("h-1"), std::optional<TimestampMs>(T + 9'000));
}

TEST_F(LedgerReplayTest, ErasedUnknownAndRepeatedSubjectsAreLeftAlone) {
  const std::string anna = Anna();
  Ingest("hubspot", {Record("ev-3", "101", "anna@example.org", {Erasure(T + 1'000)})}, T + 1'100);
  ASSERT_TRUE(ErasedAt(anna).has_value());
  LedgerReplayOutcome out = Replay({{Kind::kSubject, anna, T + 1'000},
                                    {Kind::kSubject, "s-00000000000000ff", T + 1'000},
                                    {Kind::kSubject, anna, T + 2'000}},
                                   T + 60'000);
  EXPECT_TRUE(out.erased.empty());
  EXPECT_EQ(out.tombstones_restored, 0);
  EXPECT_TRUE(out.summary.enqueued.empty());
}

TEST_F(LedgerReplayTest, ErasuresTheLedgerLacksAreFoundForItAndThenNoMore) {
  // Anna erased before the store kept a ledger (an older version).
  const std::string anna = Anna();
  Ingest("hubspot", {Record("ev-3", "101", "anna@example.org", {Erasure(T + 1'000)})}, T + 1'100);

  LedgerReplayOutcome first = Replay({}, T + 60'000);
  const std::vector<store::LedgerRecord>& missing = first.missing_from_ledger;
  ASSERT_GE(missing.size(), 2u);  // her pseudonym and at least one tombstone
  EXPECT_EQ(missing.front(), (store::LedgerRecord{Kind::kSubject, anna, T + 1'000}));
  for (std::size_t i = 1; i < missing.size(); ++i) {
    EXPECT_EQ(missing[i].kind, Kind::kTombstone);
    EXPECT_EQ(TombstoneAt(missing[i].value), std::optional<TimestampMs>(T + 1'000));
  }
  EXPECT_TRUE(first.erased.empty());
  EXPECT_EQ(first.tombstones_restored, 0);

  // The daemon appends them once the unit has committed; the next start
  // finds nothing missing.
  const std::string path = dir_.File("erasures.ledger");
  ASSERT_TRUE(store::AppendToLedger(path, missing).ok());
  Result<std::vector<store::LedgerRecord>> ledger = store::ReadLedger(path);
  ASSERT_TRUE(ledger.ok()) << ledger.status().ToString();
  LedgerReplayOutcome second = Replay(*ledger, T + 70'000);
  EXPECT_TRUE(second.missing_from_ledger.empty());
  EXPECT_TRUE(second.erased.empty());
}

// Not the ledger's own: a person erased once who signed up again is a new
// subject, and erasing that one must work like any erasure (the old
// tombstone of the same address must not make it "already erased").
TEST_F(LedgerReplayTest, APersonWhoSignedUpAgainAfterAnErasureCanBeErasedAgain) {
  const std::string anna = Anna();
  Ingest("hubspot", {Record("ev-3", "101", "anna@example.org", {Erasure(T + 1'000)})}, T + 1'100);
  Ingest("mailchimp",
         {Record("mc-ev-9", "mc-9", "anna@example.org",
                 {Consent("newsletter", ConsentStatus::kGranted, T + 5'000, "mailchimp")})},
         T + 5'100);
  const std::string again = SubjectOf("mailchimp", "mc-9");
  ASSERT_FALSE(again.empty());
  ASSERT_NE(again, anna);
  IngestSummary erased = Ingest("admin",
                                {AdminErasureRecord(again, "anna@example.org", T + 10'000, "test",
                                                    engine_->mapping_hash(), T + 10'000)},
                                T + 10'000);
  EXPECT_EQ(erased.outcomes[Outcome::kApplied], 1);
  EXPECT_EQ(ErasedAt(again), std::optional<TimestampMs>(T + 10'000));
  EXPECT_TRUE(Consents(again).empty());
}

// The same for a privacy deletion from the CRM of the new contact she made
// when she signed up again: that record was never erased.
TEST_F(LedgerReplayTest, ACrmPrivacyDeletionOfTheNewContactOfAPersonErasedBeforeErasesThem) {
  const std::string anna = Anna();
  Ingest("hubspot", {Record("ev-3", "101", "anna@example.org", {Erasure(T + 1'000)})}, T + 1'100);
  Ingest("hubspot",
         {Record("ev-5", "301", "anna@example.org",
                 {Consent("newsletter", ConsentStatus::kGranted, T + 5'000)})},
         T + 5'100);
  const std::string again = SubjectOf("hubspot", "301");
  ASSERT_FALSE(again.empty());
  ASSERT_NE(again, anna);
  // A late report about the first contact (erased then) does not touch the
  // new subject: every identifier of that record is erased.
  IngestSummary late = Ingest(
      "hubspot", {Record("ev-6", "101", "anna@example.org", {Erasure(T + 8'000)})}, T + 8'100);
  EXPECT_EQ(late.outcomes[Outcome::kDroppedErased], 1);
  EXPECT_FALSE(ErasedAt(again).has_value());
  EXPECT_FALSE(Consents(again).empty());
  IngestSummary erased = Ingest(
      "hubspot", {Record("ev-7", "301", "anna@example.org", {Erasure(T + 10'000)})}, T + 10'100);
  EXPECT_EQ(erased.outcomes[Outcome::kApplied], 1);
  EXPECT_EQ(ErasedAt(again), std::optional<TimestampMs>(T + 10'000));
}

}  // namespace
}  // namespace consentd::sync::testing
