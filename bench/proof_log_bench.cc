// proof_log_bench: proof-log append and full-verify throughput against the
// raw SHA-256 cost, all measured in the same run (issue 3 "Speed").
//
//   proof_log_bench [--entries N] [--batch B] [--evidence-every K]
//                   [--db FILE [--durable-only]]
//
// append:  ProofLogWriter::Prepare+Commit in batches of B (sequence, record
//          id, AES-256-GCM evidence, canonical bytes, leaf hash, frontier),
//          in memory.
// verify:  AuditLog over the produced rows (sequence checks, leaf hash
//          recomputation and comparison, tree recomputation, checkpoint).
// durable (with --db FILE, which is deleted first): the same entries through
//          the SQLite store, one fsynced unit of work per batch, then the
//          `consentctl verify` audit reading every row back, with its CPU
//          time against the hashing-only line of the same run.
// hashing: the same leaf and node hashes alone (the floor for verify), and
//          SHA-256 over 64-byte messages and over 16 MiB buffers.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/proof/checkpoint.h"
#include "core/proof/evidence.h"
#include "core/proof/hash.h"
#include "core/proof/log_audit.h"
#include "core/proof/log_writer.h"
#include "store/proof_log_store.h"
#include "store/sqlite_store.h"

namespace {

using consentd::ProofEntry;
using consentd::ProofKind;
using consentd::Result;
using namespace consentd::proof;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// CPU time of the process (the store thread included): on a shared machine
// wall time also counts the time other processes held the cores.
double CpuNow() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

struct Timer {
  Clock::time_point wall = Clock::now();
  double cpu = CpuNow();
  double WallS() const { return Seconds(wall); }
  double CpuS() const { return CpuNow() - cpu; }
};

void Row(const char* what, double count, const Timer& t, const char* unit) {
  std::printf("%-28s: %12.0f %s (wall), %12.0f %s (cpu)\n", what, count / t.WallS(), unit,
              count / t.CpuS(), unit);
}

// Every `evidence_every`-th entry carries personal evidence (1: all of
// them, the worst case; in the daemon only `observed` entries do).
ProofEntry SampleEntry(std::uint64_t i, std::uint64_t evidence_every) {
  ProofEntry e;
  e.recorded_at = 1764400000000 + static_cast<std::int64_t>(i);
  e.occurred_at = e.recorded_at - 250;
  e.subject = "subj_" + std::to_string(i % 50000);
  e.kind = ProofKind::kDecided;
  e.topic = "newsletter";
  e.channel = "email";
  e.old_status = "not_asked";
  e.new_status = "granted";
  e.legal_basis = "eu-gdpr:A6-1-a";
  e.method = "double_opt_in";
  e.notice_version = "privacy-2026-01";
  e.source_system = "hubspot";
  e.source_event_id = "evt-" + std::to_string(i);
  e.signature_scheme = "hubspot-v3";
  e.mapping_hash = "9f2c6a1e";
  if (i % evidence_every != 0) return e;
  e.evidence = {{"email", "person" + std::to_string(i % 50000) + "@example.com"},
                {"ip", "198.51.100.7"},
                {"user_agent", "Mozilla/5.0 (X11; Linux x86_64)"}};
  return e;
}

// Durable: the same entries through the SQLite store, one unit of work
// (one fsynced commit) per batch, then the audit of `consentctl verify`
// reading every row back from the file.
int DurableRun(const std::string& path, std::uint64_t n, std::size_t batch_size,
               std::uint64_t evidence_every, const NoteSigner& signer, const NoteVerifier& verifier,
               double hash_cpu) {
  std::remove(path.c_str());
  consentd::store::SqliteStoreOptions options;
  options.path = path;
  auto store = consentd::store::SqliteStore::Open(options);
  if (!store.ok()) {
    std::fprintf(stderr, "open %s: %s\n", path.c_str(), store.status().ToString().c_str());
    return 1;
  }
  std::vector<std::vector<ProofEntry>> batches;
  for (std::uint64_t i = 0; i < n;) {
    batches.emplace_back();
    for (std::size_t j = 0; j < batch_size && i < n; ++j, ++i)
      batches.back().push_back(SampleEntry(i, evidence_every));
  }
  Timer t_append;
  for (std::size_t b = 0; b < batches.size(); ++b) {
    consentd::Status s = (*store)->Run([&](consentd::store::Transaction& txn) -> consentd::Status {
      auto r = consentd::store::AppendProofEntries(txn, std::move(batches[b]), 1);
      if (!r.ok()) return r.status();
      // A checkpoint every 100 batches, as a daemon would sign periodically.
      if ((b + 1) % 100 == 0 || b + 1 == batches.size()) {
        return consentd::store::WriteProofCheckpoint(txn, signer, 1).status();
      }
      return consentd::Status::Ok();
    });
    if (!s.ok()) {
      std::fprintf(stderr, "durable append failed: %s\n", s.ToString().c_str());
      return 1;
    }
  }
  Row("append (durable, SQLite)", static_cast<double>(n), t_append, "entries/s");
  Timer t_verify;
  consentd::proof::AuditResult result;
  consentd::Status s = (*store)->Run([&](consentd::store::Transaction& txn) -> consentd::Status {
    auto r = consentd::store::AuditProofLog(txn, verifier);
    if (!r.ok()) return r.status();
    result = *r;
    return consentd::Status::Ok();
  });
  if (!s.ok() || !result.ok()) {
    std::fprintf(stderr, "durable verify failed: %s %s\n", s.ToString().c_str(),
                 result.problem.c_str());
    return 1;
  }
  double verify_cpu = t_verify.CpuS();
  Row("full verify (from SQLite)", static_cast<double>(n), t_verify, "entries/s");
  if (hash_cpu > 0) {
    std::printf("%-28s: %12.2fx (cpu time ratio)\n", "SQLite verify / hashing",
                verify_cpu / hash_cpu);
  }
  std::printf("%-28s: %12llu entries, %llu checkpoints\n", "verified",
              static_cast<unsigned long long>(result.entries),
              static_cast<unsigned long long>(result.checkpoints));
  return (*store)->Close().ok() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t n = 1'000'000;
  std::size_t batch_size = 1000;
  std::uint64_t evidence_every = 1;
  std::string db_path;
  bool durable_only = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--durable-only") == 0) durable_only = true;
  }
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--db") == 0) db_path = argv[i + 1];
    if (std::strcmp(argv[i], "--entries") == 0) n = std::strtoull(argv[i + 1], nullptr, 10);
    if (std::strcmp(argv[i], "--evidence-every") == 0) {
      evidence_every = std::max<std::uint64_t>(1, std::strtoull(argv[i + 1], nullptr, 10));
    }
    if (std::strcmp(argv[i], "--batch") == 0) batch_size = std::strtoull(argv[i + 1], nullptr, 10);
  }
  std::printf("proof_log_bench: %llu entries, batches of %zu, evidence on every %llu\n",
              static_cast<unsigned long long>(n), batch_size,
              static_cast<unsigned long long>(evidence_every));
  if (durable_only && !db_path.empty()) {
    NoteSigner signer = *NoteSigner::Generate("bench.consentd/log");
    NoteVerifier verifier = *NoteVerifier::FromVerifierKey(signer.VerifierKey());
    return DurableRun(db_path, n, batch_size, evidence_every, signer, verifier, 0);
  }

  // Raw SHA-256 first, so the figures below can be read against it.
  Hash sink{};
  constexpr std::uint64_t kSmallBlocks = 4'000'000;
  std::string block(64, 'x');
  Timer t_small;
  for (std::uint64_t i = 0; i < kSmallBlocks; ++i) {
    block[0] = static_cast<char>(i);
    sink[0] ^= Sha256(block)[0];
  }
  Row("sha256 64-byte blocks", kSmallBlocks, t_small, "blocks/s");
  std::string big(16 << 20, 'y');
  constexpr int kBigRounds = 64;
  Timer t_big;
  for (int i = 0; i < kBigRounds; ++i) {
    big[0] = static_cast<char>(i);
    sink[1] ^= Sha256(big)[0];
  }
  std::printf("%-28s: %12.2f GB/s (wall), %12.2f GB/s (cpu)\n", "sha256 16 MiB blocks",
              static_cast<double>(big.size()) * kBigRounds / t_big.WallS() / 1e9,
              static_cast<double>(big.size()) * kBigRounds / t_big.CpuS() / 1e9);

  // Entries are built before the clock starts: that is the reconciler's work.
  std::vector<std::vector<ProofEntry>> batches;
  for (std::uint64_t i = 0; i < n;) {
    batches.emplace_back();
    for (std::size_t j = 0; j < batch_size && i < n; ++j, ++i)
      batches.back().push_back(SampleEntry(i, evidence_every));
  }

  // Append.
  InMemorySubjectKeyStore keys;
  ProofLogWriter writer({}, keys);
  std::vector<StoredRow> rows;
  rows.reserve(n);
  std::uint64_t bytes_total = 0;
  Timer t_append;
  for (std::vector<ProofEntry>& batch : batches) {
    Result<PreparedBatch> b = writer.Prepare(std::move(batch));
    if (!b.ok()) {
      std::fprintf(stderr, "append failed: %s\n", b.status().ToString().c_str());
      return 1;
    }
    for (PreparedEntry& r : b->entries) {
      bytes_total += r.bytes.size();
      rows.push_back({r.sequence, std::move(r.bytes), r.leaf_hash});
    }
    writer.Commit(std::move(b).value());
  }
  Row("append (in memory)", static_cast<double>(n), t_append, "entries/s");
  std::printf("%-28s: %12.0f bytes\n", "mean entry size",
              static_cast<double>(bytes_total) / static_cast<double>(n));

  NoteSigner signer = *NoteSigner::Generate("bench.consentd/log");
  NoteVerifier verifier = *NoteVerifier::FromVerifierKey(signer.VerifierKey());
  std::string checkpoint = *SignCheckpoint(
      {signer.name(), writer.frontier().size(), writer.frontier().Root(), {}}, signer);

  // Full verify.
  std::size_t next = 0;
  AuditInput in;
  in.verifier = &verifier;
  in.checkpoint_notes = {checkpoint};
  Timer t_verify;
  Result<AuditResult> audit = AuditLog(
      [&](StoredRow& row) -> Result<bool> {
        if (next >= rows.size()) return false;
        row.sequence = rows[next].sequence;
        row.bytes.assign(rows[next].bytes);
        row.leaf_hash = rows[next].leaf_hash;
        ++next;
        return true;
      },
      in);
  double verify_cpu = t_verify.CpuS();
  Row("full verify", static_cast<double>(n), t_verify, "entries/s");
  if (!audit.ok() || !audit->ok()) {
    std::fprintf(stderr, "verify failed\n");
    return 1;
  }

  // The hashing floor of verify: the same leaf hashes and tree hashes.
  Timer t_hash;
  MerkleFrontier tree;
  for (const StoredRow& r : rows) tree.Append(HashLeaf(r.bytes));
  sink[2] ^= tree.Root()[0];
  double hash_cpu = t_hash.CpuS();
  Row("hashing only (same tree)", static_cast<double>(n), t_hash, "entries/s");
  std::printf("%-28s: %12.2fx (cpu time ratio; sink %u)\n", "verify / hashing only",
              verify_cpu / hash_cpu, sink[0] ^ sink[1] ^ sink[2]);
  if (!db_path.empty()) {
    return DurableRun(db_path, n, batch_size, evidence_every, signer, verifier, hash_cpu);
  }
  return 0;
}
