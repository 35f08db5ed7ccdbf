#include "sim/request_log.h"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace consentd::sim {

void RequestLog::Add(const std::string& system, const std::string& route, int status,
                     TimestampMs arrived, TimestampMs answered) {
  PerSystem& s = systems_[system];
  auto [it, added] = s.route_index.try_emplace(route, static_cast<std::uint32_t>(s.routes.size()));
  if (added) s.routes.push_back(route);
  // Answers are logged in the order they are written, so `answered` never
  // decreases within a system; ToJson's search relies on it.
  if (!s.entries.empty()) answered = std::max(answered, s.entries.back().answered);
  s.entries.push_back({std::min(arrived, answered), answered, status, it->second});
  if (s.entries.size() > capacity_) {
    s.entries.pop_front();
    ++s.dropped;
  }
}

nlohmann::json RequestLog::ToJson(std::string_view system, TimestampMs since) const {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [name, s] : systems_) {
    if (!system.empty() && name != system) continue;
    nlohmann::json requests = nlohmann::json::array();
    auto first = std::lower_bound(s.entries.begin(), s.entries.end(), since,
                                  [](const Entry& e, TimestampMs t) { return e.answered < t; });
    for (auto it = first; it != s.entries.end(); ++it) {
      requests.push_back({it->arrived, it->answered, it->status, it->route});
    }
    out[name] = {{"routes", s.routes}, {"dropped", s.dropped}, {"requests", std::move(requests)}};
  }
  return out;
}

}  // namespace consentd::sim
