// The systemd notify protocol (sd_notify(3)), written by hand: datagrams of
// "KEY=value" lines sent to the AF_UNIX socket named by $NOTIFY_SOCKET
// (a path, or "@name" for the abstract namespace). When NOTIFY_SOCKET is
// unset the Notifier is disabled and sends nothing.
//
// Thread-safety: Send may be called from any thread (one datagram each).
// Errors are returned, never thrown; the daemon logs and carries on, as
// systemd itself does not require an answer.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"

namespace consentd::daemon {

class Notifier {
 public:
  // socket_name: a path, "@abstract", or "" (disabled).
  explicit Notifier(std::string socket_name);
  ~Notifier();
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // From $NOTIFY_SOCKET.
  static Notifier FromEnvironment();

  bool enabled() const { return !socket_name_.empty(); }

  // Sends one datagram; `message` is newline-separated assignments.
  Status Send(std::string_view message);

  Status Ready(std::string_view status);      // READY=1 + STATUS=
  Status Reloading(std::string_view status);  // RELOADING=1 + MONOTONIC_USEC= + STATUS=
  Status Stopping(std::string_view status);   // STOPPING=1 + STATUS=
  Status SetStatus(std::string_view status);  // STATUS=
  Status Watchdog();                          // WATCHDOG=1

  // The watchdog interval systemd expects pings within: $WATCHDOG_USEC,
  // if set, positive, and $WATCHDOG_PID is unset or this process.
  static std::optional<std::chrono::microseconds> WatchdogInterval();

 private:
  std::string socket_name_;
  int fd_ = -1;
};

}  // namespace consentd::daemon
