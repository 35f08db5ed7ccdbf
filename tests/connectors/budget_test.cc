// The request budget (connectors/common/rate_limiter.h,
// budgeted_http_client.h): HubSpot's search window on top of its main one,
// pacing from finish times, Retry-After, and a backlog against the real
// consentd-sim that never trips its limits.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "connectors/common/budgeted_http_client.h"
#include "connectors/common/http_client.h"
#include "connectors/common/rate_limiter.h"
#include "tests/sim/sim_fixture.h"

namespace consentd::connectors {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;

RateLimit HubSpotLike() {
  // 100 per 10 s, of them 4 searches per second, 10 at once.
  return RateLimit{100, milliseconds(10000), 10, 4, milliseconds(1000)};
}

std::int64_t SteadyMs() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// ---------------------------------------------------------------------------
// RateLimiter: time passed in by hand.

TEST(RateLimiterSearch, SearchesHaveTheirOwnWindowThatPlainCallsDoNotTake) {
  RateLimiter limiter(HubSpotLike());
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(limiter.TryAcquire(0, CallKind::kSearch), 0);
    limiter.Release();
  }
  EXPECT_EQ(limiter.TryAcquire(0, CallKind::kSearch), 1000);  // a fifth waits a second
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(limiter.TryAcquire(0), 0);  // plain calls are not held up
    limiter.Release();
  }
  EXPECT_EQ(limiter.TryAcquire(999, CallKind::kSearch), 1);
  EXPECT_EQ(limiter.TryAcquire(1000, CallKind::kSearch), 0);
  EXPECT_EQ(limiter.used(1000), 25);  // searches count in the main window too
}

TEST(RateLimiterSearch, ASearchWaitsForTheLongerOfItsTwoWindows) {
  RateLimiter limiter(RateLimit{2, milliseconds(1000), 0, 4, milliseconds(100)});
  EXPECT_EQ(limiter.TryAcquire(0), 0);
  EXPECT_EQ(limiter.TryAcquire(0), 0);
  // The search window is empty, but the main one is full until 1000.
  EXPECT_EQ(limiter.TryAcquire(10, CallKind::kSearch), 990);
  EXPECT_EQ(limiter.TryAcquire(1000, CallKind::kSearch), 0);
  EXPECT_EQ(limiter.used(1000), 1);
}

TEST(RateLimiterSearch, ASearchRefusedForOneWindowTakesNothingFromTheOther) {
  RateLimiter limiter(RateLimit{3, milliseconds(1000), 0, 1, milliseconds(1000)});
  EXPECT_EQ(limiter.TryAcquire(0, CallKind::kSearch), 0);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(limiter.TryAcquire(0, CallKind::kSearch), 1000);
  EXPECT_EQ(limiter.used(0), 1);
  EXPECT_EQ(limiter.TryAcquire(0), 0);
  EXPECT_EQ(limiter.TryAcquire(0), 0);
}

TEST(RateLimiterSearch, WithoutASearchBudgetSearchesAreOrdinaryCalls) {
  RateLimiter limiter(RateLimit{3, milliseconds(1000), 0});
  for (int i = 0; i < 3; ++i) EXPECT_EQ(limiter.TryAcquire(0, CallKind::kSearch), 0);
  EXPECT_EQ(limiter.TryAcquire(0, CallKind::kSearch), 1000);
}

TEST(RateLimiterPacing, BothSlotsOfASearchCountFromItsFinishPlusOneTick) {
  RateLimiter limiter(RateLimit{2, milliseconds(1000), 0, 1, milliseconds(500)});
  RateGrant search;
  ASSERT_EQ(limiter.TryAcquire(0, CallKind::kSearch, &search), 0);
  EXPECT_EQ(search.kind, CallKind::kSearch);
  EXPECT_EQ(search.recorded, 0);
  EXPECT_EQ(search.search_recorded, 0);
  limiter.Release(search, 300);  // answered after 300 ms
  // The search window frees at 300 + 500 + 1, not at 500.
  EXPECT_EQ(limiter.TryAcquire(500, CallKind::kSearch), 301);
  EXPECT_EQ(limiter.TryAcquire(801, CallKind::kSearch), 0);
  // The main window: the first search counts until 1301, the second until
  // 1801 (started at 801, never re-dated).
  EXPECT_EQ(limiter.TryAcquire(900), 401);
  EXPECT_EQ(limiter.TryAcquire(1301), 0);
}

