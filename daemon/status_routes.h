// The status page ("Mission Control", issue #8, docs/status-page.md) and
// the admin endpoints it reads:
//
//   GET  /                         the page (no token: it holds no data; it
//                                  asks for the admin token and sends it with
//                                  every API call); its CSS and JS under
//                                  /status-page/. Embedded at build time.
//   GET  /api/v1/status            connectors, outbox depth per target,
//                                  proof log, throughput, lag, recent decisions
//   GET  /api/v1/dead-letters      dead outbox rows (addresses masked)
//   POST /api/v1/dead-letters/replay  {"id": N} or {"all": true}
//   GET  /api/v1/subjects?email=   one person's state, blocks, may-contact and
//                                  the decisions behind it (sync/explain.h)
//
// Called once from AddSyncAdminRoutes, before the HTTP component starts;
// `admin` and `sync` are borrowed for the router's life. Handlers run on
// the io thread.
#pragma once

#include "daemon/admin_api.h"
#include "daemon/router.h"

namespace consentd::daemon {

class SyncComponent;

void AddStatusRoutes(Router& router, const AdminComponent& admin, SyncComponent& sync);

}  // namespace consentd::daemon
