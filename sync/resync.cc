#include "sync/resync.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <set>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "store/resync_marks.h"
#include "sync/outbound.h"
#include "sync/read_again.h"

namespace consentd::sync {
namespace {

// Returned by a dry run's unit of work so the store rolls it back; never
// leaves RunResync.
constexpr std::string_view kDryRunRollback = "resync dry run: rolled back on purpose";

bool IsDryRunRollback(const Status& s) {
  return s.code() == StatusCode::kInternal && s.message() == kDryRunRollback;
}

// `held_seen`: the dead rows already counted in this run (a subject with
// records on two pages is flushed twice).
void Count(const IngestSummary& summary, std::string_view source, ResyncReport& report,
           std::set<std::int64_t>& held_seen) {
  for (const auto& [outcome, n] : summary.outcomes) {
    report.outcomes[outcome] += n;
    switch (outcome) {
      case Outcome::kDuplicate:
      case Outcome::kEcho:
        report.in_step += n;
        break;
      case Outcome::kApplied:
      case Outcome::kHeldPending:
        report.consentd_behind += n;
        break;
      case Outcome::kSuperseded:
        report.superseded += n;
        break;
      case Outcome::kDroppedErased:
      case Outcome::kNewSubjectRequired:
      case Outcome::kRejectedUnmapped:
      case Outcome::kRejectedInvalid:
        report.refused += n;
        break;
    }
  }
  for (const auto& [target, n] : summary.enqueued) {
    report.enqueued[target] += n;
    if (target == source) report.system_behind += n;
  }
  // Behind all the same: the repair is the dead letter's state.
  if (const auto held = summary.held_dead.find(std::string(source));
      held != summary.held_dead.end()) {
    for (const std::int64_t id : held->second) {
      if (!held_seen.insert(id).second) continue;
      ++report.system_behind;
      ++report.held_by_dead_letters;
    }
  }
}

}  // namespace

std::string FormatResyncReport(const ResyncReport& r) {
  std::string line =
      r.connector + ": " + std::to_string(r.pages) + " page(s), " + std::to_string(r.records) +
      " record(s); in step " + std::to_string(r.in_step) + ", consentd behind " +
      std::to_string(r.consentd_behind) + ", system behind " + std::to_string(r.system_behind) +
      (r.held_by_dead_letters > 0
           ? " (" + std::to_string(r.held_by_dead_letters) +
                 " held by dead letters: consentctl dlq list, then dlq replay)"
           : std::string()) +
      ", superseded " + std::to_string(r.superseded) + ", refused " + std::to_string(r.refused);
  if (r.missing_over_limit) {
    line += "; missing " + std::to_string(r.missing) + " of " + std::to_string(r.linked) +
            " linked (none read: over the limit; check that the connector points at the right "
            "account, then consentctl resync --missing-limit N)";
  } else if (r.missing >= 0) {
    line += "; missing " + std::to_string(r.missing) + " (read " + std::to_string(r.missing_read) +
            ", gone " + std::to_string(r.missing_gone);
    if (!r.missing_error.empty()) line += "; stopped: " + r.missing_error;
    line += ")";
  }
  if (r.missing_retired > 0) {
    line += "; " + std::to_string(r.missing_retired) +
            " gone but the person has another record there (retired)";
  }
  if (r.not_read > 0) {
    line += "; " + std::to_string(r.not_read) + " record(s) the system failed to answer for, " +
            (r.dry_run ? "which a real run leaves" : "left") + " to be read again on their own";
  }
  if (r.dry_run) line += " (dry run: nothing stored)";
  if (!r.complete) line += " (stopped early)";
  return line;
}

namespace {

// Decides `records` of `source` in one unit of work (rolled back in a dry
// run); with `run_started` set, marks the records found by that run.
Result<IngestSummary> DecidePage(store::Store& store, SyncEngine& engine, const std::string& source,
                                 std::vector<connectors::InboundRecord> records, bool dry_run,
                                 TimestampMs run_started, const ResyncOptions& options,
                                 ResyncReport& report) {
  // A record the system failed on its own is neither compared nor found
  // by this run: it is read again as a hint (sync/read_again.h).
  auto not_read = std::make_shared<std::vector<connectors::InboundRecord>>(TakeNotRead(records));
  // Read again among the missing records and failed again: one hint is
  // enough.
  std::erase_if(*not_read, [&report](const connectors::InboundRecord& rec) {
    return !report.not_read_keys.insert(ReadAgainKey(rec)).second;
  });
  report.not_read = static_cast<int>(report.not_read_keys.size());
  // A snapshot states the system's current state, so a system found
  // behind the canonical state is written it (core/change.h).
  std::vector<std::string> found;
  for (connectors::InboundRecord& record : records) {
    for (Change& change : record.mapped.changes) change.snapshot = true;
    if (!record.system_id.empty()) found.push_back(record.system_id);
  }
  // Owned by the unit of work and by this frame; the work writes it on the
  // store thread, this thread reads it after Run returned.
  auto summary = std::make_shared<IngestSummary>();
  auto shared = std::make_shared<std::vector<connectors::InboundRecord>>(std::move(records));
  auto ids = std::make_shared<std::vector<std::string>>(std::move(found));
  Status s = store.Run([&engine, &options, source, shared, ids, summary, dry_run, run_started,
                        not_read](store::Transaction& txn) {
    if (options.guard) CONSENTD_RETURN_IF_ERROR(options.guard(txn));
    if (!dry_run && !not_read->empty()) {
      Result<std::vector<std::string>> queued =
          QueueReadsAgain(txn, source, *not_read, SystemClock().NowMs());
      if (!queued.ok()) return queued.status();
    }
    Result<IngestSummary> r = engine.Ingest(txn, source, *shared, SystemClock().NowMs());
    if (!r.ok()) return r.status();
    *summary = std::move(r).value();
    // The daemon lists the hints queued above (on_page_committed).
    if (!dry_run && !not_read->empty()) summary->hinted.insert(source);
    if (dry_run) return Status(StatusCode::kInternal, std::string(kDryRunRollback));
    if (run_started != 0) return store::MarkFoundByResync(txn, source, *ids, run_started);
    return Status::Ok();
  });
  if (dry_run && IsDryRunRollback(s)) s = Status::Ok();
  if (!s.ok()) return s;
  return std::move(*summary);
}

// True if the read found `rec` gone from its system.
bool Gone(const connectors::InboundRecord& rec) {
  return std::any_of(rec.mapped.changes.begin(), rec.mapped.changes.end(), [](const Change& c) {
    return c.kind == ChangeKind::kTargetDeleted || c.kind == ChangeKind::kErasure;
  });
}

// Reads the records linked before `run_started` that the run did not find
// (see the file comment of resync.h) and decides what the system says of
// each: most often that it is gone.
Status ReadMissing(store::Store& store, SyncEngine& engine, connectors::Connector& connector,
                   const ResyncOptions& options, TimestampMs run_started, ResyncReport& report,
                   std::set<std::int64_t>& held_seen) {
  const std::string source = connector.name();
  Status s = store.Run([&](store::Transaction& txn) {
    Result<std::int64_t> n = store::CountMissingAfterResync(txn, source, run_started);
    if (!n.ok()) return n.status();
    Result<std::int64_t> linked = store::CountLinkedRecords(txn, source);
    if (!linked.ok()) return linked.status();
    report.missing = *n;
    report.linked = *linked;
    return Status::Ok();
  });
  if (!s.ok()) return s.WithContext("resync " + source + ": missing records");
  const double share_limit =
      std::max(static_cast<double>(ResyncOptions::kMissingAlwaysRead),
               options.missing_read_max_share * static_cast<double>(report.linked));
  if (report.missing > options.missing_read_limit ||
      static_cast<double>(report.missing) > share_limit) {
    report.missing_over_limit = true;
    return Status::Ok();
  }
  std::string after;
  int n = 0;
  for (;;) {
    if (options.stop != nullptr && options.stop->load()) return Status::Ok();
    std::vector<store::MissingRecord> batch;
    s = store.Run([&](store::Transaction& txn) {
      Result<std::vector<store::MissingRecord>> r = store::ListMissingAfterResync(
          txn, source, run_started, after, std::max(1, options.missing_read_batch));
      if (!r.ok()) return r.status();
      batch = std::move(*r);
      return Status::Ok();
    });
    if (!s.ok()) return s.WithContext("resync " + source + ": missing records");
    if (batch.empty()) return Status::Ok();
    after = batch.back().system_id;
    std::vector<connectors::RecordRef> refs;
    std::set<std::string> with_live_sibling;
    const TimestampMs now = SystemClock().NowMs();
    for (const store::MissingRecord& m : batch) {
      connectors::RecordRef ref;
      // Not the system id: event ids reach the proof log, which outlives
      // an erasure, and Mailchimp's id is the MD5 of the address.
      ref.event_id = "resync:missing:" + std::to_string(run_started) + ":" + std::to_string(++n);
      ref.system_id = m.system_id;
      ref.email = m.address;
      // Gone since the run began at the latest: a deletion is dated now.
      ref.occurred_at = now;
      refs.push_back(std::move(ref));
      if (m.live_sibling) with_live_sibling.insert(m.system_id);
    }
    // On the clock the decisions are dated by (DecidePage), as read_at is
    // compared with the times records were retired at.
    const TimestampMs read_at = SystemClock().NowMs();
    Result<std::vector<connectors::InboundRecord>> read = connector.Read(refs);
    if (read.ok()) connectors::StampReadAt(*read, read_at);
    if (!read.ok()) {
      // One record the system will not answer for must not fail the run
      // (and send the daemon back to reading the whole snapshot).
      report.missing_error = read.status().ToString();
      return Status::Ok();
    }
    report.missing_read += static_cast<int>(refs.size());
    std::vector<connectors::InboundRecord> decide;
    auto retire = std::make_shared<std::vector<std::string>>();
    for (connectors::InboundRecord& rec : *read) {
      if (!Gone(rec)) {
        decide.push_back(std::move(rec));  // there after all
        continue;
      }
      if (with_live_sibling.contains(rec.system_id)) {
        // The person lives on under another record there (an address
        // change whose webhook was lost, one of two members after a
        // merge): this record is retired, the person is not deleted.
        retire->push_back(rec.system_id);
        continue;
      }
      ++report.missing_gone;
      for (Change& c : rec.mapped.changes) {
        if (c.kind != ChangeKind::kErasure) continue;
        c.kind = ChangeKind::kTargetDeleted;
        rec.mapped.notes.push_back(
            "found missing by a full reconciliation: recorded as deleted there, not as a "
            "request to be forgotten (an address change whose webhook was lost looks the same)");
      }
      decide.push_back(std::move(rec));
    }
    if (!retire->empty()) {
      // Retired as of the read that found them gone (see read_at).
      s = store.Run([retire, source, now, read_at, &engine, &options](store::Transaction& txn) {
        if (options.guard) CONSENTD_RETURN_IF_ERROR(options.guard(txn));
        const std::shared_ptr<const mapping::MappingSpec> spec = engine.mapping();
        if (!spec) return FailedPrecondition("sync engine: no mapping in force");
        for (const std::string& id : *retire) {
          CONSENTD_RETURN_IF_ERROR(RetireRecord(txn, *spec, source, id, now, read_at));
        }
        return Status::Ok();
      });
      if (!s.ok()) return s.WithContext("resync " + source + ": missing records");
      report.missing_retired += static_cast<std::int64_t>(retire->size());
    }
    if (decide.empty()) continue;
    Result<IngestSummary> summary = DecidePage(store, engine, source, std::move(decide),
                                               /*dry_run=*/false, run_started, options, report);
    if (!summary.ok()) {
      return summary.status().WithContext("resync " + source + ": missing records");
    }
    Count(*summary, source, report, held_seen);
    if (options.on_page_committed) options.on_page_committed(*summary);
  }
}

bool Stopped(const ResyncOptions& options) {
  return options.stop != nullptr && options.stop->load();
}

// Fetches the page after `cursor`, again after a retryable failure (see
// ResyncOptions::page_attempts); waits in short steps so a stop is heard.
Result<connectors::PollPage> FetchPage(connectors::Connector& connector, const std::string& cursor,
                                       const ResyncOptions& options) {
  auto wait = options.page_retry_wait;
  for (int attempt = 1;; ++attempt) {
    const TimestampMs read_at = SystemClock().NowMs();  // see the missing records' Read
    Result<connectors::PollPage> page = connector.Poll(cursor, SystemClock().NowMs());
    if (page.ok()) {
      connectors::StampReadAt(page->records, read_at);
      return page;
    }
    if (!page.status().IsRetryable() || attempt >= options.page_attempts) return page;
    const auto until = std::chrono::steady_clock::now() + wait;
    while (std::chrono::steady_clock::now() < until) {
      if (Stopped(options)) return page;
      std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
          std::chrono::milliseconds(100), until - std::chrono::steady_clock::now()));
    }
    wait *= 2;
  }
}

}  // namespace

