// Shared by the commands that open the store (`verify`, `log ...`, `dlq`,
// `erasures`, `explain`): where the database and the signing key are,
// running one unit of work on the store, and how a usage error is told.
// The database comes from --db, or from --config's store.path.
#pragma once

#include <string>

#include "core/proof/note.h"
#include "core/status.h"
#include "store/store.h"

namespace CLI {
class App;
}

namespace consentd::cli {

struct ProofLogArgs {
  std::string config_file;
  std::string db_path;
  std::string key_file;  // default: next to the database
  std::string vkey;      // verifier key string (auditors need no private key)
  std::string origin;    // name for a newly created key

  // Adds --config/--db/--key-file/--vkey/--origin to `cmd`.
  void AddOptions(CLI::App& cmd, bool with_vkey);
  // The database path; InvalidArgument if neither option gives one.
  Result<std::string> DatabasePath() const;
  // Signing key path: --key-file; else with --config (and no --db) the
  // config's proof_log.signing_key_file, as consentd resolves it; else the
  // default beside the database.
  Result<std::string> KeyPath() const;
  // The verifier: --vkey if given, else derived from the signing key file.
  Result<proof::NoteVerifier> Verifier() const;

  // The usage error of a command that needs the database (DatabasePath),
  // the signing key (KeyPath) or the verifier (Verifier) when no option
  // names it; empty if one does. Checked before any work, so that a
  // missing option exits kExitUsage like the parser's own errors.
  std::string MissingDatabase() const;
  std::string MissingKey() const;
  std::string MissingVerifier() const;
  // Loads the signing key, creating it (0600) if absent where --key-file or
  // --config names it (never beside a bare --db: FailedPrecondition).
  Result<proof::NoteSigner> Signer() const;
  // The key that signed `latest_checkpoint`, the log's newest: never a new
  // one (proof::LoadSigningKeyForLog).
  Result<proof::NoteSigner> SignerForLog(const std::string& latest_checkpoint) const;
};

// OK if `db_path` names an existing regular file. Otherwise says why in
// the operator's terms: NotFound "no database at P" only when nothing is
// there; a path consentctl may not look into (EACCES), a directory, or a
// component that is not a directory each get their own words, because
// "no database" would send the operator looking for a file that exists.
Status CheckDatabaseFile(const std::string& db_path);

// Opens the existing database (CheckDatabaseFile first) and runs `work` in
// one unit of work, which may write. A store at an older schema is refused,
// not migrated: after an upgrade the old consentd may still run on it, and
// only consentd migrates.
Status RunOnStore(const std::string& db_path, store::Work work);
// The same for a command that only reads, also beside a running consentd:
// a read snapshot that never takes the write lock (however long `work`
// takes, consentd keeps committing), and a store at an older schema is
// refused rather than migrated (SqliteStoreOptions::read_only).
Status ReadStore(const std::string& db_path, store::Work work);

// Prints "consentctl <cmd>: <status>" to stderr and returns 1.
int Fail(const char* cmd, const Status& status);

// The exit code of a usage error, the parser's (CLI11) or a command's own
// check of its options (a choice of two options, an option another needs).
inline constexpr int kExitUsage = 2;

// Prints "consentctl <cmd>: <why> (see consentctl <cmd> --help)" to stderr
// and returns kExitUsage.
int UsageError(const char* cmd, const std::string& why);

}  // namespace consentd::cli
