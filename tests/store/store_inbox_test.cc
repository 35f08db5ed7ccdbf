// The inbox in arrival order with a compact dedupe key (schema v9,
// store/inbox_key.h): retries are still recognised, a key collision is
// never taken for a retry, and rows written before v9 keep their meaning.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "store/inbox_key.h"
#include "store/sqlite_migrations.h"
#include "store_test_util.h"

namespace consentd::store {
namespace {

using testing::OpenOrDie;
using testing::TempDir;

std::unique_ptr<Db> OpenDb(const std::string& path) {
  Result<std::unique_ptr<Db>> db = Db::Open(path, nullptr);
  EXPECT_TRUE(db.ok()) << db.status().ToString();
  return db.ok() ? std::move(*db) : nullptr;
}

TEST(StoreInbox, DedupeKeyIsTheFirstEightBytesOfTheSha256) {
  // Part of the database format: these values must never change
  // (computed independently: SHA-256(source || 0x00 || event_id)[0..8]).
  EXPECT_EQ(InboxDedupeKey("hubspot", "e-1"), -5312292191102588132LL);
  EXPECT_EQ(InboxDedupeKey("mailchimp", "mc:abc"), -8952302597614599112LL);
  EXPECT_NE(InboxDedupeKey("hub", "spote-1"), InboxDedupeKey("hubspot", "e-1"));
}

TEST(StoreInbox, DedupeKeyCollisionIsNotTakenForARetry) {
  TempDir dir;
  {
    auto store = OpenOrDie(dir.File("s.db"));
    ASSERT_NE(store, nullptr);
  }
  {
    // Another event that happens to share e-1's key.
    auto db = OpenDb(dir.File("s.db"));
    ASSERT_TRUE(db->Exec("INSERT INTO inbox (source, event_id, dedupe_key, received_at) "
                         "VALUES ('hubspot', 'other', " +
                         std::to_string(InboxDedupeKey("hubspot", "e-1")) + ", 5)")
                    .ok());
  }
  auto store = OpenOrDie(dir.File("s.db"));
  ASSERT_NE(store, nullptr);
  Status s = store->Run([](Transaction& txn) -> Status {
    Result<bool> fresh = txn.InsertInbox(testing::Event("hubspot", "e-1", 10));
    if (!fresh.ok()) return fresh.status();
    EXPECT_TRUE(*fresh) << "a key collision was taken for a retry";
    fresh = txn.InsertInbox(testing::Event("hubspot", "e-1", 20));
    if (!fresh.ok()) return fresh.status();
    EXPECT_FALSE(*fresh) << "the retry was stored twice";
    // Marking one of the two leaves the other unprocessed.
    CONSENTD_RETURN_IF_ERROR(txn.MarkInboxProcessed("hubspot", "e-1", 30));
    Result<std::vector<InboxRow>> left = txn.ListUnprocessedInbox("hubspot", 10);
    if (!left.ok()) return left.status();
    EXPECT_EQ(left->size(), 1u);
    if (!left->empty()) {
      EXPECT_EQ(left->front().event_id, "other");
    }
    return Status::Ok();
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
}

// A processed hint keeps its event id (a retry is still a duplicate) but
// not its payload, which may hold an address: nothing reads it any more.
TEST(StoreInbox, ProcessingAHintClearsItsPayloadAndKeepsItsId) {
  TempDir dir;
  {
    auto store = OpenOrDie(dir.File("s.db"));
    ASSERT_NE(store, nullptr);
    Status s = store->Run([](Transaction& txn) -> Status {
      InboxRow row{"mailchimp", "mc:1", 10, "h2:eve@example.com"};
      Result<bool> fresh = txn.InsertInbox(row);
      if (!fresh.ok()) return fresh.status();
      EXPECT_TRUE(*fresh);
      CONSENTD_RETURN_IF_ERROR(txn.MarkInboxProcessed("mailchimp", "mc:1", 20));
      fresh = txn.InsertInbox(row);
      if (!fresh.ok()) return fresh.status();
      EXPECT_FALSE(*fresh) << "a retry of a processed hint was stored again";
      return Status::Ok();
    });
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  auto db = OpenDb(dir.File("s.db"));
  ASSERT_NE(db, nullptr);
  Result<std::int64_t> rows = db->QueryInt("SELECT count(*) FROM inbox WHERE event_id = 'mc:1'");
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  EXPECT_EQ(*rows, 1);
  Result<std::string> payload = db->QueryText("SELECT payload FROM inbox WHERE event_id = 'mc:1'");
  ASSERT_TRUE(payload.ok()) << payload.status().ToString();
  EXPECT_EQ(*payload, "");
}

// A database written by the v8 binary (WITHOUT ROWID inbox keyed by the
// text): after v9 every row is still there with its state and payload,
// its retry is still a duplicate, and pruning still keeps unread hints.
TEST(StoreInbox, MigrationToV9KeepsRowsStateAndDedupe) {
  TempDir dir;
  {
    auto db = OpenDb(dir.File("old.db"));
    ASSERT_TRUE(MigrateTo(*db, 8, 1).ok());
    ASSERT_TRUE(db->Exec("INSERT INTO inbox (source, event_id, received_at, payload, "
                         "processed_at) VALUES "
                         "('hubspot', 'late', 30, '{\"hint\":\"changed\"}', NULL), "
                         "('hubspot', 'early', 10, '{\"hint\":\"deleted\"}', NULL), "
                         "('hubspot', 'done', 20, '', 25), "
                         "('mailchimp', 'mc:1', 15, 'p', NULL)")
                    .ok());
  }
  auto store = OpenOrDie(dir.File("old.db"));
  ASSERT_NE(store, nullptr);
  Status s = store->Run([](Transaction& txn) -> Status {
    for (const char* id : {"late", "early", "done"}) {
      Result<bool> fresh = txn.InsertInbox(testing::Event("hubspot", id, 40));
      if (!fresh.ok()) return fresh.status();
      EXPECT_FALSE(*fresh) << id << " was accepted again after the migration";
    }
    Result<bool> fresh = txn.InsertInbox(testing::Event("hubspot", "mc:1", 40));
    if (!fresh.ok()) return fresh.status();
    EXPECT_TRUE(*fresh) << "dedupe must stay per source";
    Result<std::vector<InboxRow>> pending = txn.ListUnprocessedInbox("hubspot", 10);
    if (!pending.ok()) return pending.status();
    std::vector<std::string> ids;
    for (const InboxRow& r : *pending)
      ids.push_back(r.event_id + "@" + std::to_string(r.received_at));
    EXPECT_EQ(ids, (std::vector<std::string>{"early@10", "late@30", "mc:1@40"}));
    if (!pending->empty()) {
      EXPECT_EQ(pending->front().payload, "{\"hint\":\"deleted\"}");
    }
    // Only the processed row is old enough and read: unread hints stay.
    Result<std::int64_t> pruned = txn.PruneInbox(100);
    if (!pruned.ok()) return pruned.status();
    EXPECT_EQ(*pruned, 1);
    CONSENTD_RETURN_IF_ERROR(txn.MarkInboxProcessed("hubspot", "early", 50));
    pending = txn.ListUnprocessedInbox("hubspot", 10);
    if (!pending.ok()) return pending.status();
    EXPECT_EQ(pending->size(), 2u);
    return Status::Ok();
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  store.reset();
  auto db = OpenDb(dir.File("old.db"));
  // The SQL function exists where MigrateTo registered it; not on a plain Db.
  ASSERT_TRUE(RegisterInboxKeyFunction(db->raw()).ok());
  Result<std::int64_t> wrong = db->QueryInt(
      "SELECT count(*) FROM inbox WHERE dedupe_key <> consentd_inbox_key(source, event_id)");
  ASSERT_TRUE(wrong.ok()) << wrong.status().ToString();
  EXPECT_EQ(*wrong, 0);
}

}  // namespace
}  // namespace consentd::store
