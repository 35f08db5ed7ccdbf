#include "daemon/stats_history_routes.h"

#include <charconv>
#include <nlohmann/json.hpp>
#include <string_view>
#include <utility>

#include "daemon/sync_component.h"
#include "store/stats_history.h"
#include "sync/consent_stats.h"

namespace consentd::daemon {
namespace {

// A non-negative integer query value; nullopt if it is not one.
std::optional<std::int64_t> ParseCount(std::string_view v) {
  std::int64_t n = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || end != v.data() + v.size() || n < 0) return std::nullopt;
  return n;
}

}  // namespace

Result<bool> SnapshotConsentStatsIfDue(store::Transaction& txn, const mapping::MappingSpec& mapping,
                                       TimestampMs now, std::chrono::milliseconds every) {
  Result<std::optional<TimestampMs>> latest = store::LatestStatsSnapshotTime(txn);
  if (!latest.ok()) return latest.status();
  if (latest->has_value() && now - **latest < every.count()) return false;
  Result<sync::ConsentStats> stats = sync::ComputeConsentStats(txn, mapping, now);
  if (!stats.ok()) return stats.status();
  // The "topics" array of GET /api/v1/stats, exactly.
  const auto full = nlohmann::json::parse(sync::ConsentStatsJson(*stats), nullptr, false);
  if (full.is_discarded() || !full.contains("topics")) {
    return Internal("consent stats JSON has no topics");
  }
  CONSENTD_RETURN_IF_ERROR(store::RecordStatsSnapshot(txn, now, full.at("topics").dump()));
  return true;
}

Result<std::string> StatsHistoryJson(store::Transaction& txn, TimestampMs since, int limit) {
  Result<std::vector<store::StatsSnapshot>> points = store::ListStatsSnapshots(txn, since, limit);
  if (!points.ok()) return points.status();
  nlohmann::json out = {{"points", nlohmann::json::array()}};
  for (const auto& p : *points) {
    auto topics = nlohmann::json::parse(p.topics_json, nullptr, false);
    if (topics.is_discarded()) topics = nlohmann::json::array();  // never written by us
    out["points"].push_back({{"at_ms", p.taken_at}, {"topics", std::move(topics)}});
  }
  return out.dump();
}

void AddStatsHistoryRoutes(Router& router, const AdminComponent& admin, SyncComponent& sync) {
  admin.AddRoute(
      router, "GET", "/api/v1/stats/history",
      [&sync](net::HttpRequest req, net::Responder respond) {
        TimestampMs since = 0;
        int limit = kStatsHistoryMaxPoints;
        for (const auto& [key, value] : net::ParseQuery(req.query)) {
          if (key != "since_ms" && key != "limit") continue;
          const std::optional<std::int64_t> n = ParseCount(value);
          if (!n) {
            return respond(
                net::Problem(400, "Bad Request", "'" + key + "' must be a non-negative integer"));
          }
          if (key == "since_ms") since = *n;
          if (key == "limit") limit = static_cast<int>(std::min<std::int64_t>(*n, limit));
        }
        sync.StatsHistory(since, limit, [respond](Result<std::string> json) {
          if (!json.ok()) {
            return respond(net::Problem(503, "Service Unavailable", json.status().message()));
          }
          net::HttpResponse r;
          r.content_type = "application/json";
          r.headers.emplace_back("Cache-Control", "no-store");  // as every API answer
          r.body = std::move(json).value() + "\n";
          respond(std::move(r));
        });
      });
}

}  // namespace consentd::daemon
