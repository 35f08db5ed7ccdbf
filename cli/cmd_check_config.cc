// consentctl check-config FILE [--online]: validate a configuration file
// without running anything. Shares config::RunCheckConfig with consentd
// --check-config.
//
// --online, once the file is valid, also asks each configured system:
// builds every connector (daemon/connector_factory.h), runs its Check()
// (credentials; every mapped subscription type, interest, permission
// exists) and lists the native topics the mapping does not name:
//
//   hubspot: OK (3 topics mapped)
//   hubspot: not mapped: 201 SMS offers (SMS)
//   mailchimp: check failed: mailchimp: interest 0123456789 of the mapping is not in ...
//
// Unmapped topics are warnings (never synchronised, by design); exit 1 if
// any check fails.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <string>

#include "cli/command.h"
#include "config/check_config.h"
#include "config/config.h"
#include "connectors/common/connector.h"
#include "connectors/common/http_client.h"
#include "daemon/connector_factory.h"

namespace consentd::cli {
namespace {

// One connector: "NAME: OK (N topics mapped)" and its unmapped topics, or
// "NAME: check failed: ...". True if it passed.
bool CheckOnline(const config::ConnectorConfig& c,
                 const std::shared_ptr<const mapping::MappingSpec>& mapping,
                 connectors::HttpClient& http) {
  const char* name = c.name.c_str();
  Result<std::unique_ptr<connectors::Connector>> connector =
      daemon::MakeConnector(c, mapping, http);
  if (!connector.ok()) {
    std::printf("%s: check failed: %s\n", name, connector.status().message().c_str());
    return false;
  }
  if (Status s = (*connector)->Check(); !s.ok()) {
    std::printf("%s: check failed: %s\n", name, s.message().c_str());
    return false;
  }
  Result<std::vector<connectors::NativeTopic>> topics = (*connector)->ListNativeTopics();
  if (!topics.ok()) {
    std::printf("%s: check failed: listing its topics: %s\n", name,
                topics.status().message().c_str());
    return false;
  }
  int mapped = 0;
  for (const auto& t : *topics) mapped += t.mapped ? 1 : 0;
  std::printf("%s: OK (%d topic%s mapped)\n", name, mapped, mapped == 1 ? "" : "s");
  for (const auto& t : *topics) {
    if (t.mapped) continue;
    std::printf("%s: not mapped: %s %s (%s)\n", name, t.id.c_str(), t.name.c_str(),
                t.channel.c_str());
  }
  return true;
}

int RunOnline(const std::string& path) {
  Result<config::Config> config = config::LoadConfigFile(path);
  if (!config.ok()) {  // RunCheckConfig passed: only a race with an editor
    std::fprintf(stderr, "%s\n", config.status().message().c_str());
    return 1;
  }
  if (config->connectors.empty()) {
    std::printf("no connectors configured: nothing to check online\n");
    return 0;
  }
  auto mapping = std::make_shared<const mapping::MappingSpec>(config->mapping);
  std::unique_ptr<connectors::HttpClient> http =
      connectors::MakeCurlHttpClient("consentctl/" CONSENTD_VERSION);
  bool all_ok = true;
  for (const auto& [name, c] : config->connectors) {
    if (!CheckOnline(c, mapping, *http)) all_ok = false;
  }
  std::fflush(stdout);
  return all_ok ? 0 : 1;
}

}  // namespace

void RegisterCheckConfig(CLI::App& app, std::function<int()>& run) {
  auto* cmd = app.add_subcommand(
      "check-config",
      "Validate a consentd configuration file: prints 'FILE: OK' and exits 0, or every error "
      "as FILE:LINE:COLUMN: message and exits 1 (2: usage error). --online also checks each "
      "connector against its system and lists native topics the mapping does not name");
  auto path = std::make_shared<std::string>();
  auto online = std::make_shared<bool>(false);
  // FILE is checked here rather than by CLI11 so that usage errors exit 2.
  cmd->add_option("FILE", *path, "the configuration file (YAML)");
  cmd->add_flag("--online", *online,
                "after validation, run each connector's check against its system and list "
                "unmapped native topics (exit 1 if a check fails)");
  cmd->allow_extras();
  cmd->callback([cmd, path, online, &run] {
    const auto extras = cmd->remaining();
    run = [path, online, extras] {
      if (path->empty() || !extras.empty()) {
        std::fprintf(stderr, "usage: consentctl check-config FILE [--online]\n");
        return 2;
      }
      const int rc = config::RunCheckConfig(*path, stdout, stderr);
      if (rc != 0 || !*online) return rc;
      std::fflush(stdout);
      return RunOnline(*path);
    };
  });
}

}  // namespace consentd::cli
