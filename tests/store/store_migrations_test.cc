// Migrations: forward-only, versioned, each tested from every older version.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "store/inbox_key.h"
#include "store/sqlite_migrations.h"
#include "store_test_util.h"

namespace consentd::store {
namespace {

using testing::OpenOrDie;
using testing::TempDir;

// The schema as SQLite describes it, without schema_version rows.
std::set<std::tuple<std::string, std::string, std::string>> SchemaOf(Db& db) {
  std::set<std::tuple<std::string, std::string, std::string>> out;
  Result<Stmt*> st = db.Prepare(
      "SELECT type, name, coalesce(sql, '') FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'");
  EXPECT_TRUE(st.ok());
  if (!st.ok()) return out;
  for (;;) {
    Result<bool> row = (*st)->Step();
    EXPECT_TRUE(row.ok());
    if (!row.ok() || !*row) break;
    out.emplace((*st)->Text(0), (*st)->Text(1), (*st)->Text(2));
  }
  (*st)->Reset();
  return out;
}

std::unique_ptr<Db> OpenDb(const std::string& path) {
  Result<std::unique_ptr<Db>> db = Db::Open(path, nullptr);
  EXPECT_TRUE(db.ok()) << db.status().ToString();
  return db.ok() ? std::move(*db) : nullptr;
}

TEST(StoreMigrations, VersionsAreNumberedFromOneWithoutGaps) {
  int expected = 1;
  for (const Migration& m : SqliteMigrations()) {
    EXPECT_EQ(m.version, expected++) << m.name;
    EXPECT_FALSE(m.sql.empty());
  }
  EXPECT_EQ(LatestSchemaVersion(), expected - 1);
}

TEST(StoreMigrations, EmptyDatabaseIsVersionZero) {
  TempDir dir;
  auto db = OpenDb(dir.File("s.db"));
  ASSERT_NE(db, nullptr);
  Result<int> v = SchemaVersion(*db);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, 0);
}

TEST(StoreMigrations, OpeningTheStoreMigratesToLatest) {
  TempDir dir;
  {
    auto store = OpenOrDie(dir.File("s.db"));
    ASSERT_NE(store, nullptr);
  }
  auto db = OpenDb(dir.File("s.db"));
  Result<int> v = SchemaVersion(*db);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, LatestSchemaVersion());
}

// Every older version k: a database left at k by an older binary reaches
// exactly the schema of a fresh database, and keeps the data it had.
class FromEveryOlderVersion : public ::testing::TestWithParam<int> {};

TEST_P(FromEveryOlderVersion, MigratesToTheFreshSchemaKeepingData) {
  const int k = GetParam();
  TempDir dir;
  {
    auto db = OpenDb(dir.File("old.db"));
    ASSERT_TRUE(MigrateTo(*db, k, 1).ok());
    Result<int> v = SchemaVersion(*db);
    ASSERT_TRUE(v.ok());
    ASSERT_EQ(*v, k);
    if (k >= 1 && k < 9) {  // a row the v1 schema can hold must survive later steps
      ASSERT_TRUE(db->Exec("INSERT INTO inbox (source, event_id, received_at, payload) "
                           "VALUES ('hubspot', 'e-old', 5, 'kept')")
                      .ok());
    } else if (k >= 9) {  // v9 stores the dedupe key (store/inbox_key.h) with the row
      ASSERT_TRUE(db->Exec("INSERT INTO inbox (source, event_id, dedupe_key, received_at, "
                           "payload) VALUES ('hubspot', 'e-old', " +
                           std::to_string(InboxDedupeKey("hubspot", "e-old")) + ", 5, 'kept')")
                      .ok());
    }
  }
  {
    auto store = OpenOrDie(dir.File("old.db"));
    ASSERT_NE(store, nullptr);
    if (k >= 1) {
      bool fresh = true;
      ASSERT_TRUE(store
                      ->Run([&](Transaction& txn) -> Status {
                        Result<bool> r = txn.InsertInbox(testing::Event("hubspot", "e-old"));
                        if (!r.ok()) return r.status();
                        fresh = *r;
                        return Status::Ok();
                      })
                      .ok());
      EXPECT_FALSE(fresh) << "row written at version " << k << " was lost";
    }
  }
  {
    auto fresh_store = OpenOrDie(dir.File("fresh.db"));
    ASSERT_NE(fresh_store, nullptr);
  }
  auto migrated = OpenDb(dir.File("old.db"));
  auto fresh = OpenDb(dir.File("fresh.db"));
  EXPECT_EQ(SchemaOf(*migrated), SchemaOf(*fresh));
  Result<int> v = SchemaVersion(*migrated);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, LatestSchemaVersion());
}

