#include "store/proof_log_store.h"

#include <openssl/crypto.h>

#include "core/proof/bytes.h"
#include "core/proof/checkpoint.h"
#include "core/proof/entry_codec.h"
#include "core/proof/log_writer.h"
#include "core/proof/merkle.h"
#include "store/sqlite_db.h"
#include "store/sqlite_transaction.h"

namespace consentd::store {
namespace {

using proof::Hash;

// A cached statement, reset when the scope ends so no read stays open.
class Scoped {
 public:
  Scoped(Db& db, std::string_view sql) : stmt_(db.Prepare(sql)) {}
  ~Scoped() {
    if (stmt_.ok()) (*stmt_)->Reset();
  }
  Scoped(const Scoped&) = delete;
  Scoped& operator=(const Scoped&) = delete;
  bool ok() const { return stmt_.ok(); }
  const Status& status() const { return stmt_.status(); }
  Stmt* operator->() { return *stmt_; }
  Stmt& operator*() { return **stmt_; }

 private:
  Result<Stmt*> stmt_;
};

#define PROOF_USE(var, db, sql) \
  Scoped var(db, sql);          \
  if (!var.ok()) return var.status()

#define PROOF_DB(var, txn)                             \
  Result<Db*> var##_or = SqliteDbOf(txn, "proof log"); \
  if (!var##_or.ok()) return var##_or.status();        \
  Db& var = **var##_or

// Hashes are stored as 32-byte BLOBs (migration proof_log_blob).
std::optional<Hash> HashColumn(const Stmt& st, int col) {
  std::string_view bytes = st.Bytes(col);
  if (!st.IsBlob(col) || bytes.size() != proof::kHashSize) return std::nullopt;
  return proof::HashFromBytes(bytes);
}

auto I64(std::uint64_t v) { return static_cast<std::int64_t>(v); }

Result<proof::MerkleFrontier> LoadState(Db& db) {
  PROOF_USE(st, db, "SELECT frontier FROM proof_state WHERE id = 1");
  Result<bool> row = st->Step();
  if (!row.ok()) return row.status();
  if (!*row) return proof::MerkleFrontier();
  auto bytes = proof::HexDecode(st->Text(0));
  if (!bytes) return DataLoss("proof_state: frontier is not hex");
  Result<proof::MerkleFrontier> f = proof::MerkleFrontier::Restore(*bytes);
  if (!f.ok()) return DataLoss("proof_state: " + f.status().message());
  return f;
}

// Hashes of one stored level, for proofs (see merkle.h StridedNodeSource).
proof::StridedNodeSource NodesOf(Db& db) {
  return proof::StridedNodeSource(
      [&db](int level, std::uint64_t first, std::uint64_t count) -> Result<std::vector<Hash>> {
        std::vector<Hash> out;
        const char* sql = level == 0
                              ? "SELECT leaf_hash FROM proof_entries WHERE sequence >= ?2 AND "
                                "sequence < ?3 AND ?1 = 0 ORDER BY sequence"
                              : "SELECT hash FROM proof_nodes WHERE level = ?1 AND idx >= ?2 AND "
                                "idx < ?3 ORDER BY idx";
        PROOF_USE(st, db, sql);
        st->BindAll(static_cast<std::int64_t>(level), I64(first), I64(first + count));
        for (;;) {
          Result<bool> row = st->Step();
          if (!row.ok()) return row.status();
          if (!*row) break;
          std::optional<Hash> h = HashColumn(*st, 0);
          if (!h) return DataLoss("proof log: stored hash is not 32 bytes");
          out.push_back(*h);
        }
        return out;
      });
}

// Entries go in kRowsPerInsert rows per statement: one statement per row
// spent more on starting statements and seeking the table than on the rows.
constexpr std::size_t kRowsPerInsert = 32;

std::string InsertEntriesSql(std::size_t rows) {
  std::string sql = "INSERT INTO proof_entries (sequence, entry, leaf_hash) VALUES (?, ?, ?)";
  for (std::size_t i = 1; i < rows; ++i) sql += ", (?, ?, ?)";
  return sql;
}

Status InsertEntries(Db& db, const std::vector<proof::PreparedEntry>& entries) {
  static const std::string kMany = InsertEntriesSql(kRowsPerInsert);
  static const std::string kOne = InsertEntriesSql(1);
  for (std::size_t done = 0; done < entries.size();) {
    const std::size_t rows = entries.size() - done >= kRowsPerInsert ? kRowsPerInsert : 1;
    PROOF_USE(st, db, rows == 1 ? kOne : kMany);
    for (std::size_t i = 0; i < rows; ++i) {
      const proof::PreparedEntry& e = entries[done + i];
      const int col = static_cast<int>(3 * i);
      st->Bind(col + 1, I64(e.sequence));
      st->Bind(col + 2, e.bytes);
      st->BindBlob(col + 3, proof::AsBytes(e.leaf_hash));
    }
    CONSENTD_RETURN_IF_ERROR(st->Run());
    done += rows;
  }
  return Status::Ok();
}

Result<std::optional<proof::SubjectKey>> FindKey(Db& db, std::string_view subject, bool* erased) {
  PROOF_USE(st, db, "SELECT key, erased_at FROM subject_keys WHERE subject = ?");
  st->Bind(1, subject);
  Result<bool> row = st->Step();
  if (!row.ok()) return row.status();
  *erased = false;
  if (!*row) return std::optional<proof::SubjectKey>();
  if (!st->IsNull(1)) {
    *erased = true;
    return std::optional<proof::SubjectKey>();
  }
  auto bytes = proof::HexDecode(st->Text(0));
  if (!bytes || bytes->size() != proof::kSubjectKeySize) return DataLoss("subject_keys: bad key");
  proof::SubjectKey key{};
  std::copy(bytes->begin(), bytes->end(), key.begin());
  return std::optional<proof::SubjectKey>(key);
}

}  // namespace

SqliteSubjectKeyStore::~SqliteSubjectKeyStore() {
  for (auto& [subject, cached] : cache_) OPENSSL_cleanse(cached.key.data(), cached.key.size());
}

Result<const SqliteSubjectKeyStore::Cached*> SqliteSubjectKeyStore::Find(
    std::string_view subject) const {
  if (auto it = cache_.find(subject); it != cache_.end()) return &it->second;
  PROOF_DB(db, txn_);
  bool erased = false;
  Result<std::optional<proof::SubjectKey>> found = FindKey(db, subject, &erased);
  if (!found.ok()) return found.status();
  Cached c;
  c.erased = erased;
  c.present = found->has_value();
  if (c.present) c.key = **found;
  return &cache_.insert_or_assign(std::string(subject), c).first->second;
}

Result<proof::SubjectKey> SqliteSubjectKeyStore::KeyForSealing(std::string_view subject) {
  Result<const Cached*> found = Find(subject);
  if (!found.ok()) return found.status();
  if ((*found)->erased) return FailedPrecondition("subject is erased; no new evidence key");
  if ((*found)->present) return (*found)->key;
  PROOF_DB(db, txn_);
  Result<proof::SubjectKey> key = proof::NewSubjectKey();
  if (!key.ok()) return key.status();
  PROOF_USE(st, db, "INSERT INTO subject_keys (subject, key, created_at) VALUES (?, ?, ?)");
  st->BindAll(subject, proof::HexEncode({reinterpret_cast<const char*>(key->data()), key->size()}),
              now_);
  CONSENTD_RETURN_IF_ERROR(st->Run());
  Cached& c = cache_[std::string(subject)];
  c.present = true;
  c.key = *key;
  return key;
}

Result<proof::SubjectKey> SqliteSubjectKeyStore::KeyForOpening(std::string_view subject) const {
  Result<const Cached*> found = Find(subject);
  if (!found.ok()) return found.status();
  if ((*found)->erased) return FailedPrecondition("subject is erased; evidence key destroyed");
  if (!(*found)->present) return NotFound("no evidence key for subject");
  return (*found)->key;
}

Status SqliteSubjectKeyStore::Shred(std::string_view subject) {
  // Forget the cached key first: whatever happens below, it is not used again.
  if (auto it = cache_.find(subject); it != cache_.end()) {
    OPENSSL_cleanse(it->second.key.data(), it->second.key.size());
    cache_.erase(it);
  }
  PROOF_DB(db, txn_);
  // Overwrite before clearing, so the page that held the key is rewritten.
  PROOF_USE(wipe, db, "UPDATE subject_keys SET key = zeroblob(32) WHERE subject = ?");
  wipe->Bind(1, subject);
  CONSENTD_RETURN_IF_ERROR(wipe->Run());
  PROOF_USE(
      st, db,
      "INSERT INTO subject_keys (subject, key, created_at, erased_at) VALUES (?1, NULL, ?2, ?2) "
      "ON CONFLICT (subject) DO UPDATE SET key = NULL, "
      "erased_at = COALESCE(erased_at, excluded.erased_at)");
  st->BindAll(subject, now_);
  CONSENTD_RETURN_IF_ERROR(st->Run());
  cache_[std::string(subject)].erased = true;
  return Status::Ok();
}

bool SqliteSubjectKeyStore::IsErased(std::string_view subject) const {
  Result<const Cached*> found = Find(subject);
  return found.ok() && (*found)->erased;
}

Result<ProofAppendResult> AppendProofEntries(Transaction& txn, std::vector<ProofEntry> entries,
                                             TimestampMs now) {
  PROOF_DB(db, txn);
  Result<proof::MerkleFrontier> state = LoadState(db);
  if (!state.ok()) return state.status();
  SqliteSubjectKeyStore keys(txn, now);
  proof::ProofLogWriter writer(std::move(state).value(), keys);
  ProofAppendResult result;
  result.first_sequence = writer.frontier().size();
  Result<proof::PreparedBatch> batch = writer.Prepare(std::move(entries));
  if (!batch.ok()) return batch.status();
  CONSENTD_RETURN_IF_ERROR(InsertEntries(db, batch->entries));
  {
    PROOF_USE(st, db, "INSERT INTO proof_nodes (level, idx, hash) VALUES (?, ?, ?)");
    for (const proof::PreparedNode& n : batch->nodes) {
      st->Reset();
      st->BindAll(static_cast<std::int64_t>(n.level), I64(n.index));
      st->BindBlob(3, proof::AsBytes(n.hash));
      CONSENTD_RETURN_IF_ERROR(st->Run());
    }
  }
  {
    PROOF_USE(st, db,
              "INSERT INTO proof_state (id, frontier) VALUES (1, ?) "
              "ON CONFLICT (id) DO UPDATE SET frontier = excluded.frontier");
    st->Bind(1, proof::HexEncode(batch->frontier.Serialize()));
    CONSENTD_RETURN_IF_ERROR(st->Run());
  }
  result.tree_size = batch->frontier.size();
  result.evidence_dropped = batch->evidence_dropped;
  return result;
}

Result<std::uint64_t> ProofTreeSize(Transaction& txn) {
  PROOF_DB(db, txn);
  Result<proof::MerkleFrontier> state = LoadState(db);
  if (!state.ok()) return state.status();
  return state->size();
}

Result<std::optional<std::string>> WriteProofCheckpoint(Transaction& txn,
                                                        const proof::NoteSigner& signer,
                                                        TimestampMs now) {
  PROOF_DB(db, txn);
  Result<proof::MerkleFrontier> state = LoadState(db);
  if (!state.ok()) return state.status();
  if (state->size() == 0) return std::optional<std::string>();
  {
    PROOF_USE(st, db, "SELECT COALESCE(MAX(tree_size), 0) FROM proof_checkpoints");
    Result<bool> row = st->Step();
    if (!row.ok()) return row.status();
    if (*row && static_cast<std::uint64_t>(st->Int(0)) >= state->size()) {
      return std::optional<std::string>();
    }
  }
  Result<std::string> note =
      proof::SignCheckpoint({signer.name(), state->size(), state->Root(), {}}, signer);
  if (!note.ok()) return note.status();
  PROOF_USE(st, db, "INSERT INTO proof_checkpoints (tree_size, created_at, note) VALUES (?, ?, ?)");
  st->BindAll(I64(state->size()), now, *note);
  CONSENTD_RETURN_IF_ERROR(st->Run());
  return std::optional<std::string>(*note);
}

Result<std::vector<std::string>> ListProofCheckpoints(Transaction& txn) {
  PROOF_DB(db, txn);
  PROOF_USE(st, db, "SELECT note FROM proof_checkpoints ORDER BY tree_size");
  std::vector<std::string> out;
  for (;;) {
    Result<bool> row = st->Step();
    if (!row.ok()) return row.status();
    if (!*row) return out;
    out.push_back(st->Text(0));
  }
}

Result<std::optional<std::string>> LatestProofCheckpoint(Transaction& txn) {
  PROOF_DB(db, txn);
  PROOF_USE(st, db, "SELECT note FROM proof_checkpoints ORDER BY tree_size DESC LIMIT 1");
  Result<bool> row = st->Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<std::string>();
  return std::optional<std::string>(st->Text(0));
}

Result<std::optional<ProofCheckpointInfo>> LatestProofCheckpointInfo(Transaction& txn) {
  PROOF_DB(db, txn);
  PROOF_USE(st, db,
            "SELECT tree_size, created_at FROM proof_checkpoints ORDER BY tree_size DESC LIMIT 1");
  Result<bool> row = st->Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<ProofCheckpointInfo>();
  return std::optional<ProofCheckpointInfo>(
      ProofCheckpointInfo{static_cast<std::uint64_t>(st->Int(0)), st->Int(1)});
}

Result<std::string> ReadProofEntry(Transaction& txn, std::uint64_t sequence) {
  PROOF_DB(db, txn);
  PROOF_USE(st, db, "SELECT entry FROM proof_entries WHERE sequence = ?");
  st->Bind(1, I64(sequence));
  Result<bool> row = st->Step();
  if (!row.ok()) return row.status();
  if (!*row) return NotFound("no proof-log entry " + std::to_string(sequence));
  return st->Text(0);
}

Status ForEachSubjectProofEntry(
    Transaction& txn, std::string_view subject,
    const std::function<Status(std::uint64_t sequence, std::string_view bytes)>& fn) {
  PROOF_DB(db, txn);
  // The canonical form writes the member exactly like this (entry_codec),
  // and a pseudonym never needs escaping; DecodeEntry below confirms it.
  const std::string needle = "\"pii_principal_id\":\"" + std::string(subject) + "\"";
  PROOF_USE(st, db,
            "SELECT sequence, entry FROM proof_entries WHERE instr(entry, ?) > 0 "
            "ORDER BY sequence");
  st->Bind(1, needle);
  for (;;) {
    Result<bool> row = st->Step();
    if (!row.ok()) return row.status();
    if (!*row) return Status::Ok();
    const auto sequence = static_cast<std::uint64_t>(st->Int(0));
    const std::string_view bytes = st->Bytes(1);
    Result<proof::DecodedEntry> decoded = proof::DecodeEntry(bytes);
    if (!decoded.ok()) {
      return DataLoss("proof-log entry " + std::to_string(sequence) + ": " +
                      decoded.status().message());
    }
    if (decoded->entry.subject != subject) continue;
    CONSENTD_RETURN_IF_ERROR(fn(sequence, bytes));
  }
}

Result<std::string> ProveProofEntry(Transaction& txn, std::uint64_t sequence) {
  PROOF_DB(db, txn);
  Result<std::optional<std::string>> note = LatestProofCheckpoint(txn);
  if (!note.ok()) return note.status();
  if (!note->has_value()) return FailedPrecondition("no checkpoint has been written yet");
  Result<proof::Note> parsed = proof::ParseNote(**note);
  if (!parsed.ok()) return DataLoss("stored checkpoint: " + parsed.status().message());
  Result<proof::Checkpoint> cp = proof::ParseCheckpointText(parsed->text);
  if (!cp.ok()) return DataLoss("stored checkpoint: " + cp.status().message());
  if (sequence >= cp->size) {
    Result<std::uint64_t> size = ProofTreeSize(txn);
    if (!size.ok()) return size.status();
    if (sequence >= *size) {
      return NotFound(
          "no entry " + std::to_string(sequence) + ": the log holds " +
          (*size == 0   ? std::string("none")
           : *size == 1 ? std::string("1 entry, 0")
                        : std::to_string(*size) + " entries, 0 to " + std::to_string(*size - 1)));
    }
    return FailedPrecondition("entry " + std::to_string(sequence) +
                              " is not covered by the latest checkpoint (size " +
                              std::to_string(cp->size) + ") yet");
  }
  Result<std::string> entry = ReadProofEntry(txn, sequence);
  if (!entry.ok()) return entry.status();
  proof::StridedNodeSource nodes = NodesOf(db);
  Result<std::vector<Hash>> path = proof::InclusionProof(nodes, sequence, cp->size);
  if (!path.ok()) return path.status();
  return proof::FormatTlogProof({*entry, sequence, *path, **note});
}

Result<proof::AuditResult> AuditProofLog(Transaction& txn, const proof::NoteVerifier& verifier,
                                         const proof::AuditOptions& options,
                                         std::vector<std::string> saved_checkpoints) {
  PROOF_DB(db, txn);
  proof::AuditInput in;
  in.verifier = &verifier;
  in.options = options;
  in.saved_checkpoints = std::move(saved_checkpoints);
  Result<std::vector<std::string>> cps = ListProofCheckpoints(txn);
  if (!cps.ok()) return cps.status();
  in.checkpoint_notes = std::move(cps).value();
  Result<proof::MerkleFrontier> state = LoadState(db);
  if (!state.ok()) return state.status();
  in.recorded_state = std::move(state).value();
  proof::StridedNodeSource nodes = NodesOf(db);
  in.nodes = &nodes;
  PROOF_USE(st, db, "SELECT sequence, entry, leaf_hash FROM proof_entries ORDER BY sequence");
  // Rows are handed over as views into SQLite's own buffers; the audit
  // copies them into reused batches for its hashing threads.
  proof::RowViewReader read = [&st](proof::RowView& row) -> Result<bool> {
    Result<bool> more = st->Step();
    if (!more.ok() || !*more) return more;
    row.sequence = static_cast<std::uint64_t>(st->Int(0));
    row.bytes = st->Bytes(1);
    // A stored hash that is not 32 bytes was altered: compare as all-zero.
    row.leaf_hash = HashColumn(*st, 2).value_or(Hash{});
    return true;
  };
  return proof::AuditLogRows(read, in);
}

Result<std::map<std::string, std::string>> OpenProofEvidence(Transaction& txn,
                                                             std::uint64_t sequence) {
  Result<std::string> bytes = ReadProofEntry(txn, sequence);
  if (!bytes.ok()) return bytes.status();
  Result<proof::DecodedEntry> d = proof::DecodeEntry(*bytes);
  if (!d.ok())
    return DataLoss("proof-log entry " + std::to_string(sequence) + ": " + d.status().message());
  if (d->sealed.empty()) return std::map<std::string, std::string>();
  SqliteSubjectKeyStore keys(txn, 0);
  Result<proof::SubjectKey> key = keys.KeyForOpening(d->entry.subject);
  if (!key.ok()) return key.status();
  return proof::OpenEvidence(d->sealed, *key, d->entry.sequence, d->entry.record_id);
}

}  // namespace consentd::store
