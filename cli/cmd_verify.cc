// consentctl verify: recompute the proof log's Merkle tree from the stored
// entries, check every checkpoint signature and the consistency between
// consecutive checkpoints; exit 1 naming the first bad sequence number.
//
// Everything stored comes from one file, so someone who can rewrite it can
// also delete the newest entries together with the checkpoints that cover
// them, or put back an older copy. `--checkpoint FILE` (repeatable) brings
// in checkpoints saved elsewhere earlier (`consentctl log checkpoint`): the
// log must still contain each of them, root for root. Exit 2 when such a
// file cannot be read or is not a checkpoint.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "cli/cmd_log_common.h"
#include "cli/command.h"
#include "core/file_read.h"
#include "core/proof/bytes.h"
#include "core/proof/checkpoint.h"
#include "core/proof/note.h"
#include "store/proof_log_store.h"

namespace consentd::cli {
namespace {

struct VerifyArgs {
  ProofLogArgs common;
  std::vector<std::string> saved_files;
};

// The signed checkpoint note in `path`; a readable file that is not one is
// an error too (it is checked for its signature in the audit).
Result<std::string> ReadSavedCheckpoint(const std::string& path) {
  Result<std::string> read =
      ReadWholeFile(path, "saved checkpoint", 1 << 20, /*accept_streams=*/true);
  if (!read.ok()) return read.status();
  const std::string& note = *read;
  Result<proof::Note> parsed = proof::ParseNote(note);
  if (!parsed.ok()) {
    return InvalidArgument(path + " is not a signed checkpoint: " + parsed.status().message());
  }
  if (Result<proof::Checkpoint> cp = proof::ParseCheckpointText(parsed->text); !cp.ok()) {
    return InvalidArgument(path + " is not a signed checkpoint: " + cp.status().message());
  }
  return note;
}

int Verify(const VerifyArgs& args) {
  if (const std::string why = args.common.MissingDatabase(); !why.empty()) {
    return UsageError("verify", why);
  }
  std::vector<std::string> saved;
  for (const std::string& path : args.saved_files) {
    Result<std::string> note = ReadSavedCheckpoint(path);
    if (!note.ok()) {
      std::fprintf(stderr, "consentctl verify: %s\n", note.status().message().c_str());
      return 2;
    }
    saved.push_back(std::move(*note));
  }
  Result<std::string> db = args.common.DatabasePath();
  if (!db.ok()) return Fail("verify", db.status());
  Result<proof::NoteVerifier> verifier = args.common.Verifier();
  if (!verifier.ok()) return Fail("verify", verifier.status());
  proof::AuditResult result;
  Status s = ReadStore(*db, [&](store::Transaction& txn) -> Status {
    Result<proof::AuditResult> r = store::AuditProofLog(txn, *verifier, {}, saved);
    if (!r.ok()) return r.status();
    result = std::move(r).value();
    return Status::Ok();
  });
  if (!s.ok()) return Fail("verify", s);
  if (!result.ok()) {
    if (result.first_bad_sequence) {
      std::fprintf(stderr, "consentctl verify: FAILED at sequence %llu: %s\n",
                   static_cast<unsigned long long>(*result.first_bad_sequence),
                   result.problem.c_str());
    } else {
      std::fprintf(stderr, "consentctl verify: FAILED: %s\n", result.problem.c_str());
    }
    return 1;
  }
  std::string saved_text;
  if (result.saved_checkpoints > 0) {
    saved_text = "; contains " + std::to_string(result.saved_checkpoints) + " saved checkpoint" +
                 (result.saved_checkpoints == 1 ? "" : "s") + " (largest " +
                 std::to_string(result.largest_saved) + " entries)";
  }
  // The entries after the newest signed checkpoint are checked against
  // the tree only: no signature vouches for them yet (a quiet log gets its
  // next checkpoint when it grows; `log checkpoint --write` signs one now).
  std::string unsigned_text;
  if (result.entries > result.largest_signed) {
    const std::uint64_t n = result.entries - result.largest_signed;
    unsigned_text = "; the newest " + std::to_string(n) + " entr" + (n == 1 ? "y is" : "ies are") +
                    " not yet covered by a signed checkpoint";
  }
  std::printf("OK: %llu entries, %llu checkpoint%s verified, root %s%s%s\n",
              static_cast<unsigned long long>(result.entries),
              static_cast<unsigned long long>(result.checkpoints),
              result.checkpoints == 1 ? "" : "s",
              proof::Base64Encode(proof::AsBytes(result.root)).c_str(), saved_text.c_str(),
              unsigned_text.c_str());
  return 0;
}

}  // namespace

void RegisterVerify(CLI::App& app, std::function<int()>& run) {
  auto args = std::make_shared<VerifyArgs>();
  auto* cmd = app.add_subcommand("verify", "Verify the proof log: tree, checkpoints, consistency");
  args->common.AddOptions(*cmd, /*with_vkey=*/true);
  cmd->add_option("--checkpoint", args->saved_files,
                  "a signed checkpoint saved earlier (consentctl log checkpoint); the log must "
                  "still contain it (repeatable)");
  cmd->callback([&run, args] { run = [args] { return Verify(*args); }; });
}

}  // namespace consentd::cli
