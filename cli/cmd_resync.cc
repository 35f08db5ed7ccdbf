// consentctl resync: the full reconciliation (sync/resync.h), on demand.
//
//   consentctl resync --config FILE [--connector NAME] [--dry-run]
//                     [--missing-limit N]
//
// Reads every configured connector's snapshot (or only NAME's), decides it
// against the canonical state in the store and prints, per connector, one
// line of drift counts and the decisions by outcome, e.g.
//
//   hubspot: 2 page(s), 120 record(s); in step 300, consentd behind 4, ...
//     outcomes: applied=4 duplicate=300 superseded=1
//     enqueued: hubspot=1 mailchimp=4
//
// After a complete real run the linked records the snapshot no longer has
// are looked at (deleted there with the webhook lost), unless there are
// more than 1000 or more than 5% of the system's linked records; an
// operator who has checked raises that with --missing-limit N
// (sync/resync.h). Counts only, never
// personal data. Drift is reported, not an error: exit 0
// when every resync ran, 1 with a one-line reason otherwise. --dry-run
// decides and rolls back: nothing is stored or sent. consentd may run
// meanwhile (SQLite locking); the rows a real run enqueues are sent by the
// running daemon's dispatcher (within its idle interval, about a second),
// which also has its hint reader list the hints the run queued (records a
// system failed to answer for) at its next claim.
// Ctrl-C stops after the current page (every finished page is whole).

#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "cli/cmd_log_common.h"
#include "cli/command.h"
#include "cli/engine_outside_daemon.h"
#include "config/config.h"
#include "connectors/common/budgeted_http_client.h"
#include "connectors/common/http_client.h"
#include "connectors/common/rate_limiter.h"
#include "daemon/connector_factory.h"
#include "mapping/policy.h"
#include "store/sqlite_store.h"
#include "sync/resync.h"
#include "sync/sync_engine.h"

