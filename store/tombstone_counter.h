// store::Transaction::TombstoneGeneration for the SQLite backend.
#pragma once

#include <cstdint>

#include "core/status.h"
#include "store/sqlite_db.h"

namespace consentd::store {

// Transaction::TombstoneGeneration of one connection: counts the
// tombstones this connection added, and moves on whenever another
// connection has committed (PRAGMA data_version), since that commit may
// have added some. One connection, used by one thread at a time.
class TombstoneCounter {
 public:
  // Inside a write transaction, before its units run: no other connection
  // can commit until it ends, so the value holds for the whole batch.
  Status Refresh(Db& db) {
    Result<std::int64_t> version = db.QueryInt("PRAGMA data_version");
    if (!version.ok()) return version.status();
    if (*version != data_version_) {
      data_version_ = *version;
      ++value_;
    }
    return Status::Ok();
  }
  void Added() { ++value_; }
  std::int64_t value() const { return value_; }

 private:
  std::int64_t value_ = 0;
  std::int64_t data_version_ = -1;  // not read yet
};

}  // namespace consentd::store
