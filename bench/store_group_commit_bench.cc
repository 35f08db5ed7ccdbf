// Group-commit benchmark of the SQLite store (issue 2).
//
// Measures, in one run on one file system:
//   1. SQLite alone: one durable transaction per row (WAL, synchronous=FULL)
//   2. SQLite alone: durable transactions of 100 rows each
//   3. the store's group commit: durable single-event units of work
//      submitted by 1, 16 and 256 concurrent threads, each waiting for its
//      own acknowledgement before submitting the next
//   4. the same with a realistic unit (inbox + state upsert + outbox row)
//   5. one io-thread-style submitter keeping 256 units in flight through
//      completion callbacks (how the daemon's io thread submits)
//
// usage: store_group_commit_bench [DIR] [SECONDS_PER_CASE] [ONLY]
//   DIR defaults to /var/tmp (use a real disk, not tmpfs). Each case runs
//   SECONDS_PER_CASE (default 6) in total, split over 3 round-robin rounds.
//   ONLY, if given, runs just the cases whose label contains it.
//   CONSENTD_BENCH_WAL_AUTOCHECKPOINT=N overrides the store's setting.
#include <sqlite3.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <semaphore>
#include <string>
#include <thread>
#include <vector>

#include "store/sqlite_store.h"

namespace {

consentd::store::SqliteStoreOptions StoreOptions(const std::string& path) {
  consentd::store::SqliteStoreOptions options;
  options.path = path;
  if (const char* pages = std::getenv("CONSENTD_BENCH_WAL_AUTOCHECKPOINT")) {
    options.wal_autocheckpoint_pages = std::atoi(pages);
  }
  return options;
}

using consentd::Status;
using consentd::store::ConsentRow;
using consentd::store::OutboxRow;
using consentd::store::SqliteStore;
using consentd::store::SqliteStoreOptions;
using consentd::store::StoreStats;
using consentd::store::Transaction;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

bool Check(int rc, sqlite3* db, const char* what) {
  if (rc == SQLITE_OK || rc == SQLITE_DONE) return true;
  std::fprintf(stderr, "%s: %s\n", what, sqlite3_errmsg(db));
  return false;
}

struct GroupResult {
  double per_second = 0;
  double mean_batch = 0;
  long failures = 0;
};

// Raw SQLite: rows/s committing `rows_per_txn` rows per durable transaction.
GroupResult RawSqlite(const std::string& path, const std::string& tag, int rows_per_txn,
                      double seconds) {
  sqlite3* db = nullptr;
  if (!Check(sqlite3_open(path.c_str(), &db), db, "open")) return {};
  Check(sqlite3_exec(db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                     "CREATE TABLE IF NOT EXISTS inbox (source TEXT NOT NULL, event_id TEXT NOT "
                     "NULL, received_at INTEGER NOT NULL, payload TEXT NOT NULL, PRIMARY KEY "
                     "(source, event_id)) WITHOUT ROWID;",
                     nullptr, nullptr, nullptr),
        db, "setup");
  sqlite3_stmt *ins = nullptr, *begin = nullptr, *commit = nullptr;
  sqlite3_prepare_v2(db, "INSERT INTO inbox VALUES ('bench', ?, 1, '{}')", -1, &ins, nullptr);
  sqlite3_prepare_v2(db, "BEGIN IMMEDIATE", -1, &begin, nullptr);
  sqlite3_prepare_v2(db, "COMMIT", -1, &commit, nullptr);
  long rows = 0;
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  while (Clock::now() < end) {
    sqlite3_step(begin);
    sqlite3_reset(begin);
    for (int i = 0; i < rows_per_txn; ++i) {
      std::string id = tag;
      id += std::to_string(rows++);
      sqlite3_bind_text(ins, 1, id.c_str(), -1, SQLITE_TRANSIENT);
      if (!Check(sqlite3_step(ins), db, "insert")) return {};
      sqlite3_reset(ins);
    }
    if (!Check(sqlite3_step(commit), db, "commit")) return {};
    sqlite3_reset(commit);
  }
  const double elapsed = Seconds(Clock::now() - start);
  sqlite3_finalize(ins);
  sqlite3_finalize(begin);
  sqlite3_finalize(commit);
  sqlite3_close(db);
  return {static_cast<double>(rows) / elapsed, static_cast<double>(rows_per_txn), 0};
}

// Group commit: `threads` submitters, each waiting for its acknowledgement.
GroupResult Group(const std::string& path, const std::string& tag, int threads, bool full_unit,
                  double seconds) {
  SqliteStoreOptions options = StoreOptions(path);
  auto opened = SqliteStore::Open(options);
  if (!opened.ok()) {
    std::fprintf(stderr, "open: %s\n", opened.status().ToString().c_str());
    return {};
  }
  SqliteStore& store = **opened;
  const StoreStats before = store.stats();
  std::atomic<bool> stop{false};
  std::atomic<long> done{0}, failed{0};
  std::vector<std::thread> workers;
  const auto start = Clock::now();
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (long i = 0; !stop.load(std::memory_order_relaxed); ++i) {
        const std::string id = tag + std::to_string(t) + "-" + std::to_string(i);
        Status s = store.Run([&id, full_unit](Transaction& txn) -> Status {
          auto fresh = txn.InsertInbox({"bench", id, 1, "{}"});
          if (!fresh.ok()) return fresh.status();
          if (!full_unit) return Status::Ok();
          ConsentRow row;
          row.key = {id, "newsletter", "email", ""};
          row.status = "granted";
          CONSENTD_RETURN_IF_ERROR(txn.Upsert(row));
          OutboxRow out;
          out.target = "mailchimp";
          out.key = id;
          out.desired_json = R"({"status":"subscribed"})";
          out.idempotency_key = id;
          auto enq = txn.Enqueue(out);
          return enq.ok() ? Status::Ok() : enq.status();
        });
        (s.ok() ? done : failed).fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (std::thread& w : workers) w.join();
  const double elapsed = Seconds(Clock::now() - start);
  const StoreStats after = store.stats();
  (void)store.Close();
  GroupResult r;
  r.per_second = static_cast<double>(done.load()) / elapsed;
  const auto batches = after.batches - before.batches;
  r.mean_batch = batches ? static_cast<double>(after.submissions - before.submissions) /
                               static_cast<double>(batches)
                         : 0;
  r.failures = failed.load();
  return r;
}

// One thread keeps `in_flight` single-row events outstanding via callbacks.
GroupResult Pipelined(const std::string& path, const std::string& tag, int in_flight,
                      double seconds) {
  SqliteStoreOptions options = StoreOptions(path);
  auto opened = SqliteStore::Open(options);
  if (!opened.ok()) return {};
  SqliteStore& store = **opened;
  std::counting_semaphore<> slots(in_flight);
  std::atomic<long> done{0}, failed{0};
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  for (long i = 0; Clock::now() < end; ++i) {
    slots.acquire();
    std::string id = tag;
    id += std::to_string(i);
    store.Submit(
        [id = std::move(id)](Transaction& txn) -> Status {
          auto fresh = txn.InsertInbox({"bench", id, 1, "{}"});
          return fresh.ok() ? Status::Ok() : fresh.status();
        },
        [&](const Status& s) {
          (s.ok() ? done : failed).fetch_add(1, std::memory_order_relaxed);
          slots.release();
        });
  }
  for (int i = 0; i < in_flight; ++i) slots.acquire();  // wait for the tail
  const double elapsed = Seconds(Clock::now() - start);
  const StoreStats stats = store.stats();
  (void)store.Close();
  GroupResult r;
  r.per_second = static_cast<double>(done.load()) / elapsed;
  r.mean_batch = stats.batches
                     ? static_cast<double>(stats.submissions) / static_cast<double>(stats.batches)
                     : 0;
  r.failures = failed.load();
  return r;
}

}  // namespace

struct Case {
  std::string label;
  std::function<GroupResult(const std::string& tag, double seconds)> run;
  std::vector<GroupResult> results;
};

int main(int argc, char** argv) {
  const std::string base = argc > 1 ? argv[1] : "/var/tmp";
  const double seconds = argc > 2 ? std::atof(argv[2]) : 6.0;
  const std::string only = argc > 3 ? argv[3] : "";
  constexpr int kRounds = 3;
  std::string tmpl = base + "/consentd-bench-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  const std::filesystem::path dir = tmpl;
  auto file = [&](const std::string& name) { return (dir / name).string(); };

  std::vector<Case> cases;
  for (int rows : {1, 100}) {
    std::string label = "sqlite alone: " + std::to_string(rows) + " row(s) per transaction";
    cases.push_back({label,
                     [=](const std::string& tag, double secs) {
                       return RawSqlite(file("raw" + std::to_string(rows) + ".db"), tag, rows,
                                        secs);
                     },
                     {}});
  }
  for (bool full : {false, true}) {
    for (int threads : {1, 16, 256}) {
      char label[96];
      std::snprintf(label, sizeof label, "group commit: %3d submitting threads, %s", threads,
                    full ? "inbox+state+outbox" : "1-row event");
      std::string db = "group-" + std::to_string(threads) + (full ? "u" : "e") + ".db";
      cases.push_back({label,
                       [=](const std::string& tag, double secs) {
                         return Group(file(db), tag, threads, full, secs);
                       },
                       {}});
    }
  }
  cases.push_back({"group commit: 1 io-style thread, 256 in flight, 1-row event",
                   [=](const std::string& tag, double secs) {
                     return Pipelined(file("pipelined.db"), tag, 256, secs);
                   },
                   {}});
  std::erase_if(cases, [&](const Case& c) { return c.label.find(only) == std::string::npos; });

  std::printf(
      "store group-commit benchmark: %s, %.1f s per case in %d round-robin rounds, "
      "SQLite %s, %u cpus\n",
      dir.c_str(), seconds, kRounds, sqlite3_libversion(), std::thread::hardware_concurrency());
  // Round-robin, so that a change in the machine's load or disk latency
  // during the run hits every case alike; the median of the rounds is shown.
  for (int round = 0; round < kRounds; ++round) {
    for (std::size_t i = 0; i < cases.size(); ++i) {
      std::string tag = "r";  // (not "r" + string: GCC 12 -O3 -Wrestrict false positive)
      tag += std::to_string(round) + "c" + std::to_string(i) + "-";
      cases[i].results.push_back(cases[i].run(tag, seconds / kRounds));
    }
  }
  std::printf("\n%-62s %12s %19s %10s\n", "case (all durable: WAL + synchronous=FULL)",
              "per second", "(min - max)", "mean batch");
  for (Case& c : cases) {
    std::sort(c.results.begin(), c.results.end(), [](const GroupResult& a, const GroupResult& b) {
      return a.per_second < b.per_second;
    });
    const GroupResult& median = c.results[c.results.size() / 2];
    long failures = 0;
    for (const GroupResult& r : c.results) failures += r.failures;
    std::printf("%-62s %12.0f   (%7.0f - %7.0f) %10.1f%s\n", c.label.c_str(), median.per_second,
                c.results.front().per_second, c.results.back().per_second, median.mean_batch,
                failures ? "  (failures!)" : "");
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return 0;
}
