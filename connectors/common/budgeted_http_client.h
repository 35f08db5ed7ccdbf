// BudgetedHttpClient: an HttpClient that spends a connector's request
// budget (RateLimiter) on every call, so Read, Poll and Deliver together
// never exceed the vendor's limit (a request marked `search` takes the
// search window too), and that pauses when the vendor answers 429,
// honouring Retry-After (seconds or HTTP-date), else for one window: a
// refused search pauses searches only, any other 429 the whole connector
// and lowers its budget for a while (RateLimiter::Backoff).
//
// Send blocks its (worker-pool) thread while the budget is spent; `stop`
// set to true makes waiting calls give up with Unavailable (shutdown).
// Thread-safety: as the inner client; the limiter is shared.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>

#include "connectors/common/http_client.h"
#include "connectors/common/rate_limiter.h"

namespace consentd::connectors {

struct BudgetStats {
  std::atomic<std::uint64_t> requests{0};      // sent
  std::atomic<std::uint64_t> rate_limited{0};  // answered 429
  std::atomic<std::uint64_t> waits{0};         // had to wait for budget
  std::atomic<std::uint64_t> wait_ms{0};       // total time waited
};

class BudgetedHttpClient final : public HttpClient {
 public:
  // All borrowed; they outlive this client.
  BudgetedHttpClient(HttpClient& inner, RateLimiter& limiter, const std::atomic<bool>& stop,
                     BudgetStats& stats)
      : inner_(inner), limiter_(limiter), stop_(stop), stats_(stats) {}

  Result<net::HttpResponse> Send(const OutboundRequest& request) override;

 private:
  HttpClient& inner_;
  RateLimiter& limiter_;
  const std::atomic<bool>& stop_;
  BudgetStats& stats_;
};

}  // namespace consentd::connectors
