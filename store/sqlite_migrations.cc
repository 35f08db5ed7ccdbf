#include "store/sqlite_migrations.h"

#include <array>
#include <string>

#include "store/inbox_key.h"
#include "store/notice_versions.h"
#include "store/proof_log_schema.h"

namespace consentd::store {
namespace {

// v1: inbox, canonical state, blocks, identities, outbox, cursors, echo
// memory, tombstones (DESIGN §2–§3).
constexpr std::string_view kV1Initial = R"sql(
CREATE TABLE inbox (
  source      TEXT    NOT NULL,
  event_id    TEXT    NOT NULL,
  received_at INTEGER NOT NULL,
  payload     TEXT    NOT NULL DEFAULT '',
  PRIMARY KEY (source, event_id)
) WITHOUT ROWID;
CREATE INDEX inbox_by_received ON inbox (received_at);

CREATE TABLE consent_state (
  subject_id  TEXT    NOT NULL,
  topic       TEXT    NOT NULL,
  channel     TEXT    NOT NULL,
  address     TEXT    NOT NULL DEFAULT '',
  status      TEXT    NOT NULL,
  occurred_at INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL,
  state_json  TEXT    NOT NULL DEFAULT '{}',
  PRIMARY KEY (subject_id, topic, channel, address)
) WITHOUT ROWID;

CREATE TABLE blocks (
  subject_id  TEXT    NOT NULL,
  scope       TEXT    NOT NULL,
  active      INTEGER NOT NULL CHECK (active IN (0, 1)),
  reason      TEXT    NOT NULL DEFAULT '',
  source      TEXT    NOT NULL DEFAULT '',
  occurred_at INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL,
  detail_json TEXT    NOT NULL DEFAULT '{}',
  PRIMARY KEY (subject_id, scope)
) WITHOUT ROWID;

CREATE TABLE identity_links (
  system     TEXT    NOT NULL,
  system_id  TEXT    NOT NULL,
  subject_id TEXT    NOT NULL,
  linked_at  INTEGER NOT NULL,
  PRIMARY KEY (system, system_id)
) WITHOUT ROWID;
CREATE INDEX identity_links_by_subject ON identity_links (subject_id);

CREATE TABLE email_hashes (
  email_hash TEXT    NOT NULL PRIMARY KEY,
  subject_id TEXT    NOT NULL,
  linked_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX email_hashes_by_subject ON email_hashes (subject_id);

CREATE TABLE outbox (
  id              INTEGER PRIMARY KEY,
  target          TEXT    NOT NULL,
  key             TEXT    NOT NULL,
  desired_json    TEXT    NOT NULL,
  idempotency_key TEXT    NOT NULL UNIQUE,
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  status          TEXT    NOT NULL
                  CHECK (status IN ('pending', 'inflight', 'done', 'dead')),
  reason          TEXT    NOT NULL DEFAULT '',
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
);
CREATE INDEX outbox_due ON outbox (target, status, next_attempt_at);
CREATE INDEX outbox_by_key ON outbox (target, key, status);

CREATE TABLE cursors (
  poller     TEXT    NOT NULL PRIMARY KEY,
  value      TEXT    NOT NULL,
  updated_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE echo_writes (
  system     TEXT    NOT NULL,
  key        TEXT    NOT NULL,
  value      TEXT    NOT NULL,
  written_at INTEGER NOT NULL,
  PRIMARY KEY (system, key, value)
) WITHOUT ROWID;
CREATE INDEX echo_writes_by_time ON echo_writes (written_at);

CREATE TABLE tombstones (
  identity_hash TEXT    NOT NULL PRIMARY KEY,
  erased_at     INTEGER NOT NULL
) WITHOUT ROWID;
)sql";

// v3: the inbox keeps webhook hints until their records were read
// (processed_at), erased subject ids, and target-side deletions
// (sync engine, sync/sync_engine.h).
constexpr std::string_view kV3SyncHints = R"sql(
ALTER TABLE inbox ADD COLUMN processed_at INTEGER;
CREATE INDEX inbox_unprocessed ON inbox (source, received_at) WHERE processed_at IS NULL;

CREATE TABLE erased_subjects (
  subject_id TEXT    NOT NULL PRIMARY KEY,
  erased_at  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE target_deletions (
  subject_id TEXT    NOT NULL,
  system     TEXT    NOT NULL,
  deleted_at INTEGER NOT NULL,
  PRIMARY KEY (subject_id, system)
) WITHOUT ROWID;
)sql";

// v5: which mapping was in force from which proof-log entry on
// (store/config_history.h): the config_changed entries, indexed, so the
// daemon finds the last recorded mapping without scanning the log.
constexpr std::string_view kV5ConfigHistory = R"sql(
CREATE TABLE config_changes (
  sequence     INTEGER NOT NULL PRIMARY KEY,  -- the config_changed proof entry
  mapping_hash TEXT    NOT NULL,
  recorded_at  INTEGER NOT NULL
);
)sql";

// v6: erasure requests and their per-target states (store/erasure_requests.h).
constexpr std::string_view kV6ErasureRequests = R"sql(
CREATE TABLE erasure_requests (
  id           TEXT    NOT NULL PRIMARY KEY,  -- the erasure decision's source event id
  subject_id   TEXT    NOT NULL,
  source       TEXT    NOT NULL,
  requested_by TEXT    NOT NULL DEFAULT '',
  legal_ground TEXT    NOT NULL DEFAULT '',
  requested_at INTEGER NOT NULL,
  deadline     INTEGER NOT NULL,
  closed_at    INTEGER                        -- NULL while a target is not settled
) WITHOUT ROWID;
CREATE INDEX erasure_requests_by_subject ON erasure_requests (subject_id);
CREATE INDEX erasure_requests_open ON erasure_requests (deadline) WHERE closed_at IS NULL;

CREATE TABLE erasure_targets (
  request_id TEXT    NOT NULL,
  target     TEXT    NOT NULL,
  state      TEXT    NOT NULL CHECK (state IN ('pending', 'sent', 'done', 'already_done',
                                               'unsupported', 'failed', 'manual')),
  mode       TEXT    NOT NULL DEFAULT '',
  retained   TEXT    NOT NULL DEFAULT '',
  reason     TEXT    NOT NULL DEFAULT '',
  outbox_id  INTEGER,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (request_id, target)
) WITHOUT ROWID;
CREATE INDEX erasure_targets_by_outbox ON erasure_targets (outbox_id) WHERE outbox_id IS NOT NULL;
)sql";

// v7: consent counts over time (store/stats_history.h): one row per
// snapshot, the per-topic counts as JSON text.
constexpr std::string_view kV7StatsHistory = R"sql(
CREATE TABLE stats_history (
  taken_at INTEGER NOT NULL PRIMARY KEY,
  topics   TEXT    NOT NULL
);
)sql";

