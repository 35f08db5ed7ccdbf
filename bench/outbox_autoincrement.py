#!/usr/bin/env python3
"""What AUTOINCREMENT on the outbox costs (schema v18, docs/store.md).

Inserts N outbox-shaped rows (the outbox's columns and both indexes, a
desired state of the size an initial sync writes) in units of 1,000, once
into the table as it was (INTEGER PRIMARY KEY) and once as it is now
(AUTOINCREMENT), on a WAL file with synchronous=OFF so that only the
insert's CPU is compared; the two are interleaved ROUNDS times and the
median of each is reported, with their ratio.

  bench/outbox_autoincrement.py [N] [ROUNDS]      # default 200000 5
"""
import hashlib
import os
import sqlite3
import statistics
import sys
import tempfile
import time

SCHEMA = """
CREATE TABLE outbox (
  id              INTEGER PRIMARY KEY{auto},
  target          TEXT    NOT NULL,
  key             TEXT    NOT NULL,
  desired_json    TEXT    NOT NULL,
  idempotency_key TEXT    NOT NULL,
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  status          TEXT    NOT NULL,
  reason          TEXT    NOT NULL DEFAULT '',
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL,
  address         TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX outbox_due ON outbox (target, status, next_attempt_at);
CREATE UNIQUE INDEX outbox_by_key ON outbox (target, key, idempotency_key);
"""
DESIRED = '{"consents":[' + ",".join(['{"topic":"t%d","status":"granted"}' % i for i in range(4)]) + "]," + '"x":"' + "y" * 300 + '"}'


def run(auto: bool, n: int) -> float:
    with tempfile.TemporaryDirectory() as d:
        db = sqlite3.connect(os.path.join(d, "o.db"), isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=OFF")
        db.executescript(SCHEMA.format(auto=" AUTOINCREMENT" if auto else ""))
        sql = ("INSERT INTO outbox (target, key, desired_json, idempotency_key, next_attempt_at, "
               "status, created_at, updated_at, address) VALUES (?,?,?,?,?,?,?,?,?)")
        start = time.process_time()
        for unit in range(0, n, 1000):
            db.execute("BEGIN")
            for i in range(unit, min(n, unit + 1000)):
                key = "s-%016x" % i
                db.execute(sql, ("mailchimp", key, DESIRED,
                                 hashlib.sha256(key.encode()).hexdigest(), i, "pending", i, i,
                                 "p%d@example.org" % i))
            db.execute("COMMIT")
        spent = time.process_time() - start
        db.close()
        return spent


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    plain, auto = [], []
    for _ in range(rounds):
        plain.append(run(False, n))
        auto.append(run(True, n))
    p, a = statistics.median(plain), statistics.median(auto)
    print(f"{n} rows, {rounds} interleaved rounds, CPU seconds (process time)")
    print(f"  INTEGER PRIMARY KEY:               median {p:.3f} s  ({1e6 * p / n:.2f} us/row)  {['%.3f' % x for x in plain]}")
    print(f"  INTEGER PRIMARY KEY AUTOINCREMENT: median {a:.3f} s  ({1e6 * a / n:.2f} us/row)  {['%.3f' % x for x in auto]}")
    print(f"  ratio autoincrement / plain: {a / p:.3f}")


if __name__ == "__main__":
    main()
