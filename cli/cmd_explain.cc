// consentctl explain: why a person's consent is what it is (sync/explain.h).
//
//   consentctl explain --email ADDRESS [--topic T]
//                      (--config FILE | --db PATH --identity-key PATH) [--json]
//
// Finds the subject whose linked addresses include ADDRESS (by its keyed
// hash) and prints its pseudonym, linked system ids, whether it is erased,
// the current state per topic and channel, the blocks, and the proof-log
// entries behind them in plain words, oldest first, with their sequence
// numbers. The address itself is never printed. Read-only; consentd may
// run meanwhile (SQLite WAL).
//
// Exit: 0 explained; 3 no subject has the address; 1 invalid address or
// another error (one line on stderr); 2 usage.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "cli/cmd_log_common.h"
#include "cli/command.h"
#include "cli/text_options.h"
#include "config/config.h"
#include "mapping/policy.h"
#include "sync/explain.h"
#include "sync/sync_engine.h"

namespace consentd::cli {
namespace {

constexpr int kExitNotFound = 3;

struct ExplainArgs {
  ProofLogArgs store;  // --config / --db only
  std::string identity_key_file;
  std::string email;
  std::string topic;
  bool json = false;
  CLI::App* cmd = nullptr;
};

int Usage(const std::string& why) { return UsageError("explain", why); }

int Explain(const ExplainArgs& args) {
  if (!args.cmd->remaining().empty()) {
    return Usage("unexpected argument '" + args.cmd->remaining().front() + "'");
  }
  if (args.email.empty()) return Usage("give --email ADDRESS");
  if (args.store.config_file.empty() &&
      (args.store.db_path.empty() || args.identity_key_file.empty())) {
    return Usage("give --config FILE, or --db PATH and --identity-key PATH");
  }

  std::string db_path = args.store.db_path;
  std::string key_path = args.identity_key_file;
  sync::ExplainOptions options;
  options.topic = args.topic;
  options.now = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  Policy policy;
  if (!args.store.config_file.empty()) {
    // As consentd resolves them: store.path and sync.identity_key_file.
    Result<config::Config> config = config::LoadConfigFile(args.store.config_file);
    if (!config.ok()) return Fail("explain", config.status());
    if (db_path.empty()) db_path = config->store.path;
    if (key_path.empty()) key_path = config->sync.identity_key_file;
    if (config->has_mapping) {
      if (!args.topic.empty()) {
        // A misspelt topic would otherwise read as "not asked" without a
        // word; a topic removed from the mapping still has its history in
        // the store, which is shown.
        std::string known;
        bool found = false;
        for (const mapping::TopicSpec& t : config->mapping.topics) {
          found = found || t.name == args.topic;
          known += (known.empty() ? "" : ", ") + t.name;
        }
        if (!found) {
          std::fprintf(stderr,
                       "consentctl explain: note: no topic '%s' in the mapping of %s (topics: "
                       "%s); showing what the store holds of it\n",
                       args.topic.c_str(), args.store.config_file.c_str(),
                       known.empty() ? "none" : known.c_str());
        }
      }
      policy = mapping::ToPolicy(config->mapping);
      options.skew_window_ms = policy.skew_window_ms;
      options.policy = &policy;
    }
  }
  std::optional<sync::ExplainLookup> lookup;
  Status s = ReadStore(db_path, [&](store::Transaction& txn) -> Status {
    // A wrong key would find no one: "not known" would be a false answer.
    Result<std::string> key =
        sync::OpenIdentityKey(txn, key_path, sync::IdentityKeyUse::kRead, options.now);
    if (!key.ok()) return key.status();
    Result<sync::ExplainLookup> r = sync::ExplainSubjectByEmail(txn, *key, args.email, options);
    if (!r.ok()) return r.status();
    lookup = std::move(*r);
    return Status::Ok();
  });
  if (!s.ok()) return Fail("explain", s);
  if (!lookup->found) {
    std::fprintf(stderr, "consentctl explain: %s\n",
                 sync::NotFoundMessage(lookup->tombstone_erased_at).c_str());
    return kExitNotFound;
  }
  const std::string text = args.json ? sync::FormatExplanationJson(*lookup->found, options) + "\n"
                                     : sync::FormatExplanation(*lookup->found, options);
  std::fputs(text.c_str(), stdout);
  return std::fflush(stdout) == 0 ? 0 : 1;
}

}  // namespace

void RegisterExplain(CLI::App& app, std::function<int()>& run) {
  auto args = std::make_shared<ExplainArgs>();
  auto* cmd = app.add_subcommand(
      "explain", "Show a person's consent state and the decisions behind it, in plain words");
  cmd->add_option("--email", args->email, "an e-mail address linked to the subject")
      ->check(Utf8Text());
  cmd->add_option("--topic", args->topic, "only this topic's states and decisions")
      ->check(Utf8Text());
  cmd->add_option("--config", args->store.config_file,
                  "consentd config file (store.path, sync.identity_key_file, mapping)");
  cmd->add_option("--db", args->store.db_path, "SQLite database file (instead of --config)");
  cmd->add_option("--identity-key", args->identity_key_file,
                  "identity key file (with --db; default: --config's sync.identity_key_file)");
  cmd->add_flag("--json", args->json, "one JSON object instead of text");
  // Stray arguments are a usage error (exit 2), reported by Explain.
  cmd->allow_extras();
  args->cmd = cmd;
  cmd->callback([&run, args] { run = [args] { return Explain(*args); }; });
}

}  // namespace consentd::cli
