// What the commands that decide like consentd, in their own process, share
// (`resync`, `erase --dry-run`): they open the store consentd created, with
// the identity key its hashes were made with, and decide by the mapping
// consentd runs with. A dry run changes no data: not the schema, not the
// key, and every unit it runs is rolled back (the store's housekeeping,
// such as merging received webhook ids into their index, may still run
// while it is open).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "config/config.h"
#include "core/status.h"
#include "store/sqlite_store.h"

namespace consentd::cli {

// The store at config.store.path, opened for deciding. A dry run refuses a
// store at an older schema than this consentctl's (opening it would
// migrate it; consentd migrates at its start).
Result<std::unique_ptr<store::SqliteStore>> OpenStoreToDecide(const config::Config& config,
                                                              bool dry_run);

// The identity key bound to `db` (sync::OpenIdentityKey). A real run
// creates and binds it if the store has none yet, as consentd does; a dry
// run writes nothing and, for a store with no key yet (so no hashes, which
// any key would match none of), uses a throwaway key.
Result<std::string> IdentityKeyToDecide(store::SqliteStore& db, const config::Config& config,
                                        bool dry_run);

// Why `file_hash`, the mapping of the configuration file, is not the one
// consentd last recorded as in force (store/config_history.h): edited and
// not reloaded yet. nullopt when it is, or when none is recorded yet (the
// store's consentd has not run this version: it records the file's at its
// next start).
Result<std::optional<std::string>> MappingNotInForce(store::SqliteStore& db,
                                                     const std::string& file_hash);
// The same, within a unit of work (checked again in each of a resync's).
Result<std::optional<std::string>> MappingNotInForce(store::Transaction& txn,
                                                     const std::string& file_hash);

}  // namespace consentd::cli
