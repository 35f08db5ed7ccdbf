// store::Transaction::TombstoneGeneration for the SQLite backend.
#pragma once

#include <atomic>
#include <cstdint>

#include "core/status.h"
#include "store/sqlite_db.h"

namespace consentd::store {

// Transaction::TombstoneGeneration of one connection: a new value whenever
// this connection adds a tombstone or replaces a remembered version's state
// (Added), and whenever another connection has committed (PRAGMA
// data_version), since that commit may have added some.
// Values come from one process-wide sequence, so a store opened again in
// the same process never repeats a value an older one gave out. One
// connection, used by one thread at a time.
class TombstoneCounter {
 public:
  // Inside a write transaction, before its units run: no other connection
  // can commit until it ends, so the value holds for the whole batch.
  // `data_version` is that transaction's `PRAGMA data_version`.
  void Refresh(std::int64_t data_version) {
    if (data_version != data_version_) {
      data_version_ = data_version;
      value_ = Next();
    }
  }
  void Added() { value_ = Next(); }
  std::int64_t value() const { return value_; }

 private:
  static std::int64_t Next() {
    static std::atomic<std::int64_t> last{0};
    return last.fetch_add(1, std::memory_order_relaxed) + 1;
  }

  std::int64_t value_ = Next();
  std::int64_t data_version_ = -1;  // not read yet
};

}  // namespace consentd::store
