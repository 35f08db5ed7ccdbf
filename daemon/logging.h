// Process-wide logging on spdlog, to stderr (systemd sends it to the
// journal). Three shapes, chosen by config and environment:
//   text  "2026-11-29T13:35:10.123Z info  listening on 127.0.0.1:8470"
//   json  {"time":"2026-11-29T13:35:10.123Z","level":"info","message":"..."}
//   either one prefixed "<6>" (sd-daemon(3) level) and without our own
//   timestamp when stderr is the journal stream ($JOURNAL_STREAM matches).
// Every message passes through MaskEmailsInText (core/redact.h) as a last
// line of defence; code must still never log secrets or raw addresses.
//
// Thread-safety: ConfigureLogging is called on the orchestration thread;
// logging itself (spdlog::info, ...) is thread-safe.
#pragma once

#include <spdlog/formatter.h>

#include <memory>
#include <string_view>

#include "config/config.h"
#include "core/status.h"

namespace consentd::daemon {

// Installs, or reconfigures in place, the default logger. InvalidArgument
// for an unknown level (then nothing changes).
Status ConfigureLogging(const config::LogConfig& log);

// True when $JOURNAL_STREAM names stderr's device:inode (sd_journal docs).
bool StderrIsJournal();

// The formatter ConfigureLogging installs (exposed for tests).
std::unique_ptr<spdlog::formatter> MakeLogFormatter(config::LogFormat format, bool journal);

}  // namespace consentd::daemon