std::vector<int> OlderVersions() {
  std::vector<int> out;
  for (int k = 0; k < LatestSchemaVersion(); ++k) out.push_back(k);
  return out;
}

INSTANTIATE_TEST_SUITE_P(StoreMigrationsFromOlder, FromEveryOlderVersion,
                         ::testing::ValuesIn(OlderVersions()));

// v11 rebuilds the outbox: every row keeps its id and values, a known
// (target, key, idempotency key) still returns the existing row, and the
// idempotency key is unique per (target, key), no longer across targets.
TEST(StoreMigrations, V11KeepsOutboxRowsAndDedupesPerTargetAndKey) {
  TempDir dir;
  constexpr std::string_view kColumns =
      "id, target, key, desired_json, idempotency_key, attempts, next_attempt_at, status, "
      "reason, created_at, updated_at";
  const std::string rows =
      "(7, 'mailchimp', 's-1', '{\"a\":1}', 'idem-a', 2, 50, 'done', 'ok', 10, 20), "
      "(9, 'mailchimp', 's-2', '{\"b\":2}', 'idem-b', 0, 60, 'pending', '', 30, 30), "
      "(12, 'hubspot', 's-2', '{\"c\":3}', 'idem-c', 1, 70, 'dead', 'gone', 40, 45)";
  auto dump = [&](Db& db) {
    std::vector<std::string> out;
    Result<Stmt*> st = db.Prepare("SELECT " + std::string(kColumns) + " FROM outbox ORDER BY id");
    EXPECT_TRUE(st.ok());
    if (!st.ok()) return out;
    for (;;) {
      Result<bool> row = (*st)->Step();
      if (!row.ok() || !*row) break;
      std::string line;
      for (int c = 0; c < 11; ++c) line += (*st)->Text(c) + "|";
      out.push_back(line);
    }
    (*st)->Reset();
    return out;
  };
  std::vector<std::string> before;
  {
    auto db = OpenDb(dir.File("s.db"));
    ASSERT_TRUE(MigrateTo(*db, 10, 1).ok());
    ASSERT_TRUE(db->Exec("INSERT INTO outbox (" + std::string(kColumns) + ") VALUES " + rows).ok());
    before = dump(*db);
    ASSERT_EQ(before.size(), 3u);
  }
  auto store = OpenOrDie(dir.File("s.db"));
  ASSERT_NE(store, nullptr);
  auto row = [](std::string target, std::string key, std::string idem) {
    OutboxRow r;
    r.target = std::move(target);
    r.key = std::move(key);
    r.desired_json = "{}";
    r.idempotency_key = std::move(idem);
    r.next_attempt_at = r.created_at = 100;
    return r;
  };
  std::int64_t again = 0, other_target = 0;
  ASSERT_TRUE(store
                  ->Run([&](Transaction& txn) -> Status {
                    Result<std::int64_t> a = txn.Enqueue(row("mailchimp", "s-2", "idem-b"));
                    if (!a.ok()) return a.status();
                    again = *a;
                    Result<std::int64_t> b = txn.Enqueue(row("hubspot", "s-1", "idem-a"));
                    if (!b.ok()) return b.status();
                    other_target = *b;
                    return Status::Ok();
                  })
                  .ok());
  EXPECT_EQ(again, 9) << "a known (target, key, idempotency key) must return its row";
  EXPECT_GT(other_target, 12) << "the same idempotency key for another target is a new row";
  store.reset();
  auto db = OpenDb(dir.File("s.db"));
  std::vector<std::string> after = dump(*db);
  ASSERT_EQ(after.size(), 4u);
  after.pop_back();
  EXPECT_EQ(after, before);
}

