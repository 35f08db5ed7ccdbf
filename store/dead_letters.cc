#include "store/dead_letters.h"

#include <string>
#include <string_view>

#include "store/sqlite_db.h"
#include "store/sqlite_transaction.h"

namespace consentd::store {
namespace {

constexpr int kPage = 500;
// How the dispatcher starts the reason of a row its target refused for good
// (sync/deliveries.cc).
constexpr std::string_view kBlockedByTarget = "blocked_by_target: ";

// The newest outbox id for (target, key, address), in any state: a newer
// row for another address writes another record and supersedes nothing (an
// empty address is the whole key, OutboxRow::address).
Result<std::int64_t> NewestId(Db& db, const OutboxRow& row) {
  Result<Stmt*> st = db.Prepare(
      "SELECT MAX(id) FROM outbox WHERE target = ?1 AND key = ?2 "
      "AND (address = ?3 OR address = '' OR ?3 = '')");
  if (!st.ok()) return st.status();
  Stmt& q = **st;
  q.BindAll(row.target, row.key, row.address);
  Result<bool> r = q.Step();
  std::int64_t newest = 0;
  if (r.ok() && *r && !q.IsNull(0)) newest = q.Int(0);
  q.Reset();
  if (!r.ok()) return r.status();
  return newest;
}

// Why sending dead letter `row` again would write an older state than the
// canonical one; empty if it would not. An erasure row (known by what it
// writes, not by an id an erasure target names) is stale only behind a
// newer row (its person is gone by design). Any other row also goes stale
// once its person changed after it was made, or is no longer known under
// its key (erased, or merged into another): newer rows for the key may have
// been delivered and pruned since, and a change that came from the target
// itself makes no row for it at all. Where the target keeps a record per
// address, it is stale too once the record at its address was retired
// (moved to another address, or deleted there while the person lives on in
// another): sent, it would create that record again.
Result<std::string> WhyStale(Db& db, const OutboxRow& row, bool record_per_address) {
  Result<std::int64_t> newest = NewestId(db, row);
  if (!newest.ok()) return newest.status();
  if (*newest > row.id) {
    return "it is superseded by outbox row " + std::to_string(*newest) +
           " for the same key and address";
  }
  Result<Stmt*> st = db.Prepare(
      "SELECT coalesce(json_valid(?6) AND json_extract(?6, '$.erase'), 0), "
      " EXISTS (SELECT 1 FROM identity_links WHERE subject_id = ?2), "
      " (SELECT max(updated_at) FROM (SELECT updated_at FROM consent_state WHERE subject_id = ?2 "
      "  UNION ALL SELECT updated_at FROM blocks WHERE subject_id = ?2)), "
      " ?5 AND ?4 <> '' AND EXISTS (SELECT 1 FROM identity_links WHERE subject_id = ?2 AND system "
      "= ?3 "
      "  AND address = '' AND retired_address = ?4) "
      " AND NOT EXISTS (SELECT 1 FROM identity_links WHERE subject_id = ?2 AND system = ?3 "
      "  AND address = ?4), "
      " EXISTS (SELECT 1 FROM target_deletions WHERE subject_id = ?2 AND system = ?3)");
  if (!st.ok()) return st.status();
  Stmt& q = **st;
  q.BindAll(row.id, row.key, row.target, row.address, record_per_address ? 1 : 0, row.desired_json);
  Result<bool> r = q.Step();
  std::string why;
  if (r.ok() && *r && q.Int(0) == 0) {
    if (q.Int(1) == 0) {
      why = "its person is no longer known under " + row.key + " (erased, or merged into another)";
    } else if (!q.IsNull(2) && q.Int(2) > row.created_at) {
      why = "its person's state changed after it was made";
    } else if (q.Int(3) != 0) {
      why = "the record at its address in " + row.target +
            " was retired (moved to another address, or deleted there)";
    } else if (q.Int(4) != 0) {
      // Sent now, the write would create the deleted record again. Whenever
      // the deletion happened: its time is the system's, the row's
      // consentd's, and a row made between the two was decided without it.
      why = "its person's record at " + row.target + " was reported deleted";
    }
  }
  q.Reset();
  if (!r.ok()) return r.status();
  return why;
}

}  // namespace

Result<DeadLetterReplay> ReplayDeadLetters(Transaction& txn, std::optional<std::int64_t> id,
                                           TimestampMs now,
                                           const AddressSharingTargets& address_sharing) {
  Result<Db*> db = SqliteDbOf(txn, "dead-letter replay");
  if (!db.ok()) return db.status();
  std::vector<OutboxRow> dead;
  if (id) {
    Result<std::optional<OutboxRow>> row = txn.GetOutbox(*id);
    if (!row.ok()) return row.status();
    if (!row->has_value()) return NotFound("no outbox row " + std::to_string(*id));
    if ((*row)->status != OutboxStatus::kDead) {
      return FailedPrecondition("outbox row " + std::to_string(*id) +
                                " is not a dead letter (it is " +
                                std::string(OutboxStatusName((*row)->status)) + ")");
    }
    dead.push_back(std::move(**row));
  } else {
    for (std::int64_t after = 0;;) {
      Result<std::vector<OutboxRow>> page = txn.ListOutbox(OutboxStatus::kDead, after, kPage);
      if (!page.ok()) return page.status();
      for (OutboxRow& r : *page) dead.push_back(std::move(r));
      if (static_cast<int>(page->size()) < kPage) break;
      after = dead.back().id;
    }
  }
  DeadLetterReplay out;
  for (OutboxRow& r : dead) {
    if (r.reason.starts_with(kBlockedByTarget)) {
      if (id) {
        return FailedPrecondition("dead letter " + std::to_string(r.id) +
                                  " is not sent again: " + r.target + " refuses it for good (" +
                                  r.reason + "); sent again, it would be refused again");
      }
      out.refused.push_back(r.id);
      continue;
    }
    const bool record_per_address = address_sharing.count(r.target) == 0;
    Result<std::string> stale = WhyStale(**db, r, record_per_address);
    if (!stale.ok()) return stale.status();
    if (!stale->empty()) {
      if (id) {
        return FailedPrecondition("dead letter " + std::to_string(r.id) +
                                  " is not sent again: " + *stale +
                                  "; sending it would write an older state (`consentctl resync` "
                                  "sends the current one)");
      }
      out.superseded.push_back(r.id);
      continue;
    }
    if (Status s = txn.Replay(r.id, now); !s.ok()) return s;
    r.status = OutboxStatus::kPending;
    r.attempts = 0;
    r.next_attempt_at = now;
    out.replayed.push_back(std::move(r));
  }
  return out;
}

}  // namespace consentd::store
