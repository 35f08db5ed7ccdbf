// consentctl export / verify-export: the data subject's access export
// (GDPR Art. 15) and its offline check (privacy/export.h, docs/export.md).
//
//   consentctl export --email ADDRESS (--config FILE | --db PATH --identity-key PATH)
//                     [--out FILE] [--no-checkpoint]
//   consentctl export --subject ID ...           (by pseudonym, e.g. after erasure)
//   consentctl export --email ADDRESS --deliver [--config FILE]
//                                                (the daemon POSTs it, signed, to
//                                                 privacy.export_delivery)
//   consentctl verify-export FILE --vkey VERIFIER_KEY [--require-proven]
//
// export prints ONE JSON document (or writes it, mode 0600: it holds the
// person's data and evidence key) and exits 0; 3 when consentd holds
// nothing about the address; 1 with a one-line reason otherwise. With
// --config (which names the signing key) it first signs a checkpoint if
// the log grew since the last one, in the same transaction, so every
// entry of the export carries a proof (only with the key that signed the
// log's latest checkpoint, under the configured origin, as consentd);
// --no-checkpoint, or --db, writes nothing, and entries newer than the
// latest checkpoint are marked
// "not_yet_checkpointed". verify-export needs no database: exit 0 with
// counts, 1 with the first failing entry.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>

#include "cli/admin_client.h"
#include "cli/cmd_log_common.h"
#include "cli/command.h"
#include "cli/text_options.h"
#include "config/config.h"
#include "core/clock.h"
#include "core/file_read.h"
#include "core/proof/key_file.h"
#include "daemon/export_delivery.h"
#include "mapping/policy.h"
#include "privacy/export.h"
#include "privacy/verify_export.h"
#include "store/proof_log_store.h"
#include "sync/sync_engine.h"

