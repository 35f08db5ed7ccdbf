// Crash safety of committed batches: a child process commits through group
// commit and acknowledges each unit on a pipe; it is killed with SIGKILL at
// several points; after reopening, every acknowledged unit is there.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sstream>
#include <string>
#include <vector>

#include "store_test_util.h"

extern char** environ;

namespace consentd::store {
namespace {

using testing::OpenOrDie;
using testing::TempDir;

struct Child {
  pid_t pid = -1;
  int out = -1;  // read end of the child's stdout
};

Child Spawn(const std::string& db, const std::string& prefix, int threads, long kill_at_call = -1) {
  int fds[2];
  if (pipe(fds) != 0) return {};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  posix_spawn_file_actions_addclose(&actions, fds[1]);
  std::string exe = STORE_CRASH_CHILD;
  std::string threads_arg = std::to_string(threads);
  std::string kill_arg = std::to_string(kill_at_call);
  std::vector<char*> argv = {exe.data(),
                             const_cast<char*>(db.c_str()),
                             const_cast<char*>(prefix.c_str()),
                             threads_arg.data(),
                             kill_at_call > 0 ? kill_arg.data() : nullptr,
                             nullptr};
  Child child;
  if (posix_spawn(&child.pid, exe.c_str(), &actions, nullptr, argv.data(), environ) != 0) {
    child.pid = -1;
  }
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  child.out = fds[0];
  return child;
}

// Reads acknowledged ids until at least `min_acks` complete lines arrived.
void ReadAcks(int fd, std::string* buffer, std::size_t min_acks) {
  char chunk[4096];
  for (;;) {
    std::size_t lines = 0;
    for (char c : *buffer) lines += c == '\n';
    if (lines >= min_acks) return;
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n <= 0) return;  // child died early: the caller checks the count
    buffer->append(chunk, static_cast<std::size_t>(n));
  }
}

// Only complete lines count: a torn last line was never fully acknowledged.
std::vector<std::string> CompleteLines(const std::string& buffer) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t nl; (nl = buffer.find('\n', start)) != std::string::npos; start = nl + 1) {
    out.push_back(buffer.substr(start, nl - start));
  }
  return out;
}

// Number of acknowledged ids missing from the store at `db`, and whether
// SQLite finds the file intact.
struct Audit {
  std::size_t missing = 0;
  bool intact = false;
};

Audit AuditStore(const std::string& db, const std::vector<std::string>& acknowledged) {
  Audit audit;
  {
    Result<std::unique_ptr<Db>> raw = Db::Open(db, nullptr);
    EXPECT_TRUE(raw.ok());
    if (!raw.ok()) return audit;
    Result<std::string> check = (*raw)->QueryText("PRAGMA integrity_check");
    audit.intact = check.ok() && *check == "ok";
  }
  auto store = OpenOrDie(db);
  if (store == nullptr) return audit;
  Status s = store->Run([&](Transaction& txn) -> Status {
    for (const std::string& id : acknowledged) {
      Result<std::optional<ConsentRow>> row = txn.GetConsent({id, "newsletter", "email", ""});
      if (!row.ok()) return row.status();
      Result<bool> fresh = txn.InsertInbox({"crash", id, 1, ""});
      if (!fresh.ok()) return fresh.status();
      if (!row->has_value() || *fresh) ++audit.missing;
    }
    return FailedPrecondition("probe only: roll back");
  });
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  return audit;
}

// Kills the child just before its Nth SQLite call, for every N through the
// open, the migration and the first batches: every durable boundary. Past
// 150 it goes on until some kill came after an acknowledgement: how many
// calls come first depends on the schema (each migration adds some) and on
// timing (the acknowledgement waits for a worker's fsync while the next
// batch's SQL already runs), and a slow machine under ASan needs more. On a
// migrated store the first acknowledgement came after 200-250 calls alone
// and 300-400 with another test's fsyncs on the same disk; here, with 600 as
// the bound, one run in three under `ctest -j2` saw none. So the bound is
// far out: it only stops a store that never acknowledges.
TEST(StoreCrash, KilledAtEachSqliteCallLosesNoAcknowledgedUnit) {
  TempDir dir;
  const std::string db = dir.File("boundary.db");
  std::vector<std::string> acknowledged;
  for (long n = 1; n <= 150 || (acknowledged.empty() && n <= 5000); ++n) {
    SCOPED_TRACE("killed before call " + std::to_string(n));
    Child child = Spawn(db, "n" + std::to_string(n), 2, n);
    ASSERT_GT(child.pid, 0);
    std::string buffer;
    ReadAcks(child.out, &buffer, static_cast<std::size_t>(-1));  // until it dies
    close(child.out);
    int status = 0;
    ASSERT_EQ(waitpid(child.pid, &status, 0), child.pid);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status;
    std::vector<std::string> acks = CompleteLines(buffer);
    acknowledged.insert(acknowledged.end(), acks.begin(), acks.end());
    if (n % 10 == 0) {  // auditing opens the store: do it every 10 kills
      Audit audit = AuditStore(db, acknowledged);
      EXPECT_TRUE(audit.intact);
      ASSERT_EQ(audit.missing, 0u) << "of " << acknowledged.size();
    }
  }
  EXPECT_GT(acknowledged.size(), 0u) << "no kill point came after an acknowledgement";
  Audit audit = AuditStore(db, acknowledged);  // the kills since the last audit
  EXPECT_TRUE(audit.intact);
  EXPECT_EQ(audit.missing, 0u) << "of " << acknowledged.size();
}

TEST(StoreCrash, EveryAcknowledgedUnitSurvivesSigkill) {
  TempDir dir;
  const std::string db = dir.File("crash.db");
  std::vector<std::string> acknowledged;
  // Kill at different depths of the run, reusing the same database.
  for (std::size_t round = 0; round < 4; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    Child child = Spawn(db, "r" + std::to_string(round), 16);
    ASSERT_GT(child.pid, 0);
    std::string buffer;
    ReadAcks(child.out, &buffer, 200 + round * 700);
    ASSERT_EQ(kill(child.pid, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(waitpid(child.pid, &status, 0), child.pid);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "child ended on its own (status " << status << ")";
    // Acks already in the pipe were sent before the kill: they count too.
    ReadAcks(child.out, &buffer, static_cast<std::size_t>(-1));
    close(child.out);
    std::vector<std::string> acks = CompleteLines(buffer);
    EXPECT_GE(acks.size(), 200 + round * 700);
    acknowledged.insert(acknowledged.end(), acks.begin(), acks.end());

    Audit audit = AuditStore(db, acknowledged);
    EXPECT_TRUE(audit.intact);
    EXPECT_EQ(audit.missing, 0u) << "of " << acknowledged.size() << " acknowledged units";
  }
}

}  // namespace
}  // namespace consentd::store