// v9: the inbox in arrival order (rowid) with a compact dedupe key
// (store/inbox_key.h). The v1 inbox was a WITHOUT ROWID b-tree keyed by
// (source, event_id) holding the whole row: with hash-like event ids every
// insert dirtied a random leaf of an ever larger tree. Now rows append to
// the table's last page and only the 8-byte key index is random. Existing
// rows keep their data and get ids in their old order.
constexpr std::string_view kV9InboxRowid = R"sql(
CREATE TABLE inbox_v9 (
  id           INTEGER PRIMARY KEY,  -- arrival order
  source       TEXT    NOT NULL,
  event_id     TEXT    NOT NULL,
  dedupe_key   INTEGER NOT NULL,     -- consentd_inbox_key(source, event_id)
  received_at  INTEGER NOT NULL,
  processed_at INTEGER,
  payload      TEXT    NOT NULL DEFAULT ''
);
INSERT INTO inbox_v9 (source, event_id, dedupe_key, received_at, processed_at, payload)
  SELECT source, event_id, consentd_inbox_key(source, event_id), received_at, processed_at,
         payload
  FROM inbox ORDER BY received_at, source, event_id;
DROP TABLE inbox;
ALTER TABLE inbox_v9 RENAME TO inbox;
CREATE INDEX inbox_by_key ON inbox (dedupe_key);
CREATE INDEX inbox_by_received ON inbox (received_at);
CREATE INDEX inbox_unprocessed ON inbox (source, received_at) WHERE processed_at IS NULL;
)sql";

