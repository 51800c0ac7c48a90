// Versioned schema of the SQLite store, and `applyMigrations`, which brings a database up to it.
// Migration N (1-based) is SQLITE_MIGRATIONS[N - 1]; applied versions are recorded in
// `schema_migrations`. Append only: never edit a migration that has shipped.
//
// Times are epoch ms (INTEGER). Tables are STRICT so a wrong type is an error, not a silent coercion.
// `signals` has no foreign key to `producers`: removing a producer keeps its signals.
import type Database from 'better-sqlite3';
import { idempotencyKeyHash, MESSAGES } from '../common.js';
import { StoreSchemaTooNewError } from '../store.js';

export const SQLITE_MIGRATIONS: readonly string[] = Object.freeze([
  // 1: producers, secrets, signals, idempotency records, seen signatures, operator tokens.
  `
  CREATE TABLE producers (
    id          TEXT    NOT NULL PRIMARY KEY,
    approval    TEXT    NOT NULL CHECK (approval IN ('auto', 'manual')),
    instruments TEXT,   -- JSON array of strings; NULL = any instrument
    created_at  INTEGER NOT NULL
  ) STRICT;

  CREATE TABLE producer_secrets (
    producer_id TEXT    NOT NULL REFERENCES producers (id) ON DELETE CASCADE,
    id          TEXT    NOT NULL,
    ciphertext  TEXT    NOT NULL, -- SecretBox.seal output, never the raw secret
    created_at  INTEGER NOT NULL,
    retired_at  INTEGER,
    PRIMARY KEY (producer_id, id)
  ) STRICT, WITHOUT ROWID;

  CREATE TABLE signals (
    id              TEXT    NOT NULL PRIMARY KEY,
    producer_id     TEXT    NOT NULL,
    idempotency_key TEXT,
    instrument      TEXT    NOT NULL,
    side            TEXT    NOT NULL CHECK (side IN ('buy', 'sell')),
    status          TEXT    NOT NULL CHECK (status IN ('received', 'pending_approval', 'approved', 'rejected')),
    message         TEXT,
    body            TEXT    NOT NULL,
    received_at     INTEGER NOT NULL,
    decided_at      INTEGER,
    decided_by      TEXT
  ) STRICT;
  -- Keyset pagination reads newest first by (received_at, id), optionally narrowed by one filter.
  CREATE INDEX signals_by_time ON signals (received_at, id);
  CREATE INDEX signals_by_status ON signals (status, received_at, id);
  CREATE INDEX signals_by_producer ON signals (producer_id, received_at, id);
  CREATE INDEX signals_by_instrument ON signals (instrument, received_at, id);

  CREATE TABLE idempotency_keys (
    producer_id     TEXT    NOT NULL,
    idempotency_key TEXT    NOT NULL,
    request_hash    TEXT    NOT NULL,
    response_status INTEGER NOT NULL,
    response_body   TEXT    NOT NULL,
    signal_id       TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    PRIMARY KEY (producer_id, idempotency_key)
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys (expires_at);

  CREATE TABLE seen_signatures (
    signature   TEXT    NOT NULL PRIMARY KEY,
    producer_id TEXT    NOT NULL,
    seen_at     INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX seen_signatures_by_expiry ON seen_signatures (expires_at);

  CREATE TABLE operator_tokens (
    id         TEXT    NOT NULL PRIMARY KEY,
    name       TEXT    NOT NULL,
    hash       TEXT    NOT NULL UNIQUE, -- hex SHA-256 of the token, never the token
    created_at INTEGER NOT NULL
  ) STRICT;
  `,
  // 2: the ingest write path without random-key B-tree inserts it can avoid (bench/ingest.bench.ts:
  //    about half the writer's CPU per signal). Every random-key insert dirties a page of its own in
  //    each commit, which is then written to the WAL and again by the checkpoint.
  //    - `signals` gets `seq INTEGER PRIMARY KEY` (stable across VACUUM, unlike a plain rowid) and
  //      keeps the response first given to a request (`request_hash`, `response_status`,
  //      `response_body`): appended with the signal instead of a wide row in a random-key table.
  //    - `idempotency` keeps only SHA-256(producer, key) → signals.seq and the expiry: one narrow
  //      row, and an expiry index (time-ordered, so its inserts share a page) for the purge.
  //    - `replay_guard` files each accepted signature under its signed timestamp (X-Timestamp, which
  //      the signature covers, so a replay carries the same one): keys arrive in time order, inserts
  //      append at the right edge, and expired rows are cut from the left edge, without an expiry
  //      index. `seen_signatures` stays only until its rows expire (up to 2 × tolerance):
  //      their signed timestamps were never recorded, so the writer still consults it while it has rows.
  //    `sigpost_key_hash` is a function the writer registers on its connection (common.ts).
  `
  CREATE TABLE signals_v2 (
    seq             INTEGER PRIMARY KEY,
    id              TEXT    NOT NULL UNIQUE,
    producer_id     TEXT    NOT NULL,
    idempotency_key TEXT,
    instrument      TEXT    NOT NULL,
    side            TEXT    NOT NULL CHECK (side IN ('buy', 'sell')),
    status          TEXT    NOT NULL CHECK (status IN ('received', 'pending_approval', 'approved', 'rejected')),
    message         TEXT,
    body            TEXT    NOT NULL,
    received_at     INTEGER NOT NULL,
    decided_at      INTEGER,
    decided_by      TEXT,
    request_hash    TEXT,    -- of the request that stored it, for a repeat of its idempotency key
    response_status INTEGER, -- the answer given, replayed byte for byte to a repeat
    response_body   TEXT
  ) STRICT;
  INSERT INTO signals_v2 (id, producer_id, idempotency_key, instrument, side, status, message, body,
                          received_at, decided_at, decided_by, request_hash, response_status, response_body)
    SELECT s.id, s.producer_id, s.idempotency_key, s.instrument, s.side, s.status, s.message, s.body,
           s.received_at, s.decided_at, s.decided_by, k.request_hash, k.response_status, k.response_body
    FROM signals s LEFT JOIN idempotency_keys k ON k.signal_id = s.id
    ORDER BY s.rowid;

  CREATE TABLE idempotency (
    key_hash   BLOB    NOT NULL PRIMARY KEY, -- sigpost_key_hash(producer_id, idempotency_key)
    signal_seq INTEGER NOT NULL,             -- signals.seq of the signal stored under the key
    expires_at INTEGER NOT NULL
  ) STRICT, WITHOUT ROWID;
  INSERT INTO idempotency (key_hash, signal_seq, expires_at)
    SELECT sigpost_key_hash(k.producer_id, k.idempotency_key), s.seq, k.expires_at
    FROM idempotency_keys k JOIN signals_v2 s ON s.id = k.signal_id;
  CREATE INDEX idempotency_by_expiry ON idempotency (expires_at);

  DROP TABLE idempotency_keys;
  DROP TABLE signals;
  ALTER TABLE signals_v2 RENAME TO signals;
  CREATE INDEX signals_by_time ON signals (received_at, id);
  CREATE INDEX signals_by_status ON signals (status, received_at, id);
  CREATE INDEX signals_by_producer ON signals (producer_id, received_at, id);
  CREATE INDEX signals_by_instrument ON signals (instrument, received_at, id);

  CREATE TABLE replay_guard (
    signed_at  INTEGER NOT NULL, -- X-Timestamp in epoch ms
    signature  TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (signed_at, signature)
  ) STRICT, WITHOUT ROWID;

  `,
  // 3: the live stream (docs/stream.md). `stream_events` holds one row per accepted signal and per
  //    decision, written in the transaction of the change; AUTOINCREMENT so a seq is never reused,
  //    even after retention purged the newest rows. SQLite has one writer at a time (across
  //    processes too), so seq order is commit order. The signal's immutable fields are read from
  //    `signals` (joined by id); the event keeps what changes: status, message, decision.
  //    Signals stored before this migration get one event each, as of their current state, in
  //    their stored order. `stream_meta` holds the stream's epoch (random, made here) and the
  //    highest seq retention has purged. `subscribers`: stream tokens (hash only) and their scope.
  `
  CREATE TABLE stream_meta (
    id              INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    epoch           TEXT    NOT NULL,
    purged_through  INTEGER NOT NULL
  ) STRICT;
  INSERT INTO stream_meta (id, epoch, purged_through) VALUES (1, lower(hex(randomblob(16))), 0);

  CREATE TABLE stream_events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    signal_id  TEXT    NOT NULL,
    status     TEXT    NOT NULL CHECK (status IN ('received', 'pending_approval', 'approved', 'rejected')),
    at         INTEGER NOT NULL,
    message    TEXT,
    decided_at INTEGER,
    decided_by TEXT,
    channel    TEXT    CHECK (channel IN ('api', 'cli', 'console', 'telegram'))
  ) STRICT;
  CREATE INDEX stream_events_by_signal ON stream_events (signal_id);
  INSERT INTO stream_events (signal_id, status, at, message, decided_at, decided_by)
    SELECT id, status, coalesce(decided_at, received_at), message, decided_at, decided_by FROM signals ORDER BY seq;

  CREATE TABLE subscribers (
    id         TEXT    NOT NULL PRIMARY KEY,
    name       TEXT    NOT NULL,
    hash       TEXT    NOT NULL UNIQUE, -- hex SHA-256 of the token, never the token
    producers  TEXT,   -- JSON array; NULL = all producers
    statuses   TEXT,   -- JSON array; NULL = all statuses
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
  ) STRICT;
  `,
  // 4: the Telegram approval bot (src/telegram/). `service_leases`: which server talks to Telegram
  //    (one lease, taken over when it expires). `telegram_cursors`: the last stream event it
  //    handled and the next getUpdates offset. `telegram_messages`: one row per signal sent to the
  //    chat, claimed before sendMessage so a signal is never sent twice.
  `
  CREATE TABLE service_leases (
    name       TEXT    NOT NULL PRIMARY KEY,
    holder     TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
  ) STRICT;

  CREATE TABLE telegram_cursors (
    name  TEXT    NOT NULL PRIMARY KEY CHECK (name IN ('events', 'updates')),
    value INTEGER NOT NULL
  ) STRICT;

  CREATE TABLE telegram_messages (
    signal_id  TEXT    NOT NULL PRIMARY KEY,
    chat_id    TEXT    NOT NULL,
    message_id INTEGER,
    state      TEXT    NOT NULL CHECK (state IN ('sending', 'sent', 'failed')),
    created_at INTEGER NOT NULL,
    closed_at  INTEGER
  ) STRICT;
  `,
]);

