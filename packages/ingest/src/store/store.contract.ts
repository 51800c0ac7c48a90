// The one test suite every Store implementation must pass. sqlite.test.ts and postgres.system.test.ts run
// it, each with a harness that hands out fresh, empty databases.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SecretBox } from '../secrets.js';
import type { NewProducer, OperatorToken, SignalRecord, Store, Subscriber } from './store.js';
import { acceptRequest, T0 } from './test-helpers/fixtures.js';

/** A database of its own for one test. */
export interface TestDatabase {
  /** A new store (its own connection or pool) on this database, not migrated. */
  open(): Store;
  /** Runs one SQL statement directly, for the few checks the Store API cannot express. */
  sql(text: string): Promise<unknown[]>;
}

export interface StoreHarness {
  /** Number of versioned migrations the implementation ships. */
  readonly migrations: number;
  /** A fresh database, never migrated. The harness drops it (or its files) after the run. */
  newDatabase(): Promise<TestDatabase>;
  /**
   * A migrated database holding no rows; it may be one reused (and emptied) from an earlier test,
   * which keeps slow migrations out of every test.
   */
  emptyDatabase(): Promise<TestDatabase>;
}

const DAY = 86_400_000; // ms
const box = SecretBox.fromKey(Buffer.alloc(32, 7));

function newProducer(id: string, overrides: Partial<NewProducer> = {}): NewProducer {
  return {
    id,
    approval: 'auto',
    instruments: null,
    createdAt: T0,
    secret: { id: `${id}-s1`, ciphertext: box.seal(`secret-of-${id}-0123456789`), createdAt: T0 },
    ...overrides,
  };
}

function token(id: string, overrides: Partial<OperatorToken> = {}): OperatorToken {
  return {
    id,
    name: `token ${id}`,
    hash: id.padEnd(64, '0').replace(/[^0-9a-f]/g, 'a'),
    createdAt: T0,
    ...overrides,
  };
}