// v10: the dedupe keys move out of the inbox's per-row index into
// inbox_keys, which rows join in key order by merges (store/inbox_keys.h):
// a hash-keyed index put every new event on its own index page, one WAL
// page per event. Rows after inbox_keys_mark.upto are found in memory; the
// trigger keeps inbox_keys in step with every deletion (retention purge).
constexpr std::string_view kV10InboxKeys = R"sql(
DROP INDEX inbox_by_key;
CREATE TABLE inbox_keys (
  dedupe_key INTEGER NOT NULL,
  inbox_id   INTEGER NOT NULL,  -- inbox.id
  PRIMARY KEY (dedupe_key, inbox_id)
) WITHOUT ROWID;
INSERT INTO inbox_keys (dedupe_key, inbox_id) SELECT dedupe_key, id FROM inbox ORDER BY 1, 2;
CREATE TABLE inbox_keys_mark (upto INTEGER NOT NULL);  -- one row: inbox ids up to it are keyed
INSERT INTO inbox_keys_mark (upto) SELECT coalesce(max(id), 0) FROM inbox;
CREATE TRIGGER inbox_keys_follow_delete AFTER DELETE ON inbox BEGIN
  DELETE FROM inbox_keys WHERE dedupe_key = old.dedupe_key AND inbox_id = old.id;
END;
)sql";

// v11: the outbox without its global index on the idempotency key. The key
// is a SHA-256 (sync/outbound.cc), so that index put every new row on a
// random leaf of an ever larger tree: one WAL page per row in an initial
// sync. The key is unique per (target, key) instead, in the index that also
// serves look-ups by (target, key) and is ordered by subject (subject ids
// are minted in time order). That index replaces outbox_by_key, which held
// status too and so was rewritten at each claim and completion. SQLite
// cannot drop a column's UNIQUE constraint: the table is rebuilt, ids kept.
constexpr std::string_view kV11OutboxKeys = R"sql(
CREATE TABLE outbox_v11 (
  id              INTEGER PRIMARY KEY,
  target          TEXT    NOT NULL,
  key             TEXT    NOT NULL,
  desired_json    TEXT    NOT NULL,
  idempotency_key TEXT    NOT NULL,
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  status          TEXT    NOT NULL
                  CHECK (status IN ('pending', 'inflight', 'done', 'dead')),
  reason          TEXT    NOT NULL DEFAULT '',
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
);
INSERT INTO outbox_v11 (id, target, key, desired_json, idempotency_key, attempts,
                        next_attempt_at, status, reason, created_at, updated_at)
  SELECT id, target, key, desired_json, idempotency_key, attempts, next_attempt_at, status,
         reason, created_at, updated_at
  FROM outbox ORDER BY id;
DROP TABLE outbox;
ALTER TABLE outbox_v11 RENAME TO outbox;
CREATE INDEX outbox_due ON outbox (target, status, next_attempt_at);
CREATE UNIQUE INDEX outbox_by_key ON outbox (target, key, idempotency_key);
)sql";