const APPLIED_VERSION = 'SELECT coalesce(max(version), 0) FROM schema_migrations';

/** The applied schema version (0 for a new file), read without taking a lock. */
export function schemaVersion(db: Database.Database): number {
  try {
    return db.prepare(APPLIED_VERSION).pluck().get() as number;
  } catch {
    return 0; // no schema_migrations table yet
  }
}

/**
 * Applies the pending migrations in one IMMEDIATE transaction (on the writer's connection). Throws
 * StoreSchemaTooNewError, changing nothing, for a database a newer release migrated.
 */
export function applyMigrations(db: Database.Database): void {
  // Migration 2 computes the new idempotency keys in SQL.
  db.function('sigpost_key_hash', { deterministic: true }, (producerId, key) =>
    idempotencyKeyHash(String(producerId), String(key)),
  );
  db.transaction(() => {
    db.exec(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER NOT NULL PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT',
    );
    const current = db.prepare(APPLIED_VERSION).pluck().get() as number;
    if (current > SQLITE_MIGRATIONS.length) {
      throw new StoreSchemaTooNewError(MESSAGES.schemaTooNew(current, SQLITE_MIGRATIONS.length));
    }
    const record = db.prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)');
    for (let version = current + 1; version <= SQLITE_MIGRATIONS.length; version++) {
      db.exec(SQLITE_MIGRATIONS[version - 1]!);
      record.run(version, Date.now());
    }
    // IMMEDIATE takes the write lock at BEGIN, so two processes migrating at once run one after the other.
  }).immediate();
}
