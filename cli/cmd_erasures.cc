// consentctl erasures: erasure requests (GDPR Art. 17) and where each
// target stands (store/erasure_requests.h, docs/operations.md).
//
//   consentctl erasures [--open] [--overdue] [--json] [--limit N]
//       every request, newest first: one line per request
//       "ID<TAB>SUBJECT<TAB>SOURCE<TAB>REQUESTED<TAB>DEADLINE<TAB>open|done|OVERDUE"
//       then one indented line per target
//       "  TARGET<TAB>STATE<TAB>MODE<TAB>UPDATED<TAB>REASON";
//       --open: only requests not yet settled;
//       --overdue: only open requests past their deadline (exit 0 either way);
//       --json: the admin API's JSON ({"erasures": [...]}).
//   consentctl erasures mark-manual --id ID --target T [--note TEXT]
//       the operator erased the record at T by hand: that target is manual.
//
// Reads and writes the store directly, like `consentctl dlq`; the daemon
// may run meanwhile (SQLite WAL). Subjects are pseudonyms, never addresses.
#include <CLI/CLI.hpp>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cli/cmd_log_common.h"
#include "cli/command.h"
#include "cli/text_options.h"
#include "core/clock.h"
#include "core/redact.h"
#include "core/time_format.h"
#include "store/erasure_manual.h"
#include "store/erasure_requests.h"

namespace consentd::cli {
namespace {

struct ErasuresArgs {
  ProofLogArgs store;  // --config / --db only
  bool open = false;
  bool overdue = false;
  bool json = false;
  int limit = 1000;
  std::string id;
  std::string target;
  std::string note;
};

void AddStoreOptions(CLI::App& cmd, ProofLogArgs& args) {
  cmd.add_option("--config", args.config_file, "consentd config file (for store.path)");
  cmd.add_option("--db", args.db_path, "SQLite database file (instead of --config)");
}

// One field of a tab-separated line: tabs and line breaks become spaces.
std::string Field(std::string s) {
  for (char& c : s) {
    if (c == '\t' || c == '\n' || c == '\r') c = ' ';
  }
  return s;
}

int List(const ErasuresArgs& args) {
  if (const std::string why = args.store.MissingDatabase(); !why.empty()) {
    return UsageError("erasures", why);
  }
  Result<std::string> db = args.store.DatabasePath();
  if (!db.ok()) return Fail("erasures", db.status());
  const TimestampMs now = SystemClock().NowMs();
  std::vector<store::ErasureRequestRecord> list;
  Status s = ReadStore(*db, [&](store::Transaction& txn) -> Status {
    store::ErasureListOptions options;
    options.open_only = args.open;
    options.overdue_only = args.overdue;
    options.limit = args.limit;
    Result<std::vector<store::ErasureRequestRecord>> r =
        store::ListErasureRequests(txn, now, options);
    if (!r.ok()) return r.status();
    list = std::move(*r);
    return Status::Ok();
  });
  if (!s.ok()) return Fail("erasures", s);
  if (args.json) {
    std::printf("%s\n", store::ErasureRequestsJson(list, now)
                            .dump(2, ' ', false, nlohmann::json::error_handler_t::replace)
                            .c_str());
    return 0;
  }
  for (const store::ErasureRequestRecord& r : list) {
    const char* state = r.overdue(now) ? "OVERDUE" : r.open() ? "open" : "done";
    std::printf("%s\t%s\t%s\t%s\t%s\t%s\n", Field(r.id).c_str(), Field(r.subject).c_str(),
                Field(r.source).c_str(), FormatUtcMillis(r.requested_at).c_str(),
                FormatUtcMillis(r.deadline).c_str(), state);
    for (const store::ErasureTarget& t : r.targets) {
      std::printf("  %s\t%s\t%s\t%s\t%s\n", Field(t.target).c_str(),
                  std::string(store::ErasureTargetStateName(t.state)).c_str(),
                  Field(t.mode).c_str(), FormatUtcMillis(t.updated_at).c_str(),
                  Field(MaskEmailsInText(t.reason)).c_str());
    }
  }
  return 0;
}

int MarkManual(const ErasuresArgs& args) {
  if (const std::string why = args.store.MissingDatabase(); !why.empty()) {
    return UsageError("erasures mark-manual", why);
  }
  Result<std::string> db = args.store.DatabasePath();
  if (!db.ok()) return Fail("erasures mark-manual", db.status());
  const TimestampMs now = SystemClock().NowMs();
  std::uint64_t sequence = 0;
  Status s = RunOnStore(*db, [&](store::Transaction& txn) -> Status {
    Result<std::uint64_t> r = store::RecordManualErasure(txn, args.id, args.target, args.note, now);
    if (!r.ok()) return r.status();
    sequence = *r;
    return Status::Ok();
  });
  if (!s.ok()) return Fail("erasures mark-manual", s);
  std::printf("erasure %s: %s marked done by hand (proof log entry %llu)\n", args.id.c_str(),
              args.target.c_str(), static_cast<unsigned long long>(sequence));
  return 0;
}

}  // namespace

void RegisterErasures(CLI::App& app, std::function<int()>& run) {
  auto args = std::make_shared<ErasuresArgs>();
  auto* cmd = app.add_subcommand(
      "erasures", "Erasure requests (GDPR Art. 17): per-target state, deadline, overdue");
  cmd->require_subcommand(0, 1);
  AddStoreOptions(*cmd, args->store);
  cmd->add_flag("--open", args->open, "only requests not yet settled");
  cmd->add_flag("--overdue", args->overdue, "only open requests past their one-month deadline");
  cmd->add_flag("--json", args->json, "JSON as GET /api/v1/erasures answers");
  cmd->add_option("--limit", args->limit, "at most this many requests (default 1000)")
      ->check(CLI::Range(1, 1000000));

  auto* mark = cmd->add_subcommand(
      "mark-manual", "Record that a target's record was erased by hand (state manual)");
  AddStoreOptions(*mark, args->store);
  mark->add_option("--id", args->id, "the erasure request's id (from consentctl erasures)")
      ->required();
  mark->add_option("--target", args->target, "the target system (e.g. mailchimp)")->required();
  mark->add_option("--note", args->note, "the operator's note (ticket, who, how)")
      ->check(Utf8Text());
  cmd->callback([&run, args, mark] {
    if (mark->parsed()) {
      run = [args] { return MarkManual(*args); };
    } else {
      run = [args] { return List(*args); };
    }
  });
}

}  // namespace consentd::cli
