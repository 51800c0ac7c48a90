import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { schemaOneDatabase } from '@sigpost/test-support/sqlite-schema-one';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { buildApp } from '../app.js';
import { SecretBox } from '../secrets.js';
import { idempotencyKeyHash } from './common.js';
import { SQLITE_MIGRATIONS } from './sqlite/migrations.js';
import { SqliteStore, writerThreadOfProcess } from './sqlite.js';
import { storeContract } from './store.contract.js';
import { StoreConflictError, StoreError } from './store.js';
import { acceptRequest, T0 } from './test-helpers/fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'sigpost-sqlite-'));
let files = 0;
const nextPath = () => join(dir, `db-${++files}`, 'sigpost.db');

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function database(path: string) {
  return {
    open: () => new SqliteStore({ path }),
    async sql(text: string) {
      const db = new Database(path);
      try {
        const statement = db.prepare(text);
        if (statement.reader) return statement.all();
        statement.run();
        return [];
      } finally {
        db.close();
      }
    },
  };
}

// A new file is as cheap as emptying one, so every test gets its own.
storeContract('SqliteStore', () => ({
  migrations: SQLITE_MIGRATIONS.length,
  newDatabase: async () => database(nextPath()),
  emptyDatabase: async () => database(nextPath()),
}));

describe('SqliteStore', () => {
  const stores: SqliteStore[] = [];
  const open = (path: string) => {
    const store = new SqliteStore({ path });
    stores.push(store);
    return store;
  };

  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
  });

  it('creates the directory of the database file, private to its user (0700)', async () => {
    const path = join(dir, 'nested', 'deeper', 'sigpost.db');
    await open(path).migrate();
    expect(existsSync(path)).toBe(true);
    expect(statSync(join(dir, 'nested', 'deeper')).mode & 0o777).toBe(0o700);
  });

  it('runs in WAL mode with synchronous = FULL, a busy timeout, foreign keys and a 4 000-page checkpoint', () => {
    expect(open(nextPath()).settings()).toEqual({
      journalMode: 'wal',
      synchronous: 'full',
      busyTimeoutMs: 5000,
      foreignKeys: true,
      walAutocheckpointPages: 4000,
    });
  });

  it('refuses a file that is not a SQLite database, naming it', () => {
    const path = join(dir, 'not-a-db.txt');
    writeFileSync(
      path,
      'this is not a database, just text that is long enough to fill a header page.'.repeat(20),
    );
    expect(() => new SqliteStore({ path })).toThrow(
      expect.objectContaining({
        name: 'StoreError',
        code: 'STORE_ERROR',
        message: `Cannot open SQLite database ${path}: it is not a usable SQLite file`,
      }),
    );
  });

  it('refuses an empty path', () => {
    expect(() => new SqliteStore({ path: '' })).toThrow(
      new TypeError('Expected `path` to be a file path (or ":memory:")'),
    );
  });

  it('lets two connections to one file see each other’s keys', async () => {
    const path = nextPath();
    const a = open(path);
    const b = open(path);
    await a.migrate();
    const first = acceptRequest({ id: 'a1', key: 'shared' });
    await a.acceptBatch([first]);
    expect(await b.acceptBatch([acceptRequest({ id: 'b1', key: 'shared' })])).toEqual([
      { outcome: 'duplicate', requestHash: 'hash-a1', response: first.response },
    ]);
  });
});

