// The sync component's metrics (issue #8, docs/monitoring.md): the
// families it records into on its hot paths, and the gauges it refreshes
// periodically (outbox depth and age per target, consent counts per topic,
// erasures open and overdue) or reads at scrape time from the connectors
// (request budget, poll lag, readiness). Scrapes never touch the store:
// what needs SQL is refreshed on the store thread by housekeeping and kept
// here as a snapshot.
//
// Label values come from configuration (connector and topic names) or from
// fixed sets (results, reasons, statuses); never from subjects or addresses.
//
// Ownership: the families belong to the Registry, which outlives this.
// Thread-safety: everything is thread-safe (setters take a mutex that the
// scrape also takes; counters are atomics).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "connectors/common/budgeted_http_client.h"
#include "connectors/common/connector.h"
#include "core/clock.h"
#include "core/reconciler.h"
#include "core/status.h"
#include "daemon/metrics.h"
#include "sync/consent_stats.h"

namespace consentd::daemon {

// What one connector exposes to the scrape; all borrowed from the
// component's Link, which lives as long as the component.
struct ConnectorProbe {
  std::string name;
  const connectors::BudgetStats* budget = nullptr;
  const std::atomic<bool>* caught_up = nullptr;
  // The last Check() passed and no delivery is refused for its credentials.
  std::function<bool()> ready;
  bool polls = false;           // poll_interval > 0
  // The request budget (its main window's budget in force); null: none.
  const connectors::RateLimiter* limiter = nullptr;
};

class SyncMetrics {
 public:
  // `now` is the wall clock used for ages (injected for tests).
  SyncMetrics(metrics::Registry& registry, std::function<TimestampMs()> now);
  SyncMetrics(const SyncMetrics&) = delete;
  SyncMetrics& operator=(const SyncMetrics&) = delete;

  // Families recorded into directly (labels documented in docs/monitoring.md).
  metrics::Family<metrics::Counter>& webhooks;       // {connector, result}
  metrics::Family<metrics::Counter>& records;        // {connector, via}
  metrics::Family<metrics::Counter>& skipped;        // {connector}
  metrics::Family<metrics::Counter>& decisions;      // {source, outcome, kind}
  metrics::Family<metrics::Counter>& echoes;         // {connector}
  metrics::Family<metrics::Counter>& deliveries;     // {target, result}
  metrics::Family<metrics::Counter>& retries;        // {target, reason}
  metrics::Family<metrics::Counter>& dead_letters;   // {target, reason}
  metrics::Family<metrics::Histogram>& propagation;  // {target}
  metrics::Family<metrics::Counter>& polls;          // {connector, result}
  metrics::Family<metrics::Counter>& resyncs;        // {connector, result}
  metrics::Family<metrics::Counter>& resync_drift;   // {connector, kind}

  // Registers a connector: its budget, readiness and poll lag appear from
  // now on, and the per-target families get zero children for it (so that
  // rate() and alerts see 0 rather than nothing). Call once per connector.
  void AddConnector(ConnectorProbe probe);

  // A poll page of `connector` was fetched (the lag restarts from `at`).
  void PollSucceeded(std::string_view connector, TimestampMs at);

  // One decision: counts it by kind (from `what`: consent, block, erasure)
  // and outcome, and echoes separately.
  void Decided(std::string_view source, std::string_view what, Outcome outcome);

  // A failed delivery attempt of `target`: a retry (reason from the
  // status: rate_limited, timeout, unavailable) or, when `dead`, a dead
  // letter (retries_exhausted, permanent, blocked_by_target).
  void DeliveryFailed(std::string_view target, connectors::ErrorClass error_class,
                      const Status& status, bool dead);

  // Snapshots from housekeeping (store thread results, any thread).
  struct OutboxTarget {
    std::int64_t pending = 0, inflight = 0, dead = 0;
    std::optional<TimestampMs> oldest_pending_created_at;
  };
  void SetOutbox(std::map<std::string, OutboxTarget> by_target);
  struct ConsentCount {
    std::string topic, channel, status;
    std::int64_t subjects = 0;
  };
  void SetConsentCounts(std::vector<ConsentCount> counts);
  void SetConsentCounts(const sync::ConsentStats& stats);
  void SetErasures(std::int64_t open, std::int64_t overdue);

  // When this consentd started: a connector's poll lag counts from here
  // until its first poll succeeds.
  TimestampMs started_at() const { return started_at_; }

  // The fixed reason sets, for documentation tests.
  static const std::vector<std::string>& RetryReasons();
  static const std::vector<std::string>& DeadLetterReasons();

 private:
  std::vector<metrics::Registry::LabeledValue> ConnectorValues(
      const std::function<double(const ConnectorProbe&)>& read) const;

  std::function<TimestampMs()> now_;
  const TimestampMs started_at_;
  mutable std::mutex mu_;
  std::vector<ConnectorProbe> connectors_;
  std::map<std::string, TimestampMs> last_poll_;
  std::map<std::string, OutboxTarget> outbox_;
  std::vector<ConsentCount> consents_;
  std::int64_t erasures_open_ = 0, erasures_overdue_ = 0;
};

}  // namespace consentd::daemon
