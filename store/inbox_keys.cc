#include "store/inbox_keys.h"

#include <algorithm>
#include <limits>
#include <string>

namespace consentd::store {
namespace {

// Resets a cached statement when the scope ends, so no statement keeps a
// read open past the call that used it.
class Reset {
 public:
  explicit Reset(Stmt* st) : st_(st) {}
  ~Reset() { st_->Reset(); }
  Reset(const Reset&) = delete;
  Reset& operator=(const Reset&) = delete;

 private:
  Stmt* st_;
};

Result<std::int64_t> Mark(Db& db) { return db.QueryInt("SELECT upto FROM inbox_keys_mark"); }

}  // namespace

Status InboxKeys::Refresh(Db& db) {
  Result<std::int64_t> version = db.QueryInt("PRAGMA data_version");
  if (!version.ok()) return version.status();
  return Refresh(db, *version);
}

Status InboxKeys::Refresh(Db& db, std::int64_t data_version) {
  if (loaded_ && data_version == data_version_) return Status::Ok();
  CONSENTD_RETURN_IF_ERROR(Reload(db));
  data_version_ = data_version;
  return Status::Ok();
}

Status InboxKeys::Reload(Db& db) {
  if (merging_) merge_reloaded_ = true;
  loaded_ = false;
  recent_.clear();
  Result<std::int64_t> mark = Mark(db);
  if (!mark.ok()) return mark.status();
  Result<Stmt*> st = db.Prepare("SELECT id, dedupe_key FROM inbox WHERE id > ?");
  if (!st.ok()) return st.status();
  Reset reset(*st);
  (*st)->BindAll(*mark);
  for (;;) {
    Result<bool> row = (*st)->Step();
    if (!row.ok()) {
      recent_.clear();
      return row.status();
    }
    if (!*row) break;
    recent_.emplace((*st)->Int(1), (*st)->Int(0));
  }
  mark_ = *mark;
  loaded_ = true;
  return Status::Ok();
}

Result<std::optional<std::int64_t>> InboxKeys::Find(Db& db, std::int64_t key,
                                                    std::string_view source,
                                                    std::string_view event_id) {
  if (!loaded_) return FailedPrecondition("inbox keys not loaded (Refresh failed)");
  auto [first, last] = recent_.equal_range(key);
  if (first != last) {
    Result<Stmt*> st = db.Prepare("SELECT source = ? AND event_id = ? FROM inbox WHERE id = ?");
    if (!st.ok()) return st.status();
    for (auto it = first; it != last; ++it) {
      Reset reset(*st);
      (*st)->BindAll(source, event_id, it->second);
      Result<bool> row = (*st)->Step();
      if (!row.ok()) return row.status();
      if (*row && (*st)->Int(0) == 1) return std::optional<std::int64_t>(it->second);
    }
  }
  // CROSS JOIN: inbox_keys first (by key), then the row by its id.
  Result<Stmt*> st = db.Prepare(
      "SELECT k.inbox_id FROM inbox_keys AS k CROSS JOIN inbox AS i ON i.id = k.inbox_id "
      "WHERE k.dedupe_key = ? AND i.source = ? AND i.event_id = ?");
  if (!st.ok()) return st.status();
  Reset reset(*st);
  (*st)->BindAll(key, source, event_id);
  Result<bool> row = (*st)->Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<std::int64_t>();
  return std::optional<std::int64_t>((*st)->Int(0));
}

Status InboxKeys::Added(Db& db, std::int64_t id, std::int64_t key) {
  if (!loaded_) return FailedPrecondition("inbox keys not loaded (Refresh failed)");
  if (id > mark_) {
    recent_.emplace(key, id);
    if (!merging_ || id > merge_upto_) return Status::Ok();
  }
  // An id at or below the mark, or below the end of the merge in progress
  // (the newest rows were pruned and SQLite reused their ids): no merge
  // would pick it up, so index it now.
  Result<Stmt*> st = db.Prepare("INSERT INTO inbox_keys (dedupe_key, inbox_id) VALUES (?, ?)");
  if (!st.ok()) return st.status();
  Reset reset(*st);
  (*st)->BindAll(key, id);
  return (*st)->Run();
}

Status InboxKeys::MergeSlice(Db& db, std::size_t slices) {
  CONSENTD_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
  bool finished = false;
  std::int64_t new_mark = 0;
  Status s = MergeSliceInTransaction(db, std::max<std::size_t>(slices, 1), &finished, &new_mark);
  if (s.ok()) s = db.Exec("COMMIT");
  if (!s.ok()) {
    if (db.InTransaction()) (void)db.Exec("ROLLBACK");
    merging_ = false;
    return s.WithContext("merge inbox keys");
  }
  if (!finished) return Status::Ok();
  // Every row up to new_mark is in inbox_keys now; newer ones stay here.
  std::erase_if(recent_, [new_mark](const auto& entry) { return entry.second <= new_mark; });
  mark_ = new_mark;
  merging_ = false;
  return Status::Ok();
}

Status InboxKeys::MergeSliceInTransaction(Db& db, std::size_t slices, bool* finished,
                                          std::int64_t* new_mark) {
  if (!merging_) {
    // The first step fixes the rows to merge: (mark, max id].
    Result<std::int64_t> mark = Mark(db);
    if (!mark.ok()) return mark.status();
    Result<std::int64_t> upto = db.QueryInt("SELECT coalesce(max(id), 0) FROM inbox");
    if (!upto.ok()) return upto.status();
    merge_from_ = *mark;
    merge_upto_ = std::max(*mark, *upto);
    const std::int64_t rows = merge_upto_ - merge_from_;
    merge_slices_ = static_cast<std::size_t>(
        std::clamp<std::int64_t>(rows / kMinRowsPerSlice, 1, static_cast<std::int64_t>(slices)));
    merge_slice_ = 0;
    merge_reloaded_ = false;
    merging_ = true;
  }
  // Slice i of n covers the i-th n-th of the key space, in key order: each
  // page of inbox_keys is written at most once per merge. If another
  // connection committed during the merge (it may have reused the ids of
  // pruned rows), the last slice copies the whole range again.
  constexpr std::uint64_t kBias = std::uint64_t{1} << 63;
  constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
  const bool last = merge_slice_ + 1 == merge_slices_;
  const std::uint64_t step = kMax / merge_slices_;
  const std::uint64_t lo = last && merge_reloaded_ ? 0 : merge_slice_ * step;
  const std::uint64_t hi = last ? kMax : (merge_slice_ + 1) * step - 1;
  {
    Result<Stmt*> st = db.Prepare(
        "INSERT OR IGNORE INTO inbox_keys (dedupe_key, inbox_id) "
        "SELECT dedupe_key, id FROM inbox WHERE id > ? AND id <= ? "
        "AND dedupe_key BETWEEN ? AND ? ORDER BY dedupe_key, id");
    if (!st.ok()) return st.status();
    Reset reset(*st);
    (*st)->BindAll(merge_from_, merge_upto_, static_cast<std::int64_t>(lo ^ kBias),
                   static_cast<std::int64_t>(hi ^ kBias));
    CONSENTD_RETURN_IF_ERROR((*st)->Run());
  }
  ++merge_slice_;
  if (!last) return Status::Ok();
  // Another connection's merge may have moved the mark further meanwhile.
  Result<std::int64_t> mark = Mark(db);
  if (!mark.ok()) return mark.status();
  *new_mark = std::max(*mark, merge_upto_);
  *finished = true;
  Result<Stmt*> st = db.Prepare("UPDATE inbox_keys_mark SET upto = ?");
  if (!st.ok()) return st.status();
  Reset reset(*st);
  (*st)->BindAll(*new_mark);
  return (*st)->Run();
}

}  // namespace consentd::store