std::string LastResyncKey(std::string_view connector) {
  return "resync-done:" + std::string(connector);
}

std::chrono::milliseconds FirstResyncDelay(std::optional<TimestampMs> last_done,
                                           std::chrono::milliseconds interval, TimestampMs now,
                                           std::chrono::milliseconds min_wait) {
  if (!last_done.has_value()) return interval;
  const TimestampMs due = *last_done + interval.count();
  // A last run "in the future" (a clock set back): an interval from now.
  if (*last_done > now) return interval;
  return std::max(min_wait, std::chrono::milliseconds(std::max<TimestampMs>(0, due - now)));
}

std::function<Status(store::Transaction&)> MappingUnchangedGuard(
    const SyncEngine& engine, std::string hash,
    std::shared_ptr<std::atomic<bool>> ended_by_reload) {
  return [&engine, hash = std::move(hash),
          ended_by_reload = std::move(ended_by_reload)](store::Transaction&) -> Status {
    if (engine.mapping_hash() == hash) return Status::Ok();
    if (ended_by_reload) ended_by_reload->store(true);
    return FailedPrecondition(
        "the mapping changed during this run (a reload): the pages decided "
        "before stay, the rest is read again by the new mapping");
  };
}

Result<ResyncReport> RunResync(store::Store& store, SyncEngine& engine,
                               connectors::Connector& connector, const ResyncOptions& options) {
  if (!connector.PollsSnapshots()) {
    return FailedPrecondition("connector " + connector.name() +
                              " polls a change feed (or nothing), not its records' current "
                              "state: a resync has nothing to compare");
  }
  ResyncReport report;
  report.connector = connector.name();
  report.dry_run = options.dry_run;
  const std::string source = connector.name();
  SystemClock clock;
  // Records linked from now on are not looked for if the snapshot lacks
  // them (they may be newer than the read).
  const TimestampMs run_started = clock.NowMs();
  std::set<std::int64_t> held_seen;  // dead letters counted (Count)
  std::string cursor;  // "" = the snapshot from the beginning
  for (;;) {
    if (Stopped(options)) return report;
    if (report.pages >= options.max_pages) {
      return Internal("resync " + source + ": no end after " + std::to_string(report.pages) +
                      " pages");
    }
    Result<connectors::PollPage> page = FetchPage(connector, cursor, options);
    if (!page.ok()) {
      return page.status().WithContext("resync " + source + " page " +
                                       std::to_string(report.pages + 1));
    }
    ++report.pages;
    report.records += static_cast<int>(page->records.size());
    if (!page->records.empty()) {
      Result<IngestSummary> summary = DecidePage(store, engine, source, std::move(page->records),
                                                 options.dry_run, run_started, options, report);
      if (!summary.ok()) {
        return summary.status().WithContext("resync " + source + " page " +
                                            std::to_string(report.pages));
      }
      Count(*summary, source, report, held_seen);
      if (!options.dry_run && options.on_page_committed) options.on_page_committed(*summary);
    }
    if (!page->more) break;
    cursor = std::move(page->next_cursor);
  }
  report.complete = true;
  if (!options.dry_run) {
    CONSENTD_RETURN_IF_ERROR(
        ReadMissing(store, engine, connector, options, run_started, report, held_seen));
    // Stopped while the missing records were read: not the whole run.
    if (Stopped(options)) {
      report.complete = false;
      return report;
    }
    // The next periodic run is due an interval after this one, also
    // across restarts (FirstResyncDelay).
    const TimestampMs done = clock.NowMs();
    Status recorded = store.Run([&](store::Transaction& txn) {
      if (options.guard) CONSENTD_RETURN_IF_ERROR(options.guard(txn));
      return txn.AdvanceCursor(LastResyncKey(source), std::to_string(done), done);
    });
    if (!recorded.ok()) return recorded.WithContext("resync " + source + ": recording the run");
  }
  return report;
}

}  // namespace consentd::sync
