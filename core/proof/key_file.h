// The log's Ed25519 signing key as a file (DESIGN.md §4): created with mode
// 0600 on first use, loaded afterwards. The file holds one line, the Go
// sumdb private key form (see note.h). Not thread-safe against concurrent
// creation of the same path by two processes (O_EXCL makes one of them fail
// with AlreadyExists; retrying then loads the winner's key).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/proof/note.h"
#include "core/status.h"

namespace consentd::proof {

// Defaults shared by consentd and consentctl: the log's origin (= key
// name) and the key file next to the database.
inline constexpr std::string_view kDefaultLogOrigin = "consentd/proof-log";
std::string DefaultSigningKeyPath(const std::string& db_path);

// Loads the key at `path`, or creates one named `name` if the file does not
// exist. FailedPrecondition if the file's key has another name;
// PermissionDenied if the file is readable by group or others;
// Unavailable for I/O errors.
Result<NoteSigner> LoadOrCreateSigningKey(const std::string& path, std::string_view name);

// Loads an existing key file (no creation), same checks.
Result<NoteSigner> LoadSigningKey(const std::string& path);

// The key for a log whose latest stored checkpoint is `latest_checkpoint`
// (nullopt: none yet). With no checkpoint, as LoadOrCreateSigningKey. With
// one, the key must exist and must have signed it: FailedPrecondition
// otherwise, naming the file and the key that did sign. (A missing key file
// replaced by a new key under the same name would leave the log with no key
// that verifies all of it.)
Result<NoteSigner> LoadSigningKeyForLog(const std::string& path, std::string_view name,
                                        const std::optional<std::string>& latest_checkpoint);

}  // namespace consentd::proof
