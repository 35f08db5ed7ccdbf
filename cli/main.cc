// consentctl: the operator's command line for consentd.
#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <string>
#include <vector>

#include "cli/command.h"

namespace consentd::cli {
// One line per command; defined in cli/cmd_*.cc.
void RegisterVersion(CLI::App& app, std::function<int()>& run);
void RegisterCheckConfig(CLI::App& app, std::function<int()>& run);
void RegisterVerify(CLI::App& app, std::function<int()>& run);
void RegisterLog(CLI::App& app, std::function<int()>& run);
void RegisterDlq(CLI::App& app, std::function<int()>& run);
void RegisterResync(CLI::App& app, std::function<int()>& run);
void RegisterReload(CLI::App& app, std::function<int()>& run);
void RegisterErase(CLI::App& app, std::function<int()>& run);
void RegisterErasures(CLI::App& app, std::function<int()>& run);
void RegisterStatus(CLI::App& app, std::function<int()>& run);
void RegisterExplain(CLI::App& app, std::function<int()>& run);
void RegisterMap(CLI::App& app, std::function<int()>& run);
void RegisterExport(CLI::App& app, std::function<int()>& run);
void RegisterVerifyExport(CLI::App& app, std::function<int()>& run);
void RegisterBackup(CLI::App& app, std::function<int()>& run);
}  // namespace consentd::cli

int main(int argc, char** argv) {
  CLI::App app{"consentctl: operate and audit a consentd instance"};
  app.require_subcommand(1);
  // As `consentctl version` and `consentd --version`.
  app.set_version_flag("--version", std::string("consentctl ") + CONSENTD_VERSION);
  std::function<int()> run;
  const consentd::cli::Registrar registrars[] = {
      &consentd::cli::RegisterVersion,  &consentd::cli::RegisterCheckConfig,
      &consentd::cli::RegisterVerify,   &consentd::cli::RegisterLog,
      &consentd::cli::RegisterDlq,      &consentd::cli::RegisterResync,
      &consentd::cli::RegisterReload,   &consentd::cli::RegisterErase,
      &consentd::cli::RegisterErasures, &consentd::cli::RegisterStatus,
      &consentd::cli::RegisterExplain,  &consentd::cli::RegisterMap,
      &consentd::cli::RegisterExport,   &consentd::cli::RegisterVerifyExport,
      &consentd::cli::RegisterBackup,
  };
  for (auto reg : registrars) reg(app, run);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every usage error exits 2, like the
    // commands' own usage checks.
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (!run) {
    std::fprintf(stderr, "consentctl: no command given (see --help)\n");
    return 2;
  }
  try {
    const int code = run();
    // What a command printed may still sit in stdio's buffer: a full disk
    // (`consentctl log checkpoint > /audit/x.checkpoint`) shows only now.
    // A script must not take a truncated file for success.
    if (std::fflush(stdout) != 0 || std::ferror(stdout) != 0) {
      std::fprintf(stderr, "consentctl: writing the output failed: %s\n", std::strerror(errno));
      return code == 0 ? 1 : code;
    }
    return code;
  } catch (const std::exception& e) {
    // A command's own errors are statuses with a clear line; this is for
    // what none of them foresaw, which must still end with a reason and
    // exit 1 rather than abort.
    std::fprintf(stderr, "consentctl: failed: %s\n", e.what());
    return 1;
  }
}