// v12: the address an outbox row writes to (OutboxRow::address). A newer row
// for the same key supersedes only rows for the same address, so a person
// with two records in one system (after a merge) keeps the write to each.
// Rows still open get the address their desired state names (an erasure:
// none, it is for the whole key); finished rows are never compared again.
constexpr std::string_view kV12OutboxAddress = R"sql(
ALTER TABLE outbox ADD COLUMN address TEXT NOT NULL DEFAULT '';
UPDATE outbox
  SET address = CASE WHEN json_extract(desired_json, '$.erase') THEN ''
                     ELSE coalesce(json_extract(desired_json, '$.email'), '') END
  WHERE status IN ('pending', 'inflight') AND json_valid(desired_json);
)sql";

// v13: the address of each record a subject has in a system
// (IdentityLink::address), so a person with two records in one system (the
// journey platform keeps a member per address; after a CRM merge both stay)
// gets every write at each of them. Unknown ('') for links made before:
// filled when the record is next read (poll, hint, resync) or written.
constexpr std::string_view kV13LinkAddress = R"sql(
ALTER TABLE identity_links ADD COLUMN address TEXT NOT NULL DEFAULT '';
)sql";

// v14: which subject each merged-away subject went into, so erasing the
// survivor also destroys the merged subjects' evidence keys (their proof
// entries stay, sealed under their own keys) and marks them erased.
constexpr std::string_view kV14MergedSubjects = R"sql(
CREATE TABLE merged_subjects (
  subject_id   TEXT    NOT NULL PRIMARY KEY,
  into_subject TEXT    NOT NULL,
  merged_at    INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX merged_subjects_by_into ON merged_subjects (into_subject);
)sql";

// v15: when a full reconciliation last found each linked record in its
// system's snapshot (store/resync_marks.h), so the records it no longer
// returns (deleted there with the webhook lost) are read one by one. 0 for
// every link until its system's first complete resync.
constexpr std::string_view kV15LinkResyncSeen = R"sql(
ALTER TABLE identity_links ADD COLUMN resync_seen_at INTEGER NOT NULL DEFAULT 0;
)sql";

// v16: the address a retired record had (IdentityLink::retired_address), so
// a write for the person no longer goes to that address in that system (it
// would create the record again there). '' for records retired before.
constexpr std::string_view kV16LinkRetiredAddress = R"sql(
ALTER TABLE identity_links ADD COLUMN retired_address TEXT NOT NULL DEFAULT '';
)sql";

// v17: when a record was retired (IdentityLink::retired_at), so that a
// report of it read before then does not make it live again. 0 for records
// retired before (such a report revives them, as it did).
constexpr std::string_view kV17LinkRetiredAt = R"sql(
ALTER TABLE identity_links ADD COLUMN retired_at INTEGER NOT NULL DEFAULT 0;
)sql";

// v18: outbox ids are never handed out twice. Without AUTOINCREMENT SQLite
// gives a new row the highest id + 1, so deleting the newest rows (an
// erasure deletes its person's rows, `erasures mark-manual` its dead row,
// pruning every finished row of an idle outbox) made their ids come back:
// an erasure target (erasure_targets.outbox_id) and proof entries
// ("outbox:<id>") then named another person's row, and a dead letter
// given such an id was taken for the erasure's own and replayed over a
// newer state. The table is rebuilt with AUTOINCREMENT, ids kept; the
// counter starts above every id an erasure target names; and a target
// whose id names no erasure row any more (its row gone, or the id reused)
// loses it, as a target that never had a row.
constexpr std::string_view kV18OutboxIdsNeverReused = R"sql(
CREATE TABLE outbox_v18 (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  target          TEXT    NOT NULL,
  key             TEXT    NOT NULL,
  desired_json    TEXT    NOT NULL,
  idempotency_key TEXT    NOT NULL,
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  status          TEXT    NOT NULL
                  CHECK (status IN ('pending', 'inflight', 'done', 'dead')),
  reason          TEXT    NOT NULL DEFAULT '',
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL,
  address         TEXT    NOT NULL DEFAULT ''
);
INSERT INTO outbox_v18 (id, target, key, desired_json, idempotency_key, attempts,
                        next_attempt_at, status, reason, created_at, updated_at, address)
  SELECT id, target, key, desired_json, idempotency_key, attempts, next_attempt_at, status,
         reason, created_at, updated_at, address
  FROM outbox ORDER BY id;
