#include "daemon/admin_api.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string_view>
#include <utility>

#include "core/legal_deadline.h"
#include "daemon/erasure_routes.h"
#include "daemon/export_delivery.h"
#include "daemon/stats_history_routes.h"
#include "daemon/status_routes.h"
#include "daemon/sync_component.h"

namespace consentd::daemon {
namespace {

std::string Digest(std::string_view text) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), md);
  return std::string(reinterpret_cast<const char*>(md), sizeof md);
}

net::HttpResponse Json(int status, const nlohmann::json& body) {
  net::HttpResponse r;
  r.status = status;
  r.content_type = "application/json";
  r.body = body.dump() + "\n";
  return r;
}

nlohmann::json ChecksJson(const std::vector<ConnectorCheck>& checks) {
  nlohmann::json out = nlohmann::json::array();
  for (const ConnectorCheck& c : checks) {
    nlohmann::json j = {{"name", c.name}};
    if (!c.status) {
      j["ready"] = nullptr;
      j["check"] = "still running";
    } else {
      j["ready"] = c.status->ok();
      j["check"] = c.status->ok() ? "ok" : c.status->ToString();
    }
    out.push_back(std::move(j));
  }
  return out;
}

}  // namespace

AdminComponent::AdminComponent(Router& router, std::function<Status()> reload,
                               AfterReloadChecks checks)
    : reload_(std::move(reload)), checks_(std::move(checks)) {
  AddRoute(router, "POST", "/api/v1/reload", [this](net::HttpRequest req, net::Responder respond) {
    spdlog::info("admin: reload requested over the API from {}", req.remote_address);
    // Synchronous on the io thread: no second reload can start meanwhile.
    Status s = reload_();
    if (s.ok()) {
      if (!checks_) return respond(Json(200, {{"status", "reloaded"}}));
      // Applied; the answer waits for the checks it started, so the
      // operator hears of a mapping the system does not match.
      return checks_([respond = std::move(respond)](std::vector<ConnectorCheck> answered) {
        respond(Json(200, {{"status", "reloaded"}, {"connectors", ChecksJson(answered)}}));
      });
    }
    if (s.code() == StatusCode::kFailedPrecondition && s.message().starts_with("shutting down")) {
      return respond(net::Problem(503, "Service Unavailable", s.message()));
    }
    respond(
        net::Problem(422, "Reload failed; the running configuration stays in force", s.message()));
  });
}

Result<std::optional<std::string>> AdminComponent::ReadToken(const config::AdminConfig& admin) {
  if (admin.token_file.empty()) return std::optional<std::string>();
  Result<std::string> token = config::LoadSecret(admin.token_file);
  if (!token.ok()) return token.status().WithContext("admin.token_file");
  // A short token is guessable; refuse it rather than run with it.
  if (token->size() < 16) {
    return InvalidArgument("admin.token_file: " + admin.token_file + " holds " +
                           std::to_string(token->size()) +
                           " characters; use at least 16 (e.g. openssl rand -hex 32)");
  }
  return std::optional<std::string>(Digest(*token));
}

Status AdminComponent::Start(const config::Config& config) {
  Result<std::optional<std::string>> digest = ReadToken(config.admin);
  if (!digest.ok()) return digest.status();
  token_digest_ = std::move(digest).value();
  spdlog::info("admin API {}",
               token_digest_ ? "on (/api/v1/, bearer token)" : "off (no admin.token_file)");
  return Status::Ok();
}

Status AdminComponent::PrepareReload(const config::Config& next) {
  Result<std::optional<std::string>> digest = ReadToken(next.admin);
  if (!digest.ok()) return digest.status();
  pending_digest_ = std::move(digest).value();
  return Status::Ok();
}

void AdminComponent::CommitReload(const config::Config& /*next*/) {
  token_digest_ = std::move(pending_digest_);
  pending_digest_.reset();
}

void AdminComponent::AbortReload() { pending_digest_.reset(); }

const std::vector<AdminRouteInfo>& AdminRoutes() {
  static const std::vector<AdminRouteInfo> kRoutes = {
      {"POST", "/api/v1/reload"},
      {"GET", "/api/v1/stats"},
      {"GET", "/api/v1/stats/history"},
      {"POST", "/api/v1/erasures"},
      {"GET", "/api/v1/erasures"},
      {"GET", "/api/v1/erasures/status"},
      {"GET", "/api/v1/subjects/export"},
      {"POST", "/api/v1/subjects/export/deliveries"},
      {"GET", "/api/v1/status"},
      {"GET", "/api/v1/dead-letters"},
      {"POST", "/api/v1/dead-letters/replay"},
      {"GET", "/api/v1/subjects"},
  };
  return kRoutes;
}

void AdminComponent::AddRoute(Router& router, std::string_view method, std::string_view path,
                              Router::RouteHandler handler) const {
  const auto& routes = AdminRoutes();
  const bool listed = std::any_of(routes.begin(), routes.end(), [&](const AdminRouteInfo& r) {
    return r.method == method && r.path == path;
  });
  if (!listed) {
    std::fprintf(stderr, "admin route %.*s %.*s is not in AdminRoutes()\n",
                 static_cast<int>(method.size()), method.data(), static_cast<int>(path.size()),
                 path.data());
    std::abort();
  }
  router.Add(std::string(method), std::string(path),
             [this, handler = std::move(handler)](net::HttpRequest req, net::Responder respond) {
               // Every answer of the API is for its caller only: never
               // cached (reload results, an erasure's stored request, ...).
               net::Responder answer = [respond = std::move(respond)](net::HttpResponse r) {
                 if (!net::FindHeader(r.headers, "Cache-Control")) {
                   r.headers.emplace_back("Cache-Control", "no-store");
                 }
                 respond(std::move(r));
               };
               if (auto refused = Refuse(req)) return answer(std::move(*refused));
               handler(std::move(req), std::move(answer));
             });
}