// v18: outbox ids are never handed out twice. Rows keep their ids; the
// next id is above every id a row or an erasure target ever had, also
// after the newest rows are deleted; an erasure target whose id no longer
// names an erasure row loses it.
TEST(StoreMigrations, V18NeverHandsOutAnOutboxIdTwice) {
  TempDir dir;
  {
    auto db = OpenDb(dir.File("s.db"));
    ASSERT_TRUE(MigrateTo(*db, 17, 1).ok());
    ASSERT_TRUE(db->Exec("INSERT INTO outbox (id, target, key, desired_json, idempotency_key, "
                         "attempts, next_attempt_at, status, reason, created_at, updated_at) "
                         "VALUES "
                         "(3, 'mc', 's-1', '{\"erase\":false}', 'i3', 1, 5, 'done', '', 1, 1), "
                         "(5, 'mc', 's-2', '{\"erase\":true}', 'i5', 0, 5, 'pending', '', 1, 1), "
                         "(8, 'mc', 's-3', '{\"erase\":false}', 'i8', 3, 5, 'dead', 'x', 1, 1)")
                    .ok());
    // Request r1's mailchimp row was 5 (an erasure row, kept); r2's was 8,
    // an id reused by another person's row; r3's was 20, deleted since.
    ASSERT_TRUE(db->Exec("INSERT INTO erasure_targets (request_id, target, state, outbox_id, "
                         "updated_at) VALUES ('r1', 'mc', 'pending', 5, 1), "
                         "('r2', 'mc', 'done', 8, 1), ('r3', 'mc', 'manual', 20, 1)")
                    .ok());
  }
  auto store = OpenOrDie(dir.File("s.db"));
  ASSERT_NE(store, nullptr);
  auto row = [](std::string idem) {
    OutboxRow r;
    r.target = "mc";
    r.key = "s-9";
    r.desired_json = "{}";
    r.idempotency_key = std::move(idem);
    r.next_attempt_at = r.created_at = 100;
    return r;
  };
  std::int64_t first = 0, second = 0;
  ASSERT_TRUE(store
                  ->Run([&](Transaction& txn) -> Status {
                    Result<std::int64_t> a = txn.Enqueue(row("new-1"));
                    if (!a.ok()) return a.status();
                    first = *a;
                    return Status::Ok();
                  })
                  .ok());
  EXPECT_EQ(first, 21) << "above every id an erasure target named";
  store.reset();
  {
    auto db = OpenDb(dir.File("s.db"));
    ASSERT_TRUE(db->Exec("DELETE FROM outbox WHERE id = 21").ok());
    Result<Stmt*> st =
        db->Prepare("SELECT request_id, coalesce(outbox_id, 0) FROM erasure_targets ORDER BY 1");
    ASSERT_TRUE(st.ok());
    std::map<std::string, std::int64_t> ids;
    for (;;) {
      Result<bool> r = (*st)->Step();
      ASSERT_TRUE(r.ok());
      if (!*r) break;
      ids[(*st)->Text(0)] = (*st)->Int(1);
    }
    (*st)->Reset();
    EXPECT_EQ(ids, (std::map<std::string, std::int64_t>{{"r1", 5}, {"r2", 0}, {"r3", 0}}));
  }
  store = OpenOrDie(dir.File("s.db"));
  ASSERT_TRUE(store
                  ->Run([&](Transaction& txn) -> Status {
                    Result<std::int64_t> b = txn.Enqueue(row("new-2"));
                    if (!b.ok()) return b.status();
                    second = *b;
                    return Status::Ok();
                  })
                  .ok());
  EXPECT_EQ(second, 22) << "the newest row was deleted: its id is not handed out again";
}

// v12 gives outbox rows an address. Rows still to be written take the
// address their desired state names (a malformed one gets none, and the
// migration does not fail on it; an erasure none: it is for the whole key);
// finished rows keep none.
TEST(StoreMigrations, V12GivesOpenOutboxRowsTheAddressOfTheirDesiredState) {
  TempDir dir;
  {
    auto db = OpenDb(dir.File("s.db"));
    ASSERT_TRUE(MigrateTo(*db, 11, 1).ok());
    ASSERT_TRUE(db->Exec("INSERT INTO outbox (id, target, key, desired_json, idempotency_key, "
                         "attempts, next_attempt_at, status, reason, created_at, updated_at) "
                         "VALUES "
                         "(1, 'mc', 's-1', '{\"email\":\"a@example.org\"}', 'i1', 0, 5, "
                         "'pending', '', 1, 1), "
                         "(2, 'mc', 's-1', '{\"email\":\"b@example.org\"}', 'i2', 1, 5, "
                         "'inflight', '', 1, 1), "
                         "(3, 'mc', 's-2', '{\"email\":\"c@example.org\"}', 'i3', 1, 5, "
                         "'done', '', 1, 1), "
                         "(4, 'mc', 's-3', 'not json', 'i4', 0, 5, 'pending', '', 1, 1), "
                         "(5, 'mc', 's-4', '{\"email\":\"d@example.org\",\"erase\":true}', "
                         "'i5', 0, 5, 'pending', '', 1, 1)")
                    .ok());
  }
  auto store = OpenOrDie(dir.File("s.db"));
  ASSERT_NE(store, nullptr);
  std::map<std::int64_t, std::string> address;
  ASSERT_TRUE(store
                  ->Run([&](Transaction& txn) -> Status {
                    for (std::int64_t id = 1; id <= 5; ++id) {
                      Result<std::optional<OutboxRow>> r = txn.GetOutbox(id);
                      if (!r.ok()) return r.status();
                      if (r->has_value()) address[id] = (*r)->address;
                    }
                    return Status::Ok();
                  })
                  .ok());
  EXPECT_EQ(address, (std::map<std::int64_t, std::string>{
                         {1, "a@example.org"}, {2, "b@example.org"}, {3, ""}, {4, ""}, {5, ""}}));
}

