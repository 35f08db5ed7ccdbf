#include "daemon/export_delivery.h"

#include <openssl/rand.h>

#include <array>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "connectors/common/webhook_signatures.h"
#include "daemon/sync_component.h"

namespace consentd::daemon {
namespace {

// "msg_" and 32 hex digits of randomness: unique per delivery.
Result<std::string> NewWebhookId() {
  std::array<unsigned char, 16> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    return Internal("no randomness for the webhook id");
  }
  std::string id = "msg_";
  char hex[3];
  for (unsigned char b : bytes) {
    std::snprintf(hex, sizeof hex, "%02x", b);
    id += hex;
  }
  return id;
}

bool Retryable(const Result<net::HttpResponse>& r) {
  if (!r.ok()) return r.status().code() != StatusCode::kInvalidArgument;  // not a bad URL
  return r->status >= 500;
}

}  // namespace

Result<ExportDeliveryOutcome> DeliverExport(const config::ExportDeliveryConfig& config,
                                            std::string_view export_json,
                                            const ExportDeliveryDeps& deps) {
  if (config.url.empty()) return FailedPrecondition("privacy.export_delivery is not configured");
  Result<std::string> secret = config::LoadSecret(config.secret_file);
  if (!secret.ok()) return secret.status().WithContext("privacy.export_delivery.secret_file");
  Result<std::string> id = NewWebhookId();
  if (!id.ok()) return id.status();

  ExportDeliveryOutcome out;
  out.webhook_id = *id;
  std::chrono::milliseconds backoff = deps.first_backoff;
  for (int attempt = 1; attempt <= kExportDeliveryMaxAttempts; ++attempt) {
    const std::int64_t timestamp_s = deps.now() / 1000;
    Result<std::string> signature =
        connectors::StandardWebhooksSign(*secret, out.webhook_id, timestamp_s, export_json);
    if (!signature.ok()) {
      return signature.status().WithContext("privacy.export_delivery.secret_file");
    }
    connectors::OutboundRequest request;
    request.method = "POST";
    request.url = config.url;
    request.timeout = config.timeout;
    request.body = std::string(export_json);
    request.headers = {{"Content-Type", "application/json"},
                       {"webhook-id", out.webhook_id},
                       {"webhook-timestamp", std::to_string(timestamp_s)},
                       {"webhook-signature", *signature}};
    Result<net::HttpResponse> r = deps.http->Send(request);
    out.attempts = attempt;
    out.http_status = r.ok() ? r->status : 0;
    if (r.ok() && r->status >= 200 && r->status < 300) {
      out.delivered = true;
      out.reason.clear();
      return out;
    }
    out.reason = r.ok() ? "the endpoint answered HTTP " + std::to_string(r->status)
                        : "the endpoint could not be reached: " + r.status().message();
    if (!Retryable(r)) break;
    if (attempt < kExportDeliveryMaxAttempts) {
      deps.sleep(backoff);
      backoff *= 2;
    }
  }
  if (out.attempts > 1) out.reason += " (after " + std::to_string(out.attempts) + " attempts)";
  return out;
}

std::chrono::milliseconds LongestExportDelivery(const config::ExportDeliveryConfig& config,
                                                std::chrono::milliseconds first_backoff) {
  std::chrono::milliseconds total = config.timeout * kExportDeliveryMaxAttempts;
  std::chrono::milliseconds backoff = first_backoff;
  for (int attempt = 1; attempt < kExportDeliveryMaxAttempts; ++attempt) {
    total += backoff;
    backoff *= 2;
  }
  return total;
}

void AddExportDeliveryRoutes(Router& router, const AdminComponent& admin, SyncComponent& sync) {
  admin.AddRoute(
      router, "POST", "/api/v1/subjects/export/deliveries",
      [&sync](net::HttpRequest req, net::Responder respond) {
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
        sync.DeliverExport(std::move(email), "admin API (" + req.remote_address + ")",
                           [respond](Result<ExportDeliveryOutcome> r) {
                             if (!r.ok()) {
                               const StatusCode code = r.status().code();
                               const int status = code == StatusCode::kNotFound             ? 404
                                                  : code == StatusCode::kInvalidArgument    ? 400
                                                  : code == StatusCode::kFailedPrecondition ? 409
                                                                                            : 503;
                               return respond(net::Problem(status, net::ReasonPhrase(status),
                                                           r.status().message()));
                             }
                             const nlohmann::json fields = {{"delivered", r->delivered},
                                                            {"webhook_id", r->webhook_id},
                                                            {"attempts", r->attempts},
                                                            {"http_status", r->http_status}};
                             net::HttpResponse out;
                             if (r->delivered) {
                               out.content_type = "application/json";
                               out.body = fields.dump() + "\n";
                             } else {
                               out = net::Problem(502, "Bad Gateway", r->reason);
                               auto problem = nlohmann::json::parse(out.body, nullptr, false);
                               if (problem.is_object()) {
                                 problem.update(fields);
                                 out.body = problem.dump();
                               }
                             }
                             respond(std::move(out));
                           });
      });
}

}  // namespace consentd::daemon
