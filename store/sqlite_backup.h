// A consistent copy of a live store, for backups (consentctl backup;
// docs/operations.md, "Backup and restore").
//
// Copying the database file by hand while consentd runs is not a backup:
// in WAL mode the newest commits live in the -wal file, and a copy taken
// between a checkpoint's page writes mixes two states. SQLite's online
// backup API reads every page inside one read transaction, so the copy is
// the database as of one commit. In WAL mode that read holds up neither
// consentd's writes nor its commits (only checkpoints past that commit
// wait until the copy is done).
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"

namespace consentd::store {

struct DatabaseCopy {
  std::uint64_t pages = 0;
  std::uint64_t bytes = 0;
};

// Copies the database at `from` into the new file `to` (mode 0600). The
// copy is written as `to`.partial, checked with PRAGMA quick_check, flushed
// to disk and then renamed, so `to` exists only complete and checked; a
// leftover .partial from an interrupted copy is replaced. NotFound when
// `from` does not exist, AlreadyExists when `to` does; DataLoss when the
// copy fails its check (the source is damaged: the .partial is removed).
Result<DatabaseCopy> CopyDatabase(const std::string& from, const std::string& to);

}  // namespace consentd::store
