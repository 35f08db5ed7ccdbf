// A merge of the recent inbox keys in key-range slices, each its own
// transaction with other work let through between them (store/inbox_keys.h):
// dedupe stays exact between the slices and after the last one, also for
// rows that reuse the ids of pruned rows, from this connection or another.
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "store/inbox_key.h"
#include "store/inbox_keys.h"
#include "store/sqlite_migrations.h"
#include "store/sqlite_transaction.h"
#include "store_test_util.h"

namespace consentd::store {
namespace {

using testing::TempDir;

constexpr char kSource[] = "mailchimp";

// One connection with its recent keys, as a store thread holds them.
struct Conn {
  explicit Conn(const std::string& path) {
    Result<std::unique_ptr<Db>> opened = Db::Open(path, nullptr);
    EXPECT_TRUE(opened.ok()) << opened.status().ToString();
    if (opened.ok()) db = std::move(*opened);
  }

  // One write transaction, as a batch of the store thread runs it.
  Status Batch(const std::function<Status(SqliteTransaction&)>& work) {
    CONSENTD_RETURN_IF_ERROR(db->Exec("BEGIN IMMEDIATE"));
    Status s = keys.Refresh(*db);
    if (s.ok()) {
      SqliteTransaction txn(*db, keys, tombstones);
      s = work(txn);
    }
    if (s.ok()) s = db->Exec("COMMIT");
    if (!s.ok() && db->InTransaction()) (void)db->Exec("ROLLBACK");
    return s;
  }

  Status Insert(const std::vector<std::string>& ids, TimestampMs at = 10) {
    return Batch([&](SqliteTransaction& txn) -> Status {
      for (const std::string& id : ids) {
        Result<bool> fresh = txn.InsertInbox(testing::Event(kSource, id, at));
        if (!fresh.ok()) return fresh.status();
        if (!*fresh) return Internal(id + " was taken for a duplicate");
      }
      return Status::Ok();
    });
  }

  // How many of `ids` are taken for retries; nothing is written.
  int Duplicates(const std::vector<std::string>& ids) {
    int dup = 0;
    Status s = Batch([&](SqliteTransaction& txn) -> Status {
      for (const std::string& id : ids) {
        Result<bool> fresh = txn.InsertInbox(testing::Event(kSource, id, 99));
        if (!fresh.ok()) return fresh.status();
        if (!*fresh) ++dup;
      }
      return FailedPrecondition("probe only: roll back");
    });
    EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
    return dup;
  }

  std::int64_t Count(const std::string& sql) {
    Result<std::int64_t> n = db->QueryInt(sql);
    EXPECT_TRUE(n.ok()) << n.status().ToString();
    return n.ok() ? *n : -1;
  }

  std::unique_ptr<Db> db;
  InboxKeys keys;
  TombstoneCounter tombstones;
};

std::vector<std::string> Ids(const std::string& prefix, int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(prefix + std::to_string(i));
  return out;
}

// `n` event ids whose keys fall in the first of two slices (the lower half
// of the key space, as signed keys: below -1).
std::vector<std::string> IdsInFirstHalf(const std::string& prefix, int n) {
  std::vector<std::string> out;
  for (int i = 0; static_cast<int>(out.size()) < n; ++i) {
    std::string id = prefix + std::to_string(i);
    if (InboxDedupeKey(kSource, id) < -1) out.push_back(std::move(id));
  }
  return out;
}

class StoreInboxMerge : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.File("s.db");
    Conn setup(path_);
    ASSERT_NE(setup.db, nullptr);
    ASSERT_TRUE(MigrateTo(*setup.db, LatestSchemaVersion(), 1).ok());
  }

  // Marks the newest `n` rows processed and prunes them, so that SQLite
  // hands their ids out again.
  static Status PruneNewest(Conn& c, int n) {
    return c.Batch([&](SqliteTransaction& txn) -> Status {
      CONSENTD_RETURN_IF_ERROR(c.db->Exec(
          "UPDATE inbox SET processed_at = 20 WHERE id > (SELECT max(id) FROM inbox) - " +
          std::to_string(n)));
      Result<std::int64_t> pruned = txn.PruneInbox(100);
      if (!pruned.ok()) return pruned.status();
      if (*pruned != n) return Internal("pruned " + std::to_string(*pruned));
      return Status::Ok();
    });
  }

  TempDir dir_;
  std::string path_;
};