namespace consentd::cli {
namespace {

struct ResyncArgs {
  std::string config_file;
  std::string connector;  // empty: all
  bool dry_run = false;
  int missing_limit = sync::ResyncOptions{}.missing_read_limit;
  bool missing_limit_given = false;
};

std::atomic<bool> g_stop{false};

void OnStopSignal(int) { g_stop.store(true); }

int Fail(const Status& s) {
  std::fprintf(stderr, "consentctl resync: %s\n", s.message().c_str());
  return 1;
}

void Print(const sync::ResyncReport& report) {
  std::printf("%s\n", sync::FormatResyncReport(report).c_str());
  std::string outcomes;
  for (const auto& [outcome, n] : report.outcomes) {
    outcomes += " " + std::string(OutcomeName(outcome)) + "=" + std::to_string(n);
  }
  std::printf("  outcomes:%s\n", outcomes.empty() ? " none" : outcomes.c_str());
  std::string enqueued;
  for (const auto& [target, n] : report.enqueued) {
    enqueued += " " + target + "=" + std::to_string(n);
  }
  std::printf("  %s:%s\n", report.dry_run ? "would enqueue" : "enqueued",
              enqueued.empty() ? " none" : enqueued.c_str());
  std::fflush(stdout);
}

// One connector: its own request budget (the configured one: the daemon,
// if running, has its own, so together they may use up to twice as much)
// over the shared libcurl client. nullopt: skipped (a change feed, among
// all connectors).
Result<std::optional<sync::ResyncReport>> ResyncOne(
    const config::ConnectorConfig& c, std::shared_ptr<const mapping::MappingSpec> mapping,
    connectors::HttpClient& curl, store::Store& store, sync::SyncEngine& engine,
    const ResyncArgs& args) {
  connectors::RateLimiter limiter(
      {c.rate_limit.requests, c.rate_limit.interval, c.rate_limit.max_in_flight,
       c.rate_limit.search_requests, c.rate_limit.search_interval});
  connectors::BudgetStats stats;
  connectors::BudgetedHttpClient http(curl, limiter, g_stop, stats, daemon::QuotaRefusalOf(c.kind));
  Result<std::unique_ptr<connectors::Connector>> connector =
      daemon::MakeConnector(c, std::move(mapping), http);
  if (!connector.ok()) return connector.status().WithContext("connector " + c.name);
  // A change feed (a generic connector's poll) has no snapshot to compare:
  // skipped among all connectors; named alone, RunResync says why.
  if (!(*connector)->PollsSnapshots() && args.connector.empty()) {
    return std::optional<sync::ResyncReport>();
  }
  // What the daemon's instance learnt (HubSpot: the source it gives
  // consentd's writes), so that this one tells its own writes apart alike.
  std::optional<std::string> learnt;
  CONSENTD_RETURN_IF_ERROR(store.Run(
      [&](store::Transaction& txn) -> Status {
        auto stored = txn.GetCursor(daemon::LearntStateKey(c.name));
        if (!stored.ok()) return stored.status();
        learnt = std::move(stored).value();
        return Status::Ok();
      },
      store::SubmitOptions{/*durable=*/false}));
  if (learnt) (*connector)->RestoreLearntState(*learnt);
  sync::ResyncOptions options;
  options.dry_run = args.dry_run;
  options.stop = &g_stop;
  if (!args.dry_run) {
    // A reload while this runs puts another mapping in force: a page
    // decided by this one then would repair to rules consentd no longer
    // applies. Checked in each unit's own transaction, so a page commits
    // only under the mapping in force at its commit.
    options.guard = [hash = engine.mapping_hash()](store::Transaction& txn) -> Status {
      Result<std::optional<std::string>> differs = MappingNotInForce(txn, hash);
      if (!differs.ok()) return differs.status();
      if (!differs->has_value()) return Status::Ok();
      return FailedPrecondition(
          **differs +
          ": consentd was reloaded during this run; what was decided before stays, the rest "
          "was not: run consentctl resync again");
    };
  }
  if (args.missing_limit_given) {
    // The operator has looked: the share no longer applies.
    options.missing_read_limit = args.missing_limit;
    options.missing_read_max_share = 1.0;
  }
  Result<sync::ResyncReport> report = sync::RunResync(store, engine, **connector, options);
  if (!report.ok()) return report.status();
  return std::optional<sync::ResyncReport>(std::move(report).value());
}

int Resync(const ResyncArgs& args) {
  Result<config::Config> config = config::LoadConfigFile(args.config_file);
  if (!config.ok()) return Fail(config.status());
  if (config->connectors.empty()) return Fail(FailedPrecondition("no connectors configured"));
  if (!config->has_mapping) return Fail(FailedPrecondition("connectors need a mapping section"));
  if (!args.connector.empty() && config->connectors.count(args.connector) == 0) {
    return Fail(NotFound("no connector named " + args.connector));
  }
  Result<std::unique_ptr<store::SqliteStore>> db = OpenStoreToDecide(*config, args.dry_run);
  if (!db.ok()) return Fail(db.status());
  auto mapping = std::make_shared<const mapping::MappingSpec>(config->mapping);
  // Decide by the rules consentd decides by. A mapping edited in the file
  // but not yet reloaded would repair both systems to rules nothing else
  // applies (consentd would then undo it, change by change); a dry run may
  // preview it, and says so. Checked before the identity key, whose
  // binding is a write: a refused run binds no key.
  Result<std::optional<std::string>> differs =
      MappingNotInForce(**db, mapping::MappingHash(*mapping));
  if (!differs.ok() || (differs->has_value() && !args.dry_run)) {
    (void)(*db)->Close();
    if (!differs.ok()) return Fail(differs.status());
    return Fail(FailedPrecondition(
        args.config_file + ": " + **differs +
        ": run consentctl reload (or start consentd) so that it is in force, then resync; "
        "consentctl resync --dry-run previews it"));
  }
  if (differs->has_value()) {
    std::fprintf(stderr,
                 "consentctl resync: note: %s; this dry run decides by the file's, as a resync "
                 "after consentctl reload would\n",
                 (*differs)->c_str());
  }
  // The key the store's hashes were made with, and no other.
  Result<std::string> key = IdentityKeyToDecide(**db, *config, args.dry_run);
  if (!key.ok()) {
    (void)(*db)->Close();
    return Fail(key.status());
  }
  sync::SyncEngine engine(sync::EngineSettings{mapping, *key});
  std::unique_ptr<connectors::HttpClient> curl =
      connectors::MakeCurlHttpClient("consentctl/" CONSENTD_VERSION);
  std::signal(SIGINT, OnStopSignal);
  std::signal(SIGTERM, OnStopSignal);

  Status failed = Status::Ok();
  for (const auto& [name, c] : config->connectors) {
    if (!args.connector.empty() && name != args.connector) continue;
    if (g_stop.load()) break;
    Result<std::optional<sync::ResyncReport>> report =
        ResyncOne(c, mapping, *curl, **db, engine, args);
    if (!report.ok()) {
      failed = report.status();
      break;
    }
    if (!report->has_value()) {
      std::printf(
          "%s: skipped (a generic connector's poll is a change feed, not its records' "
          "current state)\n",
          name.c_str());
      continue;
    }
    Print(**report);
  }
  Status closed = (*db)->Close();
  if (!failed.ok()) return Fail(failed);
  if (!closed.ok()) return Fail(closed);
  if (g_stop.load()) return Fail(Unavailable("stopped by a signal before the end"));
  return 0;
}

}  // namespace

void RegisterResync(CLI::App& app, std::function<int()>& run) {
  auto args = std::make_shared<ResyncArgs>();
  auto* cmd = app.add_subcommand(
      "resync", "Full reconciliation: compare each system's snapshot with consentd, repair drift");
  cmd->add_option("--config", args->config_file, "consentd config file")->required();
  cmd->add_option("--connector", args->connector, "only this connector (default: all)");
  cmd->add_flag("--dry-run", args->dry_run, "report the drift, store and send nothing");
  cmd->add_option_function<int>(
         "--missing-limit",
         [args](const int& n) {
           args->missing_limit = n;
           args->missing_limit_given = true;
         },
         "read up to this many linked records the snapshot lacks, whatever their share "
         "(default: at most 1000 and at most 5% of the system's linked records; more "
         "usually means the connector points at the wrong account)")
      ->check(CLI::NonNegativeNumber);
  cmd->callback([&run, args] { run = [args] { return Resync(*args); }; });
}

}  // namespace consentd::cli
