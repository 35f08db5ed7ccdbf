// fsync(2) of files and directories the store writes outside SQLite (the
// erasure ledger, backups): a new file's name is durable only once its
// directory is flushed too.
#pragma once

#include <string>

#include "core/status.h"

namespace consentd::store {

// Flushes the file or directory at `path` to disk.
Status SyncPath(const std::string& path);

// Flushes the directory that holds `path` ("." for a bare name).
Status SyncDirectoryOf(const std::string& path);

}  // namespace consentd::store
