import { hostname } from 'node:os';
import { INGEST_RESPONSE } from '@sigpost/test-support/fixtures';
import {
  type Answer,
  type IngestRequest,
  type IngestServer,
  startIngestServer,
} from '@sigpost/test-support/ingest-server';
import Database from 'better-sqlite3';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { DeliveryAlerts } from '../alerts/delivery-alerts.js';
import { HmacClient } from '../client.js';
import { OutboundConfig } from '../config.js';
import { OutboundDisabledError } from '../errors.js';
import { createOutboundMetrics, type OutboundMetrics } from '../metrics.js';
import { OutboxLockedError } from './errors.js';
import { Outbox } from './outbox.js';
import {
  type FakeTime,
  fakeTime,
  PRODUCER_ID,
  type RecordingLogger,
  recordingLogger,
  recordingSink,
  SECRET,
  type TempDir,
  tempDir,
  validSignal,
} from './test-helpers/fixtures.js';
import type { DeliveryStateChange } from './worker.js';

let dir: TempDir;
let logger: RecordingLogger;
let time: FakeTime;
let metrics: OutboundMetrics;
let outbox: Outbox;
let server: IngestServer | undefined;
let client: HmacClient | undefined;
const cleanups: (() => Promise<void> | void)[] = [];

beforeEach(() => {
  dir = tempDir();
  logger = recordingLogger();
  time = fakeTime();
  metrics = createOutboundMetrics(new Registry());
  outbox = Outbox.open(dir.file('outbox.db'), { logger, metrics, clock: time.clock });
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await client?.close();
  await outbox.close();
  await server?.close();
  client = undefined;
  server = undefined;
  dir.remove();
});

/** The fake ingest server: signatures checked, idempotency keys replayed, each signal its own id. */
async function startServer(fault?: (request: IngestRequest) => Answer | undefined): Promise<IngestServer> {
  server = await startIngestServer({
    producers: { [PRODUCER_ID]: SECRET },
    idempotency: true,
    accept: (request) => ({ ...INGEST_RESPONSE, signal_id: `sig_${request.index}` }),
    ...(fault ? { script: fault } : {}),
  });
  return server;
}

function makeClient(
  overrides: { secret?: string; enabled?: boolean; logger?: RecordingLogger } = {},
): HmacClient {
  const config = new OutboundConfig({
    producerId: PRODUCER_ID,
    producerSecret: overrides.secret ?? SECRET,
    serverBaseUrl: server!.url,
    enabled: overrides.enabled ?? true,
  });
  client = new HmacClient(config, overrides.logger ?? recordingLogger());
  return client;
}

/** The fake time and a fixed jitter, so every backoff is known in advance. */
const timing = () => ({ clock: time.clock, sleep: time.sleep, random: () => 0.5 });

/**
 * Resolves once the server has read `count` requests: wrap a test's fault script with `seen.fault`, and
 * it sees each request as it arrives (an event, not a poll).
 */
function requestsSeen(count: number) {
  let seen = 0;
  let arrived!: () => void;
  const promise = new Promise<void>((resolve) => {
    arrived = resolve;
  });
  return {
    arrived: promise,
    fault:
      (script: (request: IngestRequest) => Answer | undefined) =>
      (request: IngestRequest): Answer | undefined => {
        if (++seen === count) arrived();
        return script(request);
      },
  };
}

/** A pid no process has (kill(pid, 0) fails with ESRCH): what the lock shows after its drain died. */
function deadPid(): number {
  for (let pid = 32_767; pid > 1; pid--) {
    try {
      process.kill(pid, 0);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ESRCH') return pid;
    }
  }
  throw new Error('no free pid below 32768');
}

/** Holds each request for a few ms, so requests overlap as they would against a slower server. */
const slow = (): Answer => ({ hold: new Promise((resolve) => setTimeout(resolve, 3)) });

