// Schema of the proof log (DESIGN.md §4), registered as one migration in
// sqlite_migrations.cc. Header-only so the migration list needs no link
// dependency on the proof-log code.
//
// proof_entries is append-only: the store API has no update or delete for
// it, and triggers refuse UPDATE and DELETE from any other SQL too (a
// deliberate attacker can drop them; `consentctl verify` catches what they
// then do). Hashes are lower-case hex so the tables read in the sqlite3 CLI.
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

}  // namespace consentd::store
