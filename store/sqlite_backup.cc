#include "store/sqlite_backup.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <thread>

#include "store/file_sync.h"

namespace consentd::store {
namespace {

struct CloseDb {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using DbHandle = std::unique_ptr<sqlite3, CloseDb>;

Status ErrnoStatus(const std::string& what) {
  return Unavailable(what + ": " + std::strerror(errno));
}

Result<DbHandle> OpenDb(const std::string& path, int flags) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  DbHandle db(raw);
  if (rc != SQLITE_OK) {
    return Unavailable("open " + path + ": " + (raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
  }
  // consentd commits in short transactions; the copy's read waits for a
  // moment when none is starting (as consentd's own connections do).
  sqlite3_busy_timeout(db.get(), 5000);
  return db;
}

// PRAGMA quick_check on `db`: "ok", or the first problems it names.
Status QuickCheck(sqlite3* db, const std::string& path) {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, "PRAGMA quick_check(5)", -1, &st, nullptr) != SQLITE_OK) {
    return Unavailable("check " + path + ": " + sqlite3_errmsg(db));
  }
  std::string problems;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    const std::string line = text ? text : "";
    if (line == "ok") continue;
    problems += (problems.empty() ? "" : "; ") + line;
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) {
    // A page too damaged to read at all is reported as an error, not a row.
    return DataLoss("the copy of " + path +
                    " does not pass PRAGMA quick_check: " + sqlite3_errmsg(db));
  }
  if (!problems.empty()) {
    return DataLoss("the copy of " + path + " does not pass PRAGMA quick_check: " + problems);
  }
  return Status::Ok();
}

void RemovePartial(const std::string& partial) {
  for (const char* suffix : {"", "-journal", "-wal", "-shm"}) ::unlink((partial + suffix).c_str());
}

// Runs the online backup of `src` into `dst` as one step: every page inside
// one read transaction of `src`. A write lock held elsewhere at the start
// (SQLITE_BUSY/LOCKED) is waited out for a while, as consentd would.
Status CopyPages(sqlite3* src, sqlite3* dst, const std::string& from, DatabaseCopy& copy) {
  sqlite3_backup* backup = sqlite3_backup_init(dst, "main", src, "main");
  if (backup == nullptr) return Unavailable("copy " + from + ": " + sqlite3_errmsg(dst));
  int rc = SQLITE_OK;
  for (int attempt = 0; attempt < 200; ++attempt) {
    rc = sqlite3_backup_step(backup, -1);
    if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  copy.pages = static_cast<std::uint64_t>(sqlite3_backup_pagecount(backup));
  sqlite3_backup_finish(backup);  // rc of the step is the one that matters
  if (rc != SQLITE_DONE) {
    if (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB) {
      return DataLoss("copy " + from + ": " + sqlite3_errstr(rc));
    }
    return Unavailable("copy " + from + ": " + sqlite3_errstr(rc) + " (" + sqlite3_errmsg(src) +
                       ")");
  }
  return Status::Ok();
}

}  // namespace

Result<DatabaseCopy> CopyDatabase(const std::string& from, const std::string& to) {
  struct stat st {};
  if (::stat(from.c_str(), &st) != 0) return NotFound("no database at " + from);
  if (::stat(to.c_str(), &st) == 0) return AlreadyExists(to + " exists already");

  const std::string partial = to + ".partial";
  RemovePartial(partial);
  // Created here rather than by SQLite, so that it is 0600 from the first
  // byte whatever the umask: it holds everything consentd holds.
  const int fd = ::open(partial.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus("create " + partial);
  ::close(fd);

  DatabaseCopy copy;
  Status s = [&]() -> Status {
    // Read-write without create: a reader in WAL mode may need to set up
    // the -shm file; this connection writes nothing to the database.
    Result<DbHandle> src = OpenDb(from, SQLITE_OPEN_READWRITE);
    if (!src.ok()) return src.status();
    Result<DbHandle> dst = OpenDb(partial, SQLITE_OPEN_READWRITE);
    if (!dst.ok()) return dst.status();
    CONSENTD_RETURN_IF_ERROR(CopyPages(src->get(), dst->get(), from, copy));
    src->reset();
    CONSENTD_RETURN_IF_ERROR(QuickCheck(dst->get(), from));
    if (sqlite3_close_v2(dst->release()) != SQLITE_OK) {
      return Unavailable("close " + partial);
    }
    return SyncPath(partial);
  }();
  if (s.ok() && ::stat(partial.c_str(), &st) != 0) s = ErrnoStatus("stat " + partial);
  if (s.ok() && ::rename(partial.c_str(), to.c_str()) != 0) s = ErrnoStatus("rename " + partial);
  if (!s.ok()) {
    RemovePartial(partial);
    return s;
  }
  copy.bytes = static_cast<std::uint64_t>(st.st_size);
  CONSENTD_RETURN_IF_ERROR(SyncDirectoryOf(to));
  return copy;
}

}  // namespace consentd::store