TEST(RateLimiterPacing, AGreedyCallerWhoseCallsTakeTimeNeverExceedsTheVendorsWindow) {
  // Calls take 0..30 ms to be answered; the vendor counts each on arrival,
  // somewhere in between. With slots dated from the finish, no rolling
  // window of the vendor ever sees more than the budget, and a caller that
  // asks again exactly when told loses only each call's own duration.
  RateLimiter limiter(RateLimit{5, milliseconds(1000), 0});
  std::vector<std::int64_t> arrivals;
  std::int64_t now = 0;
  std::uint64_t x = 88172645463325252ull;
  while (now < 20000) {
    RateGrant g;
    const std::int64_t wait = limiter.TryAcquire(now, CallKind::kPlain, &g);
    if (wait > 0) {
      now += wait;
      continue;
    }
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;  // xorshift: a fixed sequence
    const auto took = static_cast<std::int64_t>(x % 31);
    arrivals.push_back(now + took / 2);
    limiter.Release(g, now + took);
  }
  for (std::size_t i = 0; i < arrivals.size(); ++i) {
    int in_window = 0;
    for (std::int64_t a : arrivals) in_window += (a >= arrivals[i] && a < arrivals[i] + 1000);
    ASSERT_LE(in_window, 5) << "vendor window from " << arrivals[i];
  }
  // 5 per (1000 + 1 + at most 30) ms over 20 s.
  EXPECT_GE(arrivals.size(), 95u);
}

TEST(RateLimiterPacing, SearchBackoffPausesSearchesOnlyAndPlainBackoffPausesAll) {
  RateLimiter limiter(HubSpotLike());
  limiter.Backoff(0, 1000, CallKind::kSearch);
  EXPECT_EQ(limiter.TryAcquire(0, CallKind::kSearch), 1000);
  EXPECT_EQ(limiter.TryAcquire(0), 0);
  limiter.Backoff(0, 5000, CallKind::kPlain);
  EXPECT_EQ(limiter.TryAcquire(10), 4990);
  EXPECT_EQ(limiter.TryAcquire(1000, CallKind::kSearch), 4000);
}

// ---------------------------------------------------------------------------
// A budget learnt from 429s: the vendor allows fewer calls than configured.

// A greedy caller against a vendor that accepts `vendor_limit` calls in any
// rolling second, with 10 configured; each 429 is answered as
// BudgetedHttpClient does (release, then a pause of one window). Calls are
// instant. Returns the times of the 429s and counts the calls accepted.
std::vector<std::int64_t> RunAgainstAStricterVendor(RateLimiter& limiter, int vendor_limit,
                                                    std::int64_t until_ms, int* accepted) {
  std::deque<std::int64_t> vendor;  // accepted arrivals in the vendor's window
  std::vector<std::int64_t> trips;
  *accepted = 0;
  for (std::int64_t now = 0; now < until_ms;) {
    RateGrant g;
    const std::int64_t wait = limiter.TryAcquire(now, CallKind::kPlain, &g);
    if (wait > 0) {
      now += wait;
      continue;
    }
    while (!vendor.empty() && vendor.front() <= now - 1000) vendor.pop_front();
    limiter.Release(g, now);
    if (static_cast<int>(vendor.size()) < vendor_limit) {
      vendor.push_back(now);
      ++*accepted;
    } else {
      trips.push_back(now);
      limiter.Backoff(now, 1000);
    }
  }
  return trips;
}

