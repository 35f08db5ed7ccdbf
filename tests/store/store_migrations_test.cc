// Migrations: forward-only, versioned, each tested from every older version.
#include <gtest/gtest.h>

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
