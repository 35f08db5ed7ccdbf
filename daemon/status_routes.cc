#include "daemon/status_routes.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>

#include "core/redact.h"
#include "daemon/status_page_assets.h"
#include "daemon/sync_component.h"

namespace consentd::daemon {
namespace {

using nlohmann::json;

constexpr std::string_view kAssetPrefix = "/status-page/";
constexpr int kDefaultDeadLetters = 100;
constexpr int kMaxDeadLetters = 1000;

// The page loads only its own files and talks only to this daemon; no
// inline script or style, no frames, no plugins.
constexpr std::string_view kContentSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

net::HttpResponse JsonResponse(int status, const json& body) {
  net::HttpResponse r;
  r.status = status;
  r.content_type = "application/json";
  r.headers.emplace_back("Cache-Control", "no-store");
  // Replaced, not thrown: this runs on the io thread outside any handler's
  // try, and a vendor's text with a stray byte must not stop the daemon.
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  return r;
}

net::HttpResponse ProblemFor(const consentd::Status& s) {
  int status = 503;
  switch (s.code()) {
    case StatusCode::kNotFound:
      status = 404;
      break;
    case StatusCode::kInvalidArgument:
      status = 400;
      break;
    case StatusCode::kFailedPrecondition:
      status = 409;
      break;
    default:
      break;
  }
  return net::Problem(status, net::ReasonPhrase(status), s.message());
}

json OptionalMs(const std::optional<TimestampMs>& t) { return t ? json(*t) : json(nullptr); }
json AgeMs(const std::optional<TimestampMs>& t, TimestampMs now) {
  return t ? json(std::max<TimestampMs>(0, now - *t)) : json(nullptr);
}

json StatusJson(const SyncStatus& s) {
  json connectors = json::array();
  std::optional<TimestampMs> max_poll_lag;
  for (const ConnectorStatus& c : s.connectors) {
    json poll_lag = nullptr;
    if (c.polling) {
      // A connector whose polls have failed since the start lags since the
      // start (as consentd_connector_poll_lag_seconds); the page says "no
      // poll yet" for it, and the maximum counts it.
      const TimestampMs lag =
          std::max<TimestampMs>(0, s.now - c.last_poll_ok.value_or(s.started_at));
      if (c.last_poll_ok) poll_lag = lag;
      max_poll_lag = std::max(max_poll_lag.value_or(0), lag);
    }
    connectors.push_back({
        {"name", c.name},
        {"kind", c.kind},
        {"role", c.role},
        {"ready", c.ready},
        {"check", c.check_message},
        {"poll",
         {{"enabled", c.polling},
          {"last_success_ms", OptionalMs(c.last_poll_ok)},
          {"lag_ms", poll_lag},
          {"caught_up", c.poll_caught_up}}},
        {"webhooks",
         {{"received", c.webhooks_received},
          {"refused", c.webhooks_refused},
          {"last_received_ms", OptionalMs(c.last_webhook)}}},
        {"budget",
         {{"requests_sent", c.requests_sent},
          {"budget_waits", c.budget_waits},
          {"rate_limited", c.rate_limited},
          {"requests_last_minute", c.requests_last_minute},
          {"window_ms", c.requests_window_ms},
          {"used_fraction",
           c.budget_used_fraction ? json(*c.budget_used_fraction) : json(nullptr)}}},
        {"delivery",
         {{"health", c.delivery_health},
          {"consecutive_failures", c.consecutive_delivery_failures},
          {"done", c.deliveries_done},
          {"failed", c.deliveries_failed},
          {"per_minute", c.deliveries_last_minute}}},
    });
  }
  json outbox = json::array();
  std::optional<TimestampMs> oldest;
  std::int64_t deliveries_per_minute = 0;
  for (const ConnectorStatus& c : s.connectors) deliveries_per_minute += c.deliveries_last_minute;
  for (const store::TargetOutboxStats& t : s.outbox) {
    if (t.oldest_pending_created_at) {
      oldest =
          std::min(oldest.value_or(*t.oldest_pending_created_at), *t.oldest_pending_created_at);
    }
    outbox.push_back({{"target", t.target},
                      {"pending", t.pending},
                      {"inflight", t.inflight},
                      {"dead", t.dead},
                      {"oldest_pending_created_ms", OptionalMs(t.oldest_pending_created_at)},
                      {"oldest_pending_age_ms", AgeMs(t.oldest_pending_created_at, s.now)}});
  }
  json recent = json::array();
  for (const RecentDecision& d : s.recent) {
    recent.push_back({{"number", d.number}, {"at_ms", d.at}, {"text", d.text}});
  }
  return {
      {"now_ms", s.now},
      {"connectors", std::move(connectors)},
      {"outbox", std::move(outbox)},
      {"proof_log",
       {{"entries", s.proof_log.entries},
        {"checkpointed_entries", s.proof_log.checkpointed_entries},
        {"last_checkpoint_ms", OptionalMs(s.proof_log.last_checkpoint_at)},
        {"last_checkpoint_age_ms", AgeMs(s.proof_log.last_checkpoint_at, s.now)}}},
      {"throughput",
       {{"decisions_per_minute", s.decisions_last_minute},
        {"deliveries_per_minute", deliveries_per_minute},
        {"decisions_since_start", s.decisions_total}}},
      {"lag",
       {{"oldest_pending_age_ms", AgeMs(oldest, s.now)},
        {"max_poll_lag_ms", max_poll_lag ? json(*max_poll_lag) : json(nullptr)}}},
      {"recent_decisions", std::move(recent)},
  };
}

std::string QueryParam(const net::HttpRequest& req, std::string_view name) {
  std::string out;
  for (const auto& [key, value] : net::ParseQuery(req.query)) {
    if (key == name) out = value;
  }
  return out;
}

// Percent-encodes a query value (RFC 3986 unreserved characters stay).
std::string EncodeQueryValue(std::string_view v) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char ch : v) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) != 0 || c == '-' || c == '.' || c == '_' || c == '~') {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string_view ContentTypeOf(std::string_view name) {
  if (name.ends_with(".html")) return "text/html; charset=utf-8";
  if (name.ends_with(".css")) return "text/css; charset=utf-8";
  if (name.ends_with(".js")) return "text/javascript; charset=utf-8";
  if (name.ends_with(".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

// Serves one embedded file; the ETag (128 bits of its SHA-256) lets the browser
// revalidate cheaply, and no-cache makes it always ask, so an upgraded
// daemon never leaves an old page running against a new API.
void ServeFile(const EmbeddedFile& f, const net::HttpRequest& req, const net::Responder& respond) {
  const std::string etag = "\"" + std::string(f.sha256.substr(0, 32)) + "\"";
  net::HttpResponse r;
  r.content_type = std::string(ContentTypeOf(f.name));
  r.headers.emplace_back("Cache-Control", "no-cache");
  r.headers.emplace_back("ETag", etag);
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
  if (f.name.ends_with(".html")) {
    r.headers.emplace_back("Content-Security-Policy", std::string(kContentSecurityPolicy));
    r.headers.emplace_back("X-Frame-Options", "DENY");
  }
  if (req.Header("If-None-Match").value_or("") == etag) {
    r.status = 304;
  } else {
    r.body = std::string(f.bytes);
  }
  respond(std::move(r));
}

const EmbeddedFile* FindFile(std::string_view name) {
  for (const EmbeddedFile& f : StatusPageFiles()) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

}  // namespace

void AddStatusRoutes(Router& router, const AdminComponent& admin, SyncComponent& sync) {
  router.Add("GET", "/", [](net::HttpRequest req, net::Responder respond) {
    ServeFile(*FindFile("index.html"), req, respond);
  });
  router.AddPrefix("GET", std::string(kAssetPrefix), "/status-page/{file}",
                   [](net::HttpRequest req, net::Responder respond) {
                     const std::string name = req.path.substr(kAssetPrefix.size());
                     const EmbeddedFile* f = FindFile(name);
                     if (f == nullptr || name == "index.html") {
                       return respond(net::Problem(404, "Not Found", "no such file"));
                     }
                     ServeFile(*f, req, respond);
                   });

  admin.AddRoute(router, "GET", "/api/v1/status",
                 [&sync](net::HttpRequest, net::Responder respond) {
                   sync.CollectStatus([respond](Result<SyncStatus> s) {
                     if (!s.ok()) return respond(ProblemFor(s.status()));
                     respond(JsonResponse(200, StatusJson(*s)));
                   });
                 });

  admin.AddRoute(
      router, "GET", "/api/v1/dead-letters", [&sync](net::HttpRequest req, net::Responder respond) {
        int limit = kDefaultDeadLetters;
        if (const std::string v = QueryParam(req, "limit"); !v.empty()) {
          auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), limit);
          if (ec != std::errc() || end != v.data() + v.size() || limit < 1 ||
              limit > kMaxDeadLetters) {
            return respond(net::Problem(
                400, "Bad Request",
                "'limit' must be a number from 1 to " + std::to_string(kMaxDeadLetters)));
          }
        }
        sync.DeadLetters(limit, [respond](Result<std::vector<store::OutboxRow>> rows) {
          if (!rows.ok()) return respond(ProblemFor(rows.status()));
          json out = json::array();
          for (const store::OutboxRow& r : *rows) {
            // Keys name a pseudonym, topic and channel; vendors' reasons may
            // quote an address, so both are masked to be sure.
            out.push_back({{"id", r.id},
                           {"target", r.target},
                           {"key", MaskEmailsInText(r.key)},
                           {"reason", MaskEmailsInText(r.reason)},
                           {"attempts", r.attempts},
                           {"created_at_ms", r.created_at},
                           {"updated_at_ms", r.updated_at}});
          }
          respond(JsonResponse(200, {{"dead_letters", std::move(out)}}));
        });
      });

  admin.AddRoute(
      router, "POST", "/api/v1/dead-letters/replay",
      [&sync](net::HttpRequest req, net::Responder respond) {
        std::optional<std::int64_t> id;
        bool all = false;
        try {
          const json body = json::parse(req.body);
          if (body.is_object() && body.contains("id") && body.at("id").is_number_integer()) {
            id = body.at("id").get<std::int64_t>();
          }
          if (body.is_object() && body.contains("all") && body.at("all").is_boolean()) {
            all = body.at("all").get<bool>();
          }
        } catch (const json::exception&) {
          return respond(net::Problem(400, "Bad Request", "the body is not JSON"));
        }
        if (id.has_value() == all) {
          return respond(
              net::Problem(400, "Bad Request", "give either {\"id\": N} or {\"all\": true}"));
        }
        sync.ReplayDeadLetters(id, "admin API (" + req.remote_address + ")",
                               [respond](Result<store::DeadLetterReplay> r) {
                                 if (!r.ok()) return respond(ProblemFor(r.status()));
                                 json replayed = json::array();
                                 for (const auto& row : r->replayed) replayed.push_back(row.id);
                                 respond(JsonResponse(200, {{"replayed", std::move(replayed)},
                                                            {"superseded", r->superseded},
                                                            {"refused", r->refused}}));
                               });
      });

  admin.AddRoute(
      router, "GET", "/api/v1/subjects", [&sync](net::HttpRequest req, net::Responder respond) {
        std::string email = QueryParam(req, "email");
        if (auto problem = EmailParamProblem(email, req.query)) return respond(std::move(*problem));
        std::string link = "/api/v1/subjects/export?email=" + EncodeQueryValue(email);
        sync.ExplainSubject(std::move(email), [respond, link](Result<std::string> text) {
          if (!text.ok()) return respond(ProblemFor(text.status()));
          json body;
          try {
            body = json::parse(*text);
          } catch (const json::exception& e) {
            return respond(net::Problem(500, "Internal Server Error", e.what()));
          }
          body["export"] = link;
          respond(JsonResponse(200, body));
        });
      });
}

}  // namespace consentd::daemon
