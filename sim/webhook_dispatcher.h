// Delivers the webhooks that simulated systems emit: applies the delivery
// faults (delay, duplicate, reorder, drop), sends each attempt with a
// deadline, and retries non-2xx answers and transport errors with the
// vendor's policy (OutgoingWebhook::max_attempts, doubling backoff with a
// deterministic jitter).
//
// Runs on the io thread only; Deliver() may be called from a system's
// handler. Stop() cancels pending timers (shutdown).
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "core/clock.h"
#include "sim/faults.h"
#include "sim/sim_system.h"

namespace boost::asio {
class io_context;
}

namespace consentd::sim {

struct WebhookDispatcherOptions {
  std::chrono::milliseconds attempt_deadline{5000};
  std::chrono::milliseconds reorder_hold{1000};  // a held webhook goes out alone after this
  std::uint64_t seed = 1;
};

class WebhookDispatcher {
 public:
  WebhookDispatcher(boost::asio::io_context& io, FaultInjector& faults, const Clock& clock,
                    WebhookDispatcherOptions options);
  ~WebhookDispatcher();

  void Deliver(const std::string& system, OutgoingWebhook hook);

  // Counters: emitted, attempts, delivered, failed (gave up), dropped,
  // duplicated, reordered, in_flight; plus the last deliveries (newest last).
  nlohmann::json Stats() const;
  void ResetStats();

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace consentd::sim
