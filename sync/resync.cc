#include "sync/resync.h"

#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include "core/clock.h"

namespace consentd::sync {
namespace {

// Returned by a dry run's unit of work so the store rolls it back; never
// leaves RunResync.
constexpr std::string_view kDryRunRollback = "resync dry run: rolled back on purpose";

bool IsDryRunRollback(const Status& s) {
  return s.code() == StatusCode::kInternal && s.message() == kDryRunRollback;
}

void Count(const IngestSummary& summary, std::string_view source, ResyncReport& report) {
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
}

}  // namespace

std::string FormatResyncReport(const ResyncReport& r) {
  std::string line =
      r.connector + ": " + std::to_string(r.pages) + " page(s), " + std::to_string(r.records) +
      " record(s); in step " + std::to_string(r.in_step) + ", consentd behind " +
      std::to_string(r.consentd_behind) + ", system behind " + std::to_string(r.system_behind) +
      ", superseded " + std::to_string(r.superseded) + ", refused " + std::to_string(r.refused);
  if (r.dry_run) line += " (dry run: nothing stored)";
  if (!r.complete) line += " (stopped early)";
  return line;
}

Result<ResyncReport> RunResync(store::Store& store, SyncEngine& engine,
                               connectors::Connector& connector, const ResyncOptions& options) {
  ResyncReport report;
  report.connector = connector.name();
  report.dry_run = options.dry_run;
  const std::string source = connector.name();
  SystemClock clock;
  std::string cursor;  // "" = the snapshot from the beginning
  for (;;) {
    if (options.stop != nullptr && options.stop->load()) return report;
    if (report.pages >= options.max_pages) {
      return Internal("resync " + source + ": no end after " + std::to_string(report.pages) +
                      " pages");
    }
    Result<connectors::PollPage> page = connector.Poll(cursor, clock.NowMs());
    if (!page.ok()) {
      return page.status().WithContext("resync " + source + " page " +
                                       std::to_string(report.pages + 1));
    }
    ++report.pages;
    report.records += static_cast<int>(page->records.size());
    if (!page->records.empty()) {
      // Owned by the unit of work and by this frame; the work writes it on
      // the store thread, this thread reads it after Run returned.
      // A snapshot states the system's current state, so a system found
      // behind the canonical state is written it (core/change.h).
      for (connectors::InboundRecord& record : page->records) {
        for (Change& change : record.mapped.changes) change.snapshot = true;
      }
      auto summary = std::make_shared<IngestSummary>();
      auto records =
          std::make_shared<std::vector<connectors::InboundRecord>>(std::move(page->records));
      const bool dry_run = options.dry_run;
      Status s = store.Run([&engine, source, records, summary, dry_run](store::Transaction& txn) {
        Result<IngestSummary> r = engine.Ingest(txn, source, *records, SystemClock().NowMs());
        if (!r.ok()) return r.status();
        *summary = std::move(r).value();
        if (dry_run) return Status(StatusCode::kInternal, std::string(kDryRunRollback));
        return Status::Ok();
      });
      if (dry_run && IsDryRunRollback(s)) s = Status::Ok();
      if (!s.ok()) {
        return s.WithContext("resync " + source + " page " + std::to_string(report.pages));
      }
      Count(*summary, source, report);
      if (!dry_run && options.on_page_committed) options.on_page_committed(*summary);
    }
    if (!page->more) break;
    cursor = std::move(page->next_cursor);
  }
  report.complete = true;
  return report;
}

}  // namespace consentd::sync
