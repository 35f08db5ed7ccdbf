#include "store/sqlite_db.h"

#include <sqlite3.h>

namespace consentd::store {

int FailAtCall::Before(SqliteOp op, std::string_view sql) {
  if (!armed_.load()) return SQLITE_OK;
  if (op_ && *op_ != op) return SQLITE_OK;
  if (!match_.empty() && sql.find(match_) == std::string_view::npos) return SQLITE_OK;
  const std::int64_t call = ++calls_;
  const bool hit = mode_ == Mode::kTransient ? call == n_ : call >= n_;
  if (!hit) return SQLITE_OK;
  if (failures_++ == 0) first_failure_wal_sync_.store(op == SqliteOp::kWalSync);
  return code_;
}

Status SqliteStatus(int code, std::string_view what, std::string_view detail) {
  std::string msg(what);
  msg += ": ";
  msg += sqlite3_errstr(code);
  if (!detail.empty()) {
    msg += " (";
    msg += detail;
    msg += ")";
  }
  switch (code & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
      return Status::Ok();
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_NOMEM:
    case SQLITE_PROTOCOL:
    case SQLITE_CANTOPEN:
    case SQLITE_INTERRUPT:
      return Unavailable(std::move(msg));
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return DataLoss(std::move(msg));
    case SQLITE_CONSTRAINT:
      if (code == SQLITE_CONSTRAINT_UNIQUE || code == SQLITE_CONSTRAINT_PRIMARYKEY) {
        return AlreadyExists(std::move(msg));
      }
      return FailedPrecondition(std::move(msg));
    default:
      return Internal(std::move(msg));
  }
}

// --- Stmt ---

Stmt::~Stmt() { sqlite3_finalize(stmt_); }

void Stmt::Bind(int i, std::int64_t v) { sqlite3_bind_int64(stmt_, i, v); }

void Stmt::Bind(int i, std::string_view v) {
  sqlite3_bind_text64(stmt_, i, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
}

void Stmt::BindBlob(int i, std::string_view bytes) {
  sqlite3_bind_blob64(stmt_, i, bytes.data(), bytes.size(), SQLITE_TRANSIENT);
}

Result<bool> Stmt::Step() {
  const char* sql = sqlite3_sql(stmt_);
  if (int injected = db_->Check(SqliteOp::kStep, sql ? sql : ""); injected != SQLITE_OK) {
    db_->last_failed_code_ = injected;
    return SqliteStatus(injected, "step (injected)", sql ? sql : "");
  }
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  db_->last_failed_code_ = rc;
  return SqliteStatus(rc, "step", db_->LastError());
}

Status Stmt::Run() {
  for (;;) {
    Result<bool> r = Step();
    if (!r.ok()) return r.status();
    if (!*r) return Status::Ok();
  }
}

void Stmt::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

std::int64_t Stmt::Int(int col) const { return sqlite3_column_int64(stmt_, col); }

std::string Stmt::Text(int col) const {
  const unsigned char* p = sqlite3_column_text(stmt_, col);
  if (p == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(p),
                     static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)));
}

std::string_view Stmt::Bytes(int col) const {
  // Each accessor returns the stored bytes of its own type unconverted.
  const void* p = sqlite3_column_type(stmt_, col) == SQLITE_BLOB ? sqlite3_column_blob(stmt_, col)
                                                                 : sqlite3_column_text(stmt_, col);
  if (p == nullptr) return {};
  return {static_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col))};
}

bool Stmt::IsBlob(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_BLOB; }

bool Stmt::IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

// --- Db ---

Result<std::unique_ptr<Db>> Db::Open(const std::string& path, SqliteFaults* faults) {
  if (faults != nullptr) {
    if (int injected = faults->Before(SqliteOp::kOpen, path); injected != SQLITE_OK) {
      return SqliteStatus(injected, "open " + path + " (injected)");
    }
  }
  sqlite3* raw = nullptr;
  // NOMUTEX: the connection is used by one thread at a time (the store thread).
  const int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string detail = raw ? sqlite3_errmsg(raw) : "";
    sqlite3_close_v2(raw);
    return SqliteStatus(rc, "open " + path, detail);
  }
  sqlite3_extended_result_codes(raw, 1);
  return std::unique_ptr<Db>(new Db(raw, faults));
}

Db::~Db() {
  cache_.clear();  // statements must be finalized before the connection
  sqlite3_close_v2(db_);
}

int Db::Check(SqliteOp op, std::string_view sql) const {
  return faults_ == nullptr ? SQLITE_OK : faults_->Before(op, sql);
}

std::string Db::LastError() const { return sqlite3_errmsg(db_); }

Status Db::Exec(std::string_view sql) {
  std::string text(sql);
  if (int injected = Check(SqliteOp::kExec, text); injected != SQLITE_OK) {
    last_failed_code_ = injected;
    return SqliteStatus(injected, "exec (injected)", text);
  }
  char* err = nullptr;
  const int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err);
  if (rc == SQLITE_OK) return Status::Ok();
  last_failed_code_ = sqlite3_extended_errcode(db_);
  std::string detail = err ? err : "";
  sqlite3_free(err);
  return SqliteStatus(rc, "exec", detail);
}

Result<Stmt*> Db::Prepare(std::string_view sql) {
  if (auto it = cache_.find(sql); it != cache_.end()) {
    it->second->Reset();
    return it->second.get();
  }
  if (int injected = Check(SqliteOp::kPrepare, sql); injected != SQLITE_OK) {
    return SqliteStatus(injected, "prepare (injected)", sql);
  }
  sqlite3_stmt* raw = nullptr;
  const int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                    SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
  if (rc != SQLITE_OK) return SqliteStatus(rc, "prepare", LastError());
  auto stmt = std::make_unique<Stmt>(this, raw);
  Stmt* out = stmt.get();
  cache_.emplace(std::string(sql), std::move(stmt));
  return out;
}

Result<std::int64_t> Db::QueryInt(std::string_view sql) {
  Result<Stmt*> st = Prepare(sql);
  if (!st.ok()) return st.status();
  Result<bool> row = (*st)->Step();
  if (!row.ok()) return row.status();
  if (!*row) return NotFound(std::string("no row: ") + std::string(sql));
  std::int64_t v = (*st)->Int(0);
  (*st)->Reset();
  return v;
}

Result<std::string> Db::QueryText(std::string_view sql) {
  Result<Stmt*> st = Prepare(sql);
  if (!st.ok()) return st.status();
  Result<bool> row = (*st)->Step();
  if (!row.ok()) return row.status();
  if (!*row) return NotFound(std::string("no row: ") + std::string(sql));
  std::string v = (*st)->Text(0);
  (*st)->Reset();
  return v;
}

std::int64_t Db::Changes() const { return sqlite3_changes64(db_); }

std::int64_t Db::LastInsertRowid() const { return sqlite3_last_insert_rowid(db_); }

bool Db::InTransaction() const { return sqlite3_get_autocommit(db_) == 0; }

}  // namespace consentd::store
