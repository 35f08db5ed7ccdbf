// One consentd per database. Two daemons on one store would each claim,
// poll and deliver: every change twice, and two writers to one proof log.
// SQLite's own locks let both run (WAL allows many connections), so the
// daemon holds an exclusive flock(2) on the database file for as long as it
// runs. flock is separate from the fcntl locks SQLite uses, is released by
// the kernel when the process dies (SIGKILL included), and is not taken by
// consentctl, whose offline commands read the store beside a running daemon.
#pragma once

#include <string>

#include "core/status.h"

namespace consentd::daemon {

class InstanceLock {
 public:
  // Takes the lock on `db_path`, creating the file (0600, empty: SQLite
  // takes an empty file as a new database) when it does not exist yet.
  // FailedPrecondition naming the path when another process holds it.
  static Result<InstanceLock> Acquire(const std::string& db_path);

  InstanceLock(InstanceLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  InstanceLock& operator=(InstanceLock&& other) noexcept;
  InstanceLock(const InstanceLock&) = delete;
  InstanceLock& operator=(const InstanceLock&) = delete;
  ~InstanceLock();

 private:
  explicit InstanceLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace consentd::daemon
