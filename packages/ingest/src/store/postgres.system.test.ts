import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { redactUrl } from './common.js';
import { POSTGRES_MIGRATIONS } from './migrations-postgres.js';
import { openStore } from './open.js';
import { PostgresStore } from './postgres.js';
import { storeContract } from './store.contract.js';
import type { Store } from './store.js';
import { acceptRequest, T0 } from './test-helpers/fixtures.js';

const url = process.env.SIGPOST_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
// Every schema of this run starts with this prefix; afterAll drops them all.
const run = `sigpost_test_${process.pid}_${Date.now().toString(36)}`;
const schemas: string[] = [];
const admin = new pg.Pool({ connectionString: url, max: 2 });
admin.on('error', () => {});

const unreachable = await admin.query('SELECT 1').then(
  () => undefined,
  (error: unknown) => (error instanceof Error ? error.message || String(error) : String(error)),
);
if (unreachable !== undefined) {
  await admin.end();
  const message = `PostgreSQL at ${redactUrl(url)} is unreachable (${unreachable})`;
  if (process.env.CI === 'true') throw new Error(`${message}; CI=true, so the PostgreSQL store tests fail`);
  console.warn(
    `\n⚠ SKIPPING the PostgreSQL store tests: ${message}.\n  Start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start\n`,
  );
}

function newSchema(): string {
  const schema = `${run}_${schemas.length + 1}`;
  schemas.push(schema);
  return schema;
}

afterAll(async () => {
  if (unreachable !== undefined) return;
  for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
});

function database(schema: string) {
  return {
    open: () => new PostgresStore({ connectionString: url, schema, max: 4 }),
    async sql(text: string) {
      const client = await admin.connect();
      try {
        await client.query(`SET search_path = ${schema}`);
        return (await client.query(text)).rows;
      } finally {
        await client.query('RESET search_path');
        client.release();
      }
    },
  };
}

// Migrating a new schema costs far more than emptying one: most tests share one schema, emptied.
let shared: string | undefined;
async function emptyDatabase() {
  if (shared === undefined) {
    shared = newSchema();
    const store = new PostgresStore({ connectionString: url, schema: shared, max: 1 });
    await store.migrate();
    await store.close();
  } else {
    await admin.query(
      `DELETE FROM ${shared}.producer_secrets; DELETE FROM ${shared}.producers; DELETE FROM ${shared}.signals;
       DELETE FROM ${shared}.idempotency_keys; DELETE FROM ${shared}.seen_signatures; DELETE FROM ${shared}.operator_tokens;
       DELETE FROM ${shared}.stream_events; DELETE FROM ${shared}.subscribers;
       UPDATE ${shared}.stream_meta SET head = 0, purged_through = 0;`,
    );
  }
  return database(shared);
}

