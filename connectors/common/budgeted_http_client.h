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
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "connectors/common/http_client.h"
#include "connectors/common/rate_limiter.h"

namespace consentd::connectors {

struct BudgetStats {
  std::atomic<std::uint64_t> requests{0};      // sent
  std::atomic<std::uint64_t> rate_limited{0};  // answered 429
  std::atomic<std::uint64_t> waits{0};         // had to wait for budget
  std::atomic<std::uint64_t> wait_ms{0};       // total time waited
};

// For a 429 that refuses a quota a short pause does not restore (HubSpot's
// daily limit): how long to send nothing, and why. nullopt: an ordinary
// 429, paused for as described above.
struct QuotaRefusal {
  std::chrono::milliseconds closed_for{0};
  std::string why;
};
using QuotaRefusalOf429 = std::function<std::optional<QuotaRefusal>(const net::HttpResponse&)>;

class BudgetedHttpClient final : public HttpClient {
 public:
  // All borrowed; they outlive this client. `quota_refusal` may be empty.
  BudgetedHttpClient(HttpClient& inner, RateLimiter& limiter, const std::atomic<bool>& stop,
                     BudgetStats& stats, QuotaRefusalOf429 quota_refusal = nullptr)
      : inner_(inner),
        limiter_(limiter),
        stop_(stop),
        stats_(stats),
        quota_refusal_(std::move(quota_refusal)) {}

  // While a refused quota is closed, fails at once with ResourceExhausted
  // (nothing is sent: calls waiting out a day would hold their threads,
  // and each would be refused again); the first call after it closes sends
  // again, a probe.
  Result<net::HttpResponse> Send(const OutboundRequest& request) override;

 private:
  HttpClient& inner_;
  RateLimiter& limiter_;
  const std::atomic<bool>& stop_;
  BudgetStats& stats_;
  QuotaRefusalOf429 quota_refusal_;
  std::mutex closed_mu_;
  std::int64_t closed_until_ = 0;  // steady clock, ms
  std::string closed_why_;
};

}  // namespace consentd::connectors
