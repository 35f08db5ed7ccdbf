#include "store/erasure_ledger.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/file_read.h"
#include "store/file_sync.h"

namespace consentd::store {
namespace {

Status ErrnoStatus(const std::string& what) {
  return Unavailable("erasure ledger: " + what + ": " + std::strerror(errno));
}

Status WriteAll(int fd, const std::string& bytes, const std::string& path) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("write " + path);
    done += static_cast<std::size_t>(n);
  }
  return Status::Ok();
}

// Cuts a last line that a crash left without its newline (it was never
// flushed whole, so it was never relied on): the file then ends in '\n'.
// Reads one byte in the usual case; the whole file only after a crash.
Status DropTornTail(int fd, const std::string& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return ErrnoStatus("stat " + path);
  if (st.st_size == 0) return Status::Ok();
  char last = '\n';
  if (::pread(fd, &last, 1, st.st_size - 1) != 1) return ErrnoStatus("read " + path);
  if (last == '\n') return Status::Ok();
  std::string text(static_cast<std::size_t>(st.st_size), '\0');
  if (::pread(fd, text.data(), text.size(), 0) != st.st_size) return ErrnoStatus("read " + path);
  const std::size_t nl = text.rfind('\n');
  const off_t keep = nl == std::string::npos ? 0 : static_cast<off_t>(nl + 1);
  if (::ftruncate(fd, keep) != 0) return ErrnoStatus("truncate " + path);
  return Status::Ok();
}

bool ParseRecord(const std::string& line, LedgerRecord& out) {
  std::istringstream in(line);
  std::string kind, value, at, extra;
  if (!(in >> kind >> value >> at) || (in >> extra)) return false;
  if (kind == "subject") {
    out.kind = LedgerRecord::Kind::kSubject;
  } else if (kind == "tombstone") {
    out.kind = LedgerRecord::Kind::kTombstone;
  } else {
    return false;
  }
  out.value = value;
  const auto [end, ec] = std::from_chars(at.data(), at.data() + at.size(), out.erased_at);
  return ec == std::errc() && end == at.data() + at.size();
}

}  // namespace

Status AppendToLedger(const std::string& path, const std::vector<LedgerRecord>& records) {
  if (records.empty()) return Status::Ok();
  std::string bytes;
  for (const LedgerRecord& r : records) {
    bytes += r.kind == LedgerRecord::Kind::kSubject ? "subject " : "tombstone ";
    bytes += r.value + " " + std::to_string(r.erased_at) + "\n";
  }
  int fd = ::open(path.c_str(), O_RDWR | O_APPEND | O_CLOEXEC);
  bool created = false;
  if (fd < 0 && errno == ENOENT) {
    fd = ::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    created = fd >= 0;
  }
  if (fd < 0) return ErrnoStatus("open " + path);
  // consentd and `consentctl resync` may append at once: one at a time,
  // so that neither takes the other's line in flight for a torn one.
  Status s = ::flock(fd, LOCK_EX) == 0 ? Status::Ok() : ErrnoStatus("lock " + path);
  if (s.ok()) s = DropTornTail(fd, path);
  if (s.ok()) s = WriteAll(fd, bytes, path);
  if (s.ok() && ::fdatasync(fd) != 0) s = ErrnoStatus("fdatasync " + path);
  ::close(fd);
  if (s.ok() && created) s = SyncDirectoryOf(path);  // the new name, durable too
  return s;
}

Status CheckLedgerWritable(const std::string& path) {
  if (::access(path.c_str(), W_OK) == 0) return Status::Ok();
  int err = errno;
  std::string what = path;
  if (err == ENOENT) {
    // Not created yet: it will be, in its directory.
    const std::size_t slash = path.rfind('/');
    const std::string dir =
        slash == std::string::npos ? "." : path.substr(0, std::max<std::size_t>(slash, 1));
    if (::access(dir.c_str(), W_OK | X_OK) == 0) return Status::Ok();
    err = errno;
    what = "its directory " + dir;
  }
  return FailedPrecondition("erasure ledger " + path + " cannot be written (" + what + ": " +
                            std::strerror(err) +
                            "): erasures would not be recorded for a restore from a backup");
}

Result<std::vector<LedgerRecord>> ReadLedger(const std::string& path) {
  std::vector<LedgerRecord> records;
  Result<std::string> read = ReadWholeFile(path, "erasure ledger");
  if (!read.ok()) {
    if (read.status().code() == StatusCode::kNotFound) return records;
    return read.status();
  }
  const std::string& text = *read;
  std::size_t start = 0;
  int line_no = 0;
  while (start < text.size()) {
    const std::size_t nl = text.find('\n', start);
    if (nl == std::string::npos) break;  // cut short before its flush
    ++line_no;
    const std::string line = text.substr(start, nl - start);
    start = nl + 1;
    if (line.empty()) continue;
    LedgerRecord r;
    if (!ParseRecord(line, r)) {
      return InvalidArgument(path + ":" + std::to_string(line_no) +
                             ": not an erasure ledger record (expected 'subject|tombstone VALUE "
                             "ERASED_AT_MS')");
    }
    records.push_back(std::move(r));
  }
  return records;
}

}  // namespace consentd::store
