// Records a system failed on their own (sync/read_again.h) on a real
// SQLite store, with the real engine.
#include "sync/read_again.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/keyed_hash.h"
#include "sync/hint_codec.h"
#include "sync_test_util.h"

namespace consentd::sync {
namespace {

using testing::Consent;
using testing::Record;
using testing::T;

connectors::InboundRecord NotRead(std::string event_id, std::string system_id, std::string email) {
  connectors::InboundRecord r = Record(std::move(event_id), system_id, email, {});
  r.not_read = "HubSpot statuses read: INTERNAL_ERROR: failed";
  r.read_again.system_id = std::move(system_id);
  r.read_again.email = std::move(email);
  r.read_again.hint = connectors::RecordHint::kMerged;
  r.read_again.merged_ids = {"99"};
  return r;
}

class ReadAgainTest : public testing::SyncEngineTest {
 protected:
  std::vector<PendingHint> Pending() {
    std::vector<PendingHint> out;
    Run([&](store::Transaction& txn) -> Status {
      auto r = engine_->PendingHints(txn, "hubspot", 100);
      if (!r.ok()) return r.status();
      out = std::move(*r);
      return Status::Ok();
    });
    return out;
  }
};

TEST_F(ReadAgainTest, TakeNotReadMovesOnlyTheFailedRecordsOutInOrder) {
  std::vector<connectors::InboundRecord> records = {
      Record("a", "1", "a@example.org", {}), NotRead("b", "2", "b@example.org"),
      Record("c", "3", "c@example.org", {}), NotRead("d", "4", "d@example.org")};
  const auto taken = TakeNotRead(records);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].event_id, "a");
  EXPECT_EQ(records[1].event_id, "c");
  ASSERT_EQ(taken.size(), 2u);
  EXPECT_EQ(taken[0].event_id, "b");
  EXPECT_EQ(taken[1].event_id, "d");
}

// Each becomes a pending hint of consentd's own carrying what the
// connector asked to read, its event id free of the address (a record
// known by its address only gets a random nonce there); the same read of
// a record queued twice is one hint.
TEST_F(ReadAgainTest, EachNotReadRecordBecomesAHintToReadItAgain) {
  connectors::InboundRecord by_id = NotRead("poll:2:5", "2", "b@example.org");
  by_id.read_at = T + 5;
  connectors::InboundRecord by_address = NotRead("ev-9", "", "c@example.org");
  by_address.read_at = T + 6;
  auto queue = [&](const connectors::InboundRecord& rec) {
    std::vector<std::string> ids;
    Run([&](store::Transaction& txn) -> Status {
      auto q = QueueReadsAgain(txn, "hubspot", {rec}, T + 7);
      if (!q.ok()) return q.status();
      ids = *q;
      return Status::Ok();
    });
    return ids;
  };
  const auto first = queue(by_id);
  EXPECT_EQ(queue(by_id), first);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0], std::string(kNotReadEventPrefix) + "2:" + std::to_string(T + 5));
  const auto other = queue(by_address);
  ASSERT_EQ(other.size(), 1u);
  EXPECT_TRUE(other[0].starts_with(std::string(kNotReadEventPrefix) + "address-")) << other[0];
  EXPECT_TRUE(other[0].ends_with(":" + std::to_string(T + 6))) << other[0];
  EXPECT_EQ(other[0].find("c@example.org"), std::string::npos);
  EXPECT_EQ(other[0].find(Sha256Hex("c@example.org").substr(0, 12)), std::string::npos);
  const auto pending = Pending();
  ASSERT_EQ(pending.size(), 2u) << "the same read queued twice is stored once";
  EXPECT_EQ(pending[0].ref.event_id, first[0]);
  EXPECT_EQ(pending[0].ref.system_id, "2");
  EXPECT_EQ(pending[0].ref.email, "b@example.org");
  EXPECT_EQ(pending[0].ref.hint, connectors::RecordHint::kMerged);
  EXPECT_EQ(pending[0].ref.merged_ids, std::vector<std::string>{"99"});
  EXPECT_EQ(pending[1].ref.event_id, other[0]);
  EXPECT_EQ(pending[1].ref.email, "c@example.org");
  EXPECT_TRUE(pending[1].ref.system_id.empty());
}

// The engine decides nothing of a record not read, even when a caller
// hands it one: no subject, no proof entry.
TEST_F(ReadAgainTest, TheEngineDecidesNothingOfARecordNotRead) {
  connectors::InboundRecord rec = NotRead("ev-1", "7", "n@example.org");
  rec.mapped.changes.push_back(Consent("newsletter", ConsentStatus::kWithdrawn, T + 1));
  IngestSummary summary;
  Run([&](store::Transaction& txn) -> Status {
    auto r = engine_->Ingest(txn, "hubspot", {rec}, T + 2);
    if (!r.ok()) return r.status();
    summary = std::move(*r);
    return Status::Ok();
  });
  EXPECT_EQ(summary.proof_entries, 0u);
  EXPECT_TRUE(summary.notes.empty());
  Run([&](store::Transaction& txn) -> Status {
    auto s = txn.FindSubjectBySystemId("hubspot", "7");
    if (!s.ok()) return s.status();
    EXPECT_FALSE(s->has_value());
    return Status::Ok();
  });
}

}  // namespace
}  // namespace consentd::sync
