// Fault injection for consentd-sim (/_sim/faults): rules that make vendor
// API calls fail, slow down or drop, and make outgoing webhooks late,
// duplicated, reordered or lost.
//
// Decisions are deterministic for a seed: each rule draws from its own
// generator seeded with (seed, rule id), so adding a rule does not change
// what another rule decides. Not thread-safe: used on the io thread only.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace consentd::sim {

enum class FaultKind {
  kError,      // answer `status` (500/502/503) instead of calling the system
  kRateLimit,  // answer 429, with Retry-After when retry_after_s is set
  kLatency,    // delay the answer by latency_ms
  kHold,       // hold the request latency_ms before the system handles it
  kDrop,       // close the connection without an answer
  kWebhookDelay,
  kWebhookDuplicate,
  kWebhookReorder,  // hold a webhook and send it after the next one
  kWebhookDrop,
};

struct FaultRule {
  int id = 0;
  FaultKind kind = FaultKind::kError;
  std::string system = "*";  // "hubspot", "mailchimp" or "*"
  std::string method = "*";  // API faults only
  std::string route = "*";   // glob on the path ('*' = any characters)
  double rate = 1.0;         // probability that a matching call is hit
  std::int64_t count = -1;   // hits left; -1 = unlimited (a burst is count N)
  int status = 503;
  std::optional<int> retry_after_s;
  std::int64_t latency_ms = 0;  // kLatency, kHold (its hold_ms), kWebhookDelay
  std::uint64_t hits = 0;
  std::mt19937_64 rng;
};

struct ApiFaultDecision {
  bool drop = false;
  std::optional<int> status;  // error or 429 answer
  std::optional<int> retry_after_s;
  std::int64_t latency_ms = 0;
  // Before the system handles the request: what it changes changes late,
  // as for a request slow on its way in.
  std::int64_t hold_ms = 0;
};

struct WebhookFaultDecision {
  bool drop = false;
  bool duplicate = false;
  bool reorder = false;
  std::int64_t delay_ms = 0;
};

class FaultInjector {
 public:
  explicit FaultInjector(std::uint64_t seed) : seed_(seed) {}

  // Adds a rule from its JSON form (see docs/simulator.md); returns its id.
  // kInvalidArgument names the offending field.
  Result<int> Add(const nlohmann::json& spec);
  bool Remove(int id);
  void Clear();  // also restarts rule ids, so a reset run repeats exactly

  ApiFaultDecision ForApi(std::string_view system, std::string_view method, std::string_view path);
  WebhookFaultDecision ForWebhook(std::string_view system, std::string_view url);

  nlohmann::json ToJson() const;

 private:
  bool Fires(FaultRule& rule);

  std::uint64_t seed_;
  int next_id_ = 1;
  std::vector<FaultRule> rules_;
};

// '*' matches any run of characters (including '/'); everything else is literal.
bool GlobMatch(std::string_view pattern, std::string_view text);

}  // namespace consentd::sim
