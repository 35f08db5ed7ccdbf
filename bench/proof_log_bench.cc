// proof_log_bench: proof-log append and full-verify throughput against the
// raw SHA-256 cost, all measured in the same run (issue 3 "Speed").
//
//   proof_log_bench [--entries N] [--batch B] [--evidence-every K]
//                   [--db FILE [--durable-only | --verify-only]]
//                   [--runs R] [--hash-threads T] [--page-size P]
//
// append:  ProofLogWriter::Prepare+Commit in batches of B (sequence, record
//          id, AES-256-GCM evidence, canonical bytes, leaf hash, frontier),
//          in memory.
// verify:  AuditLogRows over the produced rows (sequence checks, leaf hash
//          recomputation and comparison, tree recomputation, checkpoint),
//          serial (0 hashing threads) and with T hashing threads.
// durable (with --db FILE, which is deleted first): the same entries through
//          the SQLite store, one fsynced unit of work per batch, then the
//          `consentctl verify` audit reading every row back, serial and
//          with T hashing threads, R times each, interleaved with R runs of
//          the hashing-only line (medians). --verify-only skips the append
//          and audits an existing FILE. --page-size P creates FILE with
//          SQLite pages of P bytes (the store's default otherwise).
// hashing: the same leaf and node hashes alone, on one thread (the floor
//          for verify), and SHA-256 over 64-byte messages and 16 MiB buffers.
//
// Three clocks per line: wall; CPU of the whole process; and the busiest
// thread's CPU ("2-core"), which is what wall clock would be on an idle
// two-core machine when the threads overlap fully. On a shared, loaded
// machine wall clock mostly measures the other processes: compare CPU and
// 2-core figures, and the ratios to hashing, which are taken in one run.
#include <sqlite3.h>
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

