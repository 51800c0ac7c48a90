import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Admin } from './admin.js';
import { Batcher } from './batcher.js';
import { SecretBox } from './secrets.js';
import { SqliteStore } from './store/sqlite.js';
import type { AcceptRequest, Store } from './store/store.js';
import { BODY, deferred, NOW, PRODUCER, SECRET, tempDir, withOverride } from './test-helpers/fixtures.js';

let store: SqliteStore;
let cleanup: () => void;
let calls: number[];

beforeEach(async () => {
  const tmp = tempDir();
  cleanup = tmp.cleanup;
  store = new SqliteStore({ path: join(tmp.dir, 'b.db') });
  await store.migrate();
  await new Admin(store, SecretBox.fromKey(randomBytes(32))).addProducer({ id: PRODUCER, secret: SECRET });
  calls = [];
});
afterEach(async () => {
  await store.close();
  cleanup();
});

function accept(i: number, key: string | null = `key-${i}`): AcceptRequest {
  return {
    signal: {
      id: `sig_${String(i).padStart(26, '0')}`,
      producerId: PRODUCER,
      idempotencyKey: key,
      instrument: 'GOLD',
      side: 'buy',
      status: 'received',
      message: null,
      body: BODY,
      receivedAt: NOW,
      decidedAt: null,
      decidedBy: null,
    },
    requestHash: `hash-${i}`,
    idempotencyExpiresAt: NOW + 86_400_000,
    signature: `signature-${i}`,
    signedAt: NOW,
    signatureExpiresAt: NOW + 600_000,
    response: { status: 201, body: `{"n":${i}}` },
  };
}

/** The real store, counting the size of each committed batch; `hold` delays each commit. */
function counting(hold?: () => Promise<void>): Store {
  return withOverride(store, {
    acceptBatch: async (batch: readonly AcceptRequest[]) => {
      calls.push(batch.length);
      if (hold) await hold();
      return store.acceptBatch(batch);
    },
  });
}

