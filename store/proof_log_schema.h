// Schema of the proof log (DESIGN.md §4), registered as one migration in
// sqlite_migrations.cc. Header-only so the migration list needs no link
// dependency on the proof-log code.
//
// proof_entries is append-only: the store API has no update or delete for
// it, and triggers refuse UPDATE and DELETE from any other SQL too (a
// deliberate attacker can drop them; `consentctl verify` catches what they
// then do). Migration "proof_log" created the tables with hex hashes and a
// subject column; "proof_log_blob" (below, appended later) converts them
// to the current layout. Both stay as released: never edit them.
#pragma once

#include <string_view>

namespace consentd::store {

inline constexpr std::string_view kProofLogMigrationName = "proof_log";

inline constexpr std::string_view kProofLogMigrationSql = R"sql(
CREATE TABLE proof_entries (
  sequence  INTEGER PRIMARY KEY,  -- leaf index, 0-based, no gaps
  subject   TEXT    NOT NULL,     -- pseudonym (for per-subject export)
  entry     TEXT    NOT NULL,     -- canonical bytes: the Merkle leaf input
  leaf_hash TEXT    NOT NULL      -- hex SHA-256(0x00 || entry)
);
CREATE INDEX proof_entries_by_subject ON proof_entries (subject);
CREATE TRIGGER proof_entries_no_update BEFORE UPDATE ON proof_entries
BEGIN SELECT RAISE(ABORT, 'proof log is append-only'); END;
CREATE TRIGGER proof_entries_no_delete BEFORE DELETE ON proof_entries
BEGIN SELECT RAISE(ABORT, 'proof log is append-only'); END;

-- Perfect-subtree hashes at every 4th level (>= 4): with the leaf hashes
-- any proof needs at most 8 rows per node (core/proof/merkle.h).
CREATE TABLE proof_nodes (
  level INTEGER NOT NULL,
  idx   INTEGER NOT NULL,
  hash  TEXT    NOT NULL,
  PRIMARY KEY (level, idx)
) WITHOUT ROWID;

-- The tree's frontier after the last append, so appending never rescans.
CREATE TABLE proof_state (
  id       INTEGER PRIMARY KEY CHECK (id = 1),
  frontier TEXT    NOT NULL      -- hex of MerkleFrontier::Serialize()
);

CREATE TABLE proof_checkpoints (
  tree_size  INTEGER PRIMARY KEY,
  created_at INTEGER NOT NULL,
  note       TEXT    NOT NULL     -- C2SP signed checkpoint, verbatim
);

-- Per-subject evidence keys; key NULL and erased_at set once shredded.
CREATE TABLE subject_keys (
  subject    TEXT    NOT NULL PRIMARY KEY,
  key        TEXT,               -- hex AES-256 key
  created_at INTEGER NOT NULL,
  erased_at  INTEGER
) WITHOUT ROWID;
)sql";

inline constexpr std::string_view kProofLogBlobMigrationName = "proof_log_blob";

// v2 of the proof log's tables (docs/proof-log.md "On disk"): hashes as
// 32-byte BLOBs, no subject column and no subject index (the pseudonym is
// in the entry as pii_principal_id; nothing looked entries up by it, and
// the index cost one random B-tree insert per entry). Existing rows are
// copied with their hex hashes decoded. SQLite 3.40 has no unhex(), so a
// temporary table maps each hex pair to its byte; a stored hash that is not
// 64 hex digits becomes 32 zero bytes, which the audit reports as altered
// at that sequence, as it did for non-hex text before.
inline constexpr std::string_view kProofLogBlobMigrationSql = R"sql(
CREATE TEMP TABLE proof_hex (p TEXT PRIMARY KEY, b BLOB NOT NULL) WITHOUT ROWID;
INSERT INTO temp.proof_hex (p, b)
WITH RECURSIVE n(v) AS (SELECT 0 UNION ALL SELECT v + 1 FROM n WHERE v < 255),
bytes(v, b) AS (SELECT v, substr(x'000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff', v + 1, 1) FROM n)
SELECT lower(hex(b)), b FROM bytes;

DROP TRIGGER proof_entries_no_update;
DROP TRIGGER proof_entries_no_delete;
DROP INDEX proof_entries_by_subject;
CREATE TABLE proof_entries_v2 (
  sequence  INTEGER PRIMARY KEY,  -- leaf index, 0-based, no gaps
  entry     TEXT    NOT NULL,     -- canonical bytes: the Merkle leaf input
  leaf_hash BLOB    NOT NULL      -- SHA-256(0x00 || entry), 32 bytes
);
INSERT INTO proof_entries_v2 (sequence, entry, leaf_hash)
SELECT sequence, entry, CASE WHEN length(h.x) = 64 THEN COALESCE(CAST(
     (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 1, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 3, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 5, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 7, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 9, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 11, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 13, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 15, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 17, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 19, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 21, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 23, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 25, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 27, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 29, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 31, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 33, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 35, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 37, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 39, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 41, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 43, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 45, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 47, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 49, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 51, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 53, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 55, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 57, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 59, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 61, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 63, 2))
  AS BLOB), zeroblob(32)) ELSE zeroblob(32) END
FROM (SELECT sequence, entry, lower(leaf_hash) AS x FROM proof_entries) AS h ORDER BY sequence;
DROP TABLE proof_entries;
ALTER TABLE proof_entries_v2 RENAME TO proof_entries;
CREATE TRIGGER proof_entries_no_update BEFORE UPDATE ON proof_entries
BEGIN SELECT RAISE(ABORT, 'proof log is append-only'); END;
CREATE TRIGGER proof_entries_no_delete BEFORE DELETE ON proof_entries
BEGIN SELECT RAISE(ABORT, 'proof log is append-only'); END;

CREATE TABLE proof_nodes_v2 (
  level INTEGER NOT NULL,
  idx   INTEGER NOT NULL,
  hash  BLOB    NOT NULL,         -- 32 bytes
  PRIMARY KEY (level, idx)
) WITHOUT ROWID;
INSERT INTO proof_nodes_v2 (level, idx, hash)
SELECT level, idx, CASE WHEN length(h.x) = 64 THEN COALESCE(CAST(
     (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 1, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 3, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 5, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 7, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 9, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 11, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 13, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 15, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 17, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 19, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 21, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 23, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 25, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 27, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 29, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 31, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 33, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 35, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 37, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 39, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 41, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 43, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 45, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 47, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 49, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 51, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 53, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 55, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 57, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 59, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 61, 2))
  || (SELECT b FROM temp.proof_hex WHERE p = substr(h.x, 63, 2))
  AS BLOB), zeroblob(32)) ELSE zeroblob(32) END
FROM (SELECT level, idx, lower(hash) AS x FROM proof_nodes) AS h;
DROP TABLE proof_nodes;
ALTER TABLE proof_nodes_v2 RENAME TO proof_nodes;

DROP TABLE temp.proof_hex;
)sql";

}  // namespace consentd::store