describe('drain', () => {
  test("delivers every pending entry once and keeps the server's response", async () => {
    await startServer();
    const enqueued = outbox.enqueueMany(Array.from({ length: 20 }, (_, i) => validSignal(i)));
    const summary = await outbox.drain({ client: makeClient(), concurrency: 4, ...timing() });
    expect(summary).toEqual({ delivered: 20, dead: 0, retried: 0, remaining: 0, aborted: false });
    const stored = new Map(server!.signals().map((s) => [s.idempotency_key, s.signal_id]));
    expect(stored.size).toBe(20);
    for (const { id, idempotencyKey } of enqueued) {
      const entry = outbox.get(id)!;
      expect(entry).toMatchObject({ state: 'delivered', attempts: 1, lastHttpCode: 201, lastError: null });
      expect(entry.response?.signal_id).toBe(stored.get(idempotencyKey));
    }
    expect(outbox.status()).toEqual({
      pending: 0,
      inFlight: 0,
      delivered: 20,
      dead: 0,
      oldestPendingAgeMs: null,
      nextAttemptAt: null,
      waiting: 0,
    });
  });

  test('sends the exact enqueued body under the enqueued key, validly signed', async () => {
    await startServer();
    const { idempotencyKey } = outbox.enqueue(validSignal(3));
    await outbox.drain({ client: makeClient(), ...timing() });
    expect(server!.requests).toHaveLength(1);
    const [request] = server!.requests;
    expect(request).toMatchObject({ idempotencyKey, verified: true });
    expect(JSON.parse(request!.text)).toEqual(validSignal(3));
  });

  test('retries a 503 after the scheduled backoff, with the same key and a fresh signature each time', async () => {
    await startServer((r) => (r.index < 2 ? { status: 503 } : undefined));
    const { id, idempotencyKey } = outbox.enqueue(validSignal());
    const summary = await outbox.drain({
      client: makeClient(),
      retry: { baseDelayMs: 1000, maxDelayMs: 10_000 },
      ...timing(),
    });
    expect(summary).toMatchObject({ delivered: 1, retried: 2, dead: 0 });
    // Full jitter with random() = 0.5: half of 1000·2^0, then half of 1000·2^1.
    expect(time.sleeps).toEqual([500, 1000]);
    expect(server!.requests.map((r) => [r.idempotencyKey, r.verified, r.outcome])).toEqual([
      [idempotencyKey, true, 503],
      [idempotencyKey, true, 503],
      [idempotencyKey, true, 201],
    ]);
    expect(new Set(server!.requests.map((r) => r.timestamp)).size).toBe(3);
    expect(outbox.get(id)).toMatchObject({ state: 'delivered', attempts: 3, lastError: null });
  });

  test('persists the next attempt time and last error while an entry waits for its retry', async () => {
    await startServer(() => ({ status: 503 }));
    const { id } = outbox.enqueue(validSignal());
    const stop = new AbortController();
    const drained = outbox.drain({
      client: makeClient(),
      retry: { baseDelayMs: 1000 },
      clock: time.clock,
      random: () => 0.5,
      // The drain waits for its first retry here, and the test looks at the file meanwhile.
      sleep: () => {
        stop.abort();
        return new Promise(() => {});
      },
      signal: stop.signal,
    });
    const summary = await drained;
    expect(summary).toMatchObject({ delivered: 0, retried: 1, remaining: 1, aborted: true });
    const entry = outbox.get(id)!;
    expect(entry.state).toBe('pending');
    expect(entry.attempts).toBe(1);
    expect(entry.nextAttemptAt).toBe(time.clock() + 500);
    expect(entry.lastHttpCode).toBe(503);
    expect(entry.lastErrorCode).toBe('OUTBOUND_HTTP_ERROR');
    expect(entry.lastError).toBe(
      `POST ${server!.url}/api/v1/signals/ingest failed with 503 Service Unavailable: Internal server error (attempt 1/15)`,
    );
  });

  test('reports failing once per change of state and resumed once; a scheduled retry never logs a stop reason', async () => {
    // Three entries fail twice each with 503 (six failed attempts), then the server answers 201.
    await startServer((r) => (r.index < 6 ? { status: 503 } : undefined));
    outbox.enqueueMany([validSignal(1), validSignal(2), validSignal(3)]);
    const clientLogger = recordingLogger();
    const changes: DeliveryStateChange[] = [];
    const summary = await outbox.drain({
      client: makeClient({ logger: clientLogger }),
      retry: { baseDelayMs: 1000 },
      onDeliveryState: (change) => changes.push(change),
      ...timing(),
    });
    expect(summary).toMatchObject({ delivered: 3, retried: 6, dead: 0 });
    const url = `${server!.url}/api/v1/signals/ingest`;
    expect(changes).toEqual([
      {
        state: 'failing',
        url,
        reachable: true,
        reason: '503 Service Unavailable',
        errorCode: 'OUTBOUND_HTTP_ERROR',
        httpCode: 503,
        at: expect.any(Number),
        nextAttemptAt: expect.any(Number),
      },
      { state: 'resumed', url, at: expect.any(Number), failingSince: changes[0]!.at, retried: 6 },
    ]);
    const failing = changes[0] as Extract<DeliveryStateChange, { state: 'failing' }>;
    // random() = 0.5: half of the 1000 ms base.
    expect(failing.nextAttemptAt - failing.at).toBe(500);

    // Every failed attempt was retried: no log line, the client's or the outbox's, reads as a give-up.
    const all = [...clientLogger.lines, ...logger.lines];
    expect(all.filter((l) => 'retry_stop_reason' in l.fields)).toEqual([]);
    expect(clientLogger.text()).not.toContain('attempts-exhausted');
    const scheduled = logger.lines.filter((l) => l.msg === 'outbox delivery failed; retry scheduled');
    expect(scheduled).toHaveLength(6);
    for (const line of scheduled) expect(line.fields).toMatchObject({ retry: 'scheduled', http_code: 503 });
    expect(scheduled[0]!.fields).toMatchObject({
      delay_ms: 500,
      next_attempt_at: new Date(failing.nextAttemptAt).toISOString(),
    });
    expect(clientLogger.lines.map((l) => [l.level, l.msg])).toContainEqual([
      'warn',
      'Signal delivery attempt failed; the caller decides on a retry',
    ]);
  });

  test('on the first delivery after failures, sends at once the entries still waiting out their backoff', async () => {
    // Real time here: a fake sleep would jump over the wait this test is about. Entry 1 fails once
    // (503) and is delivered on its retry 10 ms later. Entries 2 and 3, as after a long outage, wait
    // 8 s for their 7th attempt: the drain must not wait that out once delivery works again.
    await startServer((r) => (r.index === 0 ? { status: 503 } : undefined));
    const real = Outbox.open(dir.file('real-time.db'), { logger });
    cleanups.push(() => real.close());
    const [first, second, third] = real.enqueueMany([validSignal(1), validSignal(2), validSignal(3)]);
    const start = Date.now();
    const file = new Database(real.path);
    file
      .prepare(
        'UPDATE outbox_entries SET attempts = 6, first_attempt_at = ?, next_attempt_at = ? WHERE id > ?',
      )
      .run(start - 60_000, start + 8_000, first!.id);
    file.close();
    const changes: DeliveryStateChange[] = [];
    const summary = await real.drain({
      client: makeClient(),
      retry: { baseDelayMs: 20 },
      onDeliveryState: (change) => changes.push(change),
      random: () => 0.5,
    });
    expect(summary).toMatchObject({ delivered: 3, retried: 1, dead: 0, remaining: 0 });
    expect(changes.map((c) => c.state)).toEqual(['failing', 'resumed']);
    const resumedAt = real.get(first!.id)!.finishedAt!;
    for (const { id } of [second!, third!]) {
      const entry = real.get(id)!;
      // Delivered right after the first success (not 8 s later), attempt counts and deadline kept.
      expect(entry).toMatchObject({ state: 'delivered', attempts: 7 });
      expect(entry.finishedAt! - resumedAt).toBeLessThan(4_000);
    }
    const after = new Database(real.path, { readonly: true });
    const firsts = after
      .prepare('SELECT first_attempt_at AS at FROM outbox_entries WHERE id > ?')
      .all(first!.id);
    after.close();
    expect(firsts).toEqual([{ at: start - 60_000 }, { at: start - 60_000 }]);
  });

  test('waits as long as a 429 Retry-After asks', async () => {
    await startServer((r) => (r.index === 0 ? { status: 429, retryAfter: '7' } : undefined));
    outbox.enqueue(validSignal());
    await outbox.drain({ client: makeClient(), ...timing() });
    expect(time.sleeps).toEqual([7000]);
    expect(server!.requests.map((r) => r.outcome)).toEqual([429, 201]);
  });

  test('moves an entry to dead-letter at once on a permanent refusal (401), keeping the error', async () => {
    await startServer();
    const sink = recordingSink();
    const { id, idempotencyKey } = outbox.enqueue(validSignal());
    const summary = await outbox.drain({
      client: makeClient({ secret: 'a-wrong-secret-of-enough-bytes' }),
      alerts: new DeliveryAlerts(sink, { clock: time.clock }),
      ...timing(),
    });
    expect(summary).toMatchObject({ delivered: 0, dead: 1, retried: 0, remaining: 0 });
    expect(time.sleeps).toEqual([]);
    const lastError = `POST ${server!.url}/api/v1/signals/ingest failed with 401 Unauthorized: Unknown producer or invalid signature — Check the producer id and its secret.`;
    expect(outbox.dead()).toEqual([
      expect.objectContaining({
        id,
        attempts: 1,
        lastHttpCode: 401,
        lastErrorCode: 'OUTBOUND_HTTP_ERROR',
        lastError: `${lastError} (attempt 1/15)`,
      }),
    ]);
    expect(sink.alerts.filter((a) => a.kind === 'dead_letter').map((a) => a.text)).toEqual([
      `Signal moved to dead-letter after 1 attempt: GOLD, idempotency key ${idempotencyKey}; last error: ${lastError}`,
    ]);
    expect(logger.lines.find((l) => l.msg === 'outbox entry moved to dead-letter')?.fields).toMatchObject({
      idempotency_key: idempotencyKey,
      http_code: 401,
      retry_stop_reason: 'not-retryable',
    });
  });

  test('moves an entry to dead-letter after the attempt limit, and retryDead sends it again', async () => {
    let failing = true;
    await startServer(() => (failing ? { status: 503 } : undefined));
    const { id } = outbox.enqueue(validSignal());
    const clientLogger = recordingLogger();
    const first = await outbox.drain({
      client: makeClient({ logger: clientLogger }),
      retry: { limit: 3 },
      ...timing(),
    });
    expect(first).toMatchObject({ delivered: 0, dead: 1, retried: 2 });
    // The tally is the outbox's (3 of 3), not the client's single attempt under retry: false (1/1).
    expect(outbox.get(id)).toMatchObject({
      state: 'dead',
      attempts: 3,
      lastHttpCode: 503,
      lastError: `POST ${server!.url}/api/v1/signals/ingest failed with 503 Service Unavailable: Internal server error (attempt 3/3)`,
    });
    const outboxLines = logger.lines.filter((l) => l.msg.startsWith('outbox ') && 'attempt' in l.fields);
    expect(outboxLines.map((l) => [l.fields.attempt, l.fields.attempt_limit])).toEqual([
      [1, 3],
      [2, 3],
      [3, 3],
    ]);
    const clientLines = clientLogger.lines.filter((l) => l.level === 'warn');
    expect(clientLines).toHaveLength(3);
    for (const line of clientLines) {
      expect(line.fields).not.toHaveProperty('attempt_limit');
      expect(String(line.fields.error_message)).not.toMatch(/\(attempt \d+\/\d+\)/);
    }
    failing = false;
    expect(outbox.retryDead()).toBe(1);
    const second = await outbox.drain({ client: makeClient(), retry: { limit: 3 }, ...timing() });
    expect(second).toMatchObject({ delivered: 1, dead: 0 });
    expect(outbox.get(id)).toMatchObject({ state: 'delivered', attempts: 1 });
  });

  test('re-sends a signal whose answer was lost under the same key, and the server stores it once', async () => {
    await startServer((r) => (r.index === 0 ? 'commit-then-drop' : undefined));
    const { id, idempotencyKey } = outbox.enqueue(validSignal());
    const summary = await outbox.drain({ client: makeClient(), ...timing() });
    expect(summary).toMatchObject({ delivered: 1, retried: 1 });
    const stored = server!.signals();
    expect(stored).toHaveLength(1);
    expect(server!.requests.map((r) => [r.idempotencyKey, r.outcome, r.replayed])).toEqual([
      [idempotencyKey, 'dropped', false],
      [idempotencyKey, 201, true],
    ]);
    expect(outbox.get(id)?.response?.signal_id).toBe(stored[0]!.signal_id);
  });

  test('never has more requests in flight than its concurrency', async () => {
    await startServer(slow);
    outbox.enqueueMany(Array.from({ length: 24 }, (_, i) => validSignal(i)));
    await outbox.drain({ client: makeClient(), concurrency: 3, ...timing() });
    expect(server!.concurrency.max).toBe(3);
    expect(server!.signals()).toHaveLength(24);
  });

  describe("preserveOrder: 'instrument'", () => {
    const instruments = ['GOLD', 'EURUSD', 'BTC/USD'];
    const enqueueInterleaved = () =>
      outbox.enqueueMany(Array.from({ length: 30 }, (_, i) => validSignal(i, instruments[i % 3])));
    const storedOrder = (instrument: string) =>
      server!
        .signals()
        .filter((s) => s.instrument === instrument)
        .map((s) => (JSON.parse(s.body) as { payload: { n: number } }).payload.n);
    const enqueueOrder = (instrument: string) =>
      Array.from({ length: 30 }, (_, i) => i).filter((i) => instruments[i % 3] === instrument);

    test('never has two entries of one instrument in flight, and delivers each in enqueue order', async () => {
      let eurusdSeen = 0;
      // The second EURUSD request fails once: the entries after it must wait for its retry.
      await startServer((r) => {
        if (r.instrument === 'EURUSD' && ++eurusdSeen === 2) return { status: 503 };
        return slow();
      });
      enqueueInterleaved();
      const summary = await outbox.drain({
        client: makeClient(),
        concurrency: 8,
        preserveOrder: 'instrument',
        ...timing(),
      });
      expect(summary).toMatchObject({ delivered: 30, retried: 1 });
      expect(server!.concurrency.maxPerInstrument).toBe(1);
      for (const instrument of instruments) expect(storedOrder(instrument)).toEqual(enqueueOrder(instrument));
    });

    test('without it, entries of one instrument do overlap (the check above can fail)', async () => {
      await startServer(slow);
      enqueueInterleaved();
      await outbox.drain({ client: makeClient(), concurrency: 8, ...timing() });
      expect(server!.concurrency.maxPerInstrument).toBeGreaterThan(1);
    });

    test('a dead entry no longer holds back the entries after it', async () => {
      await startServer((r) => (r.index === 0 ? { status: 400, code: 'invalid-signal' } : undefined));
      outbox.enqueueMany([validSignal(0, 'GOLD'), validSignal(1, 'GOLD')]);
      const summary = await outbox.drain({ client: makeClient(), preserveOrder: 'instrument', ...timing() });
      expect(summary).toMatchObject({ delivered: 1, dead: 1 });
      expect(storedOrder('GOLD')).toEqual([1]);
    });
  });

  test('refuses a second drain of the same file while the first runs, then allows it', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const seen = requestsSeen(1);
    await startServer(seen.fault(() => ({ hold: held })));
    outbox.enqueue(validSignal());
    const first = outbox.drain({ client: makeClient(), ...timing() });
    await seen.arrived;
    const other = Outbox.open(outbox.path, { logger: recordingLogger() });
    cleanups.push(() => other.close());
    let error: unknown;
    try {
      await other.drain({ client: client! });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(OutboxLockedError);
    expect((error as OutboxLockedError).holderPid).toBe(process.pid);
    expect((error as Error).message).toBe(
      `Outbox ${outbox.path} is being drained by process ${process.pid} on ${hostname()}; only one drain runs at a time`,
    );
    release();
    await first;
    expect(await other.drain({ client: client! })).toMatchObject({ delivered: 0, remaining: 0 });
  });

  test('stops with OUTBOX_LOCK_LOST when another drain took its lock over', async () => {
    const seen = requestsSeen(1);
    await startServer(seen.fault(() => ({ hold: new Promise(() => {}) })));
    outbox.enqueue(validSignal());
    // A short lease, renewed every 10 ms by a real timer: the takeover below is seen at the next renewal.
    const drained = outbox.drain({ client: makeClient(), lockTtlMs: 30, ...timing() });
    await seen.arrived;
    const db = new Database(outbox.path);
    db.prepare("UPDATE outbox_lock SET owner = 'someone-else'").run();
    db.close();
    await expect(drained).rejects.toThrow(
      `Lost the drain lock of outbox ${outbox.path}: another drain took it over after this one stalled`,
    );
    expect(outbox.status()).toMatchObject({ pending: 1, inFlight: 0 });
  });

  test('takes back the in-flight claims of a drain whose process died, and delivers them', async () => {
    await startServer();
    const { id } = outbox.enqueue(validSignal());
    const dead = deadPid();
    const db = new Database(outbox.path);
    db.prepare("UPDATE outbox_entries SET state = 'in_flight' WHERE id = ?").run(id);
    db.prepare(
      "INSERT INTO outbox_lock (name, owner, pid, host, expires_at) VALUES ('drain', 'crashed', ?, ?, ?)",
    ).run(dead, hostname(), Date.now() + 3_600_000);
    db.close();
    expect(outbox.status().inFlight).toBe(1);
    const summary = await outbox.drain({ client: makeClient(), ...timing() });
    expect(summary).toMatchObject({ delivered: 1, remaining: 0 });
    expect(outbox.get(id)?.state).toBe('delivered');
  });

  test('stops on abort: requests in flight are aborted and their entries stay pending, attempts unchanged', async () => {
    const seen = requestsSeen(2);
    await startServer(seen.fault(() => ({ hold: new Promise(() => {}) })));
    outbox.enqueueMany([validSignal(1), validSignal(2)]);
    const stop = new AbortController();
    const drained = outbox.drain({ client: makeClient(), concurrency: 2, signal: stop.signal, ...timing() });
    await seen.arrived;
    stop.abort();
    expect(await drained).toEqual({ delivered: 0, dead: 0, retried: 0, remaining: 2, aborted: true });
    expect(outbox.status()).toMatchObject({ pending: 2, inFlight: 0 });
    expect(outbox.dead()).toEqual([]);
    expect(outbox.get(1)?.attempts).toBe(0);
  });

  test("with until: 'stopped', picks up entries enqueued while it runs", async () => {
    const seen = requestsSeen(1);
    await startServer(seen.fault(() => undefined));
    const stop = new AbortController();
    const progress: number[] = [];
    const drained = outbox.drain({
      client: makeClient(),
      until: 'stopped',
      signal: stop.signal,
      onProgress: (p) => {
        progress.push(p.delivered);
        if (p.delivered === 2) stop.abort();
      },
      ...timing(),
    });
    outbox.enqueue(validSignal(1));
    // The drain found the first entry and sent it: the second arrives while it runs.
    await seen.arrived;
    outbox.enqueue(validSignal(2));
    expect(await drained).toMatchObject({ delivered: 2, remaining: 0, aborted: true });
    expect(progress.at(-1)).toBe(2);
  });

  test('stops with OutboundDisabledError when delivery is disabled, leaving entries pending', async () => {
    await startServer();
    outbox.enqueue(validSignal());
    await expect(
      outbox.drain({ client: makeClient({ enabled: false }), ...timing() }),
    ).rejects.toBeInstanceOf(OutboundDisabledError);
    expect(outbox.status()).toMatchObject({ pending: 1, inFlight: 0, dead: 0 });
    expect(server!.requests).toHaveLength(0);
  });

  test('stops on a programmer error from the client instead of dead-lettering everything', async () => {
    outbox.enqueueMany([validSignal(1), validSignal(2)]);
    const broken = {
      postSignal: () => Promise.reject(new TypeError('Cannot read properties of undefined')),
    };
    await expect(outbox.drain({ client: broken, ...timing() })).rejects.toThrow(
      'Cannot read properties of undefined',
    );
    expect(outbox.status()).toMatchObject({ pending: 2, dead: 0, inFlight: 0 });
  });

  test('raises a failing alert after consecutive failures, then one recovery message', async () => {
    await startServer((r) => (r.index < 3 ? { status: 503 } : undefined));
    const sink = recordingSink();
    outbox.enqueue(validSignal());
    await outbox.drain({
      client: makeClient(),
      alerts: new DeliveryAlerts(sink, { failureThreshold: 3, clock: time.clock }),
      ...timing(),
    });
    expect(sink.alerts.map((a) => [a.kind, a.severity])).toEqual([
      ['delivery_failing', 'warning'],
      ['delivery_recovered', 'resolved'],
    ]);
    expect(sink.alerts[1]!.text).toBe(
      'Delivery recovered: a signal was accepted after 3 failed attempts over 2 s',
    );
  });

  test('records attempts, retries, outcomes and depth in the metrics', async () => {
    // Signal 1 always fails; signal 2 goes through.
    await startServer((r) => (JSON.parse(r.text).payload.n === 1 ? { status: 503 } : undefined));
    outbox.enqueueMany([validSignal(1), validSignal(2)]);
    await outbox.drain({ client: makeClient(), concurrency: 1, retry: { limit: 3 }, ...timing() });
    const text = await metrics.registry.metrics();
    expect(text).toContain('sigpost_outbound_attempts_total{status="503",outcome="retry"} 2');
    expect(text).toContain('sigpost_outbound_attempts_total{status="503",outcome="failed"} 1');
    expect(text).toContain('sigpost_outbound_attempts_total{status="201",outcome="delivered"} 1');
    expect(text).toContain('sigpost_outbound_retries_total 2');
    expect(text).toContain('sigpost_outbound_deliveries_total{outcome="dead"} 1');
    expect(text).toContain('sigpost_outbound_deliveries_total{outcome="delivered"} 1');
    expect(text).toContain('sigpost_outbox_dead_letters_total 1');
    expect(text).toContain('sigpost_outbox_entries{state="dead"} 1');
    expect(text).toContain('sigpost_outbox_entries{state="delivered"} 1');
    expect(text).toContain('sigpost_outbox_entries{state="pending"} 0');
    expect(text).toContain('sigpost_outbound_delivery_latency_seconds_count 1');
  });

  test('refuses a concurrency out of range, naming the option', async () => {
    await expect(
      outbox.drain({ client: { postSignal: () => Promise.reject() }, concurrency: 0 }),
    ).rejects.toThrow('Expected `concurrency` to be an integer from 1 to 1024, received 0');
  });
});