// v13 gives identity links an address: unknown for the links made before
// (filled when their records are next read or written), which keep their
// subjects.
TEST(StoreMigrations, V13KeepsIdentityLinksWithAnUnknownAddress) {
  TempDir dir;
  {
    auto db = OpenDb(dir.File("s.db"));
    ASSERT_TRUE(MigrateTo(*db, 12, 1).ok());
    ASSERT_TRUE(db->Exec("INSERT INTO identity_links (system, system_id, subject_id, linked_at) "
                         "VALUES ('mailchimp', 'm-1', 's-1', 7), ('email', 'a@example.org', "
                         "'s-1', 7)")
                    .ok());
  }
  auto store = OpenOrDie(dir.File("s.db"));
  ASSERT_NE(store, nullptr);
  std::vector<IdentityLink> links;
  ASSERT_TRUE(store
                  ->Run([&](Transaction& txn) -> Status {
                    Result<std::vector<IdentityLink>> r = txn.ListSystemIds("s-1");
                    if (!r.ok()) return r.status();
                    links = std::move(*r);
                    return Status::Ok();
                  })
                  .ok());
  ASSERT_EQ(links.size(), 2u);
  for (const IdentityLink& l : links) {
    EXPECT_EQ(l.subject_id, "s-1");
    EXPECT_EQ(l.linked_at, 7);
    EXPECT_EQ(l.address, "") << l.system;
  }
}

// A deletion recorded before v20 has no decision time: its own time
// stands in, and a later report gives it one.
TEST(StoreMigrations, V20DatesAnOlderTargetDeletionByItsOwnTime) {
  TempDir dir;
  {
    auto db = OpenDb(dir.File("s.db"));
    ASSERT_TRUE(MigrateTo(*db, 19, 1).ok());
    ASSERT_TRUE(db->Exec("INSERT INTO target_deletions (subject_id, system, deleted_at) "
                         "VALUES ('s-1', 'hubspot', 40)")
                    .ok());
  }
  auto store = OpenOrDie(dir.File("s.db"));
  ASSERT_NE(store, nullptr);
  auto decided_at = [&]() {
    std::optional<TimestampMs> at;
    EXPECT_TRUE(store
                    ->Run([&](Transaction& txn) -> Status {
                      Result<std::optional<TimestampMs>> r =
                          txn.TargetDeletionRecordedAt("s-1", "hubspot");
                      if (!r.ok()) return r.status();
                      at = *r;
                      return Status::Ok();
                    })
                    .ok());
    return at;
  };
  EXPECT_EQ(decided_at(), std::optional<TimestampMs>(40));
  ASSERT_TRUE(
      store
          ->Run([](Transaction& txn) { return txn.RecordTargetDeletion("s-1", "hubspot", 45, 90); })
          .ok());
  EXPECT_EQ(decided_at(), std::optional<TimestampMs>(90));
}

TEST(StoreMigrations, DatabaseFromANewerBinaryIsRefused) {
  TempDir dir;
  {
    auto store = OpenOrDie(dir.File("s.db"));
    ASSERT_NE(store, nullptr);
  }
  {
    auto db = OpenDb(dir.File("s.db"));
    ASSERT_TRUE(db->Exec("INSERT INTO schema_version (version, name, applied_at) "
                         "VALUES (9999, 'future', 0)")
                    .ok());
  }
  SqliteStoreOptions options;
  options.path = dir.File("s.db");
  Result<std::unique_ptr<SqliteStore>> s = SqliteStore::Open(options);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kFailedPrecondition);
}

TEST(StoreMigrations, FailedMigrationLeavesThePreviousVersion) {
  TempDir dir;
  // Fail the first COMMIT: the initial migration must not half-apply.
  FailAtCall fault(1, 10 /* SQLITE_IOERR */, FailAtCall::Mode::kTransient, "COMMIT");
  {
    Result<std::unique_ptr<Db>> db = Db::Open(dir.File("s.db"), &fault);
    ASSERT_TRUE(db.ok());
    Status s = MigrateTo(**db, LatestSchemaVersion(), 1);
    EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
    Result<int> v = SchemaVersion(**db);
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(*v, 0);
  }
  auto store = OpenOrDie(dir.File("s.db"));  // and a retry succeeds
  EXPECT_NE(store, nullptr);
}

}  // namespace
}  // namespace consentd::store
