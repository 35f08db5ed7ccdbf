#include "daemon/sync_metrics.h"

#include <algorithm>
#include <chrono>

namespace consentd::daemon {
namespace {

using metrics::MetricType;
using LabeledValues = std::vector<metrics::Registry::LabeledValue>;

// The kind of a decision from its note ("consent newsletter/email",
// "block all", "erasure"): a fixed set, whatever the note says.
std::string_view KindOf(std::string_view what) {
  for (std::string_view kind : {"consent", "block", "erasure"}) {
    if (what.substr(0, kind.size()) == kind) return kind;
  }
  return "other";
}

double Seconds(TimestampMs ms) { return static_cast<double>(ms) / 1000.0; }

}  // namespace

SyncMetrics::SyncMetrics(metrics::Registry& registry, std::function<TimestampMs()> now)
    : webhooks(registry.AddCounter("consentd_webhooks_received_total",
                                   "Webhook requests by connector and result.",
                                   {"connector", "result"})),
      records(registry.AddCounter(
          "consentd_records_received_total",
          "Records read from a connector's system, by how they came (webhook, poll).",
          {"connector", "via"})),
      skipped(registry.AddCounter(
          "consentd_records_skipped_total",
          "Records read in a version already decided or written by consentd; not decided again.",
          {"connector"})),
      decisions(registry.AddCounter("consentd_decisions_total",
                                    "Reconciler decisions by source, outcome and kind.",
                                    {"source", "outcome", "kind"})),
      echoes(registry.AddCounter(
          "consentd_echoes_suppressed_total",
          "Changes a system reported back after consentd wrote them; not propagated again.",
          {"connector"})),
      deliveries(registry.AddCounter("consentd_deliveries_total",
                                     "Outbox delivery attempts by target and result.",
                                     {"target", "result"})),
      retries(registry.AddCounter("consentd_delivery_retries_total",
                                  "Failed delivery attempts that will be retried, by reason.",
                                  {"target", "reason"})),
      dead_letters(registry.AddCounter(
          "consentd_dead_letters_total",
          "Outbox rows that became dead letters (not retried; consentctl dlq), by reason.",
          {"target", "reason"})),
      propagation(registry.AddHistogram(
          "consentd_propagation_seconds",
          "Time from a decision (outbox row created) to the target confirming the write.",
          {"target"}, {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600})),
      polls(registry.AddCounter("consentd_polls_total", "Poll pages by connector and result.",
                                {"connector", "result"})),
      resyncs(
          registry.AddCounter("consentd_resync_runs_total",
                              "Full reconciliations by connector and result (ok, stopped, failed).",
                              {"connector", "result"})),
      resync_drift(registry.AddCounter(
          "consentd_resync_drift_total",
          "Drift found by full reconciliation: consentd_behind (decisions consentd learned), "
          "system_behind (repair writes enqueued to the system), missing (linked records the "
          "snapshot no longer had).",
          {"connector", "kind"})),
      now_(std::move(now)),
      started_at_(now_()) {
  registry.AddCallbackFamily("consentd_connector_requests_sent_total",
                             "Requests sent to the connector's system.", MetricType::kCounter,
                             {"connector"}, [this] {
                               return ConnectorValues([](const auto& p) {
                                 return static_cast<double>(p.budget->requests.load());
                               });
                             });
  registry.AddCallbackFamily("consentd_connector_rate_limited_total",
                             "Answers 429 (rate limited) from the connector's system.",
                             MetricType::kCounter, {"connector"}, [this] {
                               return ConnectorValues([](const auto& p) {
                                 return static_cast<double>(p.budget->rate_limited.load());
                               });
                             });
  registry.AddCallbackFamily("consentd_connector_budget_waits_total",
                             "Requests that waited for the connector's rate-limit budget.",
                             MetricType::kCounter, {"connector"}, [this] {
                               return ConnectorValues([](const auto& p) {
                                 return static_cast<double>(p.budget->waits.load());
                               });
                             });
  registry.AddCallbackFamily("consentd_connector_budget_wait_seconds_total",
                             "Time requests spent waiting for the rate-limit budget.",
                             MetricType::kCounter, {"connector"}, [this] {
                               return ConnectorValues([](const auto& p) {
                                 return Seconds(static_cast<TimestampMs>(p.budget->wait_ms.load()));
                               });
                             });
  registry.AddCallbackFamily(
      "consentd_connector_budget_requests",
      "Requests allowed per rate-limit window now: the configured rate_limit.requests, or "
      "fewer while a budget learnt from 429s is in force; 0 = no limit.",
      MetricType::kGauge, {"connector"}, [this] {
        return ConnectorValues([](const auto& p) {
          const std::int64_t steady_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                             std::chrono::steady_clock::now().time_since_epoch())
                                             .count();  // the limiter's clock
          return p.limiter != nullptr ? static_cast<double>(p.limiter->budget_at(steady_ms)) : 0.0;
        });
      });
  registry.AddCallbackFamily(
      "consentd_connector_ready",
      "1 when the connector's last check passed and its deliveries are not refused for their "
      "credentials (see /readyz).",
      MetricType::kGauge, {"connector"},
      [this] { return ConnectorValues([](const auto& p) { return p.ready() ? 1.0 : 0.0; }); });
  registry.AddCallbackFamily(
      "consentd_connector_poll_caught_up",
      "1 when the connector's last poll page had nothing more.", MetricType::kGauge, {"connector"},
      [this] {
        return ConnectorValues([](const auto& p) { return p.caught_up->load() ? 1.0 : 0.0; });
      });
  registry.AddCallbackFamily(
      "consentd_connector_poll_lag_seconds",
      "Seconds since the connector's last successful poll (since start if none yet); only "
      "for polling connectors.",
      MetricType::kGauge, {"connector"}, [this] {
        const TimestampMs at = now_();
        std::lock_guard lock(mu_);
        LabeledValues out;
        for (const auto& p : connectors_) {
          if (!p.polls) continue;
          auto it = last_poll_.find(p.name);
          const TimestampMs since = it == last_poll_.end() ? started_at_ : it->second;
          out.push_back({{p.name}, Seconds(std::max<TimestampMs>(0, at - since))});
        }
        return out;
      });
  registry.AddCallbackFamily(
      "consentd_outbox_rows", "Outbox rows by target and status (pending, inflight, dead).",
      MetricType::kGauge, {"target", "status"}, [this] {
        std::lock_guard lock(mu_);
        LabeledValues out;
        for (const auto& [target, o] : outbox_) {
          out.push_back({{target, "pending"}, static_cast<double>(o.pending)});
          out.push_back({{target, "inflight"}, static_cast<double>(o.inflight)});
          out.push_back({{target, "dead"}, static_cast<double>(o.dead)});
        }
        return out;
      });
  registry.AddCallbackFamily(
      "consentd_outbox_oldest_pending_age_seconds",
      "Age of the target's oldest pending outbox row (0 when none): the delivery lag.",
      MetricType::kGauge, {"target"}, [this] {
        const TimestampMs at = now_();
        std::lock_guard lock(mu_);
        LabeledValues out;
        for (const auto& [target, o] : outbox_) {
          const TimestampMs age =
              o.oldest_pending_created_at ? at - *o.oldest_pending_created_at : 0;
          out.push_back({{target}, Seconds(std::max<TimestampMs>(0, age))});
        }
        return out;
      });
  registry.AddCallbackGauge("consentd_erasures_open",
                            "Erasure requests not yet settled at every target.", [this] {
                              std::lock_guard lock(mu_);
                              return static_cast<double>(erasures_open_);
                            });
  registry.AddCallbackGauge("consentd_erasures_overdue",
                            "Open erasure requests past their legal deadline (one month).", [this] {
                              std::lock_guard lock(mu_);
                              return static_cast<double>(erasures_overdue_);
                            });
  registry.AddCallbackFamily(
      "consentd_consent_subjects",
      "Subjects per mapped topic, channel and consent status (not_asked included).",
      MetricType::kGauge, {"topic", "channel", "status"}, [this] {
        std::lock_guard lock(mu_);
        LabeledValues out;
        for (const auto& c : consents_) {
          out.push_back({{c.topic, c.channel, c.status}, static_cast<double>(c.subjects)});
        }
        return out;
      });
}

