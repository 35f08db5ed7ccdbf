#include "connectors/common/budgeted_http_client.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "connectors/common/retry_policy.h"
#include "core/clock.h"

namespace consentd::connectors {
namespace {

std::int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

TimestampMs WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Result<net::HttpResponse> BudgetedHttpClient::Send(const OutboundRequest& request) {
  bool waited = false;
  std::int64_t recorded = 0;
  for (;;) {
    if (stop_.load()) return Unavailable("shutting down");
    const std::int64_t wait = limiter_.TryAcquire(SteadyMs(), &recorded);
    if (wait == 0) break;
    if (!waited) stats_.waits.fetch_add(1);
    waited = true;
    // Short slices, so shutdown is noticed quickly.
    const std::int64_t slice = std::min<std::int64_t>(wait, 50);
    stats_.wait_ms.fetch_add(static_cast<std::uint64_t>(slice));
    std::this_thread::sleep_for(std::chrono::milliseconds(slice));
  }
  stats_.requests.fetch_add(1);
  Result<net::HttpResponse> response = inner_.Send(request);
  limiter_.Release(recorded, SteadyMs());
  if (response.ok() && response.value().status == 429) {
    stats_.rate_limited.fetch_add(1);
    std::int64_t pause = limiter_.limit().interval.count();
    if (auto header = net::FindHeader(response.value().headers, "Retry-After")) {
      if (auto after = ParseRetryAfter(*header, WallMs())) pause = after->count();
    }
    limiter_.Backoff(SteadyMs(), pause);
  }
  return response;
}

}  // namespace consentd::connectors
