// Finding an inbox row by (source, event_id) without a random index write
// per insert (schema v10).
//
// The dedupe key (store/inbox_key.h) is a hash: an index over it puts each
// new event on a different page, so a group commit of N events rewrote
// about N index pages (one 4 KiB WAL frame per event). Now the keys of
// rows up to a merge mark live in inbox_keys (dedupe_key, inbox_id); rows
// after the mark are held in memory here, and a merge moves them into
// inbox_keys in key order, in one transaction, which touches each page of
// inbox_keys at most once however many rows it adds.
//
// Exactness: every row with id <= mark has its inbox_keys entry (a merge
// adds them in the transaction that moves the mark; a row inserted with
// an id <= mark, after the newest rows were pruned, gets its entry at
// once), and every row with id > mark is in the in-memory map of each
// connection that wrote it. The map is rebuilt from the table (rows after
// the mark) when the store opens and whenever another connection has
// committed since (PRAGMA data_version), so a restart, a crash or a second
// process (consentctl) never hides a row. A map entry may outlive its row
// (a rolled-back insert); every candidate is checked against the row's
// source and event id, so such an entry, like a key collision, costs one
// row read, never a wrong answer.
//
// Thread-safety: none; one connection, one thread (the store thread).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <unordered_map>

#include "core/status.h"
#include "store/sqlite_db.h"

namespace consentd::store {

class InboxKeys {
 public:
  // Inside a write transaction on `db`, before any other call: reloads the
  // mark and the rows after it if this is the first call or another
  // connection has committed since the last one.
  Status Refresh(Db& db);

  // The id of the row of (source, event_id) whose key is `key`, if any.
  Result<std::optional<std::int64_t>> Find(Db& db, std::int64_t key, std::string_view source,
                                           std::string_view event_id);

  // Records row `id` just inserted with `key`, in the same transaction.
  Status Added(Db& db, std::int64_t id, std::int64_t key);

  // Rows after the mark that this connection holds in memory.
  std::size_t pending() const { return recent_.size(); }

  // Moves every row after the mark into inbox_keys and advances the mark,
  // in its own transaction (no transaction may be open on `db`). On error
  // nothing changes (the rows stay in memory, a later merge retries).
  Status Merge(Db& db);

 private:
  Status Reload(Db& db);
  Status MergeInTransaction(Db& db, std::int64_t* version, std::int64_t* new_mark);

  bool loaded_ = false;
  std::int64_t data_version_ = 0;
  std::int64_t mark_ = 0;
  std::unordered_multimap<std::int64_t, std::int64_t> recent_;  // key -> row id, ids > mark_
};

}  // namespace consentd::store