void SyncMetrics::AddConnector(ConnectorProbe probe) {
  const std::string name = probe.name;
  {
    std::lock_guard lock(mu_);
    outbox_.emplace(name, OutboxTarget{});
    connectors_.push_back(std::move(probe));
  }
  for (std::string_view result :
       {"accepted", "ignored", "invalid", "unauthenticated", "unavailable", "timeout"}) {
    webhooks.WithLabels({name, std::string(result)});
  }
  records.WithLabels({name, "webhook"});
  records.WithLabels({name, "poll"});
  skipped.WithLabels({name});
  echoes.WithLabels({name});
  for (std::string_view result : {"done", "retryable", "permanent", "blocked_by_target"}) {
    deliveries.WithLabels({name, std::string(result)});
  }
  for (std::string_view result : {"ok", "stopped", "failed"}) {
    resyncs.WithLabels({name, std::string(result)});
  }
  for (std::string_view kind : {"consentd_behind", "system_behind", "missing"}) {
    resync_drift.WithLabels({name, std::string(kind)});
  }
  propagation.WithLabels({name});
  for (const auto& r : RetryReasons()) retries.WithLabels({name, r});
  for (const auto& r : DeadLetterReasons()) dead_letters.WithLabels({name, r});
  polls.WithLabels({name, "ok"});
  polls.WithLabels({name, "failed"});
}

