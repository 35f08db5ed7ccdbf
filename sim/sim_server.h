// SimServer: consentd-sim's framework. Serves each SimSystem on its own
// port (vendor API at the paths the vendor uses) and the control API under
// /_sim/ on every port (loopback clients only):
//   GET  /_sim/health            liveness
//   GET  /_sim/state             every system's state
//   POST /_sim/reset             every system, faults, counters, webhook stats
//   GET  /_sim/counters          requests by system, route and status
//   GET|DELETE /_sim/requests[?system=S&since=MS]  every request's arrival,
//                                answer, status, route (sim/request_log.h)
//   GET|POST|DELETE /_sim/faults[/ID]   fault rules (see faults.h)
//   GET  /_sim/webhooks          outgoing webhook delivery stats
//   *    /_sim/<system>/...      the system's own control API
// Vendor API calls pass the fault injector first, then the system.
//
// Thread-safety: everything runs on the io_context's thread; construct,
// AddSystem and Start before (or on) that thread. Destroy after the
// io_context has stopped.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>

#include "core/clock.h"
#include "core/status.h"
#include "net/http_server.h"
#include "sim/sim_system.h"

namespace consentd::sim {

struct SimServerOptions {
  std::uint64_t seed = 1;
  std::chrono::milliseconds webhook_attempt_deadline{5000};
  // A reordered webhook waits this long for the next one to overtake it.
  std::chrono::milliseconds webhook_reorder_hold{1000};
};

class SimServer {
 public:
  SimServer(boost::asio::io_context& io, const Clock& clock, SimServerOptions options);
  ~SimServer();
  SimServer(const SimServer&) = delete;
  SimServer& operator=(const SimServer&) = delete;

  // REQUIRES: before Start; system names are unique.
  void AddSystem(std::unique_ptr<SimSystem> system, net::HttpServerOptions listen);

  // Binds every port; the first failure is returned (nothing keeps running).
  Status Start();

  // Bound port of a system's server (0 if unknown or not started).
  std::uint16_t port(std::string_view system) const;

  // Stops accepting, drains in-flight requests up to `deadline`, then `done`.
  void Shutdown(std::chrono::milliseconds deadline, std::function<void()> done);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// "GET /crm/v3/objects/contacts/{id}": the counters' route key. Segments
// that look like ids (digits, an address with '@', a 32-hex hash) become {id}.
std::string RouteKey(std::string_view method, std::string_view path);

// True for 127.0.0.0/8, ::1 and ::ffff:127.x.y.z.
bool IsLoopbackAddress(std::string_view address);

}  // namespace consentd::sim
