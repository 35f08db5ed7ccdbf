// A part of the running daemon with a start and a stop (after userver's
// components). The daemon starts its components in a fixed order and stops
// them in the reverse order, so that nothing is stopped while a later part
// still uses it; listeners close before what their handlers need goes away.
//
// Start order (docs/operations.md): logging → store → proof_log → sync
// (connectors, pollers, dispatcher) → http. Config comes before all of them.
//
// Reload is two-phase so that a reload applies completely or not at all:
// PrepareReload does everything that can fail (e.g. binding a new listener)
// without visible effect; then either CommitReload on every component, or
// AbortReload on those already prepared.
//
// Thread-safety: every member is called on the daemon's io thread.
#pragma once

#include <chrono>
#include <functional>
#include <string_view>

#include "config/config.h"
#include "core/status.h"

namespace consentd::daemon {

class Component {
 public:
  virtual ~Component() = default;

  virtual std::string_view Name() const = 0;

  // Starts with the first configuration. On error the daemon stops the
  // components started before this one and exits.
  virtual Status Start(const config::Config& config) = 0;

  // Every component has started (called once, before the io thread serves
  // anything): work that must leave no trace of a start that failed, such
  // as recording the mapping in force, begins here.
  virtual void Started() {}

  virtual Status PrepareReload(const config::Config& /*next*/) { return Status::Ok(); }
  virtual void CommitReload(const config::Config& /*next*/) {}
  virtual void AbortReload() {}

  // Stops, finishing what is in flight until `deadline`, then calls `done`
  // exactly once (on the io thread, possibly before returning).
  virtual void Stop(std::chrono::steady_clock::time_point /*deadline*/,
                    std::function<void()> done) {
    done();
  }
};

}  // namespace consentd::daemon
