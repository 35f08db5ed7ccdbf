// consentctl reload [--config FILE] [--url URL] [--token-file FILE]:
// asks the running consentd to reload its configuration through the admin
// API (POST /api/v1/reload), the same path as SIGHUP, and prints the
// outcome: "reloaded", or every error the daemon found while the running
// configuration stays in place.
//
// The file is validated here first: a file consentd would refuse is not
// sent at all (same FILE:LINE:COLUMN messages, exit 1). --url names the
// daemon when the new file moves its listener.
//
// The daemon answers once the connectors' checks the reload started have
// answered; each is printed. A reload applied while a check failed (a
// topic the new mapping names that the system lacks, revoked credentials)
// or did not answer in time exits kExitNotReady: the new configuration is
// in force, but consentd is not ready (/readyz answers 503) until it passes.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/admin_client.h"
#include "cli/command.h"
#include "config/config.h"

namespace consentd::cli {
namespace {

constexpr int kExitNotReady = 3;

int Fail(const std::string& message) {
  std::fprintf(stderr, "consentctl reload: %s\n", message.c_str());
  return 1;
}

// Prints each connector's check from the daemon's answer; returns how
// many did not pass (failed or still running).
int PrintChecks(const std::string& body) {
  const nlohmann::json answer = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!answer.is_object() || !answer.contains("connectors") || !answer["connectors"].is_array()) {
    return 0;  // a daemon that does not report them
  }
  int not_ready = 0;
  for (const nlohmann::json& c : answer["connectors"]) {
    const std::string name = c.value("name", "?");
    const std::string check = c.contains("check") && c["check"].is_string() ? c["check"] : "";
    if (c.contains("ready") && c["ready"].is_boolean() && c["ready"].get<bool>()) {
      std::printf("  %s: check passed\n", name.c_str());
    } else if (c.contains("ready") && c["ready"].is_boolean()) {
      std::printf("  %s: check FAILED: %s\n", name.c_str(), check.c_str());
      ++not_ready;
    } else {
      std::printf("  %s: check not answered yet\n", name.c_str());
      ++not_ready;
    }
  }
  return not_ready;
}

int Reload(const AdminTarget& target) {
  Result<config::Config> config = config::LoadConfigFile(target.config_file);
  if (!config.ok()) {
    std::fprintf(stderr, "%s\n", config.status().message().c_str());
    return Fail("not sent: consentd would refuse this file; the running configuration stays");
  }
  Result<net::HttpResponse> resp = CallAdminApi(target, *config, "POST", "/api/v1/reload", "");
  if (!resp.ok()) {
    if (resp.status().code() == StatusCode::kFailedPrecondition) {
      return Fail(resp.status().message() +
                  "; use 'systemctl reload consentd' or send SIGHUP instead");
    }
    // libcurl's words for a refused connection (CURLE_COULDNT_CONNECT); a
    // timeout after the request went out is not a moved listener.
    const bool not_listening =
        resp.status().message().find("Couldn't connect to server") != std::string::npos;
    if (not_listening && target.url.empty()) {
      // The address came from the new file: a reload that moves the
      // listener cannot be sent to where the daemon is not yet.
      return Fail(resp.status().message() +
                  "; if this file changes http.listen, consentd still listens on the old "
                  "address: pass it with --url, or use 'systemctl reload consentd' (SIGHUP)");
    }
    if (resp.status().code() == StatusCode::kUnauthenticated && target.token_file.empty()) {
      // The token came from the new file too.
      return Fail(resp.status().message() +
                  ": if this file changes admin.token_file or that file's token, the running "
                  "consentd still expects the old one: pass it with --token-file, or use "
                  "'systemctl reload consentd' (SIGHUP)");
    }
    return Fail(resp.status().message());
  }
  if (resp->status == 200) {
    std::printf("reloaded\n");
    if (PrintChecks(resp->body) == 0) return 0;
    std::fflush(stdout);
    std::fprintf(stderr,
                 "consentctl reload: the new configuration is in force, but not every connector "
                 "passed its check: consentd is not ready (/readyz answers 503) until it does "
                 "(checked again every 30 s, and at the next reload)\n");
    return kExitNotReady;
  }
  std::fprintf(stderr, "%s\n", ProblemText(*resp).c_str());
  return Fail("HTTP " + std::to_string(resp->status) + " from consentd");
}

}  // namespace

void RegisterReload(CLI::App& app, std::function<int()>& run) {
  auto* cmd = app.add_subcommand(
      "reload",
      "Ask the running consentd to reload its configuration (POST /api/v1/reload, like "
      "SIGHUP): prints 'reloaded' and each connector's check (exit 0; exit 3 when a check "
      "failed or did not answer: the new configuration is in force, consentd not ready), or "
      "the reasons it kept the running one (exit 1)");
  auto target = std::make_shared<AdminTarget>();
  target->AddOptions(*cmd);
  cmd->callback([target, &run] { run = [target] { return Reload(*target); }; });
}

}  // namespace consentd::cli