describe('SqliteStore writer thread', () => {
  const stores: SqliteStore[] = [];
  const open = (path: string) => {
    const store = new SqliteStore({ path });
    stores.push(store);
    return store;
  };
  /** A second connection holding the write lock: the writer cannot commit until it is released. */
  const holdWriteLock = (path: string) => {
    const db = new Database(path);
    db.exec('BEGIN IMMEDIATE');
    return () => {
      db.exec('ROLLBACK');
      db.close();
    };
  };
  const batchOf = (n: number) =>
    Array.from({ length: n }, (_, i) => acceptRequest({ id: `big-${String(i).padStart(4, '0')}` }));

  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
  });

  it('keeps the event loop turning, and reads answering, while a batch waits for its commit', async () => {
    const path = nextPath();
    const store = open(path);
    await store.migrate();
    const release = holdWriteLock(path);
    const order: string[] = [];
    const committed = store.acceptBatch(batchOf(500)).then((results) => {
      order.push('committed');
      return results;
    });
    await new Promise((resolve) => setImmediate(resolve));
    order.push('event loop turned');
    expect(await store.getSignal('big-0000')).toBeUndefined();
    order.push('lock released');
    release();
    expect((await committed).every((r) => r.outcome === 'stored')).toBe(true);
    expect(order).toEqual(['event loop turned', 'lock released', 'committed']);
    expect((await store.countSignalsByStatus()).received).toBe(500);
  });

  it('brings a constraint violation back as StoreConflictError caused by the SqliteError', async () => {
    const store = open(nextPath());
    await store.migrate();
    await store.acceptBatch([acceptRequest({ id: 'taken' })]);
    const error = await store
      .acceptBatch([acceptRequest({ id: 'taken', key: 'other-key', signature: 'other' })])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreConflictError);
    expect(error).toBeInstanceOf(StoreError);
    expect((error as Error).cause).toBeInstanceOf(Database.SqliteError);
    expect((error as Error).cause).toMatchObject({
      code: 'SQLITE_CONSTRAINT_UNIQUE',
      message: 'UNIQUE constraint failed: signals.id',
    });
  });

  it('finishes the writes already requested before close() resolves, and refuses later ones', async () => {
    const path = nextPath();
    const store = open(path);
    await store.migrate();
    const pending = store.acceptBatch(batchOf(200));
    await store.close();
    expect((await pending).every((r) => r.outcome === 'stored')).toBe(true);
    await expect(store.acceptBatch([acceptRequest({ id: 'too-late' })])).rejects.toMatchObject({
      name: 'StoreError',
      code: 'STORE_ERROR',
      message: `Cannot write to SQLite database ${path}: the store is closed`,
    });
    expect((await open(path).countSignalsByStatus()).received).toBe(200);
  });

  it('ends the writer thread once the last store using it is closed', async () => {
    const first = open(nextPath());
    const second = open(nextPath());
    await Promise.all([first.migrate(), second.migrate()]);
    const thread = writerThreadOfProcess();
    expect(thread).toBeDefined();
    const exited = once(thread!, 'exit');
    await first.close();
    expect(await second.acceptBatch([acceptRequest({ id: 'still-open' })])).toEqual([{ outcome: 'stored' }]);
    await second.close();
    await exited;
    expect(writerThreadOfProcess()).toBeUndefined();
  });

  it('fails pending and later writes with StoreUnavailableError, and readiness, when the writer thread dies', async () => {
    const path = nextPath();
    const store = open(path);
    await store.migrate();
    const thread = writerThreadOfProcess();
    expect(thread).toBeDefined();
    const stopped = thread!.terminate();
    const pending = store.acceptBatch([acceptRequest({ id: 'in-flight' })]);
    await stopped;
    const unavailable = {
      name: 'StoreUnavailableError',
      code: 'STORE_UNAVAILABLE',
      message: `Cannot write to SQLite database ${path}: its writer thread exited unexpectedly (exit code 1)`,
    };
    await expect(pending).rejects.toMatchObject(unavailable);
    await expect(store.acceptBatch([acceptRequest({ id: 'later' })])).rejects.toMatchObject(unavailable);
    await expect(store.ping()).rejects.toMatchObject(unavailable);
    const app = buildApp({ store, secretBox: SecretBox.fromKey(Buffer.alloc(32, 1)) });
    try {
      const res = await app.inject({ method: 'GET', url: '/readyz' });
      expect(res.statusCode).toBe(503);
      expect(res.json()).toMatchObject({ type: 'urn:sigpost:problem:store-unavailable' });
    } finally {
      await app.close();
    }
    // A store opened afterwards gets a thread of its own, on an intact file.
    expect(await open(path).acceptBatch([acceptRequest({ id: 'after' })])).toEqual([{ outcome: 'stored' }]);
  });

  it('writes a :memory: database on the calling thread, where its only connection lives', async () => {
    const store = open(':memory:');
    await store.migrate();
    const request = acceptRequest({ id: 'in-memory' });
    expect(await store.acceptBatch([request])).toEqual([{ outcome: 'stored' }]);
    expect(await store.getSignal('in-memory')).toEqual(request.signal);
  });
});

