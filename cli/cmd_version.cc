#include <CLI/CLI.hpp>

#include <cstdio>

#include "cli/command.h"

namespace consentd::cli {

void RegisterVersion(CLI::App& app, std::function<int()>& run) {
  auto* cmd = app.add_subcommand("version", "Print the consentctl version");
  cmd->callback([&run] {
    run = [] {
      std::printf("consentctl %s\n", CONSENTD_VERSION);
      return 0;
    };
  });
}

}  // namespace consentd::cli