namespace consentd::cli {
namespace {

constexpr int kExitUnknownPerson = 3;

struct ExportArgs {
  std::string email;
  std::string subject;
  std::string config_file;
  std::string db_path;
  std::string identity_key_file;
  std::string out_file;
  bool no_checkpoint = false;
  bool deliver = false;
  std::string url;         // --deliver: the daemon's base URL (default http.listen)
  std::string token_file;  // --deliver: default admin.token_file
};

struct VerifyExportArgs {
  std::string file;
  std::string vkey;
  bool require_proven = false;
};

// Writes `text` to `path`, created or truncated with mode 0600.
Status WritePrivateFile(const std::string& path, const std::string& text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Unavailable("cannot create " + path + ": " + std::strerror(errno));
  Status s = Status::Ok();
  if (::fchmod(fd, 0600) != 0) s = Unavailable("cannot chmod " + path);
  const char* p = text.data();
  std::size_t left = text.size();
  while (s.ok() && left > 0) {
    const ssize_t w = ::write(fd, p, left);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) s = Unavailable("cannot write " + path + ": " + std::strerror(errno));
    if (w > 0) {
      p += w;
      left -= static_cast<std::size_t>(w);
    }
  }
  if (::close(fd) != 0 && s.ok()) s = Unavailable("cannot close " + path);
  return s;
}

// --deliver: the running daemon builds the export and POSTs it, signed, to
// privacy.export_delivery (POST /api/v1/subjects/export/deliveries).
int Deliver(const ExportArgs& a) {
  const char* cmd = "export";
  if (a.email.empty()) return UsageError(cmd, "--deliver needs --email ADDRESS");
  if (!a.out_file.empty()) {
    // consentd sends the document itself; no copy is written here.
    return UsageError(cmd,
                      "--deliver sends the document to the configured endpoint and writes "
                      "no file: drop --out, or drop --deliver to write it to --out");
  }
  AdminTarget target;
  if (!a.config_file.empty()) target.config_file = a.config_file;
  target.url = a.url;
  target.token_file = a.token_file;
  Result<config::Config> config = config::LoadConfigFile(target.config_file);
  if (!config.ok()) return Fail(cmd, config.status());
  // consentd answers once the delivery has succeeded or its last attempt
  // failed: wait for that, plus a minute for building the export.
  const std::chrono::milliseconds wait =
      daemon::LongestExportDelivery(config->privacy.export_delivery) + std::chrono::minutes(1);
  Result<net::HttpResponse> resp =
      CallAdminApi(target, *config, "POST", "/api/v1/subjects/export/deliveries",
                   nlohmann::json{{"email", a.email}}.dump(), wait);
  if (!resp.ok()) return Fail(cmd, resp.status());
  if (AnswersNoSuchPerson(*resp)) {
    std::fprintf(stderr, "consentctl export: %s\n", ProblemText(*resp).c_str());
    return kExitUnknownPerson;
  }
  const auto j = nlohmann::json::parse(resp->body, nullptr, false);
  if (resp->status != 200 || !j.is_object()) {
    std::fprintf(stderr, "%s\n", ProblemText(*resp).c_str());
    return Fail(cmd, Unavailable("not delivered (HTTP " + std::to_string(resp->status) + ")"));
  }
  std::printf("delivered: %s (HTTP %d, %d attempt(s))\n", j.value("webhook_id", "").c_str(),
              j.value("http_status", 0), j.value("attempts", 0));
  return 0;
}

int Export(const ExportArgs& a) {
  const char* cmd = "export";
  if (a.deliver) return Deliver(a);
  if (a.email.empty() == a.subject.empty()) {
    return UsageError(cmd, "give --email ADDRESS or --subject ID");
  }
  if (a.config_file.empty() && (a.db_path.empty() || a.identity_key_file.empty())) {
    return UsageError(cmd, "give --config FILE, or --db PATH and --identity-key PATH");
  }
  std::string db_path = a.db_path;
  std::string identity_key_file = a.identity_key_file;
  std::optional<proof::NoteSigner> signer;
  std::string key_file, origin;  // the signer's, checked against the log
  std::optional<Policy> policy;
  if (!a.config_file.empty()) {
    Result<config::Config> config = config::LoadConfigFile(a.config_file);
    if (!config.ok()) return Fail(cmd, config.status());
    if (db_path.empty()) db_path = config->store.path;
    if (identity_key_file.empty()) identity_key_file = config->sync.identity_key_file;
    if (config->has_mapping) policy = mapping::ToPolicy(config->mapping);
    // --db names another store than the configuration's (a restored copy,
    // a staging one): the daemon's key never signs a checkpoint of it.
    if (!a.no_checkpoint && a.db_path.empty()) {
      // Never create a key here: without the daemon's key there is no
      // checkpoint to add, and the export says which entries lack a proof.
      Result<proof::NoteSigner> s = proof::LoadSigningKey(config->proof_log.signing_key_file);
      if (s.ok()) {
        signer = std::move(*s);
        key_file = config->proof_log.signing_key_file;
        origin = config->proof_log.origin;
      } else if (s.status().code() != StatusCode::kNotFound) {
        return Fail(cmd, s.status());
      }
    }
  }
  if (db_path.empty() || identity_key_file.empty()) {
    return Fail(cmd, InvalidArgument("give --config FILE, or --db PATH and --identity-key PATH"));
  }
  privacy::ExportRequest request;
  request.email = a.email;
  request.subject = a.subject;
  request.policy = policy ? &*policy : nullptr;
  request.now = SystemClock().NowMs();
  std::string document;
  bool unknown = false;
  // Without a checkpoint to sign nothing is written: a read snapshot then,
  // which a busy consentd's commits never wait for (and which never
  // migrates the schema under an older consentd).
  const auto on_store = signer ? RunOnStore : ReadStore;
  Status s = on_store(db_path, [&](store::Transaction& txn) -> Status {
    // A wrong key would find no one, and an access request answered
    // "nothing held" would be false.
    Result<std::string> identity_key =
        sync::OpenIdentityKey(txn, identity_key_file, sync::IdentityKeyUse::kRead, request.now);
    if (!identity_key.ok()) return identity_key.status();
    request.identity_key = std::move(*identity_key);
    if (signer) {
      // As consentd itself: only the key that signed the log's latest
      // checkpoint, under the configured name, adds one. A key file
      // replaced since would otherwise sign a checkpoint that the published
      // verifier key fails, and make the replaced key look like the log's.
      Result<std::optional<std::string>> latest = store::LatestProofCheckpoint(txn);
      if (!latest.ok()) return latest.status();
      Result<proof::NoteSigner> checked = proof::LoadSigningKeyForLog(key_file, origin, *latest);
      if (!checked.ok()) return checked.status().WithContext("no checkpoint signed");
      Result<std::optional<std::string>> cp =
          store::WriteProofCheckpoint(txn, *signer, request.now);
      if (!cp.ok()) return cp.status();
    }
    Result<std::string> built = privacy::BuildSubjectExport(txn, request);
    if (!built.ok()) {
      unknown = built.status().code() == StatusCode::kNotFound;
      return built.status();
    }
    document = std::move(*built);
    return Status::Ok();
  });
  if (unknown) {
    std::fprintf(stderr, "consentctl export: %s\n", s.message().c_str());
    return kExitUnknownPerson;
  }
  if (!s.ok()) return Fail(cmd, s);
  if (a.out_file.empty()) {
    std::fwrite(document.data(), 1, document.size(), stdout);
    return std::fflush(stdout) == 0 ? 0 : Fail(cmd, Unavailable("cannot write stdout"));
  }
  if (Status w = WritePrivateFile(a.out_file, document); !w.ok()) return Fail(cmd, w);
  return 0;
}

int VerifyExportFile(const VerifyExportArgs& a) {
  const char* cmd = "verify-export";
  Result<std::string> text =
      ReadWholeFile(a.file, "export document", std::size_t{1} << 30, /*accept_streams=*/true);
  if (!text.ok()) return Fail(cmd, text.status());
  Result<proof::NoteVerifier> verifier = proof::NoteVerifier::FromVerifierKey(a.vkey);
  if (!verifier.ok()) return Fail(cmd, verifier.status().WithContext("--vkey"));
  Result<privacy::ExportCheck> check = privacy::VerifyExport(*text, *verifier);
  if (!check.ok()) {
    std::printf("FAILED: %s\n", check.status().message().c_str());
    return 1;
  }
  const privacy::ExportCheck& c = *check;
  if (c.subject.empty()) {
    std::printf("OK: erased person, found by address only; the document holds no personal data\n");
    return 0;
  }
  std::printf(
      "OK: subject %s%s%s: %llu entries, %llu proven in %s at tree size %llu, %llu not yet "
      "checkpointed; evidence: %llu decrypted and matching, %llu unreadable\n",
      c.subject.c_str(), c.erased ? " (erased)" : "",
      c.merged_subjects == 0 ? ""
                             : (" and " + std::to_string(c.merged_subjects) + " merged pseudonym" +
                                (c.merged_subjects == 1 ? "" : "s"))
                                   .c_str(),
      static_cast<unsigned long long>(c.entries), static_cast<unsigned long long>(c.proven),
      c.origin.empty() ? "-" : c.origin.c_str(), static_cast<unsigned long long>(c.tree_size),
      static_cast<unsigned long long>(c.not_yet_checkpointed),
      static_cast<unsigned long long>(c.evidence_opened),
      static_cast<unsigned long long>(c.evidence_unreadable));
  // Entries without a proof are checked against themselves only: anyone
  // who can edit the document can edit them consistently.
  if (c.not_yet_checkpointed > 0) {
    std::fprintf(stderr,
                 "consentctl verify-export: %llu entr%s not covered by the document's signed "
                 "checkpoint: %s content is not proven (export again after the next checkpoint, "
                 "or with --config, which signs one)\n",
                 static_cast<unsigned long long>(c.not_yet_checkpointed),
                 c.not_yet_checkpointed == 1 ? "y is" : "ies are",
                 c.not_yet_checkpointed == 1 ? "its" : "their");
    if (a.require_proven) {
      std::printf("FAILED: %llu entries carry no proof (--require-proven)\n",
                  static_cast<unsigned long long>(c.not_yet_checkpointed));
      return 1;
    }
  }
  return 0;
}

}  // namespace

