import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { SignalValidationError } from '../errors.js';
import { isOutboxError, OutboxError, OutboxKeyConflictError } from './errors.js';
import { Outbox } from './outbox.js';
import { configureConnection, OutboxStore } from './store.js';
import { fakeTime, recordingLogger, type TempDir, tempDir, validSignal } from './test-helpers/fixtures.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

let dir: TempDir;
let outbox: Outbox;

beforeEach(() => {
  dir = tempDir();
  outbox = Outbox.open(dir.file('outbox.db'), { logger: recordingLogger() });
});

afterEach(async () => {
  await outbox.close();
  dir.remove();
});

describe('Outbox.open', () => {
  test('leaves the file in WAL mode', () => {
    outbox.enqueue(validSignal());
    const db = new Database(outbox.path, { readonly: true });
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    } finally {
      db.close();
    }
  });

  test('configures its connection with synchronous=FULL, so a commit is fsynced before enqueue returns', () => {
    const db = new Database(dir.file('probe.db'));
    try {
      db.pragma('synchronous = OFF');
      configureConnection(db);
      expect(db.pragma('synchronous', { simple: true })).toBe(2);
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    } finally {
      db.close();
    }
  });

  test("relaxes to synchronous=NORMAL only inside the worker's own transactions, then restores FULL", () => {
    const db = new Database(dir.file('probe.db'));
    try {
      configureConnection(db);
      const store = new OutboxStore(db);
      expect(store.relaxed(() => db.pragma('synchronous', { simple: true }))).toBe(1);
      expect(db.pragma('synchronous', { simple: true })).toBe(2);
      expect(() =>
        store.relaxed(() => {
          throw new Error('boom');
        }),
      ).toThrow('boom');
      expect(db.pragma('synchronous', { simple: true })).toBe(2);
    } finally {
      db.close();
    }
  });

  test('creates the missing parent directories of the path', async () => {
    const nested = Outbox.open(dir.file('a/b/outbox.db'), { logger: recordingLogger() });
    expect(nested.path).toBe(dir.file('a/b/outbox.db'));
    await nested.close();
  });

  test('creates the file, its -wal and -shm readable by the owner only (0600), and a new directory 0700', async () => {
    const path = dir.file('private/outbox.db');
    const created = Outbox.open(path, { logger: recordingLogger() });
    created.enqueue(validSignal());
    try {
      for (const file of [path, `${path}-wal`, `${path}-shm`]) {
        expect([file, statSync(file).mode & 0o777]).toEqual([file, 0o600]);
      }
      expect(statSync(dir.file('private')).mode & 0o777).toBe(0o700);
    } finally {
      await created.close();
    }
  });

  test('with create: false, refuses a missing file (OUTBOX_NOT_FOUND) and creates nothing', () => {
    const path = dir.file('outbx.db');
    let error: unknown;
    try {
      Outbox.open(path, { logger: recordingLogger(), create: false });
    } catch (e) {
      error = e;
    }
    expect(isOutboxError(error)).toBe(true);
    expect((error as OutboxError).code).toBe('OUTBOX_NOT_FOUND');
    expect((error as Error).message).toBe(`No outbox at ${path}: the file does not exist`);
    expect(existsSync(path)).toBe(false);
  });

  test.each([true, false])(
    "refuses another program's SQLite file (OUTBOX_NOT_AN_OUTBOX, create: %s) without writing to it",
    (create) => {
      const path = dir.file(`foreign-${create}.db`);
      const foreign = new Database(path);
      foreign.exec('CREATE TABLE accounts (id INTEGER PRIMARY KEY)');
      foreign.close();
      const before = readFileSync(path);
      let error: unknown;
      try {
        Outbox.open(path, { logger: recordingLogger(), create });
      } catch (e) {
        error = e;
      }
      expect((error as OutboxError).code).toBe('OUTBOX_NOT_AN_OUTBOX');
      expect((error as Error).message).toBe(
        `${path} is not a Sigpost outbox: the database has no outbox tables; nothing was written to it`,
      );
      expect(readFileSync(path).equals(before)).toBe(true);
      expect(existsSync(`${path}-wal`)).toBe(false);
    },
  );

  test('with create: false, refuses an empty file (OUTBOX_NOT_AN_OUTBOX) and leaves it empty', () => {
    const path = dir.file('empty.db');
    writeFileSync(path, '');
    expect(() => Outbox.open(path, { logger: recordingLogger(), create: false })).toThrow(
      `${path} is not a Sigpost outbox: the file is empty; nothing was written to it`,
    );
    expect(statSync(path).size).toBe(0);
  });

  test('with create: false, opens an existing outbox', async () => {
    outbox.enqueue(validSignal());
    const again = Outbox.open(outbox.path, { logger: recordingLogger(), create: false });
    try {
      expect(again.status().pending).toBe(1);
    } finally {
      await again.close();
    }
  });

  test('refuses a file written by a newer schema version', () => {
    const path = dir.file('newer.db');
    const db = new Database(path);
    db.pragma('user_version = 99');
    db.close();
    let error: unknown;
    try {
      Outbox.open(path, { logger: recordingLogger() });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(OutboxError);
    expect((error as OutboxError).code).toBe('OUTBOX_SCHEMA_UNSUPPORTED');
    expect((error as Error).message).toBe(
      `Outbox ${path} has schema version 99; this version of @sigpost/outbound reads up to 1`,
    );
  });

  test('wraps a file that is not a database in OUTBOX_OPEN_FAILED, with the cause', () => {
    const path = dir.file('garbage.db');
    writeFileSync(path, 'this is not an SQLite database, just text that is long enough to have a header');
    let error: unknown;
    try {
      Outbox.open(path, { logger: recordingLogger() });
    } catch (e) {
      error = e;
    }
    expect(isOutboxError(error)).toBe(true);
    expect((error as OutboxError).code).toBe('OUTBOX_OPEN_FAILED');
    expect((error as Error).message).toBe(`Cannot open outbox ${path}: file is not a database`);
    expect((error as Error).cause).toBeInstanceOf(Error);
  });

  test('refuses a logger without the pino methods', () => {
    expect(() => Outbox.open(dir.file('x.db'), { logger: {} as never })).toThrow(
      'Expected `logger` to be a pino-compatible logger, missing debug(), info(), warn(), error(), fatal()',
    );
  });
});

