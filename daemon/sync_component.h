// The sync component: everything between the two systems (DESIGN.md §3).
// It owns the connectors, a worker pool for their blocking calls
// (libcurl), and per connector:
//
//   ingress     POST /webhooks/<name>: the connector verifies the raw bytes,
//               the hints are stored durably (inbox, group commit), THEN 2xx.
//               401 bad signature, 400 malformed, 503 + Retry-After when the
//               store is overloaded or the commit failed (the sender retries).
//   hints       stored hints are read back through the connector's API
//               (Read) and decided by the sync engine; marked done with the
//               decision, in one transaction. Hints left by a crash are
//               picked up at start.
//   poller      every poll_interval (and at start): Poll after the stored
//               cursor; the records and the new cursor commit together.
//   dispatcher  claims due outbox rows (leased), Deliver()s them in batches,
//               records done / retry (full-jitter backoff, Retry-After) /
//               dead / blocked_by_target. Each connector has its own request
//               budget (rate limit + in-flight cap), so a slow or failing
//               target never stalls the other direction.
//
// Started after the proof log and before HTTP; stopped in reverse: HTTP
// closes first (no new webhooks), then this component finishes in-flight
// calls until the deadline (unfinished claims are re-claimed after their
// lease), then the proof log writes its last checkpoint and the store closes.
//
// Thread-safety: Component members, handlers and all scheduling state on
// the io thread; the engine on the store thread; connector calls on the pool.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "daemon/component.h"
#include "daemon/components.h"
#include "daemon/connector_check.h"
#include "daemon/export_delivery.h"
#include "daemon/metrics.h"
#include "daemon/proof_log_component.h"
#include "daemon/router.h"
#include "daemon/sync_status.h"
#include "store/dead_letters.h"

namespace boost::asio {
class io_context;
}

namespace consentd::daemon {

// An operator's erasure request as accepted (POST /api/v1/erasures).
struct ErasureRequest {
  std::string id;       // "erasure-<subject>-<ms>": the decision's source event id
  std::string subject;  // the subject's pseudonym
  TimestampMs requested_at = 0;
  std::vector<std::string> targets;  // systems an erasure was queued for
  // The durable request as store::ErasureRequestJson renders it (its
  // per-target states, deadline, open/done); "" if none was recorded.
  std::string request_json;
};

class SyncComponent final : public Component {
 public:
  // All borrowed; they outlive this component. Routes are added to
  // `router` here (before the HTTP component starts).
  SyncComponent(boost::asio::io_context& io, const StoreComponent& store,
                ProofLogComponent& proof_log, Router& router, metrics::Registry& registry);
  ~SyncComponent() override;

  std::string_view Name() const override { return "sync"; }
  Status Start(const config::Config& config) override;
  void Started() override;
  Status PrepareReload(const config::Config& next) override;
  void CommitReload(const config::Config& next) override;
  void AbortReload() override;
  void Stop(std::chrono::steady_clock::time_point deadline, std::function<void()> done) override;

  // OK when every connector's last Check() passed (for /readyz); otherwise
  // which connector is not ready and why. Any thread.
  Status Readiness() const;

  // Every connector's check once the checks owed now (a reload starts one
  // per connector, or asks for one after the check running) have answered,
  // or at `wait` at the latest (one that has not is reported as such), or
  // when the daemon begins to stop (StopWaitingForChecks). So the operator
  // who reloads hears that a new mapping names a topic the system lacks,
  // or that a secret file holds revoked credentials, instead of "reloaded"
  // and a /readyz gone red. `done` runs on the io thread. io thread only.
  void WhenChecksAnswer(std::chrono::milliseconds wait,
                        std::function<void(std::vector<ConnectorCheck>)> done);
  // Answers every WhenChecksAnswer now, with what is known: called when a
  // stop begins, so that the HTTP server's drain does not wait for them.
  void StopWaitingForChecks();

  // The consent counts per topic and channel as JSON
  // (sync/consent_stats.h), for GET /api/v1/stats. Computed on the store
  // thread, at most once per kStatsMaxAge (a pass over all subjects per
  // topic and channel must not compete with ingest on every poll of the
  // status page). `done` runs on the io thread. io thread only.
  static constexpr std::chrono::seconds kStatsMaxAge{10};

  // Erases the subject whose linked addresses include `email` everywhere
  // (GDPR Art. 17), as if an erasure came from a system: decided by the
  // reconciler (terminal; tombstones; crypto-shredding of its evidence
  // key), an erasure queued for every target in its configured mode, all
  // in one unit of work. NotFound if no subject has that address. `done`
  // runs on the io thread. io thread only.
  void RequestErasure(std::string email, std::string requested_by,
                      std::function<void(Result<ErasureRequest>)> done);

  // The access export (GDPR Art. 15) of the person with `email`
  // (privacy/export.h): JSON text, proofs against the latest checkpoint
  // (entries after it say "not_yet_checkpointed"). Read-only, on the
  // store thread; NotFound when consentd knows nothing about the address.
  // `done` runs on the io thread. io thread only.
  void ExportSubject(std::string email, std::function<void(Result<std::string>)> done);
  void ConsentStats(std::function<void(Result<std::string>)> done);

  // Issue #8, the status page (daemon/status_routes.cc). Each reads on the
  // store thread where needed; `done` runs on the io thread. io thread only.
  // Connectors, outbox depth, proof log, throughput, recent decisions.
  void CollectStatus(std::function<void(Result<SyncStatus>)> done);
  // Up to `limit` dead letters, oldest first.
  void DeadLetters(int limit, std::function<void(Result<std::vector<store::OutboxRow>>)> done);
  // Replays one dead letter (`id`) or all (store/dead_letters.h), logs who
  // asked, and wakes the targets' dispatchers.
  void ReplayDeadLetters(std::optional<std::int64_t> id, std::string requested_by,
                         std::function<void(Result<store::DeadLetterReplay>)> done);
  // `consentctl explain` for the person with `email`, as JSON
  // (sync/explain.h FormatExplanationJson); NotFound (its message says
  // whether the address was erased) when no subject has it.
  void ExplainSubject(std::string email, std::function<void(Result<std::string>)> done);

  // Erasure requests (store/erasure_requests.h) as JSON text, read on the
  // store thread; `done` runs on the io thread. io thread only.
  // {"erasures":[...]}, newest first; only open ones past their deadline
  // when `overdue_only`.
  // open_only: requests not yet settled; overdue_only: open and past the deadline.
  void ListErasures(bool open_only, bool overdue_only,
                    std::function<void(Result<std::string>)> done);
  // One request; NotFound if there is no request with `id`.
  void GetErasure(std::string id, std::function<void(Result<std::string>)> done);

  // Consent counts over time (daemon/stats_history_routes.h) as JSON text,
  // snapshots at or after `since`, at most `limit`; read on the store
  // thread, `done` on the io thread. io thread only.
  void StatsHistory(TimestampMs since, int limit, std::function<void(Result<std::string>)> done);

  // Builds the access export of the person with `email` (ExportSubject)
  // and delivers it to privacy.export_delivery (daemon/export_delivery.h)
  // on the worker pool. FailedPrecondition when delivery is not
  // configured, NotFound for an unknown address; an attempted delivery is
  // an OK Result saying whether it arrived. Logged with the webhook id and
  // `requested_by`, never the address. `done` runs on the io thread.
  void DeliverExport(std::string email, std::string requested_by,
                     std::function<void(Result<ExportDeliveryOutcome>)> done);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace consentd::daemon
