// consentctl status --config FILE [--json]: per mapped topic and channel,
// how many subjects are granted, pending double opt-in, withdrawn,
// refused, blocked, awaiting re-consent, and never asked
// (sync/consent_stats.h). Reads the store consentd writes; safe while it
// runs (a read snapshot: ReadStore never takes the write lock).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <string>

#include "cli/cmd_log_common.h"
#include "cli/command.h"
#include "config/config.h"
#include "core/clock.h"
#include "sync/consent_stats.h"

namespace consentd::cli {
namespace {

struct StatusArgs {
  std::string config_file = "/etc/consentd/consentd.yaml";
  bool json = false;
};

int ShowStatus(const StatusArgs& args) {
  Result<config::Config> config = config::LoadConfigFile(args.config_file);
  if (!config.ok()) {
    std::fprintf(stderr, "%s\n", config.status().message().c_str());
    return 1;
  }
  if (!config->has_mapping) {
    return Fail("status", FailedPrecondition("the configuration has no mapping section"));
  }
  sync::ConsentStats stats;
  Status s = ReadStore(config->store.path, [&](store::Transaction& txn) -> Status {
    Result<sync::ConsentStats> r =
        sync::ComputeConsentStats(txn, config->mapping, SystemClock().NowMs());
    if (!r.ok()) return r.status();
    stats = std::move(r).value();
    return Status::Ok();
  });
  if (!s.ok()) return Fail("status", s);
  if (args.json) {
    std::printf("%s\n", sync::ConsentStatsJson(stats).c_str());
  } else {
    std::printf("%s", sync::FormatConsentStats(stats).c_str());
  }
  return 0;
}

}  // namespace

void RegisterStatus(CLI::App& app, std::function<int()>& run) {
  auto* cmd = app.add_subcommand(
      "status",
      "Consent counts per topic and channel: granted, pending, withdrawn, refused, blocked, "
      "re-consent required, never asked (not_asked)");
  auto args = std::make_shared<StatusArgs>();
  cmd->add_option("--config", args->config_file, "consentd's configuration file")
      ->capture_default_str();
  cmd->add_flag("--json", args->json, "print JSON (as GET /api/v1/stats)");
  cmd->callback([args, &run] { run = [args] { return ShowStatus(*args); }; });
}

}  // namespace consentd::cli
