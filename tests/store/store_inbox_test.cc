// The inbox in arrival order with a compact dedupe key (schema v9,
// store/inbox_key.h) found through inbox_keys and the recent keys in
// memory (v10, store/inbox_keys.h): retries are still recognised (merged
// or not, across restarts and other connections), a key collision is
// never taken for a retry, and rows written before v9 and v10 keep their
// meaning.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <string>
#include <vector>

#include "store/inbox_key.h"
#include "store/sqlite_migrations.h"
#include "store/sqlite_transaction.h"
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

// --- schema v10: recent keys in memory, merged into inbox_keys ---

// A store that merges after `merge_rows` recent rows and never when idle
// (the tests decide when merges happen).
std::unique_ptr<SqliteStore> OpenMerging(const std::string& path, std::size_t merge_rows,
                                         SqliteFaults* faults = nullptr) {
  SqliteStoreOptions options;
  options.path = path;
  options.inbox_merge_rows = merge_rows;
  options.heartbeat_interval = std::chrono::hours(1);
  options.faults = faults;
  return OpenOrDie(std::move(options));
}

// Inserts `ids` one submission (one batch) each; true if all were new.
bool InsertEach(Store& store, const std::vector<std::string>& ids, TimestampMs at = 10) {
  bool all_new = true;
  for (const std::string& id : ids) {
    Status s = store.Run([&](Transaction& txn) -> Status {
      Result<bool> fresh = txn.InsertInbox(testing::Event("mailchimp", id, at));
      if (!fresh.ok()) return fresh.status();
      all_new = all_new && *fresh;
      return Status::Ok();
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
  return all_new;
}

// How many of `ids` the store takes for retries (already in the inbox).
int Duplicates(Store& store, const std::vector<std::string>& ids) {
  int dup = 0;
  Status s = store.Run([&](Transaction& txn) -> Status {
    for (const std::string& id : ids) {
      Result<bool> fresh = txn.InsertInbox(testing::Event("mailchimp", id, 99));
      if (!fresh.ok()) return fresh.status();
      if (!*fresh) ++dup;
    }
    return FailedPrecondition("probe only: roll back");
  });
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  return dup;
}

// count(*) of `sql` seen by the store thread (after every merge so far).
std::int64_t CountInStore(Store& store, const std::string& sql) {
  std::int64_t n = -1;
  Status s = store.Run([&](Transaction& txn) -> Status {
    Result<Db*> db = SqliteDbOf(txn, "count");
    if (!db.ok()) return db.status();
    Result<std::int64_t> v = (*db)->QueryInt(sql);
    if (!v.ok()) return v.status();
    n = *v;
    return Status::Ok();
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  return n;
}

std::vector<std::string> Ids(const std::string& prefix, int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(prefix + std::to_string(i));
  return out;
}

TEST(StoreInbox, RetryIsADuplicateBeforeAndAfterItsKeyIsMerged) {
  TempDir dir;
  auto store = OpenMerging(dir.File("s.db"), 4);
  ASSERT_NE(store, nullptr);
  const std::vector<std::string> ids = Ids("e", 10);
  EXPECT_TRUE(InsertEach(*store, ids));
  // Merged after the 4th and the 8th row; the last 2 are in memory only.
  EXPECT_EQ(CountInStore(*store, "SELECT count(*) FROM inbox_keys"), 8);
  EXPECT_EQ(CountInStore(*store, "SELECT upto FROM inbox_keys_mark"), 8);
  EXPECT_EQ(Duplicates(*store, ids), 10);
  EXPECT_EQ(Duplicates(*store, Ids("new", 3)), 0);
  // Marking processed finds merged and recent rows alike.
  Status s = store->Run([](Transaction& txn) -> Status {
    CONSENTD_RETURN_IF_ERROR(txn.MarkInboxProcessed("mailchimp", "e1", 20));
    CONSENTD_RETURN_IF_ERROR(txn.MarkInboxProcessed("mailchimp", "e9", 20));
    Result<std::vector<InboxRow>> left = txn.ListUnprocessedInbox("mailchimp", 100);
    if (!left.ok()) return left.status();
    EXPECT_EQ(left->size(), 8u);
    return Status::Ok();
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
}

// A crash or restart loses the keys held in memory, never a row: the
// rows after the mark are read back when the store opens.
TEST(StoreInbox, RowsNotYetMergedAreDuplicatesAfterAReopen) {
  TempDir dir;
  const std::vector<std::string> ids = Ids("e", 5);
  {
    auto store = OpenMerging(dir.File("s.db"), 1000);
    ASSERT_NE(store, nullptr);
    EXPECT_TRUE(InsertEach(*store, ids));
    EXPECT_EQ(CountInStore(*store, "SELECT count(*) FROM inbox_keys"), 0);
  }
  auto store = OpenMerging(dir.File("s.db"), 1000);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(Duplicates(*store, ids), 5);
  EXPECT_TRUE(InsertEach(*store, Ids("f", 2)));
  EXPECT_EQ(Duplicates(*store, Ids("f", 2)), 2);
}

// consentctl opens its own store on the same file while consentd runs:
// rows the other connection commits are seen by the next batch.
TEST(StoreInbox, RowsAnotherConnectionAddsAreDuplicates) {
  TempDir dir;
  auto daemon = OpenMerging(dir.File("s.db"), 1000);
  ASSERT_NE(daemon, nullptr);
  EXPECT_TRUE(InsertEach(*daemon, Ids("d", 2)));
  {
    auto cli = OpenMerging(dir.File("s.db"), 1000);
    ASSERT_NE(cli, nullptr);
    EXPECT_EQ(Duplicates(*cli, Ids("d", 2)), 2);
    EXPECT_TRUE(InsertEach(*cli, Ids("c", 3)));
  }
  EXPECT_EQ(Duplicates(*daemon, Ids("c", 3)), 3);
  EXPECT_EQ(Duplicates(*daemon, Ids("d", 2)), 2);
}

// After retention removed the newest rows SQLite reuses their ids, which
// lie at or below the mark: such a row is keyed at once, so it stays a
// duplicate across a restart, and pruning leaves no key behind.
TEST(StoreInbox, ReusedIdsBelowTheMarkAndPrunedRowsKeepKeysExact) {
  TempDir dir;
  {
    auto store = OpenMerging(dir.File("s.db"), 3);
    ASSERT_NE(store, nullptr);
    EXPECT_TRUE(InsertEach(*store, Ids("old", 3), 10));
    Status s = store->Run([](Transaction& txn) -> Status {
      for (const std::string& id : Ids("old", 3)) {
        CONSENTD_RETURN_IF_ERROR(txn.MarkInboxProcessed("mailchimp", id, 20));
      }
      Result<std::int64_t> pruned = txn.PruneInbox(100);
      if (!pruned.ok()) return pruned.status();
      EXPECT_EQ(*pruned, 3);
      return Status::Ok();
    });
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(CountInStore(*store, "SELECT count(*) FROM inbox_keys"), 0);
    EXPECT_EQ(CountInStore(*store, "SELECT upto FROM inbox_keys_mark"), 3);
    EXPECT_TRUE(InsertEach(*store, Ids("new", 2), 200));
    EXPECT_EQ(CountInStore(*store, "SELECT max(id) FROM inbox"), 2) << "ids not reused";
    EXPECT_EQ(CountInStore(*store, "SELECT count(*) FROM inbox_keys"), 2);
  }
  auto store = OpenMerging(dir.File("s.db"), 1000);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(Duplicates(*store, Ids("new", 2)), 2);
  EXPECT_EQ(Duplicates(*store, Ids("old", 3)), 0) << "pruned rows are forgotten";
}

// A merge that fails leaves the keys in memory: dedupe stays exact and
// the next merge after the fault moves them.
TEST(StoreInbox, FailedMergeKeepsDedupeExact) {
  TempDir dir;
  FailAtCall fault(1, SQLITE_IOERR, FailAtCall::Mode::kPersistent,
                   "INSERT OR IGNORE INTO inbox_keys");
  auto store = OpenMerging(dir.File("s.db"), 2, &fault);
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(InsertEach(*store, Ids("e", 4)));
  EXPECT_GE(fault.failures(), 1);
  EXPECT_EQ(CountInStore(*store, "SELECT count(*) FROM inbox_keys"), 0);
  EXPECT_EQ(Duplicates(*store, Ids("e", 4)), 4);
  // The store thread tries a merge after every batch, so the one after the
  // probe above may already run disarmed; after f0's batch at the latest,
  // e0..e3 are merged either way.
  fault.Disarm();
  EXPECT_TRUE(InsertEach(*store, Ids("f", 1)));
  EXPECT_EQ(CountInStore(*store,
                         "SELECT count(*) FROM inbox_keys k JOIN inbox i ON i.id = k.inbox_id "
                         "WHERE i.event_id LIKE 'e%'"),
            4);
  EXPECT_EQ(Duplicates(*store, Ids("e", 4)), 4);
  EXPECT_EQ(Duplicates(*store, Ids("f", 1)), 1);
}

// A database written by the v9 binary (a per-row index on dedupe_key):
// after v10 every row is keyed in inbox_keys and its retry is a duplicate.
TEST(StoreInbox, MigrationToV10KeysEveryRowAndKeepsDedupe) {
  TempDir dir;
  {
    auto db = OpenDb(dir.File("old.db"));
    ASSERT_TRUE(MigrateTo(*db, 9, 1).ok());
    for (const std::string& id : Ids("e", 3)) {
      ASSERT_TRUE(db->Exec("INSERT INTO inbox (source, event_id, dedupe_key, received_at, "
                           "payload) VALUES ('mailchimp', '" +
                           id + "', " + std::to_string(InboxDedupeKey("mailchimp", id)) +
                           ", 5, 'p')")
                      .ok());
    }
  }
  auto store = OpenMerging(dir.File("old.db"), 1000);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(CountInStore(*store, "SELECT count(*) FROM inbox"), 3);
  EXPECT_EQ(CountInStore(*store,
                         "SELECT count(*) FROM inbox_keys k JOIN inbox i "
                         "ON i.id = k.inbox_id AND i.dedupe_key = k.dedupe_key"),
            3);
  EXPECT_EQ(CountInStore(*store, "SELECT upto FROM inbox_keys_mark"), 3);
  EXPECT_EQ(Duplicates(*store, Ids("e", 3)), 3);
  EXPECT_EQ(CountInStore(*store, "SELECT count(*) FROM inbox WHERE payload = 'p'"), 3);
}

// A remembered record version (sync/version_memory.h) is inserted as
// processed in one statement: it never shows as a hint waiting to be read,
// still dedupes, and keeps the time it was processed.
TEST(StoreInbox, ARowInsertedAsProcessedIsNoPendingHintAndStillDedupes) {
  TempDir dir;
  auto store = OpenOrDie(dir.File("s.db"));
  ASSERT_NE(store, nullptr);
  Status s = store->Run([](Transaction& txn) -> Status {
    InboxRow version = testing::Event("mailchimp", "poll:abc:1:d", 10);
    version.processed_at = 10;
    Result<bool> fresh = txn.InsertInbox(version);
    if (!fresh.ok()) return fresh.status();
    EXPECT_TRUE(*fresh);
    fresh = txn.InsertInbox(testing::Event("mailchimp", "mc:hint", 11));
    if (!fresh.ok()) return fresh.status();
    Result<std::vector<InboxRow>> pending = txn.ListUnprocessedInbox("mailchimp", 10);
    if (!pending.ok()) return pending.status();
    EXPECT_EQ(pending->size(), 1u);
    if (!pending->empty()) {
      EXPECT_EQ(pending->front().event_id, "mc:hint");
    }
    fresh = txn.InsertInbox(version);
    if (!fresh.ok()) return fresh.status();
    EXPECT_FALSE(*fresh) << "the remembered version was stored twice";
    return Status::Ok();
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(CountInStore(*store, "SELECT count(*) FROM inbox WHERE processed_at = 10"), 1);
}

// A remembered version slot (PutInboxState, sync/version_memory.h): the
// same state again is no news; another state contests the slot, which
// moves the tombstone generation on (versions held in memory are looked up
// again), and from then on every put of it is news, the first state too.
// A hint still waiting to be read under that id is left as it is.
TEST(StoreInbox, AVersionSlotGivenASecondStateIsContestedAndMovesTheGeneration) {
  TempDir dir;
  auto store = OpenOrDie(dir.File("s.db"));
  ASSERT_NE(store, nullptr);
  auto state = [](std::string payload, TimestampMs at) {
    InboxRow row = testing::Event("mailchimp", "poll:abc:7", at);
    row.payload = std::move(payload);
    row.processed_at = at;
    return row;
  };
  Status s = store->Run([&](Transaction& txn) -> Status {
    const std::int64_t start = txn.TombstoneGeneration();
    Result<bool> put = txn.PutInboxState(state("w", 10));
    if (!put.ok()) return put.status();
    EXPECT_TRUE(*put) << "a new slot";
    EXPECT_EQ(txn.TombstoneGeneration(), start) << "a new slot replaced nothing";
    put = txn.PutInboxState(state("w", 11));
    if (!put.ok()) return put.status();
    EXPECT_FALSE(*put) << "the same state again";
    put = txn.PutInboxState(state("b", 12));
    if (!put.ok()) return put.status();
    EXPECT_TRUE(*put) << "another state of the slot";
    const std::int64_t contested = txn.TombstoneGeneration();
    EXPECT_NE(contested, start) << "a second state left the generation alone";
    for (const char* again : {"w", "w", "b"}) {
      const std::int64_t before = txn.TombstoneGeneration();
      put = txn.PutInboxState(state(again, 13));
      if (!put.ok()) return put.status();
      EXPECT_TRUE(*put) << again << ": a contested slot's state is always news";
      EXPECT_NE(txn.TombstoneGeneration(), before) << again;
    }

    // A hint still to be read keeps its payload and stays pending.
    CONSENTD_RETURN_IF_ERROR(txn.InsertInbox(testing::Event("mailchimp", "mc:hint", 20)).status());
    InboxRow over = testing::Event("mailchimp", "mc:hint", 21);
    over.payload = "state";
    over.processed_at = 21;
    put = txn.PutInboxState(over);
    if (!put.ok()) return put.status();
    EXPECT_FALSE(*put);
    Result<std::vector<InboxRow>> pending = txn.ListUnprocessedInbox("mailchimp", 10);
    if (!pending.ok()) return pending.status();
    EXPECT_EQ(pending->size(), 1u);
    // An unprocessed row is refused: a slot is never a hint.
    EXPECT_FALSE(txn.PutInboxState(testing::Event("mailchimp", "poll:x:1", 30)).ok());
    return Status::Ok();
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(CountInStore(*store,
                         "SELECT count(*) FROM inbox WHERE event_id = 'poll:abc:7' "
                         "AND payload = '#' AND received_at = 13"),
            1);
  EXPECT_EQ(CountInStore(*store,
                         "SELECT count(*) FROM inbox WHERE event_id = 'mc:hint' "
                         "AND payload = '{}' AND processed_at IS NULL"),
            1);
}

}  // namespace
}  // namespace consentd::store
