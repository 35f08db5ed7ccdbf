// Delivery of an access export (issue #7, GDPR Art. 15): the export JSON
// POSTed to the endpoint configured in `privacy.export_delivery` (e.g. a
// journey step that mails it to the person), signed per Standard Webhooks
// (webhook-id, webhook-timestamp, webhook-signature over the exact body;
// connectors/common/webhook_signatures.h), so the receiver can tell it
// came from consentd and was not altered.
//
// Transport errors, timeouts and 5xx answers are retried kMaxAttempts - 1
// times with doubling backoff (the same webhook-id each time, so a receiver
// that got an earlier attempt can deduplicate; a fresh timestamp and
// signature per attempt). 2xx is delivered; anything else is final.
//
// Thread-safety: DeliverExport blocks (sleeps between attempts); run it on
// a worker thread, never on the io thread. It is reentrant.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include "config/config.h"
#include "connectors/common/http_client.h"
#include "core/clock.h"
#include "core/status.h"
#include "daemon/admin_api.h"
#include "daemon/router.h"

namespace consentd::daemon {

inline constexpr int kExportDeliveryMaxAttempts = 4;

struct ExportDeliveryOutcome {
  bool delivered = false;
  int attempts = 0;
  int http_status = 0;     // of the last answer; 0 when none came
  std::string webhook_id;  // "msg_<...>", the same for every attempt
  std::string reason;      // why not delivered (empty when delivered)
};

struct ExportDeliveryDeps {
  connectors::HttpClient* http = nullptr;                // borrowed
  std::function<TimestampMs()> now;                      // wall clock
  std::function<void(std::chrono::milliseconds)> sleep;  // between attempts
  std::chrono::milliseconds first_backoff{500};
};

// Reads the secret from `config.secret_file` and delivers `export_json`.
// A missing or unusable secret is an error Status (nothing is sent); a
// delivery that failed is an OK Result with delivered = false and reason.
Result<ExportDeliveryOutcome> DeliverExport(const config::ExportDeliveryConfig& config,
                                            std::string_view export_json,
                                            const ExportDeliveryDeps& deps);

// The longest DeliverExport can take with `config` and a first backoff of
// `first_backoff`: every attempt up to its timeout, and the sleeps between
// them. Whoever waits for its answer (consentctl export --deliver) must
// wait at least this long, or it reports a failure while the delivery may
// still succeed.
std::chrono::milliseconds LongestExportDelivery(
    const config::ExportDeliveryConfig& config,
    std::chrono::milliseconds first_backoff = ExportDeliveryDeps{}.first_backoff);

class SyncComponent;

// POST /api/v1/subjects/export/deliveries {"email": "..."} (docs/admin-api.md):
//   200 {"delivered":true,"webhook_id","attempts","http_status"}
//   502 problem+json with the same fields when the endpoint refused or
//       could not be reached (the reason in "detail")
//   400 without a usable address, 404 for an unknown one, 409 when
//       privacy.export_delivery is not configured, 503 otherwise.
// Called once from AddSyncAdminRoutes; both borrowed for the router's life.
void AddExportDeliveryRoutes(Router& router, const AdminComponent& admin, SyncComponent& sync);

}  // namespace consentd::daemon
