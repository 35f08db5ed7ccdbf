// The store as consentctl's reading commands open it beside a running
// consentd (SqliteStoreOptions::read_only): a read snapshot that never
// holds the write lock, no writes at all, and no migration of a store an
// older consentd may still run on.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <optional>
#include <string>
#include <thread>

#include "store/sqlite_db.h"
#include "store/sqlite_migrations.h"
#include "store_test_util.h"

namespace consentd::store {
namespace {

using testing::OpenOrDie;
using testing::TempDir;

Status SetCursor(SqliteStore& store, const std::string& value) {
  return store.Run([&](Transaction& txn) { return txn.AdvanceCursor("poller", value, 1000); });
}

std::unique_ptr<SqliteStore> OpenReader(const std::string& path) {
  SqliteStoreOptions options;
  options.path = path;
  options.read_only = true;
  return OpenOrDie(std::move(options));
}

// A long audit (consentctl verify) must not stall consentd's commits: the
// writer here waits at most 300 ms for the lock, the reader holds its unit
// open until the writer is done. With BEGIN IMMEDIATE for the reader the
// write failed as busy.
TEST(StoreReadOnly, AReaderHoldingItsUnitOpenDoesNotBlockTheWriter) {
  TempDir dir;
  const std::string path = dir.File("consentd.db");
  SqliteStoreOptions writer_options;
  writer_options.path = path;
  writer_options.busy_timeout_ms = 300;
  auto writer = OpenOrDie(writer_options);
  ASSERT_NE(writer, nullptr);
  ASSERT_TRUE(SetCursor(*writer, "a").ok());
  auto reader = OpenReader(path);
  ASSERT_NE(reader, nullptr);

  std::promise<void> reading;
  std::promise<void> written;
  std::shared_future<void> written_future = written.get_future().share();
  std::optional<std::string> before;
  std::optional<std::string> after;
  std::thread audit([&] {
    Status s = reader->Run([&](Transaction& txn) -> Status {
      Result<std::optional<std::string>> first = txn.GetCursor("poller");
      if (!first.ok()) return first.status();
      before = **first;
      reading.set_value();
      if (written_future.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
        return Internal("the writer never finished");
      }
      Result<std::optional<std::string>> second = txn.GetCursor("poller");
      if (!second.ok()) return second.status();
      after = **second;
      return Status::Ok();
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    if (!before) reading.set_value();  // the unit failed before it read: do not wait for it
  });
  reading.get_future().wait();
  const Status write = SetCursor(*writer, "b");
  written.set_value();
  audit.join();
  EXPECT_TRUE(write.ok()) << write.ToString();
  // The reader saw one snapshot throughout.
  EXPECT_EQ(before, "a");
  EXPECT_EQ(after, "a");
}

TEST(StoreReadOnly, AReaderCannotWrite) {
  TempDir dir;
  const std::string path = dir.File("consentd.db");
  {
    auto writer = OpenOrDie(path);
    ASSERT_NE(writer, nullptr);
    ASSERT_TRUE(SetCursor(*writer, "a").ok());
  }
  auto reader = OpenReader(path);
  ASSERT_NE(reader, nullptr);
  const Status write = SetCursor(*reader, "b");
  EXPECT_FALSE(write.ok());
  std::optional<std::string> seen;
  ASSERT_TRUE(reader
                  ->Run([&](Transaction& txn) -> Status {
                    Result<std::optional<std::string>> c = txn.GetCursor("poller");
                    if (!c.ok()) return c.status();
                    seen = **c;
                    return Status::Ok();
                  })
                  .ok());
  EXPECT_EQ(seen, "a");
}

// A copy kept in rollback-journal mode (an archived backup) is read as it
// is: switching it to WAL would write to it.
TEST(StoreReadOnly, AStoreNotInWalModeIsReadWithoutSwitchingIt) {
  TempDir dir;
  const std::string path = dir.File("archive.db");
  {
    Result<std::unique_ptr<Db>> db = Db::Open(path, nullptr);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    ASSERT_TRUE(MigrateTo(**db, LatestSchemaVersion(), 1).ok());
    Result<std::string> mode = (*db)->QueryText("PRAGMA journal_mode = DELETE");
    ASSERT_TRUE(mode.ok());
    ASSERT_EQ(*mode, "delete");
  }
  {
    auto reader = OpenReader(path);
    ASSERT_NE(reader, nullptr);
    ASSERT_TRUE(
        reader->Run([](Transaction& txn) { return txn.GetCursor("poller").status(); }).ok());
  }
  Result<std::unique_ptr<Db>> db = Db::Open(path, nullptr);
  ASSERT_TRUE(db.ok());
  Result<std::string> mode = (*db)->QueryText("PRAGMA journal_mode");
  ASSERT_TRUE(mode.ok());
  EXPECT_EQ(*mode, "delete");
}

// After an upgrade, before consentd is restarted, the old consentd still
// runs on the store: a reading command must not migrate it under it.
TEST(StoreReadOnly, AStoreAtAnOlderSchemaIsRefusedAndLeftAsItWas) {
  TempDir dir;
  const std::string path = dir.File("consentd.db");
  const int older = LatestSchemaVersion() - 1;
  {
    Result<std::unique_ptr<Db>> db = Db::Open(path, nullptr);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    ASSERT_TRUE(MigrateTo(**db, older, 1).ok());
  }
  SqliteStoreOptions options;
  options.path = path;
  options.read_only = true;
  Result<std::unique_ptr<SqliteStore>> reader = SqliteStore::Open(options);
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(reader.status().message().find("schema version " + std::to_string(older)),
            std::string::npos)
      << reader.status().ToString();
  EXPECT_NE(reader.status().message().find("does not migrate"), std::string::npos)
      << reader.status().ToString();
  Result<std::unique_ptr<Db>> db = Db::Open(path, nullptr);
  ASSERT_TRUE(db.ok());
  Result<int> version = SchemaVersion(**db);
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(*version, older);
}

}  // namespace
}  // namespace consentd::store
