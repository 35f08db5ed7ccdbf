// The erasure ledger file (store/erasure_ledger.h) and the store's part:
// the erasures a transaction commits are appended, those it rolls back not.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "store/erasure_ledger.h"
#include "tests/store/store_test_util.h"

namespace consentd::store {
namespace {

using testing::OpenOrDie;
using testing::TempDir;
using Kind = LedgerRecord::Kind;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(ErasureLedgerFile, AppendedRecordsReadBackInOrderFromA0600File) {
  TempDir dir;
  const std::string path = dir.File("erasures.ledger");
  ASSERT_TRUE(
      AppendToLedger(path, {{Kind::kSubject, "s-1", 100}, {Kind::kTombstone, "ab12", 100}}).ok());
  ASSERT_TRUE(AppendToLedger(path, {{Kind::kSubject, "s-2", 200}}).ok());
  Result<std::vector<LedgerRecord>> read = ReadLedger(path);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  const std::vector<LedgerRecord> want = {
      {Kind::kSubject, "s-1", 100}, {Kind::kTombstone, "ab12", 100}, {Kind::kSubject, "s-2", 200}};
  EXPECT_EQ(*read, want);
  EXPECT_EQ(ReadAll(path), "subject s-1 100\ntombstone ab12 100\nsubject s-2 200\n");
  EXPECT_EQ(std::filesystem::status(path).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

TEST(ErasureLedgerFile, AMissingFileIsAnEmptyLedger) {
  TempDir dir;
  Result<std::vector<LedgerRecord>> read = ReadLedger(dir.File("none.ledger"));
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_TRUE(read->empty());
}

TEST(ErasureLedgerFile, ALastLineCutShortByACrashIsIgnoredAndCutOffByTheNextAppend) {
  TempDir dir;
  const std::string path = dir.File("erasures.ledger");
  std::ofstream(path, std::ios::binary) << "subject s-1 100\ntombstone ab";
  Result<std::vector<LedgerRecord>> read = ReadLedger(path);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(*read, (std::vector<LedgerRecord>{{Kind::kSubject, "s-1", 100}}));
  ASSERT_TRUE(AppendToLedger(path, {{Kind::kTombstone, "cd34", 300}}).ok());
  EXPECT_EQ(ReadAll(path), "subject s-1 100\ntombstone cd34 300\n");
}

TEST(ErasureLedgerFile, ALineThatIsNotARecordIsAnErrorNamingFileAndLine) {
  TempDir dir;
  const std::string path = dir.File("erasures.ledger");
  std::ofstream(path, std::ios::binary) << "subject s-1 100\nsubject s-2 yesterday\n";
  Result<std::vector<LedgerRecord>> read = ReadLedger(path);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(read.status().message().find(path + ":2:"), std::string::npos)
      << read.status().message();
}

// Checked at start: a ledger that cannot be written would leave every
// erasure out of it. (As root, permissions do not stop a write; a missing
// directory or a file where a directory belongs does.)
TEST(ErasureLedgerFile, CheckLedgerWritableNamesTheReason) {
  TempDir dir;
  EXPECT_TRUE(CheckLedgerWritable(dir.File("erasures.ledger")).ok()) << "created at first use";
  ASSERT_TRUE(AppendToLedger(dir.File("erasures.ledger"), {{Kind::kSubject, "s-1", 1}}).ok());
  EXPECT_TRUE(CheckLedgerWritable(dir.File("erasures.ledger")).ok());

  const Status missing = CheckLedgerWritable(dir.File("gone/erasures.ledger"));
  EXPECT_EQ(missing.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(missing.message().find("its directory " + dir.File("gone") + ": No such file"),
            std::string::npos)
      << missing.message();
  std::ofstream(dir.File("plain")) << "x";
  const Status not_dir = CheckLedgerWritable(dir.File("plain/erasures.ledger"));
  EXPECT_EQ(not_dir.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(not_dir.message().find("Not a directory"), std::string::npos) << not_dir.message();
}

// A store whose ledger is in dir/ledger/, with `subject` erased (at 100)
// after that directory went away (the volume is gone), so that its append
// failed; every failure reported is added to `reported`.
std::unique_ptr<SqliteStore> ErasedWhileTheLedgerIsGone(const TempDir& dir,
                                                        const std::string& subject,
                                                        std::vector<std::string>& reported) {
  std::filesystem::create_directory(dir.File("ledger"));
  SqliteStoreOptions options;
  options.path = dir.File("consentd.db");
  options.erasure_ledger_path = dir.File("ledger/erasures.ledger");
  options.on_ledger_failure = [&reported](const Status& s) { reported.push_back(s.message()); };
  auto db = OpenOrDie(options);
  std::filesystem::remove_all(dir.File("ledger"));
  EXPECT_TRUE(db->Run([&subject](Transaction& txn) -> Status {
                  return txn.MarkSubjectErased(subject, 100);
                }).ok());
  return db;
}

// An append that fails after the commit is counted and handed to the
// daemon, which logs it: before, it was only counted.
TEST(ErasureLedgerStore, AFailedAppendIsReportedWithItsReason) {
  TempDir dir;
  std::vector<std::string> reported;
  auto db = ErasedWhileTheLedgerIsGone(dir, "s-lost", reported);
  EXPECT_EQ(db->stats().erasure_ledger_backlog, 1u);
  ASSERT_TRUE(db->Close().ok());
  ASSERT_EQ(reported.size(), 2u);  // the append, and the last try at Close
  EXPECT_NE(reported[0].find("No such file"), std::string::npos) << reported[0];
  EXPECT_NE(reported[0].find("1 record(s) waiting, 0 of them from earlier batches"),
            std::string::npos)
      << reported[0];
  EXPECT_EQ(db->stats().erasure_ledger_failures, 1u);
  EXPECT_EQ(db->stats().erasure_ledger_backlog, 1u);
}

// The records of a failed append are not dropped: they wait in memory and
// go into the ledger with the next append that succeeds (here the last try
// at Close, once the volume is back), ahead of that append's own.
TEST(ErasureLedgerStore, RecordsOfAFailedAppendAreAppendedOnceTheLedgerCanBeWritten) {
  TempDir dir;
  std::vector<std::string> reported;
  auto db = ErasedWhileTheLedgerIsGone(dir, "s-waiting", reported);
  ASSERT_EQ(reported.size(), 1u);
  std::filesystem::create_directory(dir.File("ledger"));  // the volume is back
  ASSERT_TRUE(db->Close().ok());
  EXPECT_EQ(reported.size(), 1u);
  EXPECT_EQ(db->stats().erasure_ledger_backlog, 0u);
  auto ledger = ReadLedger(dir.File("ledger/erasures.ledger"));
  ASSERT_TRUE(ledger.ok()) << ledger.status().ToString();
  ASSERT_EQ(ledger->size(), 1u);
  EXPECT_EQ(ledger->front().value, "s-waiting");
  EXPECT_EQ(ledger->front().erased_at, 100);
}

TEST(ErasureLedgerStore, ACommittedErasureIsAppendedAndARolledBackOneIsNot) {
  TempDir dir;
  SqliteStoreOptions options;
  options.path = dir.File("consentd.db");
  options.erasure_ledger_path = dir.File("erasures.ledger");
  auto db = OpenOrDie(options);
  ASSERT_TRUE(db->Run([](Transaction& txn) -> Status {
                  CONSENTD_RETURN_IF_ERROR(txn.MarkSubjectErased("s-kept", 100));
                  return txn.AddTombstone({"hash-kept", 100});
                }).ok());
  Status failed = db->Run([](Transaction& txn) -> Status {
    CONSENTD_RETURN_IF_ERROR(txn.MarkSubjectErased("s-rolled-back", 200));
    CONSENTD_RETURN_IF_ERROR(txn.AddTombstone({"hash-rolled-back", 200}));
    return Internal("the unit fails after its writes");
  });
  EXPECT_FALSE(failed.ok());
  // A unit without erasures appends nothing.
  ASSERT_TRUE(db->Run([](Transaction& txn) -> Status {
                  ConsentRow row;
                  row.key = {"s-other", "newsletter", "email", ""};
                  row.status = "granted";
                  return txn.Upsert(row);
                }).ok());
  ASSERT_TRUE(db->Close().ok());
  EXPECT_EQ(ReadAll(options.erasure_ledger_path), "subject s-kept 100\ntombstone hash-kept 100\n");
}

}  // namespace
}  // namespace consentd::store
