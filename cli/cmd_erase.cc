// consentctl erase --email ADDRESS [--config FILE] [--url URL]
// [--token-file FILE]: asks the running consentd to erase that person
// everywhere (GDPR Art. 17) through the admin API (POST /api/v1/erasures):
// the same decision as an erasure arriving from a system (tombstones, the
// subject's evidence key destroyed, an erasure queued for every connected
// system in its configured mode). Prints the request id, the subject's
// pseudonym, the systems an erasure was queued for and the legal deadline.
// Exit 0 accepted; 3 no subject has that address; 1 any other failure.
//
// --dry-run decides the same erasure in consentctl's own process, against
// the store and the configuration's mapping, and rolls it back: nothing is
// stored, logged, queued or sent, and the daemon is not asked. It prints
// what the erasure would do (the subject, the systems asked, each in its
// mode), so an operator can check an irreversible request first.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/admin_client.h"
#include "cli/command.h"
#include "cli/engine_outside_daemon.h"
#include "cli/text_options.h"
#include "config/config.h"
#include "core/clock.h"
#include "core/legal_deadline.h"
#include "mapping/spec.h"
#include "sync/ledger_replay.h"
#include "sync/sync_engine.h"

namespace consentd::cli {
namespace {

struct EraseArgs {
  AdminTarget target;
  std::string email;
  bool dry_run = false;
};

int Fail(const std::string& message) {
  std::fprintf(stderr, "consentctl erase: %s\n", message.c_str());
  return 1;
}

std::string Utc(std::int64_t ms) {
  using namespace std::chrono;
  const sys_seconds t = floor<seconds>(sys_time<milliseconds>(milliseconds(ms)));
  const sys_days day = floor<days>(t);
  const year_month_day ymd{day};
  const hh_mm_ss hms{t - day};
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u %02ld:%02ld UTC", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<long>(hms.hours().count()), static_cast<long>(hms.minutes().count()));
  return buf;
}

// The unit's status that rolls the dry run back (not an error).
constexpr char kDryRunRollback[] = "erase dry run: rolled back";

struct ErasurePreview {
  std::string subject;
  std::vector<std::string> targets;
};

int EraseDryRun(const EraseArgs& args, const config::Config& config) {
  if (!config.has_mapping || config.connectors.empty()) {
    return Fail("no connectors configured: nothing to erase from");
  }
  Result<std::unique_ptr<store::SqliteStore>> db = OpenStoreToDecide(config, /*dry_run=*/true);
  if (!db.ok()) return Fail(db.status().ToString());
  auto close_and = [&db](int code) {
    (void)(*db)->Close();
    return code;
  };
  Result<std::string> key = IdentityKeyToDecide(**db, config, /*dry_run=*/true);
  if (!key.ok()) return close_and(Fail(key.status().ToString()));
  sync::SyncEngine engine(
      sync::EngineSettings{std::make_shared<const mapping::MappingSpec>(config.mapping), *key});
  Result<std::optional<std::string>> differs = MappingNotInForce(**db, engine.mapping_hash());
  if (!differs.ok()) return close_and(Fail(differs.status().ToString()));
  if (differs->has_value()) {
    std::fprintf(stderr,
                 "consentctl erase: note: %s; this dry run decides by the file's, as consentd "
                 "would after consentctl reload\n",
                 (*differs)->c_str());
  }

  ErasurePreview preview;
  bool found = false;
  const TimestampMs now = SystemClock().NowMs();
  Status s = (*db)->Run([&](store::Transaction& txn) -> Status {
    Result<std::optional<std::string>> subject = sync::FindSubjectByEmail(txn, *key, args.email);
    if (!subject.ok()) return subject.status();
    if (!subject->has_value()) return Status::Ok();
    found = true;
    preview.subject = **subject;
    const std::string by = "consentctl erase --dry-run";
    const connectors::InboundRecord rec =
        sync::AdminErasureRecord(**subject, args.email, now, by, engine.mapping_hash(), now);
    Result<sync::IngestSummary> r = sync::IngestErasure(txn, engine, "admin", rec, by, now);
    if (!r.ok()) return r.status();
    for (const auto& [target, n] : r->enqueued) {
      if (n > 0) preview.targets.push_back(target);
    }
    return Internal(kDryRunRollback);
  });
  const bool rolled_back = !s.ok() && s.message() == kDryRunRollback;
  if (!s.ok() && !rolled_back) return close_and(Fail(s.ToString()));
  if (Status closed = (*db)->Close(); !closed.ok()) return Fail(closed.ToString());
  if (!found) {
    std::fprintf(stderr,
                 "consentctl erase: no subject with this address (never seen, or already "
                 "erased)\n");
    return 3;
  }
  std::printf("dry run: nothing stored, logged, queued or sent; consentd was not asked\n");
  std::printf("  subject:  %s (would be erased in consentd; its evidence key destroyed)\n",
              preview.subject.c_str());
  if (preview.targets.empty()) {
    std::printf("  would ask: no system (none holds the person)\n");
  } else {
    std::printf("  would ask:");
    for (const std::string& t : preview.targets) {
      const auto mode = config.mapping.erasure.find(t);
      std::printf(" %s (%s)", t.c_str(),
                  mode == config.mapping.erasure.end()
                      ? "delete"
                      : std::string(mapping::ErasureModeName(mode->second.mode)).c_str());
    }
    std::printf("\n");
  }
  std::printf("  deadline: %s if requested now (one month, GDPR Art. 12(3))\n",
              Utc(OneMonthAfter(now)).c_str());
  return 0;
}

int Erase(const EraseArgs& args) {
  Result<config::Config> config = config::LoadConfigFile(args.target.config_file);
  if (!config.ok()) {
    std::fprintf(stderr, "%s\n", config.status().message().c_str());
    return 1;
  }
  if (args.dry_run) return EraseDryRun(args, *config);
  Result<net::HttpResponse> resp =
      CallAdminApi(args.target, *config, "POST", "/api/v1/erasures",
                   nlohmann::json{{"email", args.email}}.dump());
  if (!resp.ok()) return Fail(resp.status().message());
  if (AnswersNoSuchPerson(*resp)) {
    std::fprintf(stderr, "consentctl erase: %s\n", ProblemText(*resp).c_str());
    return 3;
  }
  if (resp->status != 202) {
    std::fprintf(stderr, "%s\n", ProblemText(*resp).c_str());
    return Fail("HTTP " + std::to_string(resp->status) + " from consentd");
  }
  try {
    const auto j = nlohmann::json::parse(resp->body);
    std::string targets;
    for (const auto& t : j.at("targets")) targets += " " + t.get<std::string>();
    std::printf("erasure accepted: %s\n", j.at("id").get<std::string>().c_str());
    std::printf("  subject:  %s (erased in consentd; evidence key destroyed)\n",
                j.at("subject").get<std::string>().c_str());
    std::printf("  queued:  %s\n", targets.empty() ? " (no system holds the person)" : targets.c_str());
    std::printf("  deadline: %s (one month, GDPR Art. 12(3))\n",
                Utc(j.at("deadline_ms").get<std::int64_t>()).c_str());
  } catch (const nlohmann::json::exception& e) {
    return Fail(std::string("unexpected answer: ") + e.what());
  }
  return 0;
}

}  // namespace

void RegisterErase(CLI::App& app, std::function<int()>& run) {
  auto* cmd = app.add_subcommand(
      "erase",
      "Erase a person everywhere (GDPR Art. 17) through the running consentd "
      "(POST /api/v1/erasures); exit 3 if no subject has the address");
  auto args = std::make_shared<EraseArgs>();
  cmd->add_option("--email", args->email, "the person's e-mail address")
      ->required()
      ->check(Utf8Text());
  cmd->add_flag("--dry-run", args->dry_run,
                "decide it against the store and roll it back: show the subject and the "
                "systems that would be asked; nothing is stored or sent, consentd is not asked");
  args->target.AddOptions(*cmd);
  cmd->callback([args, &run] { run = [args] { return Erase(*args); }; });
}

}  // namespace consentd::cli
