// consentctl log key | checkpoint | prove | check-proof: the proof log's
// signing key, its latest signed checkpoint, and C2SP tlog-proof bundles
// that an auditor verifies offline with the verifier key alone.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>

#include "cli/cmd_log_common.h"
#include "cli/command.h"
#include "core/clock.h"
#include "core/file_read.h"
#include "core/proof/checkpoint.h"
#include "core/proof/key_file.h"
#include "store/proof_log_store.h"

namespace consentd::cli {
namespace {

struct LogArgs {
  ProofLogArgs common;
  bool write = false;
  std::uint64_t seq = 0;
  std::string proof_file;
};

// Why no signing key may be made at `key_path`, or OK. A key is made for a
// log that has no signed checkpoint yet; one that has them was signed by a
// key elsewhere (a wrong --key-file or --db, or a config that does not
// match the daemon's), and a new key would look like the right one.
Status RefuseNewKey(const ProofLogArgs& args, const std::string& key_path) {
  if (args.db_path.empty() && args.config_file.empty()) return Status::Ok();  // --key-file only
  Result<std::string> db = args.DatabasePath();
  if (!db.ok()) return db.status();
  if (Status there = CheckDatabaseFile(*db); !there.ok()) {
    // With --config before consentd's first start the key is made where
    // consentd will look for it; --db names a database, which must exist.
    if (there.code() == StatusCode::kNotFound && args.db_path.empty()) return Status::Ok();
    return there.WithContext("no signing key at " + key_path + ", and no key is made for it");
  }
  std::optional<std::string> latest;
  CONSENTD_RETURN_IF_ERROR(ReadStore(*db, [&](store::Transaction& txn) -> Status {
    Result<std::optional<std::string>> l = store::LatestProofCheckpoint(txn);
    if (!l.ok()) return l.status();
    latest = std::move(l).value();
    return Status::Ok();
  }));
  if (!latest) return Status::Ok();
  const std::string origin = latest->substr(0, latest->find('\n'));
  return FailedPrecondition("no signing key at " + key_path + ", but the proof log in " + *db +
                            " has checkpoints signed by " + origin +
                            "'s key: that key is elsewhere (check --key-file, or the config's "
                            "proof_log.signing_key_file); a new one is not made");
}

int Key(const LogArgs& a) {
  if (const std::string why = a.common.MissingKey(); !why.empty()) {
    return UsageError("log key", why);
  }
  Result<std::string> path = a.common.KeyPath();
  if (!path.ok()) return Fail("log key", path.status());
  if (Status missing = proof::LoadSigningKey(*path).status();
      missing.code() == StatusCode::kNotFound) {
    if (Status refused = RefuseNewKey(a.common, *path); !refused.ok()) {
      return Fail("log key", refused);
    }
  }
  Result<proof::NoteSigner> signer = a.common.Signer();
  if (!signer.ok()) return Fail("log key", signer.status());
  std::printf("%s\n", signer->VerifierKey().c_str());
  return 0;
}

int CheckpointCmd(const LogArgs& a) {
  if (const std::string why = a.common.MissingDatabase(); !why.empty()) {
    return UsageError("log checkpoint", why);
  }
  Result<std::string> db = a.common.DatabasePath();
  if (!db.ok()) return Fail("log checkpoint", db.status());
  std::optional<proof::NoteSigner> signer;
  if (a.write) {
    // Only the key that signed the stored checkpoints may add one; a key
    // is made only for a log without any.
    std::optional<std::string> latest;
    Status read = ReadStore(*db, [&](store::Transaction& txn) -> Status {
      Result<std::optional<std::string>> l = store::LatestProofCheckpoint(txn);
      if (!l.ok()) return l.status();
      latest = std::move(l).value();
      return Status::Ok();
    });
    if (!read.ok()) return Fail("log checkpoint", read);
    Result<proof::NoteSigner> s = latest ? a.common.SignerForLog(*latest) : a.common.Signer();
    if (!s.ok()) return Fail("log checkpoint", s.status());
    signer = std::move(s).value();
  }
  std::optional<std::string> note;
  const auto run = signer ? &RunOnStore : &ReadStore;
  Status s = run(*db, [&](store::Transaction& txn) -> Status {
    if (signer) {
      Result<std::optional<std::string>> w =
          store::WriteProofCheckpoint(txn, *signer, SystemClock().NowMs());
      if (!w.ok()) return w.status();
    }
    Result<std::optional<std::string>> latest = store::LatestProofCheckpoint(txn);
    if (!latest.ok()) return latest.status();
    note = std::move(latest).value();
    return Status::Ok();
  });
  if (!s.ok()) return Fail("log checkpoint", s);
  if (!note) return Fail("log checkpoint", NotFound("no checkpoint written yet"));
  std::fputs(note->c_str(), stdout);
  return 0;
}

int Prove(const LogArgs& a) {
  if (const std::string why = a.common.MissingDatabase(); !why.empty()) {
    return UsageError("log prove", why);
  }
  Result<std::string> db = a.common.DatabasePath();
  if (!db.ok()) return Fail("log prove", db.status());
  std::string bundle;
  Status s = ReadStore(*db, [&](store::Transaction& txn) -> Status {
    Result<std::string> b = store::ProveProofEntry(txn, a.seq);
    if (!b.ok()) return b.status();
    bundle = std::move(b).value();
    return Status::Ok();
  });
  if (!s.ok()) return Fail("log prove", s);
  std::fputs(bundle.c_str(), stdout);
  return 0;
}

int CheckProof(const LogArgs& a) {
  if (const std::string why = a.common.MissingVerifier(); !why.empty()) {
    return UsageError("log check-proof", why);
  }
  Result<std::string> text =
      ReadWholeFile(a.proof_file, "proof bundle", 1 << 20, /*accept_streams=*/true);
  if (!text.ok()) return Fail("log check-proof", text.status());
  Result<proof::NoteVerifier> verifier = a.common.Verifier();
  if (!verifier.ok()) return Fail("log check-proof", verifier.status());
  Result<proof::VerifiedTlogProof> v = proof::VerifyTlogProof(*text, *verifier);
  if (!v.ok()) return Fail("log check-proof", v.status());
  std::printf("OK: entry %llu is in %s at tree size %llu\n%s\n",
              static_cast<unsigned long long>(v->index), v->checkpoint.origin.c_str(),
              static_cast<unsigned long long>(v->checkpoint.size), v->entry.c_str());
  return 0;
}

}  // namespace

void RegisterLog(CLI::App& app, std::function<int()>& run) {
  auto args = std::make_shared<LogArgs>();
  auto* log = app.add_subcommand("log", "Proof log: signing key, checkpoints, inclusion proofs");
  log->require_subcommand(1);

  auto* key = log->add_subcommand(
      "key",
      "Print the verifier key (creates the signing key if absent and the log has no "
      "checkpoint yet)");
  args->common.AddOptions(*key, false);
  key->callback([&run, args] { run = [args] { return Key(*args); }; });

  auto* cp = log->add_subcommand("checkpoint", "Print the latest signed checkpoint");
  args->common.AddOptions(*cp, false);
  cp->add_flag("--write", args->write, "sign a checkpoint of the current tree first");
  cp->callback([&run, args] { run = [args] { return CheckpointCmd(*args); }; });

  auto* prove = log->add_subcommand("prove", "Print a C2SP tlog-proof bundle for one entry");
  args->common.AddOptions(*prove, false);
  prove->add_option("--seq", args->seq, "sequence number (0-based leaf index)")->required();
  prove->callback([&run, args] { run = [args] { return Prove(*args); }; });

  auto* check = log->add_subcommand("check-proof", "Verify a tlog-proof bundle offline");
  args->common.AddOptions(*check, true);
  check->add_option("file", args->proof_file, "the .tlog-proof file")->required();
  check->callback([&run, args] { run = [args] { return CheckProof(*args); }; });
}

}  // namespace consentd::cli