TEST(RateLimiterLearning, AVendorAllowingLessIsTrippedEverMoreRarelyAndItsBudgetIsUsed) {
  RateLimiter limiter(RateLimit{10, milliseconds(1000), 0});
  int accepted = 0;
  const std::vector<std::int64_t> trips =
      RunAgainstAStricterVendor(limiter, 6, 300'000, &accepted);  // 300 windows
  // Without learning: a 429 in about every second window (~150).
  EXPECT_LE(trips.size(), 14u) << "429s: " << trips.size();
  std::string at;
  for (std::int64_t t : trips) at += " " + std::to_string(t);
  SCOPED_TRACE("429s at" + at + "; accepted " + std::to_string(accepted));
  ASSERT_GE(trips.size(), 3u);
  // Each raise that trips doubles the spell: the last 429s are at least
  // 32 windows apart.
  EXPECT_GE(trips.back() - trips[trips.size() - 2], 32'000);
  // The vendor's own budget stays in use: at least 90 % of 6 per second.
  EXPECT_GE(accepted, 1620) << "accepted " << accepted;
  EXPECT_LE(accepted, 1800);
}

TEST(RateLimiterLearning, ASingle429LowersTheBudgetForAWhileOnly) {
  RateLimiter limiter(RateLimit{10, milliseconds(1000), 0});
  for (std::int64_t t : {0, 10, 20}) {
    RateGrant g;
    ASSERT_EQ(limiter.TryAcquire(t, CallKind::kPlain, &g), 0);
    limiter.Release(g, t);
  }
  limiter.Backoff(20, 1000);  // the third call was refused: two accepted
  EXPECT_EQ(limiter.budget(), 2);
  EXPECT_EQ(limiter.TryAcquire(500), 520);  // paused for one window from the 429
  // After the pause (to 1020) and one clean window (to 2020), one step (a
  // tenth of the configured budget) per window.
  EXPECT_EQ(limiter.TryAcquire(1500), 0);
  limiter.Release();
  EXPECT_EQ(limiter.budget(), 2);
  EXPECT_EQ(limiter.budget_at(2500), 3) << "the gauge shows a raise that is due";
  EXPECT_EQ(limiter.budget_at(60'000), 10);
  EXPECT_EQ(limiter.TryAcquire(2500), 0);
  limiter.Release();
  EXPECT_EQ(limiter.budget(), 3);
  EXPECT_EQ(limiter.TryAcquire(12'100), 0);
  limiter.Release();
  EXPECT_EQ(limiter.budget(), 10) << "back to the configured budget";
}

TEST(RateLimiterLearning, SearchesAndReloadsDoNotKeepALearntBudget) {
  RateLimiter limiter(HubSpotLike());
  for (int i = 0; i < 4; ++i) {
    RateGrant g;
    ASSERT_EQ(limiter.TryAcquire(i, CallKind::kSearch, &g), 0);
    limiter.Release(g, i);
  }
  limiter.Backoff(5, 1000, CallKind::kSearch);
  EXPECT_EQ(limiter.budget(), 100) << "a search 429 pauses searches; the main budget stays";
  limiter.Backoff(6, 1000, CallKind::kPlain);
  EXPECT_EQ(limiter.budget(), 3);  // four in the window, one of them refused
  limiter.Update(HubSpotLike());
  EXPECT_EQ(limiter.budget(), 100) << "a reload starts from the configured budget";
  RateLimiter unlimited(RateLimit{0, milliseconds(1000), 10});
  unlimited.Backoff(0, 1000);
  EXPECT_EQ(unlimited.budget(), 0);
}

TEST(RateLimiterPacing, WaitForChangeEndsWhenAnInFlightSlotIsReleased) {
  // A broken wake-up would hang here for 10 minutes (the test's timeout
  // fails it); no clock is read.
  RateLimiter limiter(RateLimit{0, milliseconds(1000), 1});
  ASSERT_EQ(limiter.TryAcquire(0), 0);
  ASSERT_EQ(limiter.TryAcquire(0), 1);
  std::atomic<bool> waiting{false};
  std::thread waiter([&] {
    for (;;) {
      const std::uint64_t seen = limiter.Generation();
      if (limiter.TryAcquire(0) == 0) break;
      waiting = true;
      limiter.WaitForChange(10 * 60 * 1000, seen);
    }
  });
  while (!waiting) std::this_thread::yield();
  limiter.Release();
  waiter.join();
  EXPECT_EQ(limiter.in_flight(), 1);
}

// The Release may come between the refusal and the wait (it did in an ASan
// run of the test above, which then slept until ctest's timeout): the wait
// that follows ends at once. Single-threaded, so the order is certain.
TEST(RateLimiterPacing, AReleaseBetweenARefusalAndTheWaitIsNotMissed) {
  RateLimiter limiter(RateLimit{0, milliseconds(1000), 1});
  ASSERT_EQ(limiter.TryAcquire(0), 0);
  const std::uint64_t seen = limiter.Generation();
  ASSERT_EQ(limiter.TryAcquire(0), 1);
  limiter.Release();
  limiter.WaitForChange(10 * 60 * 1000, seen);  // must not sleep 10 minutes
  EXPECT_EQ(limiter.TryAcquire(0), 0);
  // With nothing new since, the wait lasts its time (here: none).
  limiter.WaitForChange(0, limiter.Generation());
}

// ---------------------------------------------------------------------------
// BudgetedHttpClient: the answers are scripted (an exact 429 with or
// without Retry-After), the budget is real.

class ScriptedClient final : public HttpClient {
 public:
  void Push(net::HttpResponse r) {
    std::lock_guard lock(mu_);
    replies_.push_back(std::move(r));
  }
  Result<net::HttpResponse> Send(const OutboundRequest& request) override {
    std::lock_guard lock(mu_);
    sent_.push_back(request);
    if (replies_.empty()) return net::HttpResponse{200, "application/json", {}, "{}"};
    net::HttpResponse r = replies_.front();
    replies_.pop_front();
    return r;
  }
  size_t sent() {
    std::lock_guard lock(mu_);
    return sent_.size();
  }

 private:
  std::mutex mu_;
  std::deque<net::HttpResponse> replies_;
  std::vector<OutboundRequest> sent_;
};

net::HttpResponse TooMany(net::HeaderList headers = {}) {
  return net::HttpResponse{429, "application/json", std::move(headers), "{}"};
}

OutboundRequest Request(bool search) {
  OutboundRequest r;
  r.method = search ? "POST" : "GET";
  r.url = "http://127.0.0.1:9/x";
  r.search = search;
  return r;
}

struct BudgetedClientTest : ::testing::Test {
  // Windows of 10 minutes: a pause that "ends after one window" cannot end
  // while the test runs, however slow the machine.
  RateLimiter limiter{RateLimit{100, minutes(10), 10, 4, minutes(10)}};
  std::atomic<bool> stop{false};
  BudgetStats stats;
  ScriptedClient inner;
  BudgetedHttpClient client{inner, limiter, stop, stats};
};

TEST_F(BudgetedClientTest, RetryAfterSecondsPausesTheConnectorThatLong) {
  inner.Push(TooMany({{"Retry-After", "120"}}));
  ASSERT_TRUE(client.Send(Request(false)).ok());
  EXPECT_EQ(stats.rate_limited.load(), 1u);
  const std::int64_t wait = limiter.TryAcquire(SteadyMs());
  EXPECT_GT(wait, 60'000);
  EXPECT_LE(wait, 120'000);
}

TEST_F(BudgetedClientTest, RetryAfterHttpDatePausesUntilThatDate) {
  // Five minutes from now, as an IMF-fixdate.
  const std::time_t at = std::time(nullptr) + 300;
  std::tm tm{};
  gmtime_r(&at, &tm);
  char date[64];
  std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  inner.Push(TooMany({{"Retry-After", date}}));
  ASSERT_TRUE(client.Send(Request(false)).ok());
  const std::int64_t wait = limiter.TryAcquire(SteadyMs());
  EXPECT_GT(wait, 200'000);
  EXPECT_LE(wait, 301'000);
}

TEST_F(BudgetedClientTest, ASearch429WithoutRetryAfterPausesSearchesForOneSearchWindow) {
  inner.Push(TooMany());
  ASSERT_TRUE(client.Send(Request(true)).ok());
  EXPECT_GT(limiter.TryAcquire(SteadyMs(), CallKind::kSearch), 5 * 60'000);
  EXPECT_EQ(limiter.TryAcquire(SteadyMs()), 0);  // plain calls go on
  limiter.Release();
}

TEST_F(BudgetedClientTest, APlain429WithoutRetryAfterPausesEverythingForOneWindow) {
  inner.Push(TooMany());
  ASSERT_TRUE(client.Send(Request(false)).ok());
  EXPECT_GT(limiter.TryAcquire(SteadyMs()), 5 * 60'000);
  EXPECT_GT(limiter.TryAcquire(SteadyMs(), CallKind::kSearch), 5 * 60'000);
}

TEST_F(BudgetedClientTest, ARequestMarkedSearchTakesTheSearchWindow) {
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(client.Send(Request(true)).ok());
  EXPECT_GT(limiter.TryAcquire(SteadyMs(), CallKind::kSearch), 0);
  EXPECT_EQ(limiter.TryAcquire(SteadyMs()), 0);
  limiter.Release();
  EXPECT_EQ(stats.requests.load(), 4u);
  EXPECT_EQ(stats.rate_limited.load(), 0u);
}

// A 429 refusing a quota a short pause does not restore (HubSpot's daily
// limit): calls fail at once, sending nothing, until the refusal closes;
// then one asks again. An ordinary 429 closes nothing.
TEST(BudgetedClientQuota, AfterAQuotaRefusalNothingIsSentUntilItCloses) {
  RateLimiter limiter{RateLimit{100, milliseconds(20), 10, 0, milliseconds(0)}};
  std::atomic<bool> stop{false};
  BudgetStats stats;
  ScriptedClient inner;
  BudgetedHttpClient client{inner, limiter, stop, stats,
                            [](const net::HttpResponse& r) -> std::optional<QuotaRefusal> {
                              if (r.body != "daily") return std::nullopt;
                              return QuotaRefusal{milliseconds(400), "the daily limit is used up"};
                            }};
  inner.Push(TooMany());
  ASSERT_TRUE(client.Send(Request(false)).ok());
  ASSERT_TRUE(client.Send(Request(false)).ok()) << "an ordinary 429 closed the quota";
  EXPECT_EQ(inner.sent(), 2u);

  inner.Push(net::HttpResponse{429, "application/json", {}, "daily"});
  Result<net::HttpResponse> refused = client.Send(Request(false));
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(refused->status, 429);
  const auto started = std::chrono::steady_clock::now();
  Result<net::HttpResponse> closed = client.Send(Request(false));
  ASSERT_FALSE(closed.ok());
  EXPECT_EQ(closed.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(closed.status().message().find("the daily limit is used up"), std::string::npos)
      << closed.status().message();
  EXPECT_NE(closed.status().message().find("nothing sent"), std::string::npos);
  EXPECT_EQ(inner.sent(), 3u) << "sent while the quota was closed";
  std::this_thread::sleep_until(started + milliseconds(450));
  EXPECT_TRUE(client.Send(Request(false)).ok());
  EXPECT_EQ(inner.sent(), 4u) << "not asked again once the refusal closed";
}

// ---------------------------------------------------------------------------
// A backlog against the real consentd-sim (HubSpot, limits on, windows
// shortened so that several pass in a few seconds): many threads spend the
// budget as fast as it allows; the sim must never answer 429.

class BudgetAgainstSim : public sim::testing::SimFixture {
 protected:
  sim::hubspot::HubSpotOptions Options() override {
    sim::hubspot::HubSpotOptions o = SimFixture::Options();
    o.rate_limits = true;
    o.requests_per_ten_seconds = 10;  // per rate_window_ms
    o.rate_window_ms = 500;
    o.searches_per_second = 4;
    return o;
  }
};

TEST_F(BudgetAgainstSim, ABacklogSpendsTheBudgetWithoutA429) {
  std::unique_ptr<HttpClient> curl = MakeCurlHttpClient("consentd-test");
  RateLimiter limiter(RateLimit{10, milliseconds(500), 6, 4, milliseconds(1000)});
  std::atomic<bool> stop{false};
  BudgetStats stats;
  BudgetedHttpClient client(*curl, limiter, stop, stats);
  ASSERT_EQ(Control("DELETE", "/_sim/requests").status, 200);

  constexpr int kThreads = 6, kPerThread = 7;  // 42 calls, 12 of them searches
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        OutboundRequest r;
        r.headers = {{"Authorization", "Bearer test-token"}, {"Content-Type", "application/json"}};
        if ((t * kPerThread + i) % 7 < 2) {
          r.method = "POST";
          r.url = BaseUrl() + "/crm/v3/objects/contacts/search";
          r.body = "{}";
          r.search = true;
        } else {
          r.method = "GET";
          r.url = BaseUrl() + "/crm/v3/objects/contacts?limit=1";
        }
        auto res = client.Send(r);
        if (!res.ok() || res->status != 200) ++failed;
      }
    });
  }
  for (auto& th : threads) th.join();

  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(stats.rate_limited.load(), 0u);
  EXPECT_EQ(stats.requests.load(), static_cast<std::uint64_t>(kThreads * kPerThread));
  // The sim's own log agrees: every call arrived, none was answered 429,
  // and each was answered after it arrived.
  sim::testing::Reply log = Control("GET", "/_sim/requests?system=hubspot");
  ASSERT_EQ(log.status, 200);
  const nlohmann::json entries = log.Json()["hubspot"]["requests"];
  ASSERT_EQ(entries.size(), static_cast<std::size_t>(kThreads * kPerThread));
  int searches = 0;
  for (const auto& e : entries) {
    EXPECT_NE(e[2].get<int>(), 429);
    EXPECT_LE(e[0].get<std::int64_t>(), e[1].get<std::int64_t>());
    searches += log.Json()["hubspot"]["routes"][e[3].get<std::size_t>()].get<std::string>() ==
                "POST /crm/v3/objects/contacts/search";
  }
  EXPECT_EQ(searches, 12);
}

}  // namespace
}  // namespace consentd::connectors