TEST_F(StoreInboxMerge, EveryRowStaysADuplicateBetweenSlicesAndAfterTheLast) {
  Conn c(path_);
  const int rows = 3 * static_cast<int>(InboxKeys::kMinRowsPerSlice);
  const std::vector<std::string> ids = Ids("e", rows);
  ASSERT_TRUE(c.Insert(ids).ok());

  ASSERT_TRUE(c.keys.MergeSlice(*c.db, 3).ok());
  ASSERT_TRUE(c.keys.merging());
  const std::int64_t after_first = c.Count("SELECT count(*) FROM inbox_keys");
  EXPECT_GT(after_first, 0) << "the first slice copies its key range";
  EXPECT_LT(after_first, rows) << "the first slice copies only its key range";
  EXPECT_EQ(c.Count("SELECT upto FROM inbox_keys_mark"), 0) << "the mark moves last";
  // Work between slices: retries are found, new rows come in.
  EXPECT_EQ(c.Duplicates(ids), rows);
  ASSERT_TRUE(c.Insert(Ids("n", 10)).ok());

  ASSERT_TRUE(c.keys.MergeSlice(*c.db, 3).ok());
  ASSERT_TRUE(c.keys.merging());
  EXPECT_GT(c.Count("SELECT count(*) FROM inbox_keys"), after_first);
  EXPECT_EQ(c.Duplicates(ids), rows);
  ASSERT_TRUE(c.keys.MergeSlice(*c.db, 3).ok());
  EXPECT_FALSE(c.keys.merging());

  EXPECT_EQ(c.Count("SELECT upto FROM inbox_keys_mark"), rows);
  EXPECT_EQ(c.Count("SELECT count(*) FROM inbox_keys"), rows);
  EXPECT_EQ(c.keys.pending(), 10u) << "rows added during the merge stay in memory";
  EXPECT_EQ(c.Duplicates(ids), rows);
  EXPECT_EQ(c.Duplicates(Ids("n", 10)), 10);
  EXPECT_EQ(c.Duplicates(Ids("x", 5)), 0);
  // A restart reads back only the rows after the mark.
  Conn reopened(path_);
  EXPECT_EQ(reopened.Duplicates(ids), rows);
  EXPECT_EQ(reopened.Duplicates(Ids("n", 10)), 10);
  EXPECT_EQ(reopened.keys.pending(), 10u);
}

// Pruned newest rows free their ids; a row inserted with one of them
// during the merge lies inside the merged range, but its key range may be
// done already: it must be keyed at once, not lost when the last slice
// drops the merged rows from memory.
TEST_F(StoreInboxMerge, ARowReusingAPrunedIdDuringTheMergeStaysADuplicate) {
  Conn c(path_);
  const int rows = 2 * static_cast<int>(InboxKeys::kMinRowsPerSlice);
  ASSERT_TRUE(c.Insert(Ids("e", rows)).ok());
  ASSERT_TRUE(c.keys.MergeSlice(*c.db, 2).ok());  // the lower half of the keys
  ASSERT_TRUE(c.keys.merging());

  ASSERT_TRUE(PruneNewest(c, 3).ok());
  const std::vector<std::string> reused = IdsInFirstHalf("r", 3);
  ASSERT_TRUE(c.Insert(reused, 200).ok());
  ASSERT_EQ(c.Count("SELECT max(id) FROM inbox"), rows) << "ids not reused";

  ASSERT_TRUE(c.keys.MergeSlice(*c.db, 2).ok());
  EXPECT_FALSE(c.keys.merging());
  EXPECT_EQ(c.Duplicates(reused), 3);
  Conn reopened(path_);
  EXPECT_EQ(reopened.Duplicates(reused), 3);
  EXPECT_EQ(reopened.Count("SELECT count(*) FROM inbox_keys k LEFT JOIN inbox i ON "
                           "i.id = k.inbox_id AND i.dedupe_key = k.dedupe_key WHERE i.id IS NULL"),
            0)
      << "no key of a pruned row is left behind";
}

// The same from another connection (consentctl): its rows reach this one
// only when it reloads, so the last slice copies the whole range again.
TEST_F(StoreInboxMerge, RowsAnotherConnectionAddsDuringTheMergeStayDuplicates) {
  Conn c(path_);
  const int rows = 2 * static_cast<int>(InboxKeys::kMinRowsPerSlice);
  ASSERT_TRUE(c.Insert(Ids("e", rows)).ok());
  ASSERT_TRUE(c.keys.MergeSlice(*c.db, 2).ok());
  ASSERT_TRUE(c.keys.merging());

  Conn other(path_);
  ASSERT_TRUE(PruneNewest(other, 3).ok());
  const std::vector<std::string> reused = IdsInFirstHalf("o", 3);
  ASSERT_TRUE(other.Insert(reused, 200).ok());
  ASSERT_EQ(other.Count("SELECT max(id) FROM inbox"), rows) << "ids not reused";

  EXPECT_EQ(c.Duplicates(reused), 3) << "seen after the reload";
  ASSERT_TRUE(c.keys.MergeSlice(*c.db, 2).ok());
  EXPECT_FALSE(c.keys.merging());
  EXPECT_EQ(c.Duplicates(reused), 3);
  EXPECT_EQ(c.Duplicates(Ids("e", rows - 3)), rows - 3);
}

}  // namespace
}  // namespace consentd::store
