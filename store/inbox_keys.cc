#include "store/inbox_keys.h"

#include <algorithm>
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
  if (loaded_ && *version == data_version_) return Status::Ok();
  CONSENTD_RETURN_IF_ERROR(Reload(db));
  data_version_ = *version;
  return Status::Ok();
}

Status InboxKeys::Reload(Db& db) {
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
    return Status::Ok();
  }
  // An id at or below the mark (the newest rows were pruned and SQLite
  // reused their ids): no merge would pick it up, so index it now.
  Result<Stmt*> st = db.Prepare("INSERT INTO inbox_keys (dedupe_key, inbox_id) VALUES (?, ?)");
  if (!st.ok()) return st.status();
  Reset reset(*st);
  (*st)->BindAll(key, id);
  return (*st)->Run();
}

Status InboxKeys::Merge(Db& db) {
  CONSENTD_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
  std::int64_t version = 0;
  std::int64_t new_mark = 0;
  Status s = MergeInTransaction(db, &version, &new_mark);
  if (s.ok()) s = db.Exec("COMMIT");
  if (!s.ok()) {
    if (db.InTransaction()) (void)db.Exec("ROLLBACK");
    return s.WithContext("merge inbox keys");
  }
  // Every row up to new_mark is in inbox_keys now, and no other
  // connection could commit while this one held the write lock.
  recent_.clear();
  mark_ = new_mark;
  data_version_ = version;
  loaded_ = true;
  return Status::Ok();
}

Status InboxKeys::MergeInTransaction(Db& db, std::int64_t* version, std::int64_t* new_mark) {
  Result<std::int64_t> v = db.QueryInt("PRAGMA data_version");
  if (!v.ok()) return v.status();
  Result<std::int64_t> mark = Mark(db);
  if (!mark.ok()) return mark.status();
  Result<std::int64_t> upto = db.QueryInt("SELECT coalesce(max(id), 0) FROM inbox");
  if (!upto.ok()) return upto.status();
  {
    // In key order: each page of inbox_keys is written once per merge.
    Result<Stmt*> st = db.Prepare(
        "INSERT OR IGNORE INTO inbox_keys (dedupe_key, inbox_id) "
        "SELECT dedupe_key, id FROM inbox WHERE id > ? ORDER BY dedupe_key, id");
    if (!st.ok()) return st.status();
    Reset reset(*st);
    (*st)->BindAll(*mark);
    CONSENTD_RETURN_IF_ERROR((*st)->Run());
  }
  *new_mark = std::max(*mark, *upto);
  *version = *v;
  Result<Stmt*> st = db.Prepare("UPDATE inbox_keys_mark SET upto = ?");
  if (!st.ok()) return st.status();
  Reset reset(*st);
  (*st)->BindAll(*new_mark);
  return (*st)->Run();
}

}  // namespace consentd::store
