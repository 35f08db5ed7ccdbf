// The consentd daemon: loads the config, starts the components in order
// (component.h), serves until SIGTERM/SIGINT, stops them in reverse order.
//
//   SIGTERM, SIGINT  STOPPING=1; stop accepting; finish in-flight requests
//                    until the shutdown deadline; close the store; exit 0.
//   SIGHUP           Reload(): the same path the admin API's
//                    POST /api/v1/reload takes.
//
// systemd: READY=1 once listening with the store open; RELOADING=1 and
// READY=1 around a reload; STOPPING=1; STATUS= lines; WATCHDOG=1 every half
// $WATCHDOG_USEC while both the io loop (the ping's own timer runs on it)
// and the store thread (its heartbeat grows) make progress.
//
// Thread-safety: Run blocks the calling thread, which becomes the io thread.
// Reload must be called on the io thread (signal handlers and HTTP handlers
// run there).
#pragma once

#include <memory>
#include <string>

#include "core/status.h"

namespace consentd::daemon {

class Daemon {
 public:
  explicit Daemon(std::string config_path);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Runs until stopped. Returns the process exit code: 0 after a clean
  // stop, 1 if the configuration or a component failed to start, or the
  // store failed to close cleanly.
  int Run();

  // Loads and validates the whole configuration file again. If it is bad,
  // logs every error line and keeps the running configuration; if good,
  // applies it all (or, if a component cannot, none of it). A changed
  // store.path needs a restart: it is logged and the old path stays.
  // REQUIRES: on the io thread, while Run() runs.
  Status Reload();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace consentd::daemon
