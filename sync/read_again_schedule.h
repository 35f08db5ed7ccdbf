// When the hints of records a system failed on their own (sync/read_again.h)
// are read again: each record backs off by its own failed reads in a row,
// while every other hint goes on. The daemon keeps one per connector, on its
// io thread, and asks it before each hint listing; the clock is passed in,
// so the arithmetic is tested without waiting (read_again_schedule_test).
// In memory only: after a restart each such hint is read once at once.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "connectors/common/connector.h"
#include "connectors/common/retry_policy.h"

namespace consentd::sync {

class ReadAgainSchedule {
 public:
  using Clock = std::chrono::steady_clock;

  // Due times are rounded up to steps of this: hints deferred together are
  // listed together, not one listing each.
  static constexpr std::chrono::milliseconds kStep{250};
  // Records whose failures are counted; beyond this, one count is
  // forgotten per new record (that record's next backoff starts again at
  // the first step). The hints themselves are never dropped.
  static constexpr std::size_t kMaxCountedRecords = 4096;
  // A deferred hint not listed again this long after it was due (another
  // path processed it) is forgotten.
  static constexpr std::chrono::hours kForgetAfter{1};

  // A hint's event id and the sync::ReadAgainKey of the record it names.
  using Hint = std::pair<std::string, std::string>;

  struct Deferral {
    std::size_t records = 0;                  // distinct records among the hints
    std::chrono::milliseconds first_delay{};  // the first record's backoff, for the log
  };

  // Defers `hints` from `now`: each record's failed reads go up by one
  // (once, however many of its hints), and all its hints are due after
  // connectors::NextDelay of that count, rounded up to kStep.
  Deferral Defer(const std::vector<Hint>& hints, Clock::time_point now,
                 const connectors::BackoffPolicy& policy, std::mt19937_64& rng);

  // True if the hint `event_id` is to be passed over by a listing at `now`
  // (deferred, not yet due). One whose time has come is no longer deferred:
  // the listing reads it.
  bool PassOver(const std::string& event_id, Clock::time_point now);

  struct Wake {
    bool any_due = false;                   // list now
    std::optional<Clock::time_point> next;  // the earliest due time still ahead
  };
  // What the timer is to do at `now`, after forgetting hints left unlisted
  // kForgetAfter past their due time. A due time already past is never
  // `next` (a timer armed on it would fire again at once, for ever).
  Wake Next(Clock::time_point now);

  // A record read (not failed) again starts its backoff afresh.
  void Forget(const std::vector<connectors::InboundRecord>& records);

  std::size_t deferred() const { return due_.size(); }
  // Failed reads in a row counted for the record under `key`.
  int Attempts(const std::string& key) const;

 private:
  std::map<std::string, Clock::time_point> due_;  // event id -> due
  std::map<std::string, int> attempts_;           // ReadAgainKey -> failed reads
};

}  // namespace consentd::sync
