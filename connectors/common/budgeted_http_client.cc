#include "connectors/common/budgeted_http_client.h"

#include <algorithm>
#include <chrono>

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
  if (quota_refusal_) {
    std::lock_guard lock(closed_mu_);
    if (const std::int64_t left = closed_until_ - SteadyMs(); left > 0) {
      return ResourceExhausted(closed_why_ + "; nothing sent (the next call in " +
                               std::to_string((left + 999) / 1000) + " s asks again)");
    }
  }
  const CallKind kind = request.search ? CallKind::kSearch : CallKind::kPlain;
  const CallPriority priority =
      request.background ? CallPriority::kBackground : CallPriority::kForeground;
  RateGrant grant;
  std::int64_t waited_since = -1;
  // A foreground caller counts as waiting from its first refusal until it
  // has its slot (or gives up): background calls beyond their half yield.
  struct Waiting {
    RateLimiter* limiter = nullptr;
    ~Waiting() {
      if (limiter != nullptr) limiter->ForegroundWaiting(-1);
    }
    void Stop() {
      if (limiter != nullptr) limiter->ForegroundWaiting(-1);
      limiter = nullptr;
    }
  } waiting;
  for (;;) {
    if (stop_.load()) return Unavailable("shutting down");
    const std::int64_t now = SteadyMs();
    const std::uint64_t seen = limiter_.Generation();
    bool until_release = false;
    const std::int64_t wait = limiter_.TryAcquire(now, kind, &grant, priority, &until_release);
    if (wait == 0) break;
    if (waited_since < 0) {
      stats_.waits.fetch_add(1);
      waited_since = now;
      if (priority == CallPriority::kForeground) {
        limiter_.ForegroundWaiting(+1);
        waiting.limiter = &limiter_;
      }
    }
    // Short slices, so shutdown is noticed quickly; a Release ends the
    // wait early (a free in-flight slot is taken at once), and a wait for
    // a slot needs nothing else: no polling meanwhile.
    limiter_.WaitForChange(until_release ? 50 : std::min<std::int64_t>(wait, 50), seen);
  }
  waiting.Stop();
  if (waited_since >= 0) {
    stats_.wait_ms.fetch_add(
        static_cast<std::uint64_t>(std::max<std::int64_t>(0, SteadyMs() - waited_since)));
  }
  stats_.requests.fetch_add(1);
  // Released whatever happens (an exception too): a slot lost for good
  // would shrink the cap for the rest of the process.
  struct Releaser {
    RateLimiter& limiter;
    const RateGrant& grant;
    ~Releaser() { limiter.Release(grant, SteadyMs()); }
  };
  Result<net::HttpResponse> response = [&] {
    Releaser release{limiter_, grant};
    return inner_.Send(request);
  }();
  if (response.ok() && response.value().status == 429) {
    stats_.rate_limited.fetch_add(1);
    // Without Retry-After, one whole window of the kind that was refused
    // (a search 429 pauses searches only).
    const RateLimit limit = limiter_.limit();
    std::int64_t pause = kind == CallKind::kSearch && limit.search_requests > 0
                             ? limit.search_interval.count()
                             : limit.interval.count();
    const net::HeaderList& headers = response.value().headers;
    if (auto after = RetryAfterOfAnswer(net::FindHeader(headers, "Retry-After"),
                                        net::FindHeader(headers, "Date"), WallMs())) {
      pause = after->count();
    }
    limiter_.Backoff(SteadyMs(), pause, kind);
    if (quota_refusal_) {
      if (std::optional<QuotaRefusal> refused = quota_refusal_(response.value())) {
        std::lock_guard lock(closed_mu_);
        closed_until_ = SteadyMs() + refused->closed_for.count();
        closed_why_ = std::move(refused->why);
      }
    }
  }
  return response;
}

}  // namespace consentd::connectors