describe('Batcher (group commit)', () => {
  it('commits the requests of one event-loop turn in one acceptBatch call, in order', async () => {
    const batcher = new Batcher(counting(), { maxBatchSize: 100 });
    const results = await Promise.all([0, 1, 2, 3, 4].map((i) => batcher.accept(accept(i))));
    expect(calls).toEqual([5]);
    expect(results).toEqual(Array(5).fill({ outcome: 'stored' }));
    expect((await store.listSignals({})).items).toHaveLength(5);
  });

  it('gives each request its own result, deciding later items against earlier ones', async () => {
    const batcher = new Batcher(counting(), { maxBatchSize: 100 });
    const other = accept(1, 'other-key');
    const twin = { ...other, signal: { ...other.signal, id: `sig_${'9'.repeat(26)}` } };
    const results = await Promise.all([batcher.accept(accept(1)), batcher.accept(twin)]);
    expect(results).toEqual([{ outcome: 'stored' }, { outcome: 'replayed-signature' }]);
  });

  it('splits a queue longer than maxBatchSize into several transactions', async () => {
    const batcher = new Batcher(counting(), { maxBatchSize: 2 });
    await Promise.all([0, 1, 2, 3, 4].map((i) => batcher.accept(accept(i))));
    expect(calls).toEqual([2, 2, 1]);
  });

  it('lets requests arriving during a commit form the next batch', async () => {
    const gate = deferred();
    let first = true;
    const batcher = new Batcher(
      counting(async () => {
        if (first) {
          first = false;
          await gate.promise;
        }
      }),
      { maxBatchSize: 100 },
    );
    const a = batcher.accept(accept(0));
    await new Promise((r) => setImmediate(r));
    const rest = [1, 2, 3].map((i) => batcher.accept(accept(i)));
    await new Promise((r) => setImmediate(r));
    expect(calls).toEqual([1]);
    gate.resolve();
    await Promise.all([a, ...rest]);
    expect(calls).toEqual([1, 3]);
  });

  it('collects the next batch while the previous one commits in the SQLite writer thread', async () => {
    // Another connection holds the write lock, so the first commit stays in flight until released.
    const blocker = new Database(store.path);
    blocker.exec('BEGIN IMMEDIATE');
    const batcher = new Batcher(counting(), { maxBatchSize: 100 });
    const first = batcher.accept(accept(0));
    await new Promise((r) => setImmediate(r));
    const rest = [1, 2, 3].map((i) => batcher.accept(accept(i)));
    await new Promise((r) => setImmediate(r));
    expect(calls).toEqual([1]);
    expect(batcher.queued).toBe(3);
    blocker.exec('ROLLBACK');
    blocker.close();
    expect(await Promise.all([first, ...rest])).toEqual(Array(4).fill({ outcome: 'stored' }));
    expect(calls).toEqual([1, 3]);
  });

  it('hands the next batch to the store before answering the batch just committed', async () => {
    const gate = deferred();
    const events: string[] = [];
    let first = true;
    const batcher = new Batcher(
      counting(async () => {
        events.push(`commit ${calls.length}`);
        if (first) {
          first = false;
          await gate.promise;
        }
      }),
      { maxBatchSize: 100 },
    );
    const a = batcher.accept(accept(0)).then(() => events.push('answer 1'));
    await new Promise((r) => setImmediate(r));
    const b = batcher.accept(accept(1)).then(() => events.push('answer 2'));
    gate.resolve();
    await Promise.all([a, b]);
    expect(events).toEqual(['commit 1', 'commit 2', 'answer 1', 'answer 2']);
  });

  it('rejects every request of a failed batch, and only those', async () => {
    let fail = true;
    const failing = withOverride(store, {
      acceptBatch: async (batch: readonly AcceptRequest[]) => {
        if (fail) {
          fail = false;
          throw new Error('SQLITE_FULL');
        }
        return store.acceptBatch(batch);
      },
    });
    const batcher = new Batcher(failing, { maxBatchSize: 100 });
    const failed = await Promise.allSettled([batcher.accept(accept(0)), batcher.accept(accept(1))]);
    expect(failed.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(await batcher.accept(accept(2))).toEqual({ outcome: 'stored' });
  });

  it('sends up to maxInFlight batches before the first comes back, and the next when one does', async () => {
    const gates = [deferred(), deferred(), deferred()];
    let held = 0;
    const batcher = new Batcher(
      counting(() => gates[held++]?.promise ?? Promise.resolve()),
      { maxBatchSize: 100, maxInFlight: 2 },
    );
    const turn = () => new Promise((r) => setImmediate(r));
    const a = batcher.accept(accept(0));
    await turn();
    const b = batcher.accept(accept(1));
    await turn();
    const c = [2, 3].map((i) => batcher.accept(accept(i)));
    await turn();
    await turn();
    expect(calls).toEqual([1, 1]); // two in flight; the third batch waits
    expect(batcher.queued).toBe(2);
    gates[0]?.resolve();
    await a;
    await vi.waitFor(() => expect(calls).toEqual([1, 1, 2]));
    for (const gate of gates) gate.resolve();
    expect(await Promise.all([b, ...c])).toEqual(Array(3).fill({ outcome: 'stored' }));
    await batcher.drain();
  });

  it('with batches in flight in the SQLite writer thread, a failing one fails alone (how the thread commits them together: store/sqlite/transport.test.ts)', async () => {
    // Another connection holds the write lock, so the writer's first commit waits while the next
    // batches queue up behind it in the thread.
    const blocker = new Database(store.path);
    blocker.exec('BEGIN IMMEDIATE');
    const batcher = new Batcher(counting(), { maxBatchSize: 100, maxInFlight: 4 });
    const turn = () => new Promise((r) => setImmediate(r));
    const first = batcher.accept(accept(0));
    await turn();
    const second = batcher.accept(accept(1));
    await turn();
    // The same signal id as the second: its batch fails with a conflict, inside the same group.
    const clash = accept(2);
    const third = batcher.accept({ ...clash, signal: { ...clash.signal, id: accept(1).signal.id } });
    await turn();
    const fourth = batcher.accept(accept(3));
    await turn();
    expect(calls).toEqual([1, 1, 1, 1]);
    blocker.exec('ROLLBACK');
    blocker.close();
    const settled = await Promise.allSettled([first, second, third, fourth]);
    expect(settled.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    expect((settled[2] as PromiseRejectedResult).reason).toMatchObject({ code: 'STORE_CONFLICT' });
    expect((await store.listSignals({})).items.map((s) => s.id).sort()).toEqual(
      [0, 1, 3].map((i) => accept(i).signal.id),
    );
  });

  it('drain resolves once everything queued is committed', async () => {
    const batcher = new Batcher(counting(), { maxBatchSize: 1 });
    const pending = [0, 1, 2].map((i) => batcher.accept(accept(i)));
    await batcher.drain();
    expect(batcher.queued).toBe(0);
    expect((await store.listSignals({})).items).toHaveLength(3);
    await Promise.all(pending);
    await batcher.drain(); // idle: resolves at once
  });
});