describe('SqliteStore migration 2 (idempotency by key hash, replay guard by signed time)', () => {
  it('keys idempotency records by SHA-256 of "<id length>:<producer id><key>" (UTF-8), as records already stored are', () => {
    expect(idempotencyKeyHash('producer-a', 'key-ö ✓').toString('hex')).toBe(
      'dd76aca3d6c38504dc13ab1e47c0e7b0c45ed239b151e60b074d2a348e3d8769',
    );
  });

  it('keeps signals, idempotency records and remembered signatures of schema 1', async () => {
    const path = nextPath();
    schemaOneDatabase(path);
    const store = new SqliteStore({ path });
    try {
      const upgrades: [number, number][] = [];
      await store.migrate({ onUpgrade: (from, to) => upgrades.push([from, to]) });
      expect(upgrades).toEqual([[1, SQLITE_MIGRATIONS.length]]);
      await store.migrate({ onUpgrade: (from, to) => upgrades.push([from, to]) });
      expect(upgrades).toHaveLength(1); // up to date: nothing to announce
      expect((await store.listSignals({})).items.map((s) => s.id)).toEqual(['old-no-key', 'old']);
      // Migration 3: one stream event per signal already stored, in stored order, as of now.
      expect((await store.readEvents(0, 10)).map((e) => [e.seq, e.signal.id, e.channel])).toEqual([
        [1, 'old', null],
        [2, 'old-no-key', null],
      ]);
      expect((await store.streamPosition()).head).toBe(2);
      expect(await store.getSignalResponse('old')).toEqual({ status: 201, body: '{"signal_id":"old"}' });
      expect(await store.getSignalResponse('old-no-key')).toBeUndefined();
      // The same key again: the stored answer; the old signature under a new key (its signed time
      // was never recorded): still a replay, until the old row expires.
      expect(
        await store.acceptBatch([
          acceptRequest({ id: 'retry', key: 'key-old', at: T0 + 1_000 }),
          acceptRequest({ id: 'replay', key: 'key-new', signature: 'sig-old', at: T0 + 1_000 }),
        ]),
      ).toEqual([
        {
          outcome: 'duplicate',
          requestHash: 'hash-old',
          response: { status: 201, body: '{"signal_id":"old"}' },
        },
        { outcome: 'replayed-signature' },
      ]);
      // Expiry: the old signature row and the idempotency record go, and both are free again.
      expect(await store.purgeExpired(T0 + 86_400_000)).toBe(2);
      expect(
        await store.acceptBatch([
          acceptRequest({ id: 'later', key: 'key-old', signature: 'sig-old', at: T0 + 86_400_000 }),
        ]),
      ).toEqual([{ outcome: 'stored' }]);
    } finally {
      await store.close();
    }
  });
});

describe('SqliteStore purge', () => {
  it('purges expired idempotency records whatever their order, and leaves a reused key to its new signal', async () => {
    const store = new SqliteStore({ path: nextPath() });
    try {
      await store.migrate();
      await store.acceptBatch([
        acceptRequest({ id: 'a', key: 'k1', signature: 's1', ttl: 1_000 }),
        acceptRequest({ id: 'b', key: 'k2', signature: 's2', ttl: 5_000 }),
      ]);
      // k1 expires and is taken again by a signal that lives for a day.
      await store.acceptBatch([acceptRequest({ id: 'c', key: 'k1', signature: 's3', at: T0 + 2_000 })]);
      // At T0 + 3 s only s1 has expired: a's key record was taken over by c, and b's is still live.
      expect(await store.purgeExpired(T0 + 3_000)).toBe(1);
      // At T0 + 5 s: s2 and b's record go; c's record (a day) stays and still answers for k1.
      expect(await store.purgeExpired(T0 + 5_000)).toBe(2);
      expect(await store.purgeExpired(T0 + 5_000)).toBe(0);
      // k1 still answers for c; k2's record is gone (purged), so the key is free even before its expiry.
      expect(
        await store.acceptBatch([
          acceptRequest({ id: 'c-again', key: 'k1', signature: 's4', at: T0 + 5_000 }),
          acceptRequest({ id: 'b-later', key: 'k2', signature: 's5', at: T0 + 4_999 }),
        ]),
      ).toEqual([
        { outcome: 'duplicate', requestHash: 'hash-c', response: acceptRequest({ id: 'c' }).response },
        { outcome: 'stored' },
      ]);
      // A short-lived record stored after a long-lived one (a lowered TTL) goes when it expires.
      await store.acceptBatch([
        acceptRequest({
          id: 'long',
          key: 'k-long',
          signature: 's-long',
          at: T0 + 6_000,
          ttl: 7 * 86_400_000,
        }),
        acceptRequest({ id: 'short', key: 'k-short', signature: 's-short', at: T0 + 6_001, ttl: 1_000 }),
      ]);
      expect(await store.purgeExpired(T0 + 8_000)).toBe(2); // k-short's record and s-short
      expect(
        (
          await store.acceptBatch([
            acceptRequest({ id: 'long-again', key: 'k-long', signature: 's6', at: T0 + 8_000 }),
          ])
        )[0]?.outcome,
      ).toBe('duplicate');
    } finally {
      await store.close();
    }
  });
});

