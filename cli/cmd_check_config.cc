// consentctl check-config FILE: validate a configuration file without
// running anything. Shares config::RunCheckConfig with consentd --check-config.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <string>

#include "cli/command.h"
#include "config/check_config.h"

namespace consentd::cli {

void RegisterCheckConfig(CLI::App& app, std::function<int()>& run) {
  auto* cmd = app.add_subcommand(
      "check-config",
      "Validate a consentd configuration file: prints 'FILE: OK' and exits 0, or every error "
      "as FILE:LINE:COLUMN: message and exits 1 (2: usage error)");
  auto path = std::make_shared<std::string>();
  // FILE is checked here rather than by CLI11 so that usage errors exit 2.
  cmd->add_option("FILE", *path, "the configuration file (YAML)");
  cmd->allow_extras();
  cmd->callback([cmd, path, &run] {
    const auto extras = cmd->remaining();
    run = [path, extras] {
      if (path->empty() || !extras.empty()) {
        std::fprintf(stderr, "usage: consentctl check-config FILE\n");
        return 2;
      }
      return config::RunCheckConfig(*path, stdout, stderr);
    };
  });
}

}  // namespace consentd::cli
