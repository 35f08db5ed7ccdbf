// Shared by the proof-log commands (`verify`, `log ...`): where the
// database and the signing key are, and running one unit of work on the
// store. The database comes from --db, or from --config's store.path.
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
  // Loads the signing key, creating it (0600) if absent.
  Result<proof::NoteSigner> Signer() const;
};

// Opens the existing database (NotFound if the file does not exist) and
// runs `work` in one unit of work.
Status RunOnStore(const std::string& db_path, store::Work work);

// Prints "consentctl <cmd>: <status>" to stderr and returns 1.
int Fail(const char* cmd, const Status& status);

}  // namespace consentd::cli
