#include "cli/cmd_log_common.h"

#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "config/config.h"
#include "core/proof/key_file.h"
#include "store/sqlite_store.h"

namespace consentd::cli {

void ProofLogArgs::AddOptions(CLI::App& cmd, bool with_vkey) {
  cmd.add_option("--config", config_file, "consentd config file (for store.path)");
  cmd.add_option("--db", db_path, "SQLite database file (instead of --config)");
  cmd.add_option("--key-file", key_file,
                 "log signing key file (default: --config's proof_log.signing_key_file, else "
                 "proof_signing.key beside the database)");
  cmd.add_option("--origin", origin, "log origin (key name) when a new key is created");
  if (with_vkey) {
    cmd.add_option("--vkey", vkey, "verifier key <name>+<id>+<key> (instead of the key file)");
  }
}

Result<std::string> ProofLogArgs::DatabasePath() const {
  if (!db_path.empty()) return db_path;
  if (config_file.empty()) return InvalidArgument("give --db FILE or --config FILE");
  Result<config::Config> config = config::LoadConfigFile(config_file);
  if (!config.ok()) return config.status();
  return config->store.path;
}

Result<std::string> ProofLogArgs::KeyPath() const {
  if (!key_file.empty()) return key_file;
  if (db_path.empty() && !config_file.empty()) {
    // The daemon's own resolution (proof_log.signing_key_file or its default).
    Result<config::Config> config = config::LoadConfigFile(config_file);
    if (!config.ok()) return config.status();
    return config->proof_log.signing_key_file;
  }
  Result<std::string> db = DatabasePath();
  if (!db.ok()) return InvalidArgument("give --key-file FILE, --db FILE or --config FILE");
  return proof::DefaultSigningKeyPath(*db);
}

Result<proof::NoteVerifier> ProofLogArgs::Verifier() const {
  if (!vkey.empty()) return proof::NoteVerifier::FromVerifierKey(vkey);
  Result<std::string> path = KeyPath();
  if (!path.ok()) return path.status();
  Result<proof::NoteSigner> signer = proof::LoadSigningKey(*path);
  if (!signer.ok()) return signer.status();
  return proof::NoteVerifier::FromVerifierKey(signer->VerifierKey());
}

Result<proof::NoteSigner> ProofLogArgs::Signer() const {
  Result<std::string> path = KeyPath();
  if (!path.ok()) return path.status();
  // A key is made only where it was named: by --key-file, or by --config
  // as consentd resolves it. Beside a --db it would be a guess, and with
  // consentd's key configured elsewhere, a checkpoint it signed would make
  // consentd refuse to start (its key no longer signed the latest one).
  if (key_file.empty() && !(db_path.empty() && !config_file.empty())) {
    Result<proof::NoteSigner> existing = proof::LoadSigningKey(*path);
    if (existing.status().code() == StatusCode::kNotFound) {
      return FailedPrecondition("no signing key at " + *path +
                                ": give --config (consentd's key) or --key-file (a key to "
                                "create there); none is made beside --db");
    }
    return existing;
  }
  if (origin.empty()) {
    // An existing key keeps its own name; a new one gets the default.
    Result<proof::NoteSigner> existing = proof::LoadSigningKey(*path);
    if (existing.ok() || existing.status().code() != StatusCode::kNotFound) return existing;
    std::string name(proof::kDefaultLogOrigin);
    if (db_path.empty() && !config_file.empty()) {
      Result<config::Config> config = config::LoadConfigFile(config_file);
      if (!config.ok()) return config.status();
      name = config->proof_log.origin;
    }
    return proof::LoadOrCreateSigningKey(*path, name);
  }
  return proof::LoadOrCreateSigningKey(*path, origin);
}

Result<proof::NoteSigner> ProofLogArgs::SignerForLog(const std::string& latest_checkpoint) const {
  Result<std::string> path = KeyPath();
  if (!path.ok()) return path.status();
  Result<proof::NoteSigner> existing = proof::LoadSigningKey(*path);
  // The name the log's key must have: --origin, else the existing key's
  // (its name is checked against the checkpoint by the signature).
  const std::string name = !origin.empty() ? origin
                           : existing.ok() ? existing->name()
                                           : std::string(proof::kDefaultLogOrigin);
  return proof::LoadSigningKeyForLog(*path, name, latest_checkpoint);
}

Status CheckDatabaseFile(const std::string& db_path) {
  struct stat st {};
  if (::stat(db_path.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT) return NotFound("no database at " + db_path);
    const std::string why = "cannot reach the database " + db_path + ": " + std::strerror(err);
    return err == EACCES || err == EPERM ? Status(StatusCode::kPermissionDenied, why)
                                         : FailedPrecondition(why);
  }
  if (S_ISDIR(st.st_mode)) {
    return FailedPrecondition(db_path +
                              " is a directory, not a database file (store.path names "
                              "the file itself)");
  }
  if (!S_ISREG(st.st_mode)) return FailedPrecondition(db_path + " is not a regular file");
  if (::access(db_path.c_str(), R_OK) != 0) {
    const int err = errno;
    return {StatusCode::kPermissionDenied, "cannot read the database " + db_path + ": " +
                                               std::strerror(err) +
                                               " (run consentctl as the user consentd runs as)"};
  }
  return Status::Ok();
}

namespace {

Status OpenAndRun(const std::string& db_path, store::Work work, bool read_only) {
  if (Status exists = CheckDatabaseFile(db_path); !exists.ok()) return exists;
  store::SqliteStoreOptions options;
  options.path = db_path;
  options.read_only = read_only;
  options.migrate = false;  // consentd migrates; the old one may still run on it
  Result<std::unique_ptr<store::SqliteStore>> db = store::SqliteStore::Open(options);
  if (!db.ok()) return db.status();
  Status s = (*db)->Run(std::move(work));
  Status closed = (*db)->Close();
  return s.ok() ? closed : s;
}

}  // namespace

Status RunOnStore(const std::string& db_path, store::Work work) {
  return OpenAndRun(db_path, std::move(work), /*read_only=*/false);
}

Status ReadStore(const std::string& db_path, store::Work work) {
  return OpenAndRun(db_path, std::move(work), /*read_only=*/true);
}

std::string ProofLogArgs::MissingDatabase() const {
  return db_path.empty() && config_file.empty() ? "give --db FILE or --config FILE" : "";
}

std::string ProofLogArgs::MissingKey() const {
  return key_file.empty() && !MissingDatabase().empty()
             ? "give --key-file FILE, --db FILE or --config FILE"
             : "";
}

std::string ProofLogArgs::MissingVerifier() const {
  return vkey.empty() && !MissingKey().empty()
             ? "give --vkey KEY, --key-file FILE, --db FILE or --config FILE"
             : "";
}

int UsageError(const char* cmd, const std::string& why) {
  std::fprintf(stderr, "consentctl %s: %s (see consentctl %s --help)\n", cmd, why.c_str(), cmd);
  return kExitUsage;
}

int Fail(const char* cmd, const Status& status) {
  // The operator's words only: the status code's name ("UNAVAILABLE") says
  // nothing the message does not, and may mislabel the cause.
  std::fprintf(stderr, "consentctl %s: %s\n", cmd, status.message().c_str());
  return 1;
}

}  // namespace consentd::cli
