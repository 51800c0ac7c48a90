// Versioned schema of the SQLite store. Migration N (1-based) is SQLITE_MIGRATIONS[N - 1]; applied
// versions are recorded in `schema_migrations`. Append only: never edit a migration that has shipped.
//
// Times are epoch ms (INTEGER). Tables are STRICT so a wrong type is an error, not a silent coercion.
// `signals` has no foreign key to `producers`: removing a producer keeps its signals.

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
]);
