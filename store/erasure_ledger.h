// The erasure ledger: every erasure's pseudonym and tombstones, appended to
// a plain file outside the database as it commits.
//
// Erasure is terminal (DESIGN.md §2 rule 4), but a database put back from a
// backup (docs/operations.md, "Backup and restore") no longer holds the
// erasures made after that backup: the people erased since would be known
// again, with their state and evidence key, and their identifiers no longer
// refused. The ledger survives such a restore (it is not in the backup, and
// can live on another volume), and consentd re-applies at start whatever
// erasure it lists that the database does not hold (daemon/
// erasure_ledger_replay.h).
//
// One line per fact, never rewritten:
//   subject <pseudonym> <erased_at_ms>
//   tombstone <keyed hash> <erased_at_ms>
// It holds no address: the pseudonym and the keyed hashes (HMAC under the
// identity key, core/keyed_hash.h) are what the database's tombstones hold.
#pragma once

#include <string>
#include <vector>

#include "core/clock.h"
#include "core/status.h"

namespace consentd::store {

struct LedgerRecord {
  enum class Kind { kSubject, kTombstone };
  Kind kind = Kind::kSubject;
  std::string value;  // the subject pseudonym, or the identity hash
  TimestampMs erased_at = 0;

  bool operator==(const LedgerRecord&) const = default;
};

// Appends `records` to the ledger at `path` (created 0600 if missing) and
// flushes it (fdatasync). A last line cut short by a crash (never flushed
// whole) is cut off first, so that the new lines stay whole.
Status AppendToLedger(const std::string& path, const std::vector<LedgerRecord>& records);

// OK if consentd can append to the ledger at `path`: the file is
// writable, or, while it does not exist, its directory is (it is created
// at the first erasure). FailedPrecondition naming the path and the
// system's reason otherwise (a missing directory, a read-only file
// system): checked at start, because an erasure whose record cannot be
// appended is not re-applied after a restore from a backup.
Status CheckLedgerWritable(const std::string& path);

// Every record in the ledger at `path`, in file order; none if the file
// does not exist. A last line without its newline (cut short by a crash
// before its flush) is left out. InvalidArgument naming PATH:LINE for any
// other line that is not a record.
Result<std::vector<LedgerRecord>> ReadLedger(const std::string& path);

}  // namespace consentd::store