double CpuClock(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Process CPU time (every thread) and the CPU time of the thread that
// drives the work; on a shared machine wall time also counts the time
// other processes held the cores.
struct Timer {
  Clock::time_point wall = Clock::now();
  double cpu = CpuClock(CLOCK_PROCESS_CPUTIME_ID);
  double WallS() const { return std::chrono::duration<double>(Clock::now() - wall).count(); }
  double CpuS() const { return CpuClock(CLOCK_PROCESS_CPUTIME_ID) - cpu; }
};

struct ThreadTimer {
  double start = CpuClock(CLOCK_THREAD_CPUTIME_ID);
  double S() const { return CpuClock(CLOCK_THREAD_CPUTIME_ID) - start; }
};

// One measurement: seconds on each clock.
struct Times {
  double wall = 0;
  double cpu = 0;     // whole process
  double driver = 0;  // the thread that reads rows (and folds the tree)
  int helpers = 0;    // other threads working on it
  // The busiest thread: the driver, or the helpers' share of the rest.
  double Busiest() const { return helpers == 0 ? cpu : std::max(driver, (cpu - driver) / helpers); }
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

void Row(const char* what, double count, const Times& t, const char* unit) {
  std::printf("%-30s: %10.0f %s wall, %10.0f cpu, %10.0f 2-core\n", what, count / t.wall, unit,
              count / t.cpu, count / t.Busiest());
}

void Row(const char* what, double count, const Timer& t, const char* unit) {
  Times times{t.WallS(), t.CpuS(), 0, 0};
  Row(what, count, times, unit);
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

std::vector<std::vector<ProofEntry>> SampleBatches(std::uint64_t n, std::size_t batch_size,
                                                   std::uint64_t evidence_every) {
  std::vector<std::vector<ProofEntry>> batches;
  for (std::uint64_t i = 0; i < n;) {
    batches.emplace_back();
    for (std::size_t j = 0; j < batch_size && i < n; ++j, ++i)
      batches.back().push_back(SampleEntry(i, evidence_every));
  }
  return batches;
}

// The hashing floor of verify: the same leaf hashes and tree hashes, one
// thread, nothing else.
template <typename ForEachEntry>
Times HashOnly(const ForEachEntry& for_each_entry, Hash& sink) {
  Timer t;
  ThreadTimer driver;
  MerkleFrontier tree;
  for_each_entry([&](std::string_view bytes) { tree.Append(HashLeaf(bytes)); });
  sink[2] ^= tree.Root()[0];
  return {t.WallS(), t.CpuS(), driver.S(), 0};
}

struct Config {
  std::uint64_t n = 1'000'000;
  std::size_t batch_size = 1000;
  std::uint64_t evidence_every = 1;
  std::string db_path;
  bool durable_only = false;
  bool verify_only = false;
  int page_size = 0;  // 0: what the store creates
  int runs = 3;
  int hash_threads = 1;
};

// Durable: the same entries through the SQLite store, one unit of work
// (one fsynced commit) per batch, then the audit of `consentctl verify`
// reading every row back from the file, serial and with hashing threads,
// interleaved with the hashing-only floor over the same stored entries.
int DurableRun(const Config& cfg, const NoteSigner& signer, const NoteVerifier& verifier) {
  namespace store = consentd::store;
  if (!cfg.verify_only) {
    std::remove(cfg.db_path.c_str());
    // --page-size: an empty database with that page size, which the store
    // then opens and migrates as if it had created it (SQLite keeps the
    // page size of a WAL database fixed once it has content).
    sqlite3* raw = nullptr;
    if (cfg.page_size > 0 && sqlite3_open(cfg.db_path.c_str(), &raw) == SQLITE_OK) {
      const std::string sql = "PRAGMA page_size = " + std::to_string(cfg.page_size) +
                              "; CREATE TABLE bench_page (x); DROP TABLE bench_page;";
      if (sqlite3_exec(raw, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
        std::fprintf(stderr, "page size: %s\n", sqlite3_errmsg(raw));
      }
    }
    sqlite3_close(raw);
  }
  store::SqliteStoreOptions options;
  options.path = cfg.db_path;
  auto opened = store::SqliteStore::Open(options);
  if (!opened.ok()) {
    std::fprintf(stderr, "open %s: %s\n", cfg.db_path.c_str(), opened.status().ToString().c_str());
    return 1;
  }
  store::SqliteStore& db = **opened;
  if (!cfg.verify_only) {
    std::vector<std::vector<ProofEntry>> batches =
        SampleBatches(cfg.n, cfg.batch_size, cfg.evidence_every);
    Timer t_append;
    for (std::size_t b = 0; b < batches.size(); ++b) {
      consentd::Status s = db.Run([&](store::Transaction& txn) -> consentd::Status {
        auto r = store::AppendProofEntries(txn, std::move(batches[b]), 1);
        if (!r.ok()) return r.status();
        // A checkpoint every 100 batches, as a daemon would sign periodically.
        if ((b + 1) % 100 == 0 || b + 1 == batches.size()) {
          return store::WriteProofCheckpoint(txn, signer, 1).status();
        }
        return consentd::Status::Ok();
      });
      if (!s.ok()) {
        std::fprintf(stderr, "durable append failed: %s\n", s.ToString().c_str());
        return 1;
      }
    }
    Row("append (durable, SQLite)", static_cast<double>(cfg.n), t_append, "entries/s");
  }

  // One audit as `consentctl verify` runs it; the driver is the store thread.
  std::uint64_t entries = 0;
  auto verify = [&](int hash_threads, Times& times) -> bool {
    AuditOptions audit_options;
    audit_options.hash_threads = hash_threads;
    AuditResult result;
    Timer t;
    consentd::Status s = db.Run([&](store::Transaction& txn) -> consentd::Status {
      ThreadTimer driver;
      auto r = store::AuditProofLog(txn, verifier, audit_options);
      times.driver = driver.S();
      if (!r.ok()) return r.status();
      result = *r;
      return consentd::Status::Ok();
    });
    times.wall = t.WallS();
    times.cpu = t.CpuS();
    times.helpers = hash_threads;
    if (!s.ok() || !result.ok()) {
      std::fprintf(stderr, "durable verify failed: %s %s\n", s.ToString().c_str(),
                   result.problem.c_str());
      return false;
    }
    entries = result.entries;
    return true;
  };
  // The floor over the very rows the audit reads, read into memory first.
  std::vector<std::string> stored;
  consentd::Status s = db.Run([&](store::Transaction& txn) -> consentd::Status {
    Result<std::uint64_t> size = store::ProofTreeSize(txn);
    if (!size.ok()) return size.status();
    stored.reserve(*size);
    for (std::uint64_t i = 0; i < *size; ++i) {
      Result<std::string> e = store::ReadProofEntry(txn, i);
      if (!e.ok()) return e.status();
      stored.push_back(std::move(e).value());
    }
    return consentd::Status::Ok();
  });
  if (!s.ok()) {
    std::fprintf(stderr, "reading entries failed: %s\n", s.ToString().c_str());
    return 1;
  }
  const double n = static_cast<double>(stored.size());
  Hash sink{};
  std::vector<Times> hashing, leaves, serial, parallel;
  for (int run = 0; run < cfg.runs; ++run) {
    hashing.push_back(HashOnly(
        [&](const auto& fn) {
          for (const std::string& e : stored) fn(e);
        },
        sink));
    {  // the leaf hashes alone: the part of verify the hashing threads take
      Timer t;
      for (const std::string& e : stored) sink[3] ^= HashLeaf(e)[0];
      leaves.push_back({t.WallS(), t.CpuS(), 0, 0});
    }
    serial.emplace_back();
    parallel.emplace_back();
    if (!verify(0, serial.back()) || !verify(cfg.hash_threads, parallel.back())) return 1;
    std::printf(
        "run %d: hashing %.3f s cpu; verify serial %.3f s cpu (%.2fx); "
        "%d thread(s) %.3f s cpu, %.3f s 2-core (%.2fx), %.3f s wall\n",
        run + 1, hashing.back().cpu, serial.back().cpu, serial.back().cpu / hashing.back().cpu,
        cfg.hash_threads, parallel.back().cpu, parallel.back().Busiest(),
        parallel.back().Busiest() / hashing.back().cpu, parallel.back().wall);
  }
  auto median = [](const std::vector<Times>& v) {
    auto pick = [&](double Times::*field) {
      std::vector<double> xs;
      for (const Times& t : v) xs.push_back(t.*field);
      return Median(xs);
    };
    Times m{pick(&Times::wall), pick(&Times::cpu), pick(&Times::driver), v.front().helpers};
    return m;
  };
  const Times h = median(hashing), hl = median(leaves), vs = median(serial), vp = median(parallel);
  std::printf("medians of %d runs over %.0f stored entries:\n", cfg.runs, n);
  Row("hashing only (stored entries)", n, h, "entries/s");
  Row("verify from SQLite, serial", n, vs, "entries/s");
  Row("verify from SQLite, threads", n, vp, "entries/s");
  std::printf("%-30s: serial %.2fx cpu; %d thread(s) %.2fx cpu, %.2fx 2-core, %.2fx wall\n",
              "verify / hashing (time ratio)", vs.cpu / h.cpu, cfg.hash_threads, vp.cpu / h.cpu,
              vp.Busiest() / h.cpu, vp.wall / h.wall);
  // What an idle two-core machine would take: the reading thread's own
  // work (serial verify without the leaf hashes), or the threads' total
  // CPU spread over both cores, whichever is longer.
  const double own = vs.cpu - hl.cpu;
  const double idle = std::max(own, vp.cpu / std::min(2, cfg.hash_threads + 1));
  std::printf(
      "%-30s: %10.0f entries/s (reader's own work %.3f s, leaves %.3f s); "
      "%.2fx the hashing\n",
      "idle 2-core estimate", n / idle, own, hl.cpu, idle / h.cpu);
  std::printf("%-30s: %llu entries (sink %u)\n", "verified",
              static_cast<unsigned long long>(entries), sink[2] ^ sink[3]);
  return db.Close().ok() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Config cfg;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--durable-only") == 0) cfg.durable_only = true;
    if (std::strcmp(argv[i], "--verify-only") == 0) cfg.verify_only = true;
    if (i + 1 >= argc) continue;
    const char* v = argv[i + 1];
    if (std::strcmp(argv[i], "--db") == 0) cfg.db_path = v;
    if (std::strcmp(argv[i], "--entries") == 0) cfg.n = std::strtoull(v, nullptr, 10);
    if (std::strcmp(argv[i], "--evidence-every") == 0) {
      cfg.evidence_every = std::max<std::uint64_t>(1, std::strtoull(v, nullptr, 10));
    }
    if (std::strcmp(argv[i], "--batch") == 0) cfg.batch_size = std::strtoull(v, nullptr, 10);
    if (std::strcmp(argv[i], "--runs") == 0) cfg.runs = std::max(1, std::atoi(v));
    if (std::strcmp(argv[i], "--page-size") == 0) cfg.page_size = std::atoi(v);
    if (std::strcmp(argv[i], "--hash-threads") == 0) cfg.hash_threads = std::max(0, std::atoi(v));
  }
  std::printf(
      "proof_log_bench: %llu entries, batches of %zu, evidence on every %llu, "
      "%d hashing thread(s)\n",
      static_cast<unsigned long long>(cfg.n), cfg.batch_size,
      static_cast<unsigned long long>(cfg.evidence_every), cfg.hash_threads);
  // --verify-only audits a file an earlier run wrote: that run left its
  // signing key beside it (a benchmark key, not a secret).
  const std::string key_path = cfg.db_path + ".bench-key";
  Result<NoteSigner> signer_or = NoteSigner::Generate("bench.consentd/log");
  if (cfg.verify_only) {
    std::string skey;
    if (std::FILE* f = std::fopen(key_path.c_str(), "r")) {
      char buf[512];
      std::size_t got = std::fread(buf, 1, sizeof buf, f);
      std::fclose(f);
      skey.assign(buf, got);
      while (!skey.empty() && skey.back() == '\n') skey.pop_back();
    }
    signer_or = NoteSigner::FromPrivateKey(skey);
  } else if (!cfg.db_path.empty()) {
    if (std::FILE* f = std::fopen(key_path.c_str(), "w")) {
      std::fputs(signer_or->PrivateKeyString().c_str(), f);
      std::fclose(f);
    }
  }
  if (!signer_or.ok()) {
    std::fprintf(stderr, "signing key (%s): %s\n", key_path.c_str(),
                 signer_or.status().ToString().c_str());
    return 1;
  }
  const NoteSigner& signer = *signer_or;
  NoteVerifier verifier = *NoteVerifier::FromVerifierKey(signer.VerifierKey());
  if ((cfg.durable_only || cfg.verify_only) && !cfg.db_path.empty()) {
    return DurableRun(cfg, signer, verifier);
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
  Row("sha256 64-byte blocks", kSmallBlocks, t_small, "blocks/s ");
  std::string big(16 << 20, 'y');
  constexpr int kBigRounds = 64;
  Timer t_big;
  for (int i = 0; i < kBigRounds; ++i) {
    big[0] = static_cast<char>(i);
    sink[1] ^= Sha256(big)[0];
  }
  std::printf("%-30s: %10.2f GB/s wall, %10.2f GB/s cpu\n", "sha256 16 MiB blocks",
              static_cast<double>(big.size()) * kBigRounds / t_big.WallS() / 1e9,
              static_cast<double>(big.size()) * kBigRounds / t_big.CpuS() / 1e9);

  // Entries are built before the clock starts: that is the reconciler's work.
  std::vector<std::vector<ProofEntry>> batches =
      SampleBatches(cfg.n, cfg.batch_size, cfg.evidence_every);

  // Append.
  InMemorySubjectKeyStore keys;
  ProofLogWriter writer({}, keys);
  std::vector<StoredRow> rows;
  rows.reserve(cfg.n);
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
  Row("append (in memory)", static_cast<double>(cfg.n), t_append, "entries/s");
  std::printf("%-30s: %10.0f bytes\n", "mean entry size",
              static_cast<double>(bytes_total) / static_cast<double>(cfg.n));

  std::string checkpoint = *SignCheckpoint(
      {signer.name(), writer.frontier().size(), writer.frontier().Root(), {}}, signer);

  // Full verify over the rows in memory (borrowed, as the store hands them).
  auto verify = [&](int hash_threads) -> Times {
    std::size_t next = 0;
    AuditInput in;
    in.verifier = &verifier;
    in.checkpoint_notes = {checkpoint};
    in.options.hash_threads = hash_threads;
    Timer t;
    ThreadTimer driver;
    Result<AuditResult> audit = AuditLogRows(
        [&](RowView& row) -> Result<bool> {
          if (next >= rows.size()) return false;
          row.sequence = rows[next].sequence;
          row.bytes = rows[next].bytes;
          row.leaf_hash = rows[next].leaf_hash;
          ++next;
          return true;
        },
        in);
    Times times{t.WallS(), t.CpuS(), driver.S(), hash_threads};
    if (!audit.ok() || !audit->ok()) {
      std::fprintf(stderr, "verify failed\n");
      std::exit(1);
    }
    return times;
  };
  const Times v_serial = verify(0);
  const Times v_parallel = verify(cfg.hash_threads);
  const Times hash = HashOnly(
      [&](const auto& fn) {
        for (const StoredRow& r : rows) fn(r.bytes);
      },
      sink);
  const double n = static_cast<double>(cfg.n);
  Row("full verify, serial", n, v_serial, "entries/s");
  Row("full verify, threads", n, v_parallel, "entries/s");
  Row("hashing only (same tree)", n, hash, "entries/s");
  std::printf("%-30s: serial %.2fx cpu; %d thread(s) %.2fx cpu, %.2fx 2-core (sink %u)\n",
              "verify / hashing (time ratio)", v_serial.cpu / hash.cpu, cfg.hash_threads,
              v_parallel.cpu / hash.cpu, v_parallel.Busiest() / hash.cpu,
              sink[0] ^ sink[1] ^ sink[2]);
  if (!cfg.db_path.empty()) return DurableRun(cfg, signer, verifier);
  return 0;
}
