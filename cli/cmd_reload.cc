// consentctl reload [--config FILE] [--url URL] [--token-file FILE]:
// asks the running consentd to reload its configuration through the admin
// API (POST /api/v1/reload), the same path as SIGHUP, and prints the
// outcome: "reloaded", or every error the daemon found while the running
// configuration stays in place.
//
// The file is validated here first: a file consentd would refuse is not
// sent at all (same FILE:LINE:COLUMN messages, exit 1). --url names the
// daemon when the new file moves its listener.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <string>

#include "cli/admin_client.h"
#include "cli/command.h"
#include "config/config.h"

namespace consentd::cli {
namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "consentctl reload: %s\n", message.c_str());
  return 1;
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
    return Fail(resp.status().message());
  }
  if (resp->status == 200) {
    std::printf("reloaded\n");
    return 0;
  }
  std::fprintf(stderr, "%s\n", ProblemText(*resp).c_str());
  return Fail("HTTP " + std::to_string(resp->status) + " from consentd");
}

}  // namespace

void RegisterReload(CLI::App& app, std::function<int()>& run) {
  auto* cmd = app.add_subcommand(
      "reload",
      "Ask the running consentd to reload its configuration (POST /api/v1/reload, like "
      "SIGHUP): prints 'reloaded' (exit 0) or the reasons it kept the running one (exit 1)");
  auto target = std::make_shared<AdminTarget>();
  target->AddOptions(*cmd);
  cmd->callback([target, &run] { run = [target] { return Reload(*target); }; });
}

}  // namespace consentd::cli
