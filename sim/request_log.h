// RequestLog: when each vendor API request reached a simulated system and
// when it was answered, with its status and route (GET /_sim/requests).
// Benchmarks read it to measure what a vendor would see: requests per
// rate-limit window, 429s, requests in flight at once (bench/budget_use.py).
//
// Bounded: past `capacity` entries per system the oldest are dropped (and
// counted). Not thread-safe: used on the simulator's io thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"

namespace consentd::sim {

class RequestLog {
 public:
  explicit RequestLog(std::size_t capacity_per_system = 200'000) : capacity_(capacity_per_system) {}

  // `arrived`: the request was read; `answered`: its response was written.
  void Add(const std::string& system, const std::string& route, int status, TimestampMs arrived,
           TimestampMs answered);
  void Clear() { systems_.clear(); }

  // {"<system>": {"routes": [route, ...], "dropped": n,
  //   "requests": [[arrived_ms, answered_ms, status, route_index], ...]}}
  // for every system (or only `system` when not empty), entries answered
  // at or after `since`, oldest first.
  nlohmann::json ToJson(std::string_view system, TimestampMs since) const;

 private:
  struct Entry {
    TimestampMs arrived;
    TimestampMs answered;
    std::int32_t status;
    std::uint32_t route;
  };
  struct PerSystem {
    std::vector<std::string> routes;
    std::map<std::string, std::uint32_t, std::less<>> route_index;
    std::deque<Entry> entries;
    std::uint64_t dropped = 0;
  };

  std::size_t capacity_;
  std::map<std::string, PerSystem, std::less<>> systems_;
};

}  // namespace consentd::sim
