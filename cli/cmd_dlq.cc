// consentctl dlq: the dead-letter queue, i.e. outbox rows that failed for
// good (a permanent error, or max_attempts used up; DESIGN.md §3 ④).
//
//   consentctl dlq list [--limit N]      one line per dead row, oldest first
//   consentctl dlq replay ID | --all     back to pending, due now, attempts 0
//
// A line is "ID<TAB>TARGET<TAB>ATTEMPTS<TAB>UPDATED<TAB>KEY<TAB>REASON": the
// key names a subject id, topic and channel, never an address, and reasons
// are written by the connectors without personal data. The daemon may run
// meanwhile (SQLite WAL); its dispatcher picks a replayed row up when due.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cli/cmd_log_common.h"
#include "cli/command.h"
#include "config/config.h"
#include "core/clock.h"
#include "core/redact.h"
#include "mapping/policy.h"
#include "store/dead_letters.h"
#include "store/erasure_requests.h"
#include "store/store.h"
#include "sync/outbound.h"

namespace consentd::cli {
namespace {

struct DlqArgs {
  ProofLogArgs store;  // --config / --db only
  int limit = 100;
  std::int64_t id = 0;
  bool all = false;
};

void AddStoreOptions(CLI::App& cmd, ProofLogArgs& args) {
  cmd.add_option("--config", args.config_file, "consentd config file (for store.path)");
  cmd.add_option("--db", args.db_path, "SQLite database file (instead of --config)");
}

std::string Utc(TimestampMs ms) {
  const std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// One field of a tab-separated line: tabs and line breaks become spaces.
std::string Field(std::string s) {
  for (char& c : s) {
    if (c == '\t' || c == '\n' || c == '\r') c = ' ';
  }
  return s;
}

constexpr int kPage = 500;

int List(const DlqArgs& args) {
  if (const std::string why = args.store.MissingDatabase(); !why.empty()) {
    return UsageError("dlq list", why);
  }
  Result<std::string> db = args.store.DatabasePath();
  if (!db.ok()) return Fail("dlq list", db.status());
  std::vector<store::OutboxRow> rows;
  Status s = ReadStore(*db, [&](store::Transaction& txn) -> Status {
    std::int64_t after = 0;
    while (static_cast<int>(rows.size()) < args.limit) {
      const int want = std::min(kPage, args.limit - static_cast<int>(rows.size()));
      Result<std::vector<store::OutboxRow>> page =
          txn.ListOutbox(store::OutboxStatus::kDead, after, want);
      if (!page.ok()) return page.status();
      if (page->empty()) break;
      after = page->back().id;
      for (store::OutboxRow& r : *page) rows.push_back(std::move(r));
      if (static_cast<int>(page->size()) < want) break;
    }
    return Status::Ok();
  });
  if (!s.ok()) return Fail("dlq list", s);
  for (const store::OutboxRow& r : rows) {
    std::printf("%lld\t%s\t%d\t%s\t%s\t%s\n", static_cast<long long>(r.id), Field(r.target).c_str(),
                r.attempts, Utc(r.updated_at).c_str(), Field(MaskEmailsInText(r.key)).c_str(),
                Field(MaskEmailsInText(r.reason)).c_str());
  }
  return 0;
}

int Replay(const DlqArgs& args) {
  if (args.all == (args.id != 0)) {
    return UsageError("dlq replay", "give one dead-letter ID or --all");
  }
  if (const std::string why = args.store.MissingDatabase(); !why.empty()) {
    return UsageError("dlq replay", why);
  }
  Result<std::string> db = args.store.DatabasePath();
  if (!db.ok()) return Fail("dlq replay", db.status());
  // Which targets keep one record whatever the address comes from the
  // config's mapping; with --db alone (or no mapping) none is known, and
  // every target counts as keeping a record per address (store/
  // dead_letters.h: the safe side).
  // The policy says which grants await re-consent: without it, no grant
  // sent again is remembered as consentd's write (sync/outbound.h), so the
  // person's answer to a re-consent there is never taken for an echo.
  store::AddressSharingTargets address_sharing;
  std::optional<Policy> policy;
  if (!args.store.config_file.empty()) {
    Result<config::Config> config = config::LoadConfigFile(args.store.config_file);
    if (!config.ok()) return Fail("dlq replay", config.status());
    address_sharing = config->mapping.SystemsWithoutRecordPerAddress();
    policy = mapping::ToPolicy(config->mapping);
  }
  const TimestampMs now = SystemClock().NowMs();
  std::int64_t replayed = 0;
  std::int64_t superseded = 0;
  std::int64_t refused = 0;
  // The same rules as the admin API's replay (store/dead_letters.h).
  Status s = RunOnStore(*db, [&](store::Transaction& txn) -> Status {
    Result<store::DeadLetterReplay> r = store::ReplayDeadLetters(
        txn, args.all ? std::nullopt : std::optional<std::int64_t>(args.id), now, address_sharing);
    if (!r.ok()) return r.status();
    for (const store::OutboxRow& row : r->replayed) {
      // An erasure's target goes back from failed to pending with it.
      CONSENTD_RETURN_IF_ERROR(store::ReopenErasureTarget(txn, row.id, now));
      CONSENTD_RETURN_IF_ERROR(
          sync::RememberDeadLetterSentAgain(txn, row, policy ? &*policy : nullptr, now));
    }
    replayed = static_cast<std::int64_t>(r->replayed.size());
    superseded = static_cast<std::int64_t>(r->superseded.size());
    refused = static_cast<std::int64_t>(r->refused.size());
    return Status::Ok();
  });
  if (!s.ok()) return Fail("dlq replay", s);
  std::printf("replayed %lld dead letter%s", static_cast<long long>(replayed),
              replayed == 1 ? "" : "s");
  if (superseded > 0) {
    std::printf(
        "; kept %lld that would write an older state (`consentctl resync` sends the "
        "current one)",
        static_cast<long long>(superseded));
  }
  if (refused > 0) {
    std::printf("; kept %lld that the target refuses for good (blocked_by_target)",
                static_cast<long long>(refused));
  }
  std::printf("\n");
  return 0;
}

}  // namespace

void RegisterDlq(CLI::App& app, std::function<int()>& run) {
  auto args = std::make_shared<DlqArgs>();
  auto* dlq = app.add_subcommand("dlq", "Dead letters: writes that failed for good");
  dlq->require_subcommand(1);

  auto* list = dlq->add_subcommand("list", "List dead letters, oldest first, one per line");
  AddStoreOptions(*list, args->store);
  list->add_option("--limit", args->limit, "at most this many (default 100)")
      ->check(CLI::Range(1, 1000000));
  list->callback([&run, args] { run = [args] { return List(*args); }; });

  auto* replay =
      dlq->add_subcommand("replay", "Send dead letters again: back to pending, attempts reset");
  AddStoreOptions(*replay, args->store);
  replay->add_option("id", args->id, "the dead letter's ID (from dlq list)")
      ->check(CLI::Range(std::int64_t{1}, INT64_MAX));
  replay->add_flag("--all", args->all, "every dead letter");
  replay->callback([&run, args] { run = [args] { return Replay(*args); }; });
}

}  // namespace consentd::cli
