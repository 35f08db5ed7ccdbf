// The admin API under /api/v1/ (issues #6 and #8): operator actions over
// HTTP, guarded by a bearer token read from `admin.token_file`. Without a
// token file the routes exist but answer 404 (problem+json) saying how to
// turn the API on, so nothing administrative is ever reachable unguarded.
//
// Endpoints so far:
//   GET  /api/v1/stats, POST /api/v1/erasures: see AddSyncAdminRoutes.
//   POST /api/v1/reload   the same reload as SIGHUP and `consentctl reload`:
//                         200 {"status":"reloaded","connectors":[{"name",
//                         "ready","check"}]} once the connectors' checks the
//                         reload started have answered (at most
//                         kReloadCheckWait; "ready" is null for one still
//                         running); 422 problem+json whose detail lists
//                         every error (FILE:LINE:COLUMN: ...) while the
//                         running configuration stays in place; 503 while
//                         shutting down.
// Every refusal is application/problem+json (RFC 9457).
//
// The token is read at start and on reload (a changed or rotated token
// file takes effect with the reload that reads it). Comparison is in
// constant time over SHA-256 digests, so neither content nor length leaks.
//
// Thread-safety: like every component, called on the daemon's io thread;
// the HTTP handlers run there too.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "core/status.h"
#include "daemon/component.h"
#include "daemon/connector_check.h"
#include "daemon/log_throttle.h"
#include "daemon/router.h"
#include "net/http_types.h"

namespace consentd::daemon {

// Every route the daemon serves under /api/v1/, as (method, path). Admin
// routes are registered only through AdminComponent::AddRoute, which
// refuses one missing here, and docs/openapi.yaml documents exactly these
// (tests/daemon/openapi_sync_test.cc).
struct AdminRouteInfo {
  std::string_view method;
  std::string_view path;
};
const std::vector<AdminRouteInfo>& AdminRoutes();

class AdminComponent final : public Component {
 public:
  // Calls its argument with the connectors' checks once those a reload
  // started have answered (SyncComponent::WhenChecksAnswer).
  using AfterReloadChecks = std::function<void(std::function<void(std::vector<ConnectorCheck>)>)>;
  // How long a reload's answer waits for the checks: each call a check
  // makes has the connector's own deadline (10 s by default).
  static constexpr std::chrono::seconds kReloadCheckWait{20};

  // `reload` runs the daemon's reload path (Daemon::Reload); `checks`, if
  // set, is asked after a successful one. Routes are added to `router`
  // here, before the server starts.
  AdminComponent(Router& router, std::function<Status()> reload, AfterReloadChecks checks = {});

  std::string_view Name() const override { return "admin"; }
  Status Start(const config::Config& config) override;
  Status PrepareReload(const config::Config& next) override;
  void CommitReload(const config::Config& next) override;
  void AbortReload() override;

  // Checks the request's bearer token; nullopt if it may proceed, else the
  // answer to send (401 / 404).
  std::optional<net::HttpResponse> Refuse(const net::HttpRequest& req) const;

  // Adds an admin route behind the token check. Aborts if (method, path)
  // is not in AdminRoutes(): a programming error, caught by every test
  // that starts the daemon.
  void AddRoute(Router& router, std::string_view method, std::string_view path,
                Router::RouteHandler handler) const;

 private:
  // Reads the token named by `admin`; empty optional when the API is off.
  static Result<std::optional<std::string>> ReadToken(const config::AdminConfig& admin);

  std::function<Status()> reload_;
  AfterReloadChecks checks_;
  std::optional<std::string> token_digest_;    // SHA-256 of the token; nullopt: API off
  std::optional<std::string> pending_digest_;  // between Prepare and Commit
  // Refusals are logged at most once per 10 s: anyone who reaches the
  // listener can send requests without the token as fast as they like.
  mutable LogThrottle refusal_log_{std::chrono::seconds(10)};
};

class SyncComponent;

// The admin routes served by the sync component, behind `admin`'s token:
//   GET  /api/v1/stats      consent counts (SyncComponent::ConsentStats)
//   POST /api/v1/erasures   {"email": "..."}: erase that person everywhere
//                           (SyncComponent::RequestErasure); 202 with the
//                           request id, subject pseudonym, deadline_ms (one
//                           month, core/legal_deadline.h) and the targets an
//                           erasure was queued for, and the durable request
//                           ("request", store/erasure_requests.h); 400
//                           without a usable address; 404 when no subject has it.
//   GET  /api/v1/erasures, /api/v1/erasures/status: daemon/erasure_routes.h.
//   GET  /api/v1/subjects/export?email=ADDRESS
//                           the access export (privacy/export.h); 404 when
//                           consentd knows nothing about the address.
// Called once, before the HTTP component starts. Both borrowed for life.
void AddSyncAdminRoutes(Router& router, const AdminComponent& admin, SyncComponent& sync);

}  // namespace consentd::daemon
