// A SQLite database as schema 1 of the ingest store left it, for the tests of the upgrade to schema 2
// (the store's own and the CLI's): one keyed signal with its idempotency record and seen signature,
// and one signal without a key.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { SQLITE_MIGRATIONS } from '../../ingest/src/store/sqlite/migrations.js';

/** Epoch ms of the rows written (the ingest fixtures' T0). */
export const SCHEMA_ONE_T0 = 1_761_403_845_000;

export function schemaOneDatabase(path: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const raw = new Database(path);
  try {
    raw.exec(
      'CREATE TABLE schema_migrations (version INTEGER NOT NULL PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT',
    );
    raw.exec(SQLITE_MIGRATIONS[0] as string);
    raw.prepare('INSERT INTO schema_migrations VALUES (1, ?)').run(SCHEMA_ONE_T0);
    raw
      .prepare(
        `INSERT INTO signals (id, producer_id, idempotency_key, instrument, side, status, message, body, received_at, decided_at, decided_by)
         VALUES ('old', 'producer-a', 'key-old', 'GOLD', 'buy', 'received', NULL, '{"old":true}', ?, NULL, NULL),
                ('old-no-key', 'producer-a', NULL, 'GOLD', 'sell', 'received', NULL, '{"old":2}', ?, NULL, NULL)`,
      )
      .run(SCHEMA_ONE_T0, SCHEMA_ONE_T0 + 1);
    raw
      .prepare(
        `INSERT INTO idempotency_keys VALUES ('producer-a', 'key-old', 'hash-old', 201, '{"signal_id":"old"}', 'old', ?, ?)`,
      )
      .run(SCHEMA_ONE_T0, SCHEMA_ONE_T0 + 86_400_000);
    raw
      .prepare(`INSERT INTO seen_signatures VALUES ('sig-old', 'producer-a', ?, ?)`)
      .run(SCHEMA_ONE_T0, SCHEMA_ONE_T0 + 600_000);
  } finally {
    raw.close();
  }
}
