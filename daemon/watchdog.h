// Decides whether the systemd watchdog may be pinged. The caller runs on
// the io thread, so reaching the check at all proves the io loop makes
// progress; the store thread proves it through its heartbeat, which must
// have grown within the last watchdog interval. Pure; not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>

namespace consentd::daemon {

class WatchdogGate {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  WatchdogGate(std::chrono::microseconds interval, std::uint64_t heartbeat, TimePoint now)
      : interval_(interval), last_heartbeat_(heartbeat), last_progress_(now) {}

  // True: send WATCHDOG=1 now. False: the store thread has been stuck for
  // longer than one interval; withhold the ping so that systemd acts.
  bool MayPing(std::uint64_t heartbeat, TimePoint now) {
    if (heartbeat != last_heartbeat_) {
      last_heartbeat_ = heartbeat;
      last_progress_ = now;
    }
    return now - last_progress_ <= interval_;
  }

  // How long the store thread has shown no progress.
  std::chrono::steady_clock::duration StalledFor(TimePoint now) const {
    return now - last_progress_;
  }

 private:
  std::chrono::microseconds interval_;
  std::uint64_t last_heartbeat_;
  TimePoint last_progress_;
};

}  // namespace consentd::daemon
