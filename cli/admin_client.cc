#include "cli/admin_client.h"

#include <strings.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>

#include "connectors/common/http_client.h"

namespace consentd::cli {
namespace {

// "http://127.0.0.1:8470" for a listener on a wildcard address.
std::string LocalUrl(const config::HttpConfig& http) {
  std::string host = http.address;
  if (host.empty() || host == "0.0.0.0") host = "127.0.0.1";
  if (host == "::") host = "::1";
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return "http://" + host + ":" + std::to_string(http.port);
}

// True if `response` carries consentd's own bearer challenge (its admin
// API refused the token), not another server's 401.
bool IsConsentdsChallenge(const net::HttpResponse& response) {
  for (const auto& [name, value] : response.headers) {
    if (name.size() == 16 && strncasecmp(name.c_str(), "WWW-Authenticate", 16) == 0 &&
        value.find("realm=\"consentd\"") != std::string::npos) {
      return true;
    }
  }
  return false;
}

}  // namespace

void AdminTarget::AddOptions(CLI::App& cmd) {
  cmd.add_option("--config", config_file, "the configuration file consentd runs with")
      ->capture_default_str();
  cmd.add_option("--url", url, "consentd's base URL (default: from http.listen)");
  cmd.add_option("--token-file", token_file,
                 "file holding the admin token (default: admin.token_file)");
}

Result<net::HttpResponse> CallAdminApi(const AdminTarget& target, const config::Config& config,
                                       const std::string& method, const std::string& path,
                                       const std::string& json_body,
                                       std::chrono::milliseconds timeout) {
  std::string base = target.url.empty() ? LocalUrl(config.http) : target.url;
  while (base.ends_with('/')) base.pop_back();  // "http://host:port/" is the same consentd
  const std::string url = base + path;
  const std::string token_file =
      target.token_file.empty() ? config.admin.token_file : target.token_file;
  if (token_file.empty()) {
    return FailedPrecondition("the admin API is off (no admin.token_file in " +
                              target.config_file + ")");
  }
  // One given on the command line may be `<(pass show …)`.
  Result<std::string> token = config::LoadSecret(token_file, !target.token_file.empty());
  if (!token.ok()) return token.status();
  std::unique_ptr<connectors::HttpClient> http =
      connectors::MakeCurlHttpClient("consentctl/" CONSENTD_VERSION);
  connectors::OutboundRequest req;
  req.method = method;
  req.url = url;
  req.headers = {{"Authorization", "Bearer " + *token}};
  if (!json_body.empty()) {
    req.headers.emplace_back("Content-Type", "application/json");
    req.body = json_body;
  }
  req.timeout = timeout;
  req.direct = true;  // the token never goes to a proxy
  Result<net::HttpResponse> resp = http->Send(req);
  if (!resp.ok() && resp.status().code() == StatusCode::kDeadlineExceeded) {
    return DeadlineExceeded(
        "consentd at " + url + " did not answer within " +
        std::to_string(std::chrono::duration_cast<std::chrono::seconds>(timeout).count()) +
        " s; what was asked may still be done there (see consentd's log before asking again)");
  }
  if (!resp.ok()) {
    return Unavailable("cannot reach consentd at " + url + ": " + resp.status().message());
  }
  if (resp->status == 401) {
    if (!IsConsentdsChallenge(*resp)) {
      return Unavailable("the server at " + base +
                         " answered 401 but is not consentd's admin API " +
                         "(is --url or http.listen the address consentd listens on?)");
    }
    return Unauthenticated("consentd at " + base + " refused the admin token in " + token_file +
                           " (a wrong token, or one rotated since consentd last read it)");
  }
  // A daemon whose admin API is off answers every admin route 404 with this
  // detail (daemon/admin_api.cc): an error, not "no such person" to erase
  // or export (their exit 3).
  if (resp->status == 404) {
    const std::string detail = ProblemDetail(*resp);
    if (detail.starts_with("the admin API is off")) {
      return FailedPrecondition("consentd at " + url + " has its admin API off (" + detail + ")");
    }
  }
  return resp;
}

std::string ProblemDetail(const net::HttpResponse& response) {
  const auto j = nlohmann::json::parse(response.body, nullptr, false);
  if (!j.is_object()) return {};
  const auto detail = j.find("detail");
  return detail != j.end() && detail->is_string() ? detail->get<std::string>() : std::string();
}

bool AnswersNoSuchPerson(const net::HttpResponse& response) {
  // The daemon's words for it (sync/explain.cc NotFoundMessage, the erasure
  // route): any other 404 (a wrong --url path, a proxy) is an error.
  if (response.status != 404) return false;
  const std::string detail = ProblemDetail(response);
  // The export's own words when even no tombstone matches (privacy/export.cc).
  return detail.starts_with("no subject with this address") ||
         detail.starts_with("consentd holds no data about this address");
}

std::string ProblemText(const net::HttpResponse& response) {
  try {
    const auto j = nlohmann::json::parse(response.body);
    if (j.is_object() && j.contains("title")) {
      // One line, as every other message of consentctl's.
      return j.value("title", std::string()) + ": " + j.value("detail", std::string());
    }
  } catch (const nlohmann::json::exception&) {
  }
  return response.body;
}

}  // namespace consentd::cli
