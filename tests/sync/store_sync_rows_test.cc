// The store calls the sync engine added (store/store.h): unprocessed inbox
// hints, latest echo write, erased subjects and target deletions.
#include <gtest/gtest.h>

#include "../store/store_test_util.h"

namespace consentd::store {
namespace {

using testing::OpenOrDie;
using testing::TempDir;

class StoreSyncRowsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = OpenOrDie(dir_.File("s.db"));
    ASSERT_NE(store_, nullptr);
  }
  void Run(const std::function<Status(Transaction&)>& work) {
    Status s = store_->Run(work);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  TempDir dir_;
  std::unique_ptr<SqliteStore> store_;
};

TEST_F(StoreSyncRowsTest, UnprocessedInboxIsPerSourceOldestFirstUntilMarked) {
  Run([](Transaction& txn) -> Status {
    for (const InboxRow& row :
         {InboxRow{"hubspot", "b", 20, "pb"}, InboxRow{"hubspot", "a", 10, "pa"},
          InboxRow{"mailchimp", "c", 5, "pc"}, InboxRow{"hubspot", "d", 30, "pd"}}) {
      if (auto r = txn.InsertInbox(row); !r.ok()) return r.status();
    }
    auto rows = txn.ListUnprocessedInbox("hubspot", 2);
    if (!rows.ok()) return rows.status();
    EXPECT_EQ(rows->size(), 2u);
    if (rows->size() == 2) {
      EXPECT_EQ((*rows)[0].event_id, "a");
      EXPECT_EQ((*rows)[0].payload, "pa");
      EXPECT_EQ((*rows)[1].event_id, "b");
    }
    CONSENTD_RETURN_IF_ERROR(txn.MarkInboxProcessed("hubspot", "a", 40));
    CONSENTD_RETURN_IF_ERROR(txn.MarkInboxProcessed("hubspot", "a", 50));  // idempotent
    CONSENTD_RETURN_IF_ERROR(txn.MarkInboxProcessed("hubspot", "missing", 50));
    rows = txn.ListUnprocessedInbox("hubspot", 10);
    if (!rows.ok()) return rows.status();
    EXPECT_EQ(rows->size(), 2u);
    if (!rows->empty()) {
      EXPECT_EQ(rows->front().event_id, "b");
    }
    auto fresh = txn.InsertInbox({"hubspot", "a", 60, ""});
    if (!fresh.ok()) return fresh.status();
    EXPECT_FALSE(*fresh) << "a processed hint still deduplicates";
    return Status::Ok();
  });
}

TEST_F(StoreSyncRowsTest, LatestWriteIsTheNewestValueUntilForgotten) {
  Run([](Transaction& txn) -> Status {
    CONSENTD_RETURN_IF_ERROR(txn.RememberWrite({"mailchimp", "k", "granted", 10}));
    CONSENTD_RETURN_IF_ERROR(txn.RememberWrite({"mailchimp", "k", "withdrawn", 20}));
    CONSENTD_RETURN_IF_ERROR(txn.RememberWrite({"hubspot", "k", "refused", 30}));
    auto latest = txn.FindLatestWrite("mailchimp", "k");
    if (!latest.ok()) return latest.status();
    EXPECT_TRUE(latest->has_value());
    if (latest->has_value()) {
      EXPECT_EQ((*latest)->value, "withdrawn");
      EXPECT_EQ((*latest)->written_at, 20);
    }
    CONSENTD_RETURN_IF_ERROR(txn.ForgetWrites("mailchimp", "k"));
    latest = txn.FindLatestWrite("mailchimp", "k");
    if (!latest.ok()) return latest.status();
    EXPECT_FALSE(latest->has_value());
    auto other = txn.FindLatestWrite("hubspot", "k");
    if (!other.ok()) return other.status();
    EXPECT_TRUE(other->has_value()) << "only (system, key) is forgotten";
    return Status::Ok();
  });
}

TEST_F(StoreSyncRowsTest, ErasedMarkerOutlivesEraseSubjectAndTargetDeletionsDoNot) {
  Run([](Transaction& txn) -> Status {
    CONSENTD_RETURN_IF_ERROR(txn.RecordTargetDeletion("s-1", "mailchimp", 50, 60));
    CONSENTD_RETURN_IF_ERROR(txn.RecordTargetDeletion("s-1", "mailchimp", 70, 55));
    auto deleted = txn.ListTargetDeletions("s-1");
    if (!deleted.ok()) return deleted.status();
    EXPECT_EQ(*deleted, (std::vector<std::pair<std::string, TimestampMs>>{{"mailchimp", 50}}))
        << "the earliest report is kept";
    auto decided = txn.TargetDeletionRecordedAt("s-1", "mailchimp");
    if (!decided.ok()) return decided.status();
    EXPECT_EQ(*decided, std::optional<TimestampMs>(55)) << "and the earliest decision";
    decided = txn.TargetDeletionRecordedAt("s-1", "hubspot");
    if (!decided.ok()) return decided.status();
    EXPECT_FALSE(decided->has_value());
    CONSENTD_RETURN_IF_ERROR(txn.EraseSubject("s-1"));
    CONSENTD_RETURN_IF_ERROR(txn.MarkSubjectErased("s-1", 100));
    deleted = txn.ListTargetDeletions("s-1");
    if (!deleted.ok()) return deleted.status();
    EXPECT_TRUE(deleted->empty());
    auto erased = txn.FindSubjectErased("s-1");
    if (!erased.ok()) return erased.status();
    EXPECT_EQ(*erased, std::optional<TimestampMs>(100));
    auto other = txn.FindSubjectErased("s-2");
    if (!other.ok()) return other.status();
    EXPECT_FALSE(other->has_value());
    return Status::Ok();
  });
}

}  // namespace
}  // namespace consentd::store