describe('SqliteStore readEvents after its own commits (served from the events it just wrote)', () => {
  it('answers as a fresh read of the file would, from any position, across decisions and several batches', async () => {
    const path = nextPath();
    const store = new SqliteStore({ path });
    const fresh = new SqliteStore({ path });
    try {
      await store.migrate();
      await store.acceptBatch([
        acceptRequest({ id: 'b1-1', status: 'pending_approval' }),
        acceptRequest({ id: 'b1-dup', key: 'key-b1-1', signature: 'other' }),
        acceptRequest({ id: 'b1-2', key: null }),
      ]);
      await store.acceptBatch([acceptRequest({ id: 'b2-1' }), acceptRequest({ id: 'b2-2' })]);
      await store.decideSignal('b1-1', 'approved', 'operator:ann', 'ok', T0 + 5, 'api');
      await store.acceptBatch([acceptRequest({ id: 'b3-1', at: T0 + 6 })]);
      for (const [after, limit] of [
        [0, 1000],
        [1, 2],
        [3, 1000],
        [5, 1000],
        [6, 1000],
        [2, 1],
      ] as const) {
        expect(await store.readEvents(after, limit)).toEqual(await fresh.readEvents(after, limit));
      }
      expect((await store.readEvents(4, 1000)).map((e) => [e.seq, e.signal.id, e.channel])).toEqual([
        [5, 'b1-1', 'api'],
        [6, 'b3-1', null],
      ]);
    } finally {
      await Promise.all([store.close(), fresh.close()]);
    }
  });

  it('keeps batch order and each batch its own events when the writer commits queued batches together', async () => {
    const path = nextPath();
    const store = new SqliteStore({ path });
    const fresh = new SqliteStore({ path });
    try {
      await store.migrate();
      await store.acceptBatch([acceptRequest({ id: 'taken' })]);
      // Sent without waiting: the writer thread commits them in one transaction; the third fails alone.
      const settled = await Promise.allSettled([
        store.acceptBatch([acceptRequest({ id: 'a1' }), acceptRequest({ id: 'a2', key: null })]),
        store.acceptBatch([
          acceptRequest({ id: 'a1-again', key: 'key-a1', signature: 'x' }),
          acceptRequest({ id: 'b1' }),
        ]),
        store.acceptBatch([
          acceptRequest({ id: 'c0' }),
          acceptRequest({ id: 'taken', key: 'k', signature: 'y' }),
        ]),
        store.acceptBatch([acceptRequest({ id: 'd1' })]),
      ]);
      expect(settled.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
      const events = await store.readEvents(0, 100);
      expect(events.map((e) => [e.seq, e.signal.id])).toEqual([
        [1, 'taken'],
        [2, 'a1'],
        [3, 'a2'],
        [4, 'b1'],
        [5, 'd1'],
      ]);
      expect(events).toEqual(await fresh.readEvents(0, 100));
      expect(await store.readEvents(3, 100)).toEqual(await fresh.readEvents(3, 100));
    } finally {
      await Promise.all([store.close(), fresh.close()]);
    }
  });

  it("does not stop short of another connection's later events, nor return events it purged", async () => {
    const path = nextPath();
    const store = new SqliteStore({ path });
    const other = new SqliteStore({ path });
    try {
      await store.migrate();
      await store.acceptBatch([acceptRequest({ id: 'mine', status: 'pending_approval' })]);
      expect((await store.readEvents(0, 10)).map((e) => e.signal.id)).toEqual(['mine']);
      // Another process decides right after the commit: the next read sees it at once.
      await other.decideSignal('mine', 'rejected', 'operator:bob', null, T0 + 1, 'cli');
      expect((await store.readEvents(0, 10)).map((e) => [e.seq, e.channel])).toEqual([
        [1, null],
        [2, 'cli'],
      ]);
      await store.acceptBatch([acceptRequest({ id: 'newer', at: T0 + 2 })]);
      expect((await store.readEvents(2, 10)).map((e) => e.signal.id)).toEqual(['newer']);
      // Another process purges everything: nothing is served from memory any more.
      expect(await other.purgeSignals(T0 + 10)).toBe(2);
      expect(await store.readEvents(0, 10)).toEqual([]);
      expect(await store.readEvents(2, 10)).toEqual([]);
    } finally {
      await Promise.all([store.close(), other.close()]);
    }
  });
});
