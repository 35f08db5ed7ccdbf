// consentd: the daemon binary. See daemon/daemon.h for what it does and
// docs/operations.md for how to run it under systemd.
#include <malloc.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "config/check_config.h"
#include "daemon/daemon.h"

#ifndef CONSENTD_VERSION
#define CONSENTD_VERSION "unknown"
#endif

// GnuTLS is loaded only as a dependency of libcurl's own dependencies
// (its LDAP and RTMP support); consentd never uses it (libcurl speaks TLS
// through OpenSSL). By default GnuTLS initialises itself from a library
// constructor (random pool, ASN.1 trees, p11-kit modules), which costs
// ~0.75 MiB of resident memory for nothing. GnuTLS asks this weak hook
// first, before it looks at GNUTLS_NO_IMPLICIT_INIT; the executable
// exports it (daemon/CMakeLists.txt), so the constructor returns early.
// Code that does use GnuTLS still initialises it explicitly
// (gnutls_global_init), as libldap and librtmp do.
extern "C" __attribute__((visibility("default"))) int _gnutls_global_init_skip(void) { return 1; }

int main(int argc, char** argv) {
  // glibc gives each thread that allocates its own arena (up to 8 per core).
  // Too few arenas and the busy threads (store workers, poll threads, the io
  // thread) queue on each other's arena locks: with 2, an initial sync spent
  // ~11 % of its samples waking and waiting on them and took 40 % more CPU
  // per contact. Too many and each thread's share of large parsed pages stays
  // fragmented in its own arena. 8 covers the busy threads; peak RSS of an
  // initial sync of 1,000,000 was 122-126 MB (docs/benchmarks.md, tenth round).
  // MALLOC_ARENA_MAX in the environment still overrides this.
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) mallopt(M_ARENA_MAX, 8);
  CLI::App app{"consentd: keeps marketing consent in step between a CRM and a journey platform"};
  std::string config_path;
  std::string check_path;
  bool version = false;
  auto* run_opt = app.add_option("--config", config_path, "Run with this configuration file");
  auto* check_opt = app.add_option("--check-config", check_path,
                                   "Validate this configuration file and exit (0: valid)");
  app.add_flag("--version", version, "Print the version and exit");
  run_opt->excludes(check_opt);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // CLI11 prints help (exit 0) or the error; a usage error exits 2, as
    // everywhere in consentd (docs/operations.md), not CLI11's own codes.
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (version) {
    std::printf("consentd %s\n", CONSENTD_VERSION);
    return 0;
  }
  if (!check_path.empty()) return consentd::config::RunCheckConfig(check_path, stdout, stderr);
  if (config_path.empty()) {
    std::fprintf(stderr, "consentd: --config FILE is required (see --help)\n");
    return 2;
  }
  // A peer that goes away must cost an error code, not the process.
  std::signal(SIGPIPE, SIG_IGN);
  consentd::daemon::Daemon daemon(config_path);
  return daemon.Run();
}
