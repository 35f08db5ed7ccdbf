#include "daemon/erasure_routes.h"

#include <string>
#include <utility>

#include "daemon/sync_component.h"

namespace consentd::daemon {
namespace {

// The answer to a store read that yields JSON text.
void RespondJson(const net::Responder& respond, Result<std::string> json) {
  if (!json.ok()) {
    const StatusCode code = json.status().code();
    const int status = code == StatusCode::kNotFound ? 404 : 503;
    return respond(net::Problem(status, net::ReasonPhrase(status), json.status().message()));
  }
  net::HttpResponse r;
  r.content_type = "application/json";
  r.headers.emplace_back("Cache-Control", "no-store");
  r.body = std::move(json).value() + "\n";
  respond(std::move(r));
}

}  // namespace

void AddErasureRoutes(Router& router, const AdminComponent& admin, SyncComponent& sync) {
  admin.AddRoute(
      router, "GET", "/api/v1/erasures", [&sync](net::HttpRequest req, net::Responder respond) {
        bool open = false;
        bool overdue = false;
        for (const auto& [key, value] : net::ParseQuery(req.query)) {
          if (key != "overdue" && key != "open") continue;
          if (value != "true" && value != "false") {
            return respond(net::Problem(400, "Bad Request", "'" + key + "' must be true or false"));
          }
          (key == "open" ? open : overdue) = value == "true";
        }
        sync.ListErasures(open, overdue, [respond](Result<std::string> json) {
          RespondJson(respond, std::move(json));
        });
      });
  admin.AddRoute(
      router, "GET", "/api/v1/erasures/status",
      [&sync](net::HttpRequest req, net::Responder respond) {
        std::string id;
        for (const auto& [key, value] : net::ParseQuery(req.query)) {
          if (key == "id") id = value;
        }
        if (id.empty()) {
          return respond(net::Problem(400, "Bad Request", "the query parameter 'id' is required"));
        }
        sync.GetErasure(std::move(id), [respond](Result<std::string> json) {
          RespondJson(respond, std::move(json));
        });
      });
}

}  // namespace consentd::daemon