void RegisterExport(CLI::App& app, std::function<int()>& run) {
  auto args = std::make_shared<ExportArgs>();
  auto* cmd = app.add_subcommand(
      "export", "Access export (GDPR Art. 15): everything held about one person, as JSON");
  cmd->add_option("--email", args->email, "the person's e-mail address")->check(Utf8Text());
  cmd->add_option("--subject", args->subject, "or the subject pseudonym (s-...)")
      ->check(Utf8Text());
  cmd->add_option("--config", args->config_file, "consentd config file");
  cmd->add_option("--db", args->db_path, "SQLite database file (instead of --config)");
  cmd->add_option("--identity-key", args->identity_key_file,
                  "identity key file (with --db; --config names it)");
  cmd->add_option("--out", args->out_file, "write the document here (mode 0600), not stdout");
  cmd->add_flag("--no-checkpoint", args->no_checkpoint,
                "with --config: do not sign a checkpoint of the current log first");
  cmd->add_flag("--deliver", args->deliver,
                "have the running consentd deliver the export to privacy.export_delivery "
                "(signed, Standard Webhooks) instead of printing it");
  cmd->add_option("--url", args->url, "with --deliver: consentd's base URL (default http.listen)");
  cmd->add_option("--token-file", args->token_file,
                  "with --deliver: admin token file (default admin.token_file)");
  cmd->callback([&run, args] { run = [args] { return Export(*args); }; });
}

void RegisterVerifyExport(CLI::App& app, std::function<int()>& run) {
  auto args = std::make_shared<VerifyExportArgs>();
  auto* cmd = app.add_subcommand("verify-export",
                                 "Check an access export offline with the log's verifier key");
  cmd->add_option("file", args->file, "the exported JSON document")->required();
  cmd->add_option("--vkey", args->vkey, "verifier key <name>+<id>+<key>")->required();
  cmd->add_flag("--require-proven", args->require_proven,
                "fail (exit 1) unless every entry is proven against the signed checkpoint");
  cmd->callback([&run, args] { run = [args] { return VerifyExportFile(*args); }; });
}

}  // namespace consentd::cli