std::optional<net::HttpResponse> AdminComponent::Refuse(const net::HttpRequest& req) const {
  if (!token_digest_) {
    // consentctl tells this 404 from "no such person" by the detail's start
    // (cli/admin_client.cc).
    return net::Problem(404, "Not Found",
                        "the admin API is off: set admin.token_file in the configuration");
  }
  constexpr std::string_view kScheme = "Bearer ";
  const std::optional<std::string_view> auth = req.Header("Authorization");
  bool ok = false;
  if (auth && auth->size() > kScheme.size() && auth->substr(0, kScheme.size()) == kScheme) {
    const std::string presented = Digest(auth->substr(kScheme.size()));
    ok = CRYPTO_memcmp(presented.data(), token_digest_->data(), presented.size()) == 0;
  }
  if (ok) return std::nullopt;
  if (const std::optional<std::uint64_t> held_back =
          refusal_log_.Allow(std::chrono::steady_clock::now())) {
    spdlog::warn("admin: refused {} {} from {}: {}{}", req.method, req.path, req.remote_address,
                 auth ? "wrong token" : "no bearer token",
                 *held_back > 0
                     ? "; " + std::to_string(*held_back) + " more refused since the last such line"
                     : std::string());
  }
  net::HttpResponse r =
      net::Problem(401, "Unauthorized", "send the admin token as 'Authorization: Bearer <token>'");
  r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"consentd\"");
  return r;
}

void AddSyncAdminRoutes(Router& router, const AdminComponent& admin, SyncComponent& sync) {
  AddStatusRoutes(router, admin, sync);  // the status page and its endpoints (issue #8)
  AddErasureRoutes(router, admin, sync);  // erasure requests (issue #7)
  AddStatsHistoryRoutes(router, admin, sync);  // consent counts over time (issue #8)
  AddExportDeliveryRoutes(router, admin, sync);  // access export delivery (issue #7)
  admin.AddRoute(router, "GET", "/api/v1/stats", [&sync](net::HttpRequest, net::Responder respond) {
    sync.ConsentStats([respond](Result<std::string> json) {
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
  admin.AddRoute(
      router, "POST", "/api/v1/erasures", [&sync](net::HttpRequest req, net::Responder respond) {
        std::string email;
        try {
          const auto body = nlohmann::json::parse(req.body);
          if (body.is_object() && body.contains("email") && body.at("email").is_string()) {
            email = body.at("email").get<std::string>();
          }
        } catch (const nlohmann::json::exception&) {
          return respond(net::Problem(400, "Bad Request", "the body is not JSON"));
        }
        if (email.empty()) {
          return respond(net::Problem(400, "Bad Request", "'email' (a string) is required"));
        }
        sync.RequestErasure(
            std::move(email), "admin API (" + req.remote_address + ")",
            [respond](Result<ErasureRequest> r) {
              if (!r.ok()) {
                const StatusCode code = r.status().code();
                if (code == StatusCode::kNotFound) {
                  return respond(net::Problem(404, "Not Found", r.status().message()));
                }
                if (code == StatusCode::kInvalidArgument) {
                  return respond(net::Problem(400, "Bad Request", r.status().message()));
                }
                return respond(net::Problem(503, "Service Unavailable", r.status().message()));
              }
              net::HttpResponse out;
              out.status = 202;
              out.content_type = "application/json";
              out.body = nlohmann::json{{"id", r->id},
                                        {"subject", r->subject},
                                        {"requested_at_ms", r->requested_at},
                                        {"deadline_ms", OneMonthAfter(r->requested_at)},
                                        {"targets", r->targets},
                                        // The durable request, per-target states included.
                                        {"request", r->request_json.empty()
                                                        ? nlohmann::json(nullptr)
                                                        : nlohmann::json::parse(r->request_json, nullptr,
                                                                                false)}}
                             .dump() +
                         "\n";
              respond(std::move(out));
            });
      });
  admin.AddRoute(router, "GET", "/api/v1/subjects/export",
                 [&sync](net::HttpRequest req, net::Responder respond) {
                   std::string email;
                   for (const auto& [key, value] : net::ParseQuery(req.query)) {
                     if (key == "email") email = value;
                   }
                   if (auto problem = EmailParamProblem(email, req.query)) {
                     return respond(std::move(*problem));
                   }
                   sync.ExportSubject(std::move(email), [respond](Result<std::string> json) {
                     if (!json.ok()) {
                       const StatusCode code = json.status().code();
                       const int status = code == StatusCode::kNotFound          ? 404
                                          : code == StatusCode::kInvalidArgument ? 400
                                                                                 : 503;
                       return respond(net::Problem(status, net::ReasonPhrase(status),
                                                   json.status().message()));
                     }
                     net::HttpResponse r;
                     r.content_type = "application/json";
                     // The export holds personal data and the person's key.
                     r.headers.emplace_back("Cache-Control", "no-store");
                     r.body = std::move(json).value();
                     respond(std::move(r));
                   });
                 });
}

}  // namespace consentd::daemon