/** Newest first by (receivedAt, id), ids compared bytewise: the order both stores promise. */
function newestFirst(a: SignalRecord, b: SignalRecord): number {
  if (a.receivedAt !== b.receivedAt) return b.receivedAt - a.receivedAt;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

export function storeContract(name: string, harness: () => StoreHarness): void {
  describe(`${name}: Store contract`, () => {
    let db: TestDatabase;
    let store: Store;
    const opened: Store[] = [];
    const open = () => {
      const s = db.open();
      opened.push(s);
      return s;
    };

    beforeEach(async () => {
      db = await harness().emptyDatabase();
      store = open();
      await store.migrate();
    });

    afterEach(async () => {
      await Promise.all(opened.splice(0).map((s) => s.close()));
    });

    describe('migrations', () => {
      it('records each versioned migration once, however often migrate() runs', async () => {
        await store.migrate();
        await store.migrate();
        const versions = Array.from({ length: harness().migrations }, (_, i) => ({ version: i + 1 }));
        expect(await db.sql('SELECT version FROM schema_migrations ORDER BY version')).toEqual(versions);
      });

      it('two stores migrating a fresh database at once both succeed and apply each migration once', async () => {
        const fresh = await harness().newDatabase();
        const [a, b] = [fresh.open(), fresh.open()];
        opened.push(a, b);
        await Promise.all([a.migrate(), b.migrate()]);
        const versions = Array.from({ length: harness().migrations }, (_, i) => ({ version: i + 1 }));
        expect(await fresh.sql('SELECT version FROM schema_migrations ORDER BY version')).toEqual(versions);
        await a.createProducer(newProducer('after-migrate'));
        expect((await b.getProducer('after-migrate'))?.id).toBe('after-migrate');
      });

      it('keeps data written before a later migrate()', async () => {
        await store.acceptBatch([acceptRequest({ id: 'kept' })]);
        await store.migrate();
        expect((await store.getSignal('kept'))?.id).toBe('kept');
      });

      it('refuses a database migrated by a newer release', async () => {
        const fresh = await harness().newDatabase();
        const newer = fresh.open();
        opened.push(newer);
        await newer.migrate();
        await fresh.sql('INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)');
        await expect(newer.migrate()).rejects.toMatchObject({
          name: 'StoreSchemaTooNewError',
          code: 'STORE_SCHEMA_TOO_NEW',
          message: `Database schema is at version 999, newer than this release of Sigpost supports (${harness().migrations}); upgrade Sigpost before using this database`,
        });
      });

      it('answers ping() once migrated', async () => {
        await expect(store.ping()).resolves.toBeUndefined();
      });
    });

    describe('producers and secrets', () => {
      it('creates a producer with its first secret and reads it back', async () => {
        const producer = newProducer('alpha', { approval: 'manual', instruments: ['GOLD', 'EURUSD'] });
        await store.createProducer(producer);
        expect(await store.getProducer('alpha')).toEqual({
          id: 'alpha',
          approval: 'manual',
          instruments: ['GOLD', 'EURUSD'],
          createdAt: T0,
          secrets: [producer.secret],
        });
        expect(box.open((await store.getProducer('alpha'))!.secrets[0]!.ciphertext)).toBe(
          'secret-of-alpha-0123456789',
        );
      });

      it('keeps instruments null for a producer allowed any instrument', async () => {
        await store.createProducer(newProducer('any'));
        expect((await store.getProducer('any'))?.instruments).toBeNull();
      });

      it('returns undefined for an unknown producer', async () => {
        expect(await store.getProducer('nobody')).toBeUndefined();
      });

      it('lists producers by id, each with its active secrets', async () => {
        await store.createProducer(newProducer('zulu'));
        await store.createProducer(newProducer('alpha'));
        await store.addSecret('alpha', {
          id: 'alpha-s2',
          ciphertext: box.seal('second-secret-0123'),
          createdAt: T0 + 1,
        });
        const producers = await store.listProducers();
        expect(producers.map((p) => [p.id, p.secrets.map((s) => s.id)])).toEqual([
          ['alpha', ['alpha-s1', 'alpha-s2']],
          ['zulu', ['zulu-s1']],
        ]);
      });

      it('refuses a second producer with the same id', async () => {
        await store.createProducer(newProducer('alpha'));
        await expect(
          store.createProducer(newProducer('alpha', { approval: 'manual' })),
        ).rejects.toMatchObject({
          name: 'StoreConflictError',
          code: 'STORE_CONFLICT',
          message: 'Producer "alpha" already exists',
        });
        expect((await store.getProducer('alpha'))?.approval).toBe('auto');
      });

      it('refuses a secret that is not SecretBox output, and stores nothing', async () => {
        const raw = newProducer('raw', {
          secret: { id: 'raw-s1', ciphertext: 'plain-secret-0123456789', createdAt: T0 },
        });
        await expect(store.createProducer(raw)).rejects.toThrow(
          new TypeError(
            'Expected `secret.ciphertext` to be SecretBox.seal output (v1.<keyId>.<iv>.<tag>.<ciphertext>); refusing to store it',
          ),
        );
        expect(await store.getProducer('raw')).toBeUndefined();
      });

      it('lists secrets oldest first after addSecret', async () => {
        await store.createProducer(newProducer('alpha'));
        const newer = { id: 'alpha-s2', ciphertext: box.seal('second-secret-0123'), createdAt: T0 + 5_000 };
        await store.addSecret('alpha', newer);
        expect((await store.getProducer('alpha'))?.secrets.map((s) => s.id)).toEqual([
          'alpha-s1',
          'alpha-s2',
        ]);
      });

      it('refuses addSecret for an unknown producer', async () => {
        await expect(
          store.addSecret('nobody', { id: 's', ciphertext: box.seal('x'.repeat(16)), createdAt: T0 }),
        ).rejects.toMatchObject({
          name: 'StoreNotFoundError',
          code: 'STORE_NOT_FOUND',
          message: 'Producer "nobody" does not exist',
        });
      });

      it('refuses addSecret with an id the producer already has', async () => {
        await store.createProducer(newProducer('alpha'));
        await expect(
          store.addSecret('alpha', { id: 'alpha-s1', ciphertext: box.seal('x'.repeat(16)), createdAt: T0 }),
        ).rejects.toMatchObject({
          code: 'STORE_CONFLICT',
          message: 'Secret "alpha-s1" of producer "alpha" already exists',
        });
      });

      it('retires one of two secrets, and then reports it as not active', async () => {
        await store.createProducer(newProducer('alpha'));
        await store.addSecret('alpha', {
          id: 'alpha-s2',
          ciphertext: box.seal('x'.repeat(16)),
          createdAt: T0 + 1,
        });
        expect(await store.retireSecret('alpha', 'alpha-s1', T0 + 2)).toBe(true);
        expect((await store.getProducer('alpha'))?.secrets.map((s) => s.id)).toEqual(['alpha-s2']);
        expect(await store.retireSecret('alpha', 'alpha-s1', T0 + 3)).toBe(false);
      });

      it('refuses to retire the last active secret', async () => {
        await store.createProducer(newProducer('alpha'));
        await expect(store.retireSecret('alpha', 'alpha-s1', T0 + 1)).rejects.toMatchObject({
          name: 'StoreConflictError',
          code: 'STORE_CONFLICT',
          message:
            'Cannot retire secret "alpha-s1" of producer "alpha": it is its last active secret (add another one first)',
        });
        expect((await store.getProducer('alpha'))?.secrets.map((s) => s.id)).toEqual(['alpha-s1']);
      });

      it('returns false when retiring a secret of an unknown producer or an unknown secret', async () => {
        await store.createProducer(newProducer('alpha'));
        expect(await store.retireSecret('nobody', 'alpha-s1', T0)).toBe(false);
        expect(await store.retireSecret('alpha', 'no-such-secret', T0)).toBe(false);
      });

      it('replaces the sealed form of a secret only while it is still the expected one', async () => {
        await store.createProducer(newProducer('alpha'));
        const before = (await store.getProducer('alpha'))!.secrets[0]!.ciphertext;
        const next = SecretBox.fromKey(Buffer.alloc(32, 8)).seal(box.open(before));
        expect(await store.replaceSecretCiphertext('alpha', 'alpha-s1', before, next)).toBe(true);
        expect((await store.getProducer('alpha'))!.secrets[0]!.ciphertext).toBe(next);
        // A second reseal that read the old form loses: nothing is overwritten.
        expect(
          await store.replaceSecretCiphertext('alpha', 'alpha-s1', before, box.seal('x'.repeat(16))),
        ).toBe(false);
        expect((await store.getProducer('alpha'))!.secrets[0]!.ciphertext).toBe(next);
        expect(await store.replaceSecretCiphertext('nobody', 'alpha-s1', next, next)).toBe(false);
        // A retired secret is left as it is.
        await store.addSecret('alpha', {
          id: 'alpha-s2',
          ciphertext: box.seal('y'.repeat(16)),
          createdAt: T0 + 1,
        });
        expect(await store.retireSecret('alpha', 'alpha-s1', T0 + 2)).toBe(true);
        expect(await store.replaceSecretCiphertext('alpha', 'alpha-s1', next, box.seal('z'.repeat(16)))).toBe(
          false,
        );
        await expect(
          store.replaceSecretCiphertext('alpha', 'alpha-s1', next, 'plain-secret'),
        ).rejects.toThrow('refusing to store it');
      });

      it('removes a producer and its secrets but keeps its signals', async () => {
        await store.createProducer(newProducer('alpha'));
        await store.acceptBatch([acceptRequest({ id: 'from-alpha', producerId: 'alpha' })]);
        expect(await store.removeProducer('alpha')).toBe(true);
        expect(await store.getProducer('alpha')).toBeUndefined();
        expect((await store.getSignal('from-alpha'))?.producerId).toBe('alpha');
        expect(await store.removeProducer('alpha')).toBe(false);
        // Its secrets went with it: the same ids can be created again.
        await store.createProducer(newProducer('alpha'));
        expect((await store.getProducer('alpha'))?.secrets).toHaveLength(1);
      });
    });

    describe('acceptBatch', () => {
      it('answers [] for an empty batch', async () => {
        expect(await store.acceptBatch([])).toEqual([]);
      });

      it('stores a signal with its idempotency record', async () => {
        const request = acceptRequest({ id: 'one' });
        expect(await store.acceptBatch([request])).toEqual([{ outcome: 'stored' }]);
        expect(await store.getSignal('one')).toEqual(request.signal);
        expect(await store.getSignalResponse('one')).toEqual(request.response);
        // The record answers a repeat of the key with the request's hash and response.
        expect(
          await store.acceptBatch([acceptRequest({ id: 'again', key: 'key-one', signature: 's2' })]),
        ).toEqual([{ outcome: 'duplicate', requestHash: 'hash-one', response: request.response }]);
      });

      it('returns receivedAt and other times as JS numbers', async () => {
        await store.acceptBatch([acceptRequest({ id: 'one' })]);
        const signal = await store.getSignal('one');
        expect(typeof signal?.receivedAt).toBe('number');
        expect(signal?.receivedAt).toBe(T0);
      });

      it('decides stored, duplicate and replayed-signature in order within one batch', async () => {
        const first = acceptRequest({ id: 'first', key: 'k1', signature: 's1' });
        const results = await store.acceptBatch([
          first,
          acceptRequest({ id: 'same-key', key: 'k1', signature: 's2' }),
          acceptRequest({ id: 'same-signature', key: 'k2', signature: 's1' }),
          acceptRequest({ id: 'fresh', key: 'k3', signature: 's3' }),
        ]);
        expect(results).toEqual([
          { outcome: 'stored' },
          { outcome: 'duplicate', requestHash: 'hash-first', response: first.response },
          { outcome: 'replayed-signature' },
          { outcome: 'stored' },
        ]);
        expect((await store.listSignals({})).items.map((s) => s.id).sort()).toEqual(['first', 'fresh']);
      });

      it('decides duplicate and replayed-signature against earlier batches', async () => {
        const first = acceptRequest({ id: 'first', key: 'k1', signature: 's1' });
        await store.acceptBatch([first]);
        expect(await store.acceptBatch([acceptRequest({ id: 'retry', key: 'k1', signature: 's2' })])).toEqual(
          [{ outcome: 'duplicate', requestHash: 'hash-first', response: first.response }],
        );
        expect(
          await store.acceptBatch([acceptRequest({ id: 'replay', key: 'k9', signature: 's1' })]),
        ).toEqual([{ outcome: 'replayed-signature' }]);
        expect(await store.getSignal('retry')).toBeUndefined();
        expect(await store.getSignal('replay')).toBeUndefined();
      });

      it('answers duplicate, not replayed-signature, for a repeat with the same key and signature', async () => {
        const first = acceptRequest({ id: 'first', key: 'k1', signature: 's1' });
        await store.acceptBatch([first]);
        expect(await store.acceptBatch([acceptRequest({ id: 'again', key: 'k1', signature: 's1' })])).toEqual(
          [{ outcome: 'duplicate', requestHash: 'hash-first', response: first.response }],
        );
      });

      it('leaves the key of a replayed request free for a later, properly signed request', async () => {
        await store.acceptBatch([acceptRequest({ id: 'first', key: 'k1', signature: 's1' })]);
        expect(
          await store.acceptBatch([acceptRequest({ id: 'replay', key: 'k2', signature: 's1' })]),
        ).toEqual([{ outcome: 'replayed-signature' }]);
        expect(await store.getSignalResponse('replay')).toBeUndefined();
        const honest = acceptRequest({ id: 'honest', key: 'k2', signature: 's2' });
        expect(await store.acceptBatch([honest])).toEqual([{ outcome: 'stored' }]);
        expect(await store.getSignalResponse('honest')).toEqual(honest.response);
      });

      it('guards requests without a key by their signature only', async () => {
        const results = await store.acceptBatch([
          acceptRequest({ id: 'a', key: null, signature: 's1' }),
          acceptRequest({ id: 'b', key: null, signature: 's2' }),
          acceptRequest({ id: 'c', key: null, signature: 's1' }),
        ]);
        expect(results).toEqual([
          { outcome: 'stored' },
          { outcome: 'stored' },
          { outcome: 'replayed-signature' },
        ]);
        expect((await store.getSignal('a'))?.idempotencyKey).toBeNull();
      });

      it('scopes idempotency keys to their producer', async () => {
        const results = await store.acceptBatch([
          acceptRequest({ id: 'a', producerId: 'producer-a', key: 'shared' }),
          acceptRequest({ id: 'b', producerId: 'producer-b', key: 'shared' }),
        ]);
        expect(results).toEqual([{ outcome: 'stored' }, { outcome: 'stored' }]);
      });

      it('still answers duplicate one millisecond before the record expires', async () => {
        await store.acceptBatch([acceptRequest({ id: 'first', key: 'k1', ttl: 1_000 })]);
        const [result] = await store.acceptBatch([acceptRequest({ id: 'late', key: 'k1', at: T0 + 999 })]);
        expect(result?.outcome).toBe('duplicate');
      });

      it('reuses an expired idempotency key as if it were new', async () => {
        await store.acceptBatch([acceptRequest({ id: 'first', key: 'k1', ttl: 1_000 })]);
        const reuse = acceptRequest({ id: 'reuse', key: 'k1', at: T0 + 1_000 });
        expect(await store.acceptBatch([reuse])).toEqual([{ outcome: 'stored' }]);
        expect(await store.getSignalResponse('reuse')).toEqual(reuse.response);
        // The key now answers for the new signal, until the new record expires a day later.
        expect(
          await store.acceptBatch([
            acceptRequest({ id: 'repeat', key: 'k1', signature: 's-repeat', at: T0 + 1_000 + DAY - 1 }),
          ]),
        ).toEqual([{ outcome: 'duplicate', requestHash: 'hash-reuse', response: reuse.response }]);
        expect(
          await store.acceptBatch([
            acceptRequest({ id: 'after-expiry', key: 'k1', signature: 's-after', at: T0 + 1_000 + DAY }),
          ]),
        ).toEqual([{ outcome: 'stored' }]);
      });

      it('accepts an expired signature again', async () => {
        await store.acceptBatch([acceptRequest({ id: 'first', key: 'k1', signature: 's1', ttl: 1_000 })]);
        expect(
          await store.acceptBatch([
            acceptRequest({ id: 'later', key: 'k2', signature: 's1', at: T0 + 1_000 }),
          ]),
        ).toEqual([{ outcome: 'stored' }]);
      });

      it('commits nothing of a batch when a signal id already exists', async () => {
        await store.acceptBatch([acceptRequest({ id: 'taken' })]);
        const batch = [
          acceptRequest({ id: 'new-one' }),
          acceptRequest({ id: 'taken', key: 'other-key', signature: 'x' }),
        ];
        await expect(store.acceptBatch(batch)).rejects.toMatchObject({
          name: 'StoreConflictError',
          code: 'STORE_CONFLICT',
          message: 'Signal "taken" already exists; nothing of the batch was committed',
        });
        expect(await store.getSignal('new-one')).toBeUndefined();
        expect(await store.getSignalResponse('new-one')).toBeUndefined();
        expect(await store.acceptBatch([acceptRequest({ id: 'new-one' })])).toEqual([{ outcome: 'stored' }]);
      });

      it('stores a batch of 1000 requests in one call', async () => {
        const batch = Array.from({ length: 1000 }, (_, i) =>
          acceptRequest({ id: `bulk-${String(i).padStart(4, '0')}`, at: T0 + i }),
        );
        const results = await store.acceptBatch(batch);
        expect(results).toHaveLength(1000);
        expect(results.every((r) => r.outcome === 'stored')).toBe(true);
        expect((await store.countSignalsByStatus()).received).toBe(1000);
        const newest = await store.listSignals({ limit: 1 });
        expect(newest.items[0]?.id).toBe('bulk-0999');
      });

      it('keeps committed signals after the store is closed and reopened', async () => {
        const request = acceptRequest({ id: 'durable' });
        await store.acceptBatch([request]);
        await store.close();
        const reopened = open();
        expect(await reopened.getSignal('durable')).toEqual(request.signal);
        expect(await reopened.getSignalResponse('durable')).toEqual(request.response);
        expect(
          await reopened.acceptBatch([acceptRequest({ id: 'retry', key: 'key-durable', signature: 's2' })]),
        ).toEqual([{ outcome: 'duplicate', requestHash: 'hash-durable', response: request.response }]);
      });
    });

    describe('getSignalResponse', () => {
      it("gives a keyed signal's stored response, and nothing for an unkeyed or unknown signal", async () => {
        const keyed = acceptRequest({ id: 'keyed', status: 'pending_approval' });
        await store.acceptBatch([keyed, acceptRequest({ id: 'unkeyed', key: null })]);
        expect(await store.getSignalResponse('keyed')).toEqual(keyed.response);
        expect(await store.getSignalResponse('unkeyed')).toBeUndefined();
        expect(await store.getSignalResponse('no-such-signal')).toBeUndefined();
        // A decision leaves the answer given at ingest as it was.
        await store.decideSignal('keyed', 'approved', 'op', null, T0 + 1, 'api');
        expect(await store.getSignalResponse('keyed')).toEqual(keyed.response);
      });
    });

    describe('idempotency expiry and purgeExpired', () => {
      it('does not answer from a record at or after its expiry', async () => {
        await store.acceptBatch([acceptRequest({ id: 'one', ttl: 1_000 })]);
        expect(
          await store.acceptBatch([
            acceptRequest({ id: 'before', key: 'key-one', signature: 'b', at: T0 + 999 }),
          ]),
        ).toEqual([
          { outcome: 'duplicate', requestHash: 'hash-one', response: acceptRequest({ id: 'one' }).response },
        ]);
        expect(
          await store.acceptBatch([
            acceptRequest({ id: 'at', key: 'key-one', signature: 'a', at: T0 + 1_000 }),
          ]),
        ).toEqual([{ outcome: 'stored' }]);
      });

      it('deletes expired records and signatures, counts them, and keeps live ones', async () => {
        await store.acceptBatch([
          acceptRequest({ id: 'short', ttl: 1_000 }),
          acceptRequest({ id: 'short-no-key', key: null, ttl: 1_000 }),
          acceptRequest({ id: 'long', ttl: 5_000 }),
        ]);
        // short: record + signature; short-no-key: signature only.
        expect(await store.purgeExpired(T0 + 1_000)).toBe(3);
        expect(await store.purgeExpired(T0 + 1_000)).toBe(0);
        expect(
          (
            await store.acceptBatch([
              acceptRequest({ id: 'long-retry', key: 'key-long', signature: 'r', at: T0 + 1_000 }),
            ])
          )[0]?.outcome,
        ).toBe('duplicate');
        expect(
          await store.acceptBatch([
            acceptRequest({ id: 'long-replay', key: 'k', signature: 'sig-long', at: T0 + 1_000 }),
          ]),
        ).toEqual([{ outcome: 'replayed-signature' }]);
        expect((await store.getSignal('short'))?.id).toBe('short');
      });
    });

    describe('listSignals', () => {
      // 12 signals over 2 producers, 2 instruments, 2 statuses, several sharing a receivedAt.
      const fixture = Array.from({ length: 12 }, (_, i) =>
        acceptRequest({
          id: `sig-${String.fromCharCode(97 + ((i * 5) % 12))}`,
          producerId: i % 2 === 0 ? 'producer-a' : 'producer-b',
          instrument: i % 3 === 0 ? 'EURUSD' : 'GOLD',
          status: i % 4 === 0 ? 'pending_approval' : 'received',
          at: T0 + Math.floor(i / 3) * 1_000,
        }),
      );
      const all = fixture.map((r) => r.signal).sort(newestFirst);

      beforeEach(async () => {
        await store.acceptBatch(fixture);
      });

      it('lists newest first, breaking ties by id', async () => {
        expect((await store.listSignals({})).items).toEqual(all);
      });

      it.each([
        ['status', { status: 'pending_approval' }, (s: SignalRecord) => s.status === 'pending_approval'],
        ['producerId', { producerId: 'producer-b' }, (s: SignalRecord) => s.producerId === 'producer-b'],
        ['instrument', { instrument: 'EURUSD' }, (s: SignalRecord) => s.instrument === 'EURUSD'],
        ['from (inclusive)', { from: T0 + 2_000 }, (s: SignalRecord) => s.receivedAt >= T0 + 2_000],
        ['to (exclusive)', { to: T0 + 2_000 }, (s: SignalRecord) => s.receivedAt < T0 + 2_000],
        [
          'several filters at once',
          { producerId: 'producer-a', instrument: 'GOLD', from: T0 + 1_000, to: T0 + 3_000 },
          (s: SignalRecord) =>
            s.producerId === 'producer-a' &&
            s.instrument === 'GOLD' &&
            s.receivedAt >= T0 + 1_000 &&
            s.receivedAt < T0 + 3_000,
        ],
      ] as const)('filters by %s', async (_name, filter, keep) => {
        const expected = all.filter(keep);
        expect(expected.length).toBeGreaterThan(0);
        expect(expected.length).toBeLessThan(all.length);
        expect((await store.listSignals(filter)).items).toEqual(expected);
      });

      it('pages through every signal with a cursor, with no gap and no repeat', async () => {
        const seen: string[] = [];
        let cursor: string | null = null;
        let pages = 0;
        do {
          const page: Awaited<ReturnType<Store['listSignals']>> = await store.listSignals(
            cursor === null ? { limit: 5 } : { limit: 5, cursor },
          );
          seen.push(...page.items.map((s) => s.id));
          cursor = page.nextCursor;
          pages++;
        } while (cursor !== null);
        expect(pages).toBe(3);
        expect(seen).toEqual(all.map((s) => s.id));
      });

      it('pages with filters, and ignores signals stored after the first page', async () => {
        const first = await store.listSignals({ producerId: 'producer-a', limit: 2 });
        await store.acceptBatch([acceptRequest({ id: 'newer', producerId: 'producer-a', at: T0 + 60_000 })]);
        const second = await store.listSignals({
          producerId: 'producer-a',
          limit: 10,
          cursor: first.nextCursor!,
        });
        const expected = all.filter((s) => s.producerId === 'producer-a').map((s) => s.id);
        expect([...first.items, ...second.items].map((s) => s.id)).toEqual(expected);
        expect(second.nextCursor).toBeNull();
      });

      it('gives no cursor when the page holds the last signal exactly', async () => {
        const page = await store.listSignals({ limit: 12 });
        expect(page.items).toHaveLength(12);
        expect(page.nextCursor).toBeNull();
      });

      it('returns 50 signals by default', async () => {
        await store.acceptBatch(Array.from({ length: 50 }, (_, i) => acceptRequest({ id: `more-${i}` })));
        const page = await store.listSignals({});
        expect(page.items).toHaveLength(50);
        expect(page.nextCursor).not.toBeNull();
      });

      it.each([0, 501, 1.5])('refuses limit %s', async (limit) => {
        await expect(store.listSignals({ limit })).rejects.toThrow(
          new RangeError(`Expected \`limit\` to be an integer from 1 to 500, received ${limit}`),
        );
      });

      it.each([
        ['not base64url', '!!!'],
        ['not JSON', Buffer.from('nope').toString('base64url')],
        ['the wrong shape', Buffer.from('{"receivedAt":1}').toString('base64url')],
        ['a time that is not an integer', Buffer.from('[1.5,"a"]').toString('base64url')],
      ])('refuses a cursor that is %s', async (_name, cursor) => {
        await expect(store.listSignals({ cursor })).rejects.toMatchObject({
          name: 'StoreInvalidCursorError',
          code: 'STORE_INVALID_CURSOR',
          message: 'Invalid cursor: expected the nextCursor of a previous page, unchanged',
        });
      });
    });

    describe('decideSignal and countSignalsByStatus', () => {
      it('approves a pending signal and records who, when and why', async () => {
        await store.acceptBatch([acceptRequest({ id: 'p1', status: 'pending_approval' })]);
        const result = await store.decideSignal(
          'p1',
          'approved',
          'ops@desk',
          'looks fine',
          T0 + 60_000,
          'api',
        );
        const expected = {
          ...acceptRequest({ id: 'p1', status: 'pending_approval' }).signal,
          status: 'approved',
          decidedAt: T0 + 60_000,
          decidedBy: 'ops@desk',
          message: 'looks fine',
        };
        expect(result).toEqual({ outcome: 'ok', signal: expected });
        expect(await store.getSignal('p1')).toEqual(expected);
      });

      it('rejects a pending signal', async () => {
        await store.acceptBatch([acceptRequest({ id: 'p1', status: 'pending_approval' })]);
        const result = await store.decideSignal('p1', 'rejected', 'ops', null, T0 + 1, 'api');
        expect(result.outcome === 'ok' && result.signal.status).toBe('rejected');
      });

      it('answers not-found for an unknown signal', async () => {
        expect(await store.decideSignal('nope', 'approved', 'ops', null, T0, 'api')).toEqual({
          outcome: 'not-found',
        });
      });

      it('answers not-pending, with the signal unchanged, for a signal that needs no approval', async () => {
        const request = acceptRequest({ id: 'auto', status: 'received' });
        await store.acceptBatch([request]);
        expect(await store.decideSignal('auto', 'approved', 'ops', null, T0, 'api')).toEqual({
          outcome: 'not-pending',
          signal: request.signal,
        });
      });

      it('keeps the first decision when a signal is decided twice', async () => {
        await store.acceptBatch([acceptRequest({ id: 'p1', status: 'pending_approval' })]);
        await store.decideSignal('p1', 'approved', 'first', null, T0 + 1, 'api');
        const second = await store.decideSignal('p1', 'rejected', 'second', 'too late', T0 + 2, 'api');
        expect(second.outcome).toBe('not-pending');
        expect(second.outcome === 'not-pending' && [second.signal.status, second.signal.decidedBy]).toEqual([
          'approved',
          'first',
        ]);
      });

      it('counts zero for every status in an empty store', async () => {
        expect(await store.countSignalsByStatus()).toEqual({
          received: 0,
          pending_approval: 0,
          approved: 0,
          rejected: 0,
        });
      });

      it('counts signals by status', async () => {
        await store.acceptBatch([
          acceptRequest({ id: 'r1' }),
          acceptRequest({ id: 'r2' }),
          acceptRequest({ id: 'p1', status: 'pending_approval' }),
          acceptRequest({ id: 'p2', status: 'pending_approval' }),
        ]);
        await store.decideSignal('p2', 'rejected', 'ops', null, T0 + 1, 'api');
        expect(await store.countSignalsByStatus()).toEqual({
          received: 2,
          pending_approval: 1,
          approved: 0,
          rejected: 1,
        });
      });
    });

    describe('stream events', () => {
      const seqs = async (after = 0) => (await store.readEvents(after, 1000)).map((e) => e.seq);

      it('writes one event per stored signal, none for a duplicate or a replay, in batch order', async () => {
        const before = await store.streamPosition();
        expect(before.head).toBe(0);
        expect(before.epoch).toMatch(/^[0-9a-f]{32}$/);
        await store.acceptBatch([
          acceptRequest({ id: 's1' }),
          acceptRequest({ id: 's2', status: 'pending_approval' }),
          acceptRequest({ id: 's1-again', key: 'key-s1', signature: 'sig-other' }),
          acceptRequest({ id: 's3', signature: 'sig-s1', key: null }),
        ]);
        const events = await store.readEvents(0, 1000);
        expect(events.map((e) => [e.seq, e.signal.id, e.signal.status, e.channel, e.at])).toEqual([
          [1, 's1', 'received', null, T0],
          [2, 's2', 'pending_approval', null, T0],
        ]);
        expect(events[0]?.signal).toEqual(acceptRequest({ id: 's1' }).signal);
        expect(await store.streamPosition()).toEqual({ epoch: before.epoch, head: 2, purgedThrough: 0 });
      });

      it('orders the events of a batch by batch position, across duplicates and replays, with each signal as stored', async () => {
        await store.acceptBatch([acceptRequest({ id: 'm0' })]);
        const rejected = acceptRequest({ id: 'a3' });
        const policyRejected = {
          ...rejected,
          signal: {
            ...rejected.signal,
            status: 'rejected' as const,
            message: 'instrument not allowed',
            decidedAt: T0,
            decidedBy: 'policy',
          },
        };
        await store.acceptBatch([
          acceptRequest({ id: 'z1' }),
          acceptRequest({ id: 'm0-again', key: 'key-m0', signature: 'sig-x' }),
          acceptRequest({ id: 'y2', key: null }),
          acceptRequest({ id: 'replay', signature: 'sig-z1' }),
          policyRejected,
        ]);
        const events = await store.readEvents(1, 1000);
        expect(events.map((e) => [e.seq, e.signal.id])).toEqual([
          [2, 'z1'],
          [3, 'y2'],
          [4, 'a3'],
        ]);
        expect(events[2]?.signal).toEqual(policyRejected.signal);
        expect(events[2]?.at).toBe(T0);
        expect((await store.streamPosition()).head).toBe(4);
      });

      it("reads one signal's events, oldest first, and no other signal's", async () => {
        await store.acceptBatch([
          acceptRequest({ id: 'h1', status: 'pending_approval' }),
          acceptRequest({ id: 'h2', status: 'pending_approval' }),
        ]);
        await store.decideSignal('h2', 'approved', 'operator:bob', null, T0 + 3, 'telegram');
        await store.decideSignal('h1', 'rejected', 'operator:alice', 'too late', T0 + 4, 'console');
        const history = await store.readSignalEvents('h1');
        expect(history.map((e) => [e.seq, e.signal.id, e.signal.status, e.channel, e.at])).toEqual([
          [1, 'h1', 'pending_approval', null, T0],
          [4, 'h1', 'rejected', 'console', T0 + 4],
        ]);
        expect(history[1]?.signal).toMatchObject({ decidedBy: 'operator:alice', message: 'too late' });
        expect(history).toEqual((await store.readEvents(0, 10)).filter((e) => e.signal.id === 'h1'));
        expect(await store.readSignalEvents('unknown')).toEqual([]);
      });

      it('writes one event per decision, with its channel and actor, the earlier event unchanged', async () => {
        await store.acceptBatch([acceptRequest({ id: 'p1', status: 'pending_approval' })]);
        await store.decideSignal('p1', 'rejected', 'ops@desk', 'stale', T0 + 5, 'cli');
        await store.decideSignal('p1', 'approved', 'late', null, T0 + 6, 'api'); // not pending: no event
        const events = await store.readEvents(0, 10);
        expect(events).toHaveLength(2);
        expect(events[0]?.signal).toMatchObject({
          status: 'pending_approval',
          decidedBy: null,
          message: null,
        });
        expect(events[1]).toMatchObject({
          seq: 2,
          at: T0 + 5,
          channel: 'cli',
          signal: {
            id: 'p1',
            status: 'rejected',
            decidedAt: T0 + 5,
            decidedBy: 'ops@desk',
            message: 'stale',
          },
        });
      });

      it('writes no event for a batch that committed nothing', async () => {
        await store.acceptBatch([acceptRequest({ id: 'x1' })]);
        await expect(
          store.acceptBatch([
            acceptRequest({ id: 'x2' }),
            acceptRequest({ id: 'x1', key: 'k2', signature: 's2' }),
          ]),
        ).rejects.toMatchObject({ code: 'STORE_CONFLICT' });
        expect(await seqs()).toEqual([1]);
        await store.acceptBatch([acceptRequest({ id: 'x3' })]);
        expect(await seqs()).toEqual([1, 2]);
      });

      it('pages events after a seq, oldest first, and refuses a bad limit or after', async () => {
        await store.acceptBatch(Array.from({ length: 7 }, (_, i) => acceptRequest({ id: `e${i}` })));
        expect((await store.readEvents(2, 3)).map((e) => e.seq)).toEqual([3, 4, 5]);
        expect((await store.readEvents(5, 3)).map((e) => e.signal.id)).toEqual(['e5', 'e6']);
        expect(await store.readEvents(7, 3)).toEqual([]);
        await expect(store.readEvents(0, 0)).rejects.toThrow(RangeError);
        await expect(store.readEvents(0, 1001)).rejects.toThrow(RangeError);
        await expect(store.readEvents(-1, 1)).rejects.toThrow(RangeError);
      });

      it('keeps the epoch and the events across a reopen', async () => {
        await store.acceptBatch([acceptRequest({ id: 'k1' })]);
        const position = await store.streamPosition();
        const other = open();
        await other.migrate();
        expect(await other.streamPosition()).toEqual(position);
        expect((await other.readEvents(0, 10)).map((e) => e.signal.id)).toEqual(['k1']);
      });

      it('tells watchers of commits by this store and by another connection', async () => {
        const other = open();
        await other.migrate();
        let wakes = 0;
        let wake: () => void = () => {};
        const stop = store.watchEvents(() => {
          wakes++;
          wake();
        });
        const woken = () => new Promise<void>((resolve) => (wake = resolve));
        let next = woken();
        await store.acceptBatch([acceptRequest({ id: 'w1' })]);
        await next;
        next = woken();
        await other.acceptBatch([acceptRequest({ id: 'w2' })]);
        await next; // a poll (SQLite) or a notification (PostgreSQL)
        expect(wakes).toBeGreaterThanOrEqual(2);
        stop();
        expect((await store.readEvents(0, 10)).map((e) => e.signal.id)).toEqual(['w1', 'w2']);
      });

      it('purges old signals with their events in chunks, and raises purgedThrough', async () => {
        await store.acceptBatch([
          acceptRequest({ id: 'old1', at: T0 }),
          acceptRequest({ id: 'old2', at: T0 + 1 }),
          acceptRequest({ id: 'old3', at: T0 + 2, status: 'pending_approval' }),
          acceptRequest({ id: 'new1', at: T0 + DAY }),
        ]);
        await store.decideSignal('old3', 'approved', 'ops', null, T0 + DAY + 1, 'api');
        expect(await store.purgeSignals(T0 + 10, 2)).toBe(3);
        expect(await store.getSignal('old1')).toBeUndefined();
        expect(await store.getSignal('new1')).toBeDefined();
        expect((await store.readEvents(0, 10)).map((e) => [e.seq, e.signal.id])).toEqual([[4, 'new1']]);
        expect((await store.streamPosition()).purgedThrough).toBe(5);
        expect(await store.purgeSignals(T0 + 10)).toBe(0);
      });
    });

    describe('subscribers', () => {
      const subscriber = (id: string, overrides: Partial<Subscriber> = {}): Subscriber => ({
        id,
        name: `sub ${id}`,
        hash: id.padEnd(64, '0').replace(/[^0-9a-f]/g, 'b'),
        producers: ['producer-a'],
        statuses: ['approved', 'received'],
        createdAt: T0,
        revokedAt: null,
        ...overrides,
      });

      it('stores a subscriber with its scope, finds it by hash, lists it, and revokes it once', async () => {
        const all = subscriber('sub_all', { producers: null, statuses: null, createdAt: T0 + 1 });
        const some = subscriber('sub_some');
        await store.createSubscriber(all);
        await store.createSubscriber(some);
        expect(await store.findSubscriberByHash(some.hash)).toEqual(some);
        expect(await store.listSubscribers()).toEqual([some, all]);
        expect(await store.revokeSubscriber('sub_some', T0 + 9)).toBe(true);
        expect(await store.revokeSubscriber('sub_some', T0 + 10)).toBe(false);
        expect(await store.revokeSubscriber('nope', T0)).toBe(false);
        expect(await store.findSubscriberByHash(some.hash)).toBeUndefined();
        expect(await store.listSubscribers()).toEqual([{ ...some, revokedAt: T0 + 9 }, all]);
      });

      it('refuses a duplicate id or hash, a raw token and an unknown status', async () => {
        await store.createSubscriber(subscriber('sub_a'));
        await expect(
          store.createSubscriber(subscriber('sub_a', { hash: 'c'.repeat(64) })),
        ).rejects.toMatchObject({
          code: 'STORE_CONFLICT',
        });
        await expect(
          store.createSubscriber(subscriber('sub_b', { hash: subscriber('sub_a').hash })),
        ).rejects.toMatchObject({
          code: 'STORE_CONFLICT',
        });
        await expect(store.createSubscriber(subscriber('sub_c', { hash: 'sgs_raw' }))).rejects.toThrow(
          TypeError,
        );
        await expect(
          store.createSubscriber(subscriber('sub_d', { statuses: ['shipped' as 'approved'] })),
        ).rejects.toThrow(TypeError);
      });
    });

    describe('operator tokens', () => {
      it('stores a token hash and finds it by hash', async () => {
        const t = token('abc1');
        await store.createToken(t);
        expect(await store.findTokenByHash(t.hash)).toEqual(t);
        expect(await store.findTokenByHash('f'.repeat(64))).toBeUndefined();
      });

      it('lists tokens oldest first', async () => {
        const older = token('b0', { createdAt: T0 });
        const newer = token('a1', { createdAt: T0 + 1 });
        await store.createToken(newer);
        await store.createToken(older);
        expect(await store.listTokens()).toEqual([older, newer]);
      });

      it('revokes a token once', async () => {
        const t = token('abc1');
        await store.createToken(t);
        expect(await store.revokeToken('abc1')).toBe(true);
        expect(await store.findTokenByHash(t.hash)).toBeUndefined();
        expect(await store.revokeToken('abc1')).toBe(false);
      });

      it('refuses a second token with the same id or the same hash', async () => {
        await store.createToken(token('abc1'));
        await expect(store.createToken(token('abc1', { hash: 'e'.repeat(64) }))).rejects.toMatchObject({
          code: 'STORE_CONFLICT',
          message: 'Operator token "abc1" already exists (same id or same token hash)',
        });
        await expect(store.createToken(token('other', { hash: token('abc1').hash }))).rejects.toMatchObject({
          code: 'STORE_CONFLICT',
          message: 'Operator token "other" already exists (same id or same token hash)',
        });
      });

      it('refuses to store anything but a hex SHA-256', async () => {
        await expect(store.createToken(token('raw', { hash: 'sgp_live_raw-token-value' }))).rejects.toThrow(
          new TypeError(
            'Expected `token.hash` to be a hex SHA-256 (64 lowercase hex digits, see hashToken); refusing to store it',
          ),
        );
        expect(await store.listTokens()).toEqual([]);
      });
    });
  });
}