DROP TABLE outbox;
ALTER TABLE outbox_v18 RENAME TO outbox;
CREATE INDEX outbox_due ON outbox (target, status, next_attempt_at);
CREATE UNIQUE INDEX outbox_by_key ON outbox (target, key, idempotency_key);
INSERT INTO sqlite_sequence (name, seq)
  SELECT 'outbox', 0 WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'outbox');
UPDATE sqlite_sequence
  SET seq = max(seq, coalesce((SELECT max(outbox_id) FROM erasure_targets), 0))
  WHERE name = 'outbox';
UPDATE erasure_targets SET outbox_id = NULL
  WHERE outbox_id IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.id = erasure_targets.outbox_id
                    AND json_valid(o.desired_json) AND json_extract(o.desired_json, '$.erase'));
)sql";

// What each record of a system that dates every value by its record's last
// change was last seen showing off, and when a write of consentd to each
// record last may have landed (store.h, RememberShownOff; docs/model.md,
// "The same 'off' again"). A record: system and lower(address).
constexpr std::string_view kV19ShownOff = R"sql(
CREATE TABLE shown_off (
  system     TEXT    NOT NULL,
  record     TEXT    NOT NULL,  -- lower(address): a member per address
  key        TEXT    NOT NULL,  -- topic|channel|address of the consent key
  subject_id TEXT    NOT NULL,  -- whose report it was (erasure, export)
  seen_at    INTEGER NOT NULL,  -- the record's own date of the first "off" seen
  read_at    INTEGER NOT NULL,  -- when the read that showed it began
  on_at      INTEGER NOT NULL DEFAULT 0,  -- >0: shown on instead, decided then
  PRIMARY KEY (system, record, key)
) WITHOUT ROWID;
CREATE INDEX shown_off_by_subject ON shown_off (subject_id);
CREATE INDEX shown_off_on_marks ON shown_off (on_at) WHERE on_at > 0;
CREATE TABLE record_writes (
  system     TEXT    NOT NULL,
  record     TEXT    NOT NULL,
  subject_id TEXT    NOT NULL,  -- whose write it was (erasure)
  landed_at  INTEGER NOT NULL,  -- the last write may have landed until then
  PRIMARY KEY (system, record)
) WITHOUT ROWID;
CREATE INDEX record_writes_by_subject ON record_writes (subject_id);
CREATE INDEX record_writes_by_time ON record_writes (landed_at);
)sql";

// When consentd decided each target deletion (store.h, RecordTargetDeletion):
// a record read live after it exists again (restored, or added again), and
// the deletion no longer stands (docs/model.md, rule 7). 0 for rows from
// before: their deletion time stands in.
constexpr std::string_view kV20TargetDeletionRecordedAt = R"sql(
ALTER TABLE target_deletions ADD COLUMN recorded_at INTEGER NOT NULL DEFAULT 0;
)sql";