describe('enqueue', () => {
  test('stores the signal as pending and assigns a fresh UUID idempotency key', () => {
    const result = outbox.enqueue(validSignal(1));
    expect(result.idempotencyKey).toMatch(UUID);
    expect(result.duplicate).toBe(false);
    const entry = outbox.get(result.id);
    expect(entry).toMatchObject({
      state: 'pending',
      attempts: 0,
      instrument: 'GOLD',
      idempotencyKey: result.idempotencyKey,
      signal: validSignal(1),
      response: null,
      lastError: null,
    });
  });

  test('keeps the idempotency key the caller gives', () => {
    expect(outbox.enqueue(validSignal(), { idempotencyKey: 'sig-20251025-001' }).idempotencyKey).toBe(
      'sig-20251025-001',
    );
  });

  test('gives two enqueues of the same signal two different keys', () => {
    const a = outbox.enqueue(validSignal());
    const b = outbox.enqueue(validSignal());
    expect(a.idempotencyKey).not.toBe(b.idempotencyKey);
    expect(b.id).toBe(a.id + 1);
  });

  test('survives closing and reopening the file: the entry is on disk', async () => {
    const { id, idempotencyKey } = outbox.enqueue(validSignal(7));
    await outbox.close();
    outbox = Outbox.open(dir.file('outbox.db'), { logger: recordingLogger() });
    expect(outbox.get(id)).toMatchObject({ idempotencyKey, state: 'pending', signal: validSignal(7) });
  });

  test('returns the existing entry when the same key and signal are enqueued again', () => {
    const first = outbox.enqueue(validSignal(), { idempotencyKey: 'k-1' });
    const again = outbox.enqueue(validSignal(), { idempotencyKey: 'k-1' });
    expect(again).toEqual({ id: first.id, idempotencyKey: 'k-1', duplicate: true });
    expect(outbox.status().pending).toBe(1);
  });

  test('refuses the same key with a different signal', () => {
    const first = outbox.enqueue(validSignal(1), { idempotencyKey: 'k-1' });
    let error: unknown;
    try {
      outbox.enqueue(validSignal(2), { idempotencyKey: 'k-1' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(OutboxKeyConflictError);
    expect((error as OutboxKeyConflictError).code).toBe('OUTBOX_KEY_CONFLICT');
    expect((error as OutboxKeyConflictError).entryId).toBe(first.id);
    expect((error as Error).message).toBe(
      `Idempotency key "k-1" is already used by entry ${first.id} with a different signal, in outbox ${outbox.path}`,
    );
  });

  test('refuses an invalid signal with every problem listed, and stores nothing', () => {
    const signal = { ...validSignal(), stop_loss: 1955, confidence: 2 };
    let error: unknown;
    try {
      outbox.enqueue(signal);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SignalValidationError);
    expect((error as SignalValidationError).errors).toEqual([
      'confidence: expected a number from 0 to 1',
      'stop_loss: expected below entry_price for a buy',
    ]);
    expect(outbox.status().pending).toBe(0);
  });

  test('writes a Date timestamp as postSignal does: UTC with microseconds', () => {
    const { id } = outbox.enqueue({
      ...validSignal(),
      timestamp: new Date(Date.UTC(2025, 9, 25, 14, 30, 45, 123)),
    });
    expect(outbox.get(id)?.signal.timestamp).toBe('2025-10-25T14:30:45.123000Z');
  });

  test('refuses an invalid Date as postSignal does, naming the item', () => {
    expect(() =>
      outbox.enqueueMany([validSignal(), { ...validSignal(), timestamp: new Date(Number.NaN) }]),
    ).toThrow('[1] timestamp: expected a valid Date, received Invalid Date');
    expect(outbox.status().pending).toBe(0);
  });

  test('refuses a payload that cannot be serialised, and stores nothing', () => {
    expect(() => outbox.enqueue({ ...validSignal(), payload: { big: 1n } })).toThrow(
      'Signal failed validation (1 problem); nothing was sent:\n  payload: expected JSON-serialisable values (Do not know how to serialize a BigInt)',
    );
    expect(outbox.status().pending).toBe(0);
  });

  test('refuses a malformed idempotency key, naming the option', () => {
    expect(() => outbox.enqueue(validSignal(), { idempotencyKey: 'has space' })).toThrow(
      'Expected `idempotencyKey` to be 1–255 visible ASCII characters, received 9 characters',
    );
  });
});

describe('enqueueMany', () => {
  test('stores every signal in one transaction, in order, keys given or assigned', () => {
    const results = outbox.enqueueMany([validSignal(1), { signal: validSignal(2), idempotencyKey: 'two' }]);
    expect(results.map((r) => r.idempotencyKey)).toEqual([expect.stringMatching(UUID), 'two']);
    expect(results[1]!.id).toBe(results[0]!.id + 1);
    expect(outbox.status().pending).toBe(2);
  });

  test('stores none when one signal is invalid, naming it by index', () => {
    let error: unknown;
    try {
      outbox.enqueueMany([validSignal(1), { ...validSignal(2), side: 'hold' as never }, validSignal(3)]);
    } catch (e) {
      error = e;
    }
    expect((error as SignalValidationError).errors).toEqual(['[1] side: expected "buy" or "sell"']);
    expect(outbox.status().pending).toBe(0);
  });

  test('stores none when a key conflicts inside the batch', () => {
    expect(() =>
      outbox.enqueueMany([
        { signal: validSignal(1), idempotencyKey: 'same' },
        { signal: validSignal(2), idempotencyKey: 'same' },
      ]),
    ).toThrow(OutboxKeyConflictError);
    expect(outbox.status().pending).toBe(0);
  });
});

describe('status, dead, retryDead, prune', () => {
  test('counts entries per state and reports the oldest pending age on the outbox clock', async () => {
    const time = fakeTime();
    await outbox.close();
    outbox = Outbox.open(dir.file('outbox.db'), { logger: recordingLogger(), clock: time.clock });
    expect(outbox.status()).toEqual({
      pending: 0,
      inFlight: 0,
      delivered: 0,
      dead: 0,
      oldestPendingAgeMs: null,
      nextAttemptAt: null,
      waiting: 0,
    });
    const first = time.clock();
    outbox.enqueue(validSignal(1));
    time.advance(1500);
    outbox.enqueue(validSignal(2));
    time.advance(500);
    expect(outbox.status()).toEqual({
      pending: 2,
      inFlight: 0,
      delivered: 0,
      dead: 0,
      oldestPendingAgeMs: 2000,
      nextAttemptAt: first,
      waiting: 0,
    });
  });

  test('reports the soonest next attempt and how many entries wait for a backoff; retryWaitingNow makes them due', async () => {
    const time = fakeTime();
    await outbox.close();
    outbox = Outbox.open(dir.file('outbox.db'), { logger: recordingLogger(), clock: time.clock });
    const [a, b, c] = outbox.enqueueMany([validSignal(1), validSignal(2), validSignal(3)]);
    const now = time.clock();
    const db = new Database(outbox.path);
    const setNext = db.prepare('UPDATE outbox_entries SET next_attempt_at = ?, attempts = 2 WHERE id = ?');
    setNext.run(now + 30_000, a!.id);
    setNext.run(now + 90_000, b!.id);
    db.prepare("UPDATE outbox_entries SET state = 'dead', next_attempt_at = ? WHERE id = ?").run(
      now + 5,
      c!.id,
    );
    db.close();
    expect(outbox.status()).toMatchObject({ pending: 2, nextAttemptAt: now + 30_000, waiting: 2 });

    expect(outbox.retryWaitingNow()).toBe(2);
    expect(outbox.status()).toMatchObject({ pending: 2, nextAttemptAt: now, waiting: 0 });
    // Attempts are kept: the backoff is skipped, not the retry policy.
    expect(outbox.get(a!.id)).toMatchObject({ state: 'pending', attempts: 2, nextAttemptAt: now });
    expect(outbox.get(c!.id)).toMatchObject({ state: 'dead', nextAttemptAt: now + 5 });
    expect(outbox.retryWaitingNow()).toBe(0);
  });

  test('lists dead entries with their last error, and retryDead moves them back with attempts reset', () => {
    const a = outbox.enqueue(validSignal(1));
    const b = outbox.enqueue(validSignal(2));
    const db = new Database(outbox.path);
    db.prepare(
      "UPDATE outbox_entries SET state = 'dead', attempts = 3, last_error = 'POST … failed with 400', finished_at = 1 WHERE id IN (?, ?)",
    ).run(a.id, b.id);
    db.close();
    expect(outbox.dead().map((e) => [e.id, e.attempts, e.lastError])).toEqual([
      [a.id, 3, 'POST … failed with 400'],
      [b.id, 3, 'POST … failed with 400'],
    ]);
    expect(outbox.retryDead([b.id])).toBe(1);
    expect(outbox.get(b.id)).toMatchObject({ state: 'pending', attempts: 0, finishedAt: null });
    expect(outbox.dead().map((e) => e.id)).toEqual([a.id]);
    expect(outbox.retryDead()).toBe(1);
    expect(outbox.status()).toMatchObject({ pending: 2, dead: 0 });
  });

  test('prune deletes delivered entries finished before the given time and nothing else', () => {
    const a = outbox.enqueue(validSignal(1));
    const b = outbox.enqueue(validSignal(2));
    outbox.enqueue(validSignal(3));
    const db = new Database(outbox.path);
    db.prepare("UPDATE outbox_entries SET state = 'delivered', finished_at = ? WHERE id = ?").run(100, a.id);
    db.prepare("UPDATE outbox_entries SET state = 'delivered', finished_at = ? WHERE id = ?").run(300, b.id);
    db.close();
    expect(outbox.prune({ deliveredBefore: 200 })).toBe(1);
    expect(outbox.get(a.id)).toBeUndefined();
    expect(outbox.status()).toMatchObject({ pending: 1, delivered: 1 });
  });

  test('refuses every call after close with OUTBOX_CLOSED', async () => {
    await outbox.close();
    expect(() => outbox.enqueue(validSignal())).toThrow(`Outbox ${outbox.path} is closed`);
    expect(() => outbox.status()).toThrow(OutboxError);
  });
});
