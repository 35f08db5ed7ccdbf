#include "cli/engine_outside_daemon.h"

#include <openssl/rand.h>

#include <cstdio>
#include <utility>

#include "cli/cmd_log_common.h"
#include "core/clock.h"
#include "core/time_format.h"
#include "store/config_history.h"
#include "store/sqlite_db.h"
#include "store/sqlite_migrations.h"
#include "sync/sync_engine.h"

namespace consentd::cli {

Result<std::unique_ptr<store::SqliteStore>> OpenStoreToDecide(const config::Config& config,
                                                              bool dry_run) {
  const std::string& path = config.store.path;
  // Like the other commands: the store must exist (consentd created it).
  if (Status exists = CheckDatabaseFile(path); !exists.ok()) return exists;
  if (dry_run) {
    Result<std::unique_ptr<store::Db>> raw = store::Db::Open(path, nullptr);
    if (!raw.ok()) return raw.status().WithContext("store " + path);
    Result<int> version = store::SchemaVersion(**raw);
    if (!version.ok()) return version.status().WithContext("store " + path);
    if (*version < store::LatestSchemaVersion()) {
      return FailedPrecondition(
          "store " + path + " is at schema version " + std::to_string(*version) +
          "; this consentctl needs " + std::to_string(store::LatestSchemaVersion()) +
          ". A dry run changes nothing: start consentd once (it migrates the store), then run it "
          "again");
    }
  }
  store::SqliteStoreOptions options;
  options.path = path;
  options.migrate = false;  // only consentd migrates (the old one may still run on it)
  options.erasure_ledger_path = config.sync.erasure_ledger_file;
  // As consentd logs it: a resync's erasures left out of the ledger would
  // not be re-applied after a restore.
  options.on_ledger_failure = [ledger = config.sync.erasure_ledger_file](const Status& s) {
    std::fprintf(stderr,
                 "consentctl: erasure ledger %s: the erasures just committed were not appended "
                 "(a restore from a backup would not re-apply them): %s\n",
                 ledger.c_str(), s.message().c_str());
  };
  Result<std::unique_ptr<store::SqliteStore>> db = store::SqliteStore::Open(options);
  if (!db.ok() && db.status().message().find(path) == std::string::npos) {
    return db.status().WithContext("store " + path);
  }
  return db;
}

Result<std::string> IdentityKeyToDecide(store::SqliteStore& db, const config::Config& config,
                                        bool dry_run) {
  Result<std::string> key = Internal("identity key not read");
  Status opened = db.Run([&](store::Transaction& txn) -> Status {
    key = sync::OpenIdentityKey(
        txn, config.sync.identity_key_file,
        dry_run ? sync::IdentityKeyUse::kRead : sync::IdentityKeyUse::kCreateAndBind,
        SystemClock().NowMs());
    return key.ok() || key.status().code() == StatusCode::kNotFound ? Status::Ok() : key.status();
  });
  if (!opened.ok()) return opened;
  if (dry_run && key.status().code() == StatusCode::kNotFound) {
    std::string throwaway(32, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(throwaway.data()), 32) != 1) {
      return Internal("CSPRNG failure");
    }
    return throwaway;
  }
  return key;
}

Result<std::optional<std::string>> MappingNotInForce(store::Transaction& txn,
                                                     const std::string& file_hash) {
  Result<std::optional<store::ConfigChange>> in_force = store::LatestConfigChange(txn);
  if (!in_force.ok()) return in_force.status();
  if (!in_force->has_value() || (*in_force)->mapping_hash == file_hash) {
    return std::optional<std::string>();
  }
  return std::optional<std::string>("the mapping in this file (" + file_hash.substr(0, 12) +
                                    ") is not the one consentd runs with (" +
                                    (*in_force)->mapping_hash.substr(0, 12) + ", in force since " +
                                    FormatUtcMillis((*in_force)->recorded_at) + ")");
}

Result<std::optional<std::string>> MappingNotInForce(store::SqliteStore& db,
                                                     const std::string& file_hash) {
  std::optional<std::string> why;
  Status read = db.Run([&](store::Transaction& txn) -> Status {
    Result<std::optional<std::string>> r = MappingNotInForce(txn, file_hash);
    if (!r.ok()) return r.status();
    why = std::move(r).value();
    return Status::Ok();
  });
  if (!read.ok()) return read;
  return why;
}

}  // namespace consentd::cli
