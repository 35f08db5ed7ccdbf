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
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "cli/cmd_log_common.h"
#include "cli/command.h"
#include "core/clock.h"
#include "store/erasure_requests.h"
#include "store/store.h"

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
  Result<std::string> db = args.store.DatabasePath();
  if (!db.ok()) return Fail("dlq list", db.status());
  std::vector<store::OutboxRow> rows;
  Status s = RunOnStore(*db, [&](store::Transaction& txn) -> Status {
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
                r.attempts, Utc(r.updated_at).c_str(), Field(r.key).c_str(),
                Field(r.reason).c_str());
  }
  return 0;
}

// The newest outbox id per (target, key) among rows with id > after_id, in
// any state. A dead letter with a newer row for its key must not be sent
// again: it carries an older absolute state than what followed it.
// (target, key, address) -> the newest outbox id after `after_id`, in any
// state. A newer row for another address writes another record (after a
// merge) and supersedes nothing.
using RecordKey = std::tuple<std::string, std::string, std::string>;
Result<std::map<RecordKey, std::int64_t>> NewestByKey(store::Transaction& txn,
                                                      std::int64_t after_id) {
  std::map<RecordKey, std::int64_t> newest;
  for (store::OutboxStatus status : {store::OutboxStatus::kPending, store::OutboxStatus::kInflight,
                                     store::OutboxStatus::kDone, store::OutboxStatus::kDead}) {
    for (std::int64_t after = after_id;;) {
      Result<std::vector<store::OutboxRow>> page = txn.ListOutbox(status, after, kPage);
      if (!page.ok()) return page.status();
      for (const store::OutboxRow& r : *page) {
        std::int64_t& id = newest[{r.target, r.key, r.address}];
        id = std::max(id, r.id);
      }
      if (static_cast<int>(page->size()) < kPage) break;
      after = page->back().id;
    }
  }
  return newest;
}

int Replay(const DlqArgs& args) {
  if (args.all == (args.id != 0)) {
    std::fprintf(stderr, "consentctl dlq replay: give one dead-letter ID or --all\n");
    return 2;
  }
  Result<std::string> db = args.store.DatabasePath();
  if (!db.ok()) return Fail("dlq replay", db.status());
  const TimestampMs now = SystemClock().NowMs();
  std::int64_t replayed = 0;
  std::int64_t superseded = 0;
  Status s = RunOnStore(*db, [&](store::Transaction& txn) -> Status {
    std::vector<store::OutboxRow> dead;
    if (!args.all) {
      Result<std::optional<store::OutboxRow>> row = txn.GetOutbox(args.id);
      if (!row.ok()) return row.status();
      if (!row->has_value()) return NotFound("no outbox row " + std::to_string(args.id));
      if ((*row)->status != store::OutboxStatus::kDead) {
        return FailedPrecondition("outbox row " + std::to_string(args.id) +
                                  " is not a dead letter (it is " +
                                  std::string(store::OutboxStatusName((*row)->status)) + ")");
      }
      dead.push_back(std::move(**row));
    } else {
      for (std::int64_t after = 0;;) {
        Result<std::vector<store::OutboxRow>> page =
            txn.ListOutbox(store::OutboxStatus::kDead, after, kPage);
        if (!page.ok()) return page.status();
        for (store::OutboxRow& r : *page) dead.push_back(std::move(r));
        if (static_cast<int>(page->size()) < kPage) break;
        after = dead.back().id;
      }
    }
    if (dead.empty()) return Status::Ok();
    auto newest = NewestByKey(txn, dead.front().id - 1);
    if (!newest.ok()) return newest.status();
    for (const store::OutboxRow& r : dead) {
      const std::int64_t newer = (*newest)[{r.target, r.key, r.address}];
      if (newer > r.id) {
        if (!args.all) {
          return FailedPrecondition("dead letter " + std::to_string(r.id) +
                                    " is superseded by outbox row " + std::to_string(newer) +
                                    " for the same key and address; sending it again would "
                                    "write an older state");
        }
        ++superseded;
        continue;
      }
      if (Status st = txn.Replay(r.id, now); !st.ok()) return st;
      // An erasure's target goes back from failed to pending with it.
      if (Status st = store::ReopenErasureTarget(txn, r.id, now); !st.ok()) return st;
      ++replayed;
    }
    return Status::Ok();
  });
  if (!s.ok()) return Fail("dlq replay", s);
  std::printf("replayed %lld dead letter%s", static_cast<long long>(replayed),
              replayed == 1 ? "" : "s");
  if (superseded > 0) {
    std::printf("; kept %lld superseded by a newer write of the same key",
                static_cast<long long>(superseded));
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
