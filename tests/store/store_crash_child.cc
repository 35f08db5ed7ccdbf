// Helper for store_crash_test: commits units of work from several threads
// through group commit and prints "<id>\n" on stdout for each one only after
// the store acknowledged it as durable. Runs until killed.
//
// usage: store_crash_child DB_PATH ID_PREFIX THREADS [KILL_AT_CALL]
//   KILL_AT_CALL N: the process SIGKILLs itself just before its Nth SQLite
//   call (open, exec, prepare, step), i.e. at a chosen durable boundary.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "store/sqlite_store.h"

using consentd::Status;
using consentd::store::ConsentRow;
using consentd::store::SqliteFaults;
using consentd::store::SqliteOp;
using consentd::store::SqliteStore;
using consentd::store::SqliteStoreOptions;
using consentd::store::Transaction;

namespace {

// The crash port: dies at call N, exactly as a power cut would stop it
// there (minus the page cache, which SIGKILL keeps).
class KillAtCall final : public SqliteFaults {
 public:
  explicit KillAtCall(long n) : n_(n) {}
  int Before(SqliteOp, std::string_view) override {
    if (++calls_ == n_) raise(SIGKILL);
    return 0;
  }

 private:
  const long n_;
  std::atomic<long> calls_{0};
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4 && argc != 5) {
    std::fprintf(stderr, "usage: %s DB_PATH ID_PREFIX THREADS [KILL_AT_CALL]\n", argv[0]);
    return 2;
  }
  KillAtCall killer(argc == 5 ? std::atol(argv[4]) : -1);
  SqliteStoreOptions options;
  options.path = argv[1];
  options.faults = &killer;
  const std::string prefix = argv[2];
  const int threads = std::atoi(argv[3]);
  auto opened = SqliteStore::Open(options);
  if (!opened.ok()) {
    std::fprintf(stderr, "open: %s\n", opened.status().ToString().c_str());
    return 1;
  }
  SqliteStore& store = **opened;
  std::mutex out_mu;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (long i = 0;; ++i) {
        const std::string id = prefix + "-" + std::to_string(t) + "-" + std::to_string(i);
        Status s = store.Run([&id](Transaction& txn) -> Status {
          auto fresh = txn.InsertInbox({"crash", id, 1, ""});
          if (!fresh.ok()) return fresh.status();
          ConsentRow row;
          row.key = {id, "newsletter", "email", ""};
          row.status = "granted";
          return txn.Upsert(row);
        });
        if (!s.ok()) {
          std::fprintf(stderr, "commit: %s\n", s.ToString().c_str());
          std::_Exit(1);
        }
        // The acknowledgement: written to the pipe only after durability.
        const std::string line = id + "\n";
        std::lock_guard lock(out_mu);
        if (write(STDOUT_FILENO, line.data(), line.size()) < 0) std::_Exit(1);
      }
    });
  }
  for (std::thread& w : workers) w.join();
  return 0;
}