void SyncMetrics::PollSucceeded(std::string_view connector, TimestampMs at) {
  std::lock_guard lock(mu_);
  last_poll_[std::string(connector)] = at;
}

void SyncMetrics::Decided(std::string_view source, std::string_view what, Outcome outcome) {
  decisions
      .WithLabels(
          {std::string(source), std::string(OutcomeName(outcome)), std::string(KindOf(what))})
      .Inc();
  if (outcome == Outcome::kEcho) echoes.WithLabels({std::string(source)}).Inc();
}

void SyncMetrics::DeliveryFailed(std::string_view target, connectors::ErrorClass error_class,
                                 const Status& status, bool dead) {
  const std::string t(target);
  if (!dead) {
    std::string reason = "unavailable";
    if (status.code() == StatusCode::kResourceExhausted) reason = "rate_limited";
    if (status.code() == StatusCode::kDeadlineExceeded) reason = "timeout";
    retries.WithLabels({t, reason}).Inc();
    return;
  }
  std::string reason = "permanent";
  if (error_class == connectors::ErrorClass::kRetryable) reason = "retries_exhausted";
  if (error_class == connectors::ErrorClass::kBlockedByTarget) reason = "blocked_by_target";
  dead_letters.WithLabels({t, reason}).Inc();
}

void SyncMetrics::SetOutbox(std::map<std::string, OutboxTarget> by_target) {
  std::lock_guard lock(mu_);
  // Known targets stay, at zero, when they have nothing undelivered.
  for (auto& [target, o] : outbox_) o = OutboxTarget{};
  for (auto& [target, o] : by_target) outbox_[target] = o;
}

void SyncMetrics::SetConsentCounts(std::vector<ConsentCount> counts) {
  std::lock_guard lock(mu_);
  consents_ = std::move(counts);
}

void SyncMetrics::SetConsentCounts(const sync::ConsentStats& stats) {
  std::vector<ConsentCount> counts;
  for (const auto& row : stats.rows) {
    for (const auto& [bucket, n] : row.buckets)
      counts.push_back({row.topic, row.channel, bucket, n});
  }
  SetConsentCounts(std::move(counts));
}

void SyncMetrics::SetErasures(std::int64_t open, std::int64_t overdue) {
  std::lock_guard lock(mu_);
  erasures_open_ = open;
  erasures_overdue_ = overdue;
}

const std::vector<std::string>& SyncMetrics::RetryReasons() {
  static const std::vector<std::string> kReasons = {"rate_limited", "timeout", "unavailable"};
  return kReasons;
}

const std::vector<std::string>& SyncMetrics::DeadLetterReasons() {
  static const std::vector<std::string> kReasons = {"retries_exhausted", "permanent",
                                                    "blocked_by_target"};
  return kReasons;
}

std::vector<metrics::Registry::LabeledValue> SyncMetrics::ConnectorValues(
    const std::function<double(const ConnectorProbe&)>& read) const {
  std::lock_guard lock(mu_);
  LabeledValues out;
  for (const auto& p : connectors_) out.push_back({{p.name}, read(p)});
  return out;
}

}  // namespace consentd::daemon
