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
// A merge may run in key-range slices, each its own short transaction
// (MergeSlice), so that the batches between them wait for one slice, not
// for the whole merge (issue #5: 15-90 ms for 16,384 rows). Exactness
// holds across slices: the mark moves only with the last slice, so until
// then every row being merged is still found in memory too; a row of this
// connection inserted meanwhile with an id up to the merge's end (the
// newest rows were pruned and their ids reused) gets its entry at once,
// and if another connection committed meanwhile, the last slice copies the
// whole range again.
//
// Thread-safety: none; one connection, used by one thread at a time.
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
  // The same with `PRAGMA data_version` already read in this transaction
  // (the store reads it once per batch for this and its tombstone counter).
  Status Refresh(Db& db, std::int64_t data_version);

  // The id of the row of (source, event_id) whose key is `key`, if any.
  Result<std::optional<std::int64_t>> Find(Db& db, std::int64_t key, std::string_view source,
                                           std::string_view event_id);

  // Records row `id` just inserted with `key`, in the same transaction.
  Status Added(Db& db, std::int64_t id, std::int64_t key);

  // Rows after the mark that this connection holds in memory.
  std::size_t pending() const { return recent_.size(); }

  // Moves the rows after the mark into inbox_keys and then advances the
  // mark, in up to `slices` steps of one key range each (fewer for few
  // rows: at least kMinRowsPerSlice each); this call runs one step, in its
  // own transaction (no transaction may be open on `db`). The first step
  // fixes the rows to merge (those after the mark then); the last one
  // advances the mark. On error the merge is abandoned (the rows stay in
  // memory; a later merge starts over, the entries already copied are
  // harmless).
  Status MergeSlice(Db& db, std::size_t slices);
  // A sliced merge has begun and not ended.
  bool merging() const { return merging_; }

  static constexpr std::int64_t kMinRowsPerSlice = 2048;

 private:
  Status Reload(Db& db);
  Status MergeSliceInTransaction(Db& db, std::size_t slices, bool* finished,
                                 std::int64_t* new_mark);

  bool loaded_ = false;
  std::int64_t data_version_ = 0;
  std::int64_t mark_ = 0;
  std::unordered_multimap<std::int64_t, std::int64_t> recent_;  // key -> row id, ids > mark_
  // The sliced merge in progress: rows (merge_from_, merge_upto_], slice
  // merge_slice_ of merge_slices_ next.
  bool merging_ = false;
  bool merge_reloaded_ = false;  // Reload ran during the merge
  std::int64_t merge_from_ = 0;
  std::int64_t merge_upto_ = 0;
  std::size_t merge_slice_ = 0;
  std::size_t merge_slices_ = 1;
};

}  // namespace consentd::store
