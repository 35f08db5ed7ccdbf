// consentctl verify: recompute the proof log's Merkle tree from the stored
// entries, check every checkpoint signature and the consistency between
// consecutive checkpoints; exit 1 naming the first bad sequence number.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>

#include "cli/cmd_log_common.h"
#include "cli/command.h"
#include "core/proof/bytes.h"
#include "store/proof_log_store.h"

namespace consentd::cli {

void RegisterVerify(CLI::App& app, std::function<int()>& run) {
  auto args = std::make_shared<ProofLogArgs>();
  auto* cmd = app.add_subcommand("verify", "Verify the proof log: tree, checkpoints, consistency");
  args->AddOptions(*cmd, /*with_vkey=*/true);
  cmd->callback([&run, args] {
    run = [args] {
      Result<std::string> db = args->DatabasePath();
      if (!db.ok()) return Fail("verify", db.status());
      Result<proof::NoteVerifier> verifier = args->Verifier();
      if (!verifier.ok()) return Fail("verify", verifier.status());
      proof::AuditResult result;
      Status s = RunOnStore(*db, [&](store::Transaction& txn) -> Status {
        Result<proof::AuditResult> r = store::AuditProofLog(txn, *verifier);
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
      std::printf("OK: %llu entries, %llu checkpoint%s verified, root %s\n",
                  static_cast<unsigned long long>(result.entries),
                  static_cast<unsigned long long>(result.checkpoints),
                  result.checkpoints == 1 ? "" : "s",
                  proof::Base64Encode(proof::AsBytes(result.root)).c_str());
      return 0;
    };
  });
}

}  // namespace consentd::cli
