// RecordDeliveries: the outcome of each claimed outbox row becomes its
// outbox status and, when final, a proof-log entry (sync/sync_engine.h).
#include <gtest/gtest.h>

#include "sync_test_util.h"

namespace consentd::sync {
namespace {

using testing::Consent;
using testing::Record;
using testing::SyncEngineTest;
using testing::T;

class SyncDeliveriesTest : public SyncEngineTest {
 protected:
  // One pending mailchimp row per person, claimed.
  std::vector<store::OutboxRow> ClaimRows(int people, TimestampMs now) {
    for (int i = 1; i <= people; ++i) {
      const std::string n = std::to_string(i);
      Ingest("hubspot",
             {Record("ev-" + n, "10" + n, "p" + n + "@example.org",
                     {Consent("newsletter", ConsentStatus::kGranted, T)})},
             T + 100);
    }
    return Claim(now);
  }
  std::vector<store::OutboxRow> Claim(TimestampMs now) {
    std::vector<store::OutboxRow> rows;
    Run([&](store::Transaction& txn) -> Status {
      auto r = txn.ClaimOutbox("mailchimp", now, 10, now + 60'000);
      if (!r.ok()) return r.status();
      rows = *r;
      return Status::Ok();
    });
    return rows;
  }
  IngestSummary Deliver(const std::vector<store::OutboxRow>& rows,
                        const std::vector<connectors::DeliveryResult>& results,
                        const std::map<std::int64_t, TimestampMs>& retry_at, int max_attempts,
                        TimestampMs now) {
    IngestSummary out;
    Run([&](store::Transaction& txn) -> Status {
      auto r =
          engine_->RecordDeliveries(txn, "mailchimp", rows, results, retry_at, max_attempts, now);
      if (!r.ok()) return r.status();
      out = *r;
      return Status::Ok();
    });
    return out;
  }
  store::OutboxRow Row(std::int64_t id) {
    store::OutboxRow row;
    Run([&](store::Transaction& txn) -> Status {
      auto r = txn.GetOutbox(id);
      if (!r.ok()) return r.status();
      EXPECT_TRUE(r->has_value());
      if (r->has_value()) row = **r;
      return Status::Ok();
    });
    return row;
  }
  std::string Entry(std::uint64_t sequence) {
    std::string bytes;
    Run([&](store::Transaction& txn) -> Status {
      auto r = store::ReadProofEntry(txn, sequence);
      if (!r.ok()) return r.status();
      bytes = *r;
      return Status::Ok();
    });
    return bytes;
  }
};

connectors::DeliveryResult Delivery(std::int64_t id, Status status,
                                    connectors::ErrorClass error_class) {
  connectors::DeliveryResult r;
  r.outbox_id = id;
  r.status = std::move(status);
  r.error_class = error_class;
  return r;
}

// A row on its way while its person is merged into another: the member it
// created belongs to the survivor, not to the merged-away subject (which
// has no identity left; a later report about the member would otherwise
// split the person again).
TEST_F(SyncDeliveriesTest, ARecordWrittenForAPersonMergedMeanwhileIsLinkedToTheSurvivor) {
  Ingest("hubspot",
         {Record("ev-1", "101", "anna@example.org",
                 {Consent("newsletter", ConsentStatus::kGranted, T)})},
         T + 100);
  Ingest("hubspot",
         {Record("ev-2", "102", "anna.b@example.org",
                 {Consent("newsletter", ConsentStatus::kGranted, T)})},
         T + 100);
  const std::string survivor = SubjectOf("hubspot", "101");
  const std::string merged = SubjectOf("hubspot", "102");
  std::vector<store::OutboxRow> rows = Claim(T + 200);
  ASSERT_EQ(rows.size(), 2u);
  connectors::InboundRecord merge = Record("ev-3", "101", "anna@example.org", {});
  merge.merged_ids = {"102"};
  Ingest("hubspot", {merge}, T + 300);
  ASSERT_EQ(SubjectOf("hubspot", "102"), survivor);

  std::vector<connectors::DeliveryResult> results;
  for (const store::OutboxRow& row : rows) {
    connectors::DeliveryResult ok = Delivery(row.id, Status::Ok(), {});
    ok.system_id = row.key == merged ? "mc-b" : "mc-a";
    results.push_back(ok);
  }
  Deliver(rows, results, {}, 5, T + 400);
  EXPECT_EQ(SubjectOf("mailchimp", "mc-a"), survivor);
  EXPECT_EQ(SubjectOf("mailchimp", "mc-b"), survivor) << "not the merged-away " << merged;
}

TEST_F(SyncDeliveriesTest, OutcomesBecomeDoneRetryDeadOrBlockedWithProofEntries) {
  const auto rows = ClaimRows(4, T + 200);
  ASSERT_EQ(rows.size(), 4u);
  connectors::DeliveryResult ok = Delivery(rows[0].id, Status::Ok(), {});
  ok.system_id = "mc-1";
  const std::vector<connectors::DeliveryResult> results = {
      ok,
      Delivery(rows[1].id, Unavailable("HTTP 503"), connectors::ErrorClass::kRetryable),
      Delivery(rows[2].id, InvalidArgument("HTTP 400: invalid resource"),
               connectors::ErrorClass::kPermanent),
      Delivery(rows[3].id, BlockedByTarget("member was permanently deleted"),
               connectors::ErrorClass::kBlockedByTarget),
  };
  const std::uint64_t before = ProofSize();
  IngestSummary s = Deliver(rows, results, {{rows[1].id, T + 5000}}, 5, T + 300);
  EXPECT_EQ(s.records, 4);
  EXPECT_EQ(s.proof_entries, 3u) << "a retry is not an outcome yet";
  EXPECT_EQ(ProofSize(), before + 3);

  EXPECT_EQ(Row(rows[0].id).status, store::OutboxStatus::kDone);
  EXPECT_EQ(SubjectOf("mailchimp", "mc-1"), rows[0].key);
  const store::OutboxRow retry = Row(rows[1].id);
  EXPECT_EQ(retry.status, store::OutboxStatus::kPending);
  EXPECT_EQ(retry.next_attempt_at, T + 5000);
  EXPECT_NE(retry.reason.find("503"), std::string::npos);
  const store::OutboxRow dead = Row(rows[2].id);
  EXPECT_EQ(dead.status, store::OutboxStatus::kDead);
  EXPECT_NE(dead.reason.find("400"), std::string::npos);
  const store::OutboxRow blocked = Row(rows[3].id);
  EXPECT_EQ(blocked.status, store::OutboxStatus::kDead);
  EXPECT_EQ(blocked.reason.rfind("blocked_by_target: ", 0), 0u) << blocked.reason;

  const std::string propagated = Entry(before);
  const std::string rejected = Entry(before + 1);
  const std::string refused = Entry(before + 2);
  EXPECT_NE(propagated.find("\"propagated\""), std::string::npos) << propagated;
  EXPECT_NE(rejected.find("\"rejected\""), std::string::npos) << rejected;
  EXPECT_NE(refused.find("\"blocked_by_target\""), std::string::npos) << refused;
  for (const std::string& e : {propagated, rejected, refused}) {
    EXPECT_EQ(e.find("@example.org"), std::string::npos) << "no address in the log: " << e;
  }
}

TEST_F(SyncDeliveriesTest, RetryableFailureAtMaxAttemptsIsDeadWithARejectedEntry) {
  auto rows = ClaimRows(1, T + 200);
  ASSERT_EQ(rows.size(), 1u);
  Deliver(rows, {Delivery(rows[0].id, Unavailable("timeout"), connectors::ErrorClass::kRetryable)},
          {}, 2, T + 300);
  EXPECT_EQ(Row(rows[0].id).status, store::OutboxStatus::kPending);
  rows = Claim(T + 400);  // due again (retry_at defaulted to now), attempt 2
  ASSERT_EQ(rows.size(), 1u);
  ASSERT_EQ(rows[0].attempts, 2);
  IngestSummary s = Deliver(
      rows, {Delivery(rows[0].id, Unavailable("timeout"), connectors::ErrorClass::kRetryable)}, {},
      2, T + 500);
  EXPECT_EQ(s.proof_entries, 1u);
  const store::OutboxRow dead = Row(rows[0].id);
  EXPECT_EQ(dead.status, store::OutboxStatus::kDead);
  EXPECT_NE(dead.reason.find("retries exhausted"), std::string::npos) << dead.reason;
}

TEST_F(SyncDeliveriesTest, ResultForARowThatMovedOnIsIgnored) {
  const auto rows = ClaimRows(1, T + 200);
  ASSERT_EQ(rows.size(), 1u);
  Deliver(rows, {Delivery(rows[0].id, Status::Ok(), {})}, {}, 3, T + 300);
  // The same result again (a duplicate report): the row is done already.
  IngestSummary s = Deliver(rows, {Delivery(rows[0].id, Status::Ok(), {})}, {}, 3, T + 400);
  EXPECT_EQ(s.proof_entries, 0u);
  EXPECT_EQ(Row(rows[0].id).status, store::OutboxStatus::kDone);
}

}  // namespace
}  // namespace consentd::sync
