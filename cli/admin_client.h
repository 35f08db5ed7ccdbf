// Calls to the running consentd's admin API (/api/v1/, docs/admin-api.md)
// for the consentctl commands that act through it (reload, erase). The
// address and token come from the configuration file (http.listen,
// admin.token_file) unless --url / --token-file say otherwise.
#pragma once

#include <chrono>
#include <string>

#include "config/config.h"
#include "core/status.h"
#include "net/http_types.h"

namespace CLI {
class App;
}

namespace consentd::cli {

struct AdminTarget {
  std::string config_file = "/etc/consentd/consentd.yaml";
  std::string url;         // base URL; default from http.listen
  std::string token_file;  // default admin.token_file

  // Adds --config, --url and --token-file to `cmd`.
  void AddOptions(CLI::App& cmd);
};

// A reload re-checks the connectors before it answers.
inline constexpr std::chrono::milliseconds kDefaultAdminCallTimeout{60'000};

// Sends one request with the bearer token to `config`'s daemon. Any HTTP
// status is a response; errors say why nothing was sent or received.
// `timeout`: how long to wait for the answer; a call whose work can take
// longer (an export delivery's retries) passes what that work may take.
// No answer in time is DeadlineExceeded, which says the work may still
// complete in consentd.
Result<net::HttpResponse> CallAdminApi(
    const AdminTarget& target, const config::Config& config, const std::string& method,
    const std::string& path, const std::string& json_body,
    std::chrono::milliseconds timeout = kDefaultAdminCallTimeout);

// "Title: detail" of a problem+json answer (the body as is otherwise).
std::string ProblemText(const net::HttpResponse& response);

// The `detail` of a problem+json answer; empty if there is none.
std::string ProblemDetail(const net::HttpResponse& response);

// A 404 that says nobody has the address asked for (exit 3 of erase and
// export), as opposed to any other 404.
bool AnswersNoSuchPerson(const net::HttpResponse& response);

}  // namespace consentd::cli
