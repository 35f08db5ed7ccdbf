#include "store/dead_letters.h"

#include <string>

#include "store/sqlite_db.h"
#include "store/sqlite_transaction.h"

namespace consentd::store {
namespace {

constexpr int kPage = 500;

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

}  // namespace

Result<DeadLetterReplay> ReplayDeadLetters(Transaction& txn, std::optional<std::int64_t> id,
                                           TimestampMs now) {
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
    Result<std::int64_t> newest = NewestId(**db, r);
    if (!newest.ok()) return newest.status();
    if (*newest > r.id) {
      if (id) {
        return FailedPrecondition("dead letter " + std::to_string(r.id) +
                                  " is superseded by outbox row " + std::to_string(*newest) +
                                  " for the same key and address; sending it again would write an "
                                  "older state");
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
