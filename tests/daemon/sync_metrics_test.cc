// The sync component's metric families (daemon/sync_metrics.h): every
// configured connector's children exist at 0 from the start, so that
// rate(), increase() and alerts on a first failure see it (docs/monitoring.md).
#include "daemon/sync_metrics.h"

#include <gtest/gtest.h>

#include <atomic>

#include "tests/daemon/prom_check.h"

namespace consentd::daemon {
namespace {

using consentd::testing::ParseExposition;

TEST(SyncMetrics, EveryChildOfAConnectorExistsAtZeroFromTheStart) {
  metrics::Registry registry;
  SyncMetrics m(registry, [] { return TimestampMs{1'000'000}; });
  connectors::BudgetStats budget;
  std::atomic<bool> caught_up{false};
  m.AddConnector({"hubspot", &budget, &caught_up, [] { return true; }, true, nullptr});
  auto e = ParseExposition(registry.Render());
  ASSERT_EQ(e.errors, std::vector<std::string>{});
  for (const char* result : {"done", "retryable", "permanent", "blocked_by_target"}) {
    EXPECT_EQ(e.Value("consentd_deliveries_total", {{"target", "hubspot"}, {"result", result}}), 0)
        << result;
  }
  for (const char* result : {"ok", "stopped", "failed"}) {
    EXPECT_EQ(e.Value("consentd_resync_runs_total", {{"connector", "hubspot"}, {"result", result}}),
              0)
        << result;
  }
  for (const char* kind : {"consentd_behind", "system_behind", "missing"}) {
    EXPECT_EQ(e.Value("consentd_resync_drift_total", {{"connector", "hubspot"}, {"kind", kind}}), 0)
        << kind;
  }
  for (const char* result : {"ok", "failed"}) {
    EXPECT_EQ(e.Value("consentd_polls_total", {{"connector", "hubspot"}, {"result", result}}), 0)
        << result;
  }
}

}  // namespace
}  // namespace consentd::daemon
