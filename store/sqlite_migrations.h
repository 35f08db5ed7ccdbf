// Versioned, forward-only schema migrations of the SQLite store.
//
// The schema version is MAX(version) in table schema_version (0 for an
// empty database). Each migration is one numbered SQL step, applied in its
// own transaction together with its schema_version row, so a failure leaves
// the database at the previous version. To change the schema, append one
// entry to the list in sqlite_migrations.cc; never edit a released one.
#pragma once

#include <span>
#include <string_view>

#include "core/status.h"
#include "store/sqlite_db.h"

namespace consentd::store {

struct Migration {
  int version;            // 1, 2, 3, ... without gaps
  std::string_view name;  // short, for schema_version and logs
  std::string_view sql;   // one or more statements
};

// All migrations, in version order.
std::span<const Migration> SqliteMigrations();
int LatestSchemaVersion();

// The version the database is at (0 if it has never been migrated).
Result<int> SchemaVersion(Db& db);

// Applies every migration after the current version up to `target`.
// FailedPrecondition if the database is newer than `target` (a newer
// binary wrote it: refuse rather than guess).
// REQUIRES: no transaction open on `db`.
Status MigrateTo(Db& db, int target, std::int64_t applied_at_ms);

}  // namespace consentd::store