describe.runIf(unreachable === undefined)('PostgreSQL', () => {
  storeContract('PostgresStore', () => ({
    migrations: POSTGRES_MIGRATIONS.length,
    newDatabase: async () => database(newSchema()),
    emptyDatabase,
  }));

  describe('PostgresStore', () => {
    const stores: Store[] = [];
    const open = (schema: string) => {
      const store = new PostgresStore({ connectionString: url, schema, max: 4 });
      stores.push(store);
      return store;
    };

    afterEach(async () => {
      await Promise.all(stores.splice(0).map((s) => s.close()));
    });

    it('creates its tables in the configured schema only', async () => {
      const schema = newSchema();
      await open(schema).migrate();
      const { rows } = await admin.query<{ table_name: string }>(
        'SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name',
        [schema],
      );
      expect(rows.map((r) => r.table_name)).toEqual([
        'idempotency_keys',
        'operator_tokens',
        'producer_secrets',
        'producers',
        'schema_migrations',
        'seen_signatures',
        'service_leases',
        'signals',
        'stream_events',
        'stream_meta',
        'subscribers',
        'telegram_cursors',
        'telegram_messages',
      ]);
    });

    it('numbers stream events in commit order with concurrent writers: a tailing reader never skips one', async () => {
      const schema = newSchema();
      const writers = [open(schema), open(schema), open(schema), open(schema)];
      const reader = open(schema);
      await writers[0]!.migrate();
      const perWriter = 60;
      let done = false;
      const seen: number[] = [];
      const tail = (async () => {
        for (;;) {
          const finished = done; // read once more after the writers finished
          const events = await reader.readEvents(seen.at(-1) ?? 0, 1000);
          for (const event of events) seen.push(event.seq);
          if (finished && events.length === 0) return;
        }
      })();
      await Promise.all(
        writers.map(async (store, w) => {
          for (let i = 0; i < perWriter; i++) {
            const id = `w${w}-${i}`;
            await store.acceptBatch([
              acceptRequest({ id, status: 'pending_approval' }),
              acceptRequest({ id: `${id}b` }),
            ]);
            // Decisions take seqs through another path (a transaction of several statements).
            if (i % 3 === 0) await store.decideSignal(id, 'approved', `writer ${w}`, null, T0 + i, 'api');
          }
        }),
      );
      done = true;
      await tail;
      const total = writers.length * (perWriter * 2 + perWriter / 3);
      // Every seq from 1 to the head, each once, in order: had a smaller seq committed after a
      // larger one, the reader (asking only for seq > the last it saw) would have skipped it.
      expect(seen).toEqual(Array.from({ length: total }, (_, i) => i + 1));
      expect((await reader.streamPosition()).head).toBe(total);
    });

    it('stores exactly one signal per key when two servers race the same requests', async () => {
      const schema = newSchema();
      const [a, b] = [open(schema), open(schema)];
      await a.migrate();
      const rounds = 40;
      const answers = await Promise.all(
        Array.from({ length: rounds }, (_, i) => [
          a.acceptBatch([acceptRequest({ id: `a-${i}`, key: `race-${i}` })]),
          b.acceptBatch([acceptRequest({ id: `b-${i}`, key: `race-${i}` })]),
        ]).flat(),
      );
      for (let i = 0; i < rounds; i++) {
        const [fromA, fromB] = [answers[2 * i]![0]!, answers[2 * i + 1]![0]!];
        const outcomes = [fromA.outcome, fromB.outcome].sort();
        expect(outcomes).toEqual(['duplicate', 'stored']);
        const duplicate = fromA.outcome === 'duplicate' ? fromA : fromB;
        const winner = fromA.outcome === 'stored' ? `a-${i}` : `b-${i}`;
        expect(duplicate.outcome === 'duplicate' && duplicate.requestHash).toBe(`hash-${winner}`);
      }
      expect((await a.countSignalsByStatus()).received).toBe(rounds);
    });

    describe('with a claim on the same key in flight in another transaction', () => {
      const inFlight = async (schema: string) => {
        const client = new pg.Client({ connectionString: url, options: `-c search_path=${schema}` });
        await client.connect();
        await client.query('BEGIN');
        // What another server's sigpost_accept_batch writes first, not yet committed.
        await client.query(
          `INSERT INTO idempotency_keys (producer_id, idempotency_key, request_hash, response_status, response_body, signal_id, created_at, expires_at)
           VALUES ('producer-a', 'contested', 'hash-other-server', 201, '{"signal_id":"other"}', 'other', $1, $2)`,
          [T0, T0 + 60_000],
        );
        return client;
      };
      const waitUntilBlocked = async () => {
        // Polls a condition (bounded); no timing is asserted.
        for (let i = 0; i < 500; i++) {
          const { rows } = await admin.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM pg_stat_activity
             WHERE wait_event_type = 'Lock' AND query LIKE '%sigpost_accept_batch%' AND datname = current_database()`,
          );
          if ((rows[0]?.n ?? 0) > 0) return;
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        throw new Error('acceptBatch never waited for the in-flight transaction');
      };

      it('waits for it, then answers duplicate with the other server’s response once it commits', async () => {
        const schema = newSchema();
        const store = open(schema);
        await store.migrate();
        const other = await inFlight(schema);
        try {
          const pending = store.acceptBatch([acceptRequest({ id: 'mine', key: 'contested' })]);
          await waitUntilBlocked();
          await other.query('COMMIT');
          expect(await pending).toEqual([
            {
              outcome: 'duplicate',
              requestHash: 'hash-other-server',
              response: { status: 201, body: '{"signal_id":"other"}' },
            },
          ]);
          expect(await store.getSignal('mine')).toBeUndefined();
        } finally {
          await other.end();
        }
      });

      it('waits for it, then stores once it rolls back', async () => {
        const schema = newSchema();
        const store = open(schema);
        await store.migrate();
        const other = await inFlight(schema);
        try {
          const pending = store.acceptBatch([acceptRequest({ id: 'mine', key: 'contested' })]);
          await waitUntilBlocked();
          await other.query('ROLLBACK');
          expect(await pending).toEqual([{ outcome: 'stored' }]);
        } finally {
          await other.end();
        }
      });
    });

    it('is what openStore returns for a postgres:// URL, migrated', async () => {
      const schema = newSchema();
      const store = await openStore({ databaseUrl: url, schema });
      stores.push(store);
      expect(store.kind).toBe('postgres');
      expect(await store.acceptBatch([acceptRequest({ id: 'via-open' })])).toEqual([{ outcome: 'stored' }]);
    });

    it('refuses a schema name that is not a plain lowercase identifier', () => {
      expect(() => new PostgresStore({ connectionString: url, schema: 'public; DROP TABLE x' })).toThrow(
        new TypeError(
          'Expected `schema` to be 1–63 lowercase letters, digits or _ (not starting with a digit), received "public; DROP TABLE x"',
        ),
      );
    });
  });
});