// Append new migrations here, one line each (SQL in a constant above).
constexpr std::array kMigrations = {
    Migration{1, "initial", kV1Initial},
    Migration{2, kProofLogMigrationName, kProofLogMigrationSql},  // store/proof_log_schema.h
    Migration{3, "sync_hints", kV3SyncHints},
    Migration{4, kProofLogBlobMigrationName, kProofLogBlobMigrationSql},  // proof_log_schema.h
    Migration{5, "config_history", kV5ConfigHistory},
    Migration{6, "erasure_requests", kV6ErasureRequests},  // store/erasure_requests.h
    Migration{7, "stats_history", kV7StatsHistory},        // store/stats_history.h
    Migration{8, kNoticeVersionsMigrationName, kNoticeVersionsMigrationSql},  // notice_versions.h
    Migration{9, "inbox_rowid", kV9InboxRowid},                               // store/inbox_key.h
    Migration{10, "inbox_keys", kV10InboxKeys},                               // store/inbox_keys.h
    Migration{11, "outbox_keys", kV11OutboxKeys},
    Migration{12, "outbox_address", kV12OutboxAddress},
    Migration{13, "link_address", kV13LinkAddress},
    Migration{14, "merged_subjects", kV14MergedSubjects},
    Migration{15, "link_resync_seen", kV15LinkResyncSeen},  // store/resync_marks.h
    Migration{16, "link_retired_address", kV16LinkRetiredAddress},
    Migration{17, "link_retired_at", kV17LinkRetiredAt},
    Migration{18, "outbox_ids_never_reused", kV18OutboxIdsNeverReused},
    Migration{19, "shown_off", kV19ShownOff},
    Migration{20, "target_deletion_recorded_at", kV20TargetDeletionRecordedAt},
};

constexpr bool VersionsAreContiguous() {
  for (std::size_t i = 0; i < kMigrations.size(); ++i) {
    if (kMigrations[i].version != static_cast<int>(i) + 1) return false;
  }
  return true;
}
static_assert(VersionsAreContiguous(), "migration versions must be 1, 2, 3, ... in order");

constexpr std::string_view kCreateVersionTable = R"sql(
CREATE TABLE IF NOT EXISTS schema_version (
  version    INTEGER NOT NULL PRIMARY KEY,
  name       TEXT    NOT NULL,
  applied_at INTEGER NOT NULL
);
)sql";

Status Apply(Db& db, const Migration& m, std::int64_t applied_at_ms) {
  CONSENTD_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
  Status s = db.Exec(kCreateVersionTable);
  if (s.ok()) s = db.Exec(m.sql);
  if (s.ok()) {
    Result<Stmt*> st =
        db.Prepare("INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)");
    if (!st.ok()) {
      s = st.status();
    } else {
      (*st)->BindAll(m.version, m.name, applied_at_ms);
      s = (*st)->Run();
      (*st)->Reset();
    }
  }
  if (s.ok()) s = db.Exec("COMMIT");
  if (!s.ok()) {
    if (db.InTransaction()) (void)db.Exec("ROLLBACK");
    return s.WithContext("migration " + std::to_string(m.version) + " (" + std::string(m.name) +
                         ")");
  }
  return Status::Ok();
}

}  // namespace

std::span<const Migration> SqliteMigrations() { return kMigrations; }

int LatestSchemaVersion() { return kMigrations.back().version; }

Result<int> SchemaVersion(Db& db) {
  Result<std::int64_t> has = db.QueryInt(
      "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'");
  if (!has.ok()) return has.status();
  if (*has == 0) return 0;
  Result<std::int64_t> v = db.QueryInt("SELECT coalesce(max(version), 0) FROM schema_version");
  if (!v.ok()) return v.status();
  return static_cast<int>(*v);
}

Status MigrateTo(Db& db, int target, std::int64_t applied_at_ms) {
  if (target < 0 || target > LatestSchemaVersion()) {
    return InvalidArgument("unknown schema version " + std::to_string(target));
  }
  Result<int> current = SchemaVersion(db);
  if (!current.ok()) return current.status();
  if (*current > target) {
    return FailedPrecondition("database schema version " + std::to_string(*current) +
                              " is newer than this binary's " + std::to_string(target) +
                              "; refusing to open");
  }
  // The v9 migration computes the inbox's dedupe keys in SQL.
  CONSENTD_RETURN_IF_ERROR(RegisterInboxKeyFunction(db.raw()));
  for (const Migration& m : kMigrations) {
    if (m.version <= *current || m.version > target) continue;
    CONSENTD_RETURN_IF_ERROR(Apply(db, m, applied_at_ms));
  }
  return Status::Ok();
}

}  // namespace consentd::store
