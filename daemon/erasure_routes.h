// Erasure requests over the admin API (issue #7 "Forget", docs/admin-api.md):
//
//   GET /api/v1/erasures[?overdue=true]   every request, newest first, with
//                                         its per-target states, deadline and
//                                         overdue flag (store/erasure_requests.h
//                                         ErasureRequestsJson); only the open
//                                         ones past their deadline with
//                                         overdue=true.
//   GET /api/v1/erasures/status?id=ID     one request; 404 if there is none.
//
// POST /api/v1/erasures (making a request) stays in admin_api.cc.
// Called once from AddSyncAdminRoutes, before the HTTP component starts;
// `admin` and `sync` are borrowed for the router's life. Handlers run on
// the io thread.
#pragma once

#include "daemon/admin_api.h"
#include "daemon/router.h"

namespace consentd::daemon {

class SyncComponent;

void AddErasureRoutes(Router& router, const AdminComponent& admin, SyncComponent& sync);

}  // namespace consentd::daemon
