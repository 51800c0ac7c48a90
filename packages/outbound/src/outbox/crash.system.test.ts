// Crash tests with real processes and the real ingest server (@sigpost/ingest on SQLite): processes
// are killed with SIGKILL at random moments, and at the end the server must hold every signal exactly
// once. The random points come from a seed printed on failure, so a failing run can be replayed with
// SIGPOST_CRASH_SEED=<seed>.
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { killProcesses, type RunningProcess, startProcess } from '@sigpost/test-support/process';
import { type ServerProcess, startServerProcess } from '@sigpost/test-support/server-process';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { HmacClient } from '../client.js';
import { OutboundConfig } from '../config.js';
import type { OutboundLogger } from '../logger.js';
import { Outbox } from './outbox.js';
import {
  fakeTime,
  PRODUCER_ID,
  SECRET,
  type TempDir,
  tempDir,
  validSignal,
} from './test-helpers/fixtures.js';
import { type RealIngest, startRealIngest, storedSignals } from './test-helpers/ingest.js';

const COUNT = 2000;
const PRODUCER_MAIN = fileURLToPath(new URL('./test-helpers/producer-main.ts', import.meta.url));
/** The server processes' environment: a fixed key for sealing producer secrets (so a restarted server
 * opens what it stored before), the producer's secret, and a rate limit far above thousands of signals
 * in seconds from one producer. */
const SERVER_ENV = {
  SIGPOST_SECRET_KEY: Buffer.alloc(32, 7).toString('base64'),
  SIGPOST_TEST_PRODUCER_SECRET: SECRET,
  SIGPOST_RATE_LIMIT_PER_SECOND: '1000000',
  SIGPOST_RATE_LIMIT_BURST: '1000000',
};
const seed = Number(process.env.SIGPOST_CRASH_SEED ?? Date.now() % 1_000_000);
const quiet: OutboundLogger = { debug() {}, info() {}, warn() {}, error() {}, fatal() {} };

/** mulberry32: a small seeded generator, so the kill points of a failing run can be replayed. */
function seeded(state: number): () => number {
  let s = state >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` increasing points in [1, max). */
function killPoints(random: () => number, n: number, max: number): number[] {
  return Array.from({ length: n }, () => 1 + Math.floor(random() * (max - 1))).sort((a, b) => a - b);
}

function outboxCounts(path: string): { entries: number; delivered: number; inFlight: number } {
  const db = new Database(path, { readonly: true });
  try {
    return db
      .prepare<[], { entries: number; delivered: number; inFlight: number }>(
        `SELECT COUNT(*) AS entries,
                COALESCE(SUM(state = 'delivered'), 0) AS delivered,
                COALESCE(SUM(state = 'in_flight'), 0) AS inFlight
         FROM outbox_entries`,
      )
      .get()!;
  } finally {
    db.close();
  }
}

/** Every signal enqueued is on the server exactly once, and the outbox kept the server's answer for each. */
function expectEachSignalExactlyOnce(outboxPath: string, serverPath: string): void {
  const stored = storedSignals(serverPath);
  const byKey = new Map(stored.map((s) => [s.idempotency_key, s]));
  expect(stored).toHaveLength(COUNT);
  expect(byKey.size).toBe(COUNT);
  for (let i = 0; i < COUNT; i++) {
    const signal = byKey.get(`crash-${i}`);
    expect(signal, `crash-${i} missing on the server`).toBeDefined();
    expect((JSON.parse(signal!.body) as { payload: { n: number } }).payload.n).toBe(i);
  }
  const db = new Database(outboxPath, { readonly: true });
  try {
    const entries = db
      .prepare<[], { idempotency_key: string; state: string; response: string | null }>(
        'SELECT idempotency_key, state, response FROM outbox_entries',
      )
      .all();
    expect(entries).toHaveLength(COUNT);
    for (const entry of entries) {
      expect(entry.state).toBe('delivered');
      const response = JSON.parse(entry.response ?? 'null') as { signal_id: string } | null;
      expect(response?.signal_id).toBe(byKey.get(entry.idempotency_key)?.id);
    }
  } finally {
    db.close();
  }
}

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

let dir: TempDir;
const children: (RunningProcess | ServerProcess)[] = [];
let server: RealIngest | undefined;

beforeEach(() => {
  dir = tempDir('sigpost-crash-');
});

afterEach(async () => {
  for (const child of children.splice(0)) await child.kill();
  killProcesses();
  await server?.close();
  server = undefined;
  dir.remove();
});

describe(`crash tests (seed ${seed})`, () => {
  test('a producer killed with SIGKILL at random moments while enqueueing and draining delivers each signal exactly once', async () => {
    const random = seeded(seed);
    const outboxPath = dir.file('outbox.db');
    const serverPath = dir.file('server.db');
    server = await startRealIngest({ dbPath: serverPath, port: 0, producerId: PRODUCER_ID, secret: SECRET });
    const env = {
      OUTBOX_PATH: outboxPath,
      SERVER_URL: server.url,
      PRODUCER_ID,
      PRODUCER_SECRET: SECRET,
      COUNT: String(COUNT),
    };
    const start = () => {
      const child = startProcess(PRODUCER_MAIN, [], { typescript: true, inheritEnv: true, env });
      children.push(child);
      return child;
    };
    const afterKills: {
      phase: string;
      exit: number | NodeJS.Signals;
      entries: number;
      delivered: number;
      inFlight: number;
    }[] = [];
    const plan = [
      ...killPoints(random, 3, COUNT).map((at) => ({ phase: 'enqueue', prefix: 'E ', at })),
      ...killPoints(random, 3, COUNT).map((at) => ({ phase: 'drain', prefix: 'D ', at })),
    ];
    for (const { phase, prefix, at } of plan) {
      const child = start();
      await child.line((line) => line.startsWith(prefix) && Number(line.slice(2)) >= at, `${prefix}${at}`);
      await child.kill();
      afterKills.push({ phase, exit: await child.exited, ...outboxCounts(outboxPath) });
    }
    const last = start();
    const done = await last.line((line) => line.startsWith('DONE '), 'DONE');
    expect(await last.exited).toBe(0);

    const context = `seed ${seed}, after each kill: ${JSON.stringify(afterKills)}; ${done}`;
    expect(
      afterKills.every((k) => k.exit === 'SIGKILL'),
      context,
    ).toBe(true);
    // The kills landed where they were meant to: mid-enqueue, and mid-drain with requests in flight.
    expect(
      afterKills.some((k) => k.phase === 'enqueue' && k.entries > 0 && k.entries < COUNT),
      context,
    ).toBe(true);
    expect(
      afterKills.some((k) => k.phase === 'drain' && k.delivered > 0 && k.delivered < COUNT && k.inFlight > 0),
      context,
    ).toBe(true);
    expectEachSignalExactlyOnce(outboxPath, serverPath);
  }, 90_000);

  test('a drain whose server is killed with SIGKILL and restarted mid-drain delivers each signal exactly once', async () => {
    const random = seeded(seed + 1);
    const outboxPath = dir.file('outbox.db');
    const serverPath = dir.file('server.db');
    const port = await freePort();
    const startServerChild = async () => {
      const child = await startServerProcess(
        ['--db', serverPath, '--port', String(port), '--producer', PRODUCER_ID],
        SERVER_ENV,
      );
      children.push(child);
      return child;
    };
    let serverChild = await startServerChild();

    const outbox = Outbox.open(outboxPath, { logger: quiet });
    outbox.enqueueMany(
      Array.from({ length: COUNT }, (_, i) => ({ signal: validSignal(i), idempotencyKey: `crash-${i}` })),
    );
    const client = new HmacClient(
      new OutboundConfig({
        producerId: PRODUCER_ID,
        producerSecret: SECRET,
        serverBaseUrl: `http://127.0.0.1:${port}`,
      }),
      quiet,
    );
    // Backoff waits end when the server is up again (no real waiting); the fake clock moves by the wait.
    const time = fakeTime(Date.now());
    let serverUp: Promise<void> = Promise.resolve();
    const kills = killPoints(random, 3, COUNT);
    const atKills: { delivered: number; exit: number | NodeJS.Signals }[] = [];
    let restarting: Promise<void> | undefined;
    const restart = async (delivered: number) => {
      let markUp!: () => void;
      serverUp = new Promise((resolve) => {
        markUp = resolve;
      });
      await serverChild.kill();
      atKills.push({ delivered, exit: await serverChild.exited });
      serverChild = await startServerChild();
      markUp();
    };
    try {
      const summary = await outbox.drain({
        client,
        concurrency: 16,
        retry: { limit: 100_000, baseDelayMs: 50, maxDelayMs: 200, deadlineMs: undefined },
        clock: time.clock,
        random,
        sleep: async (ms) => {
          await serverUp;
          await time.sleep(ms);
        },
        onProgress: (p) => {
          if (restarting === undefined && kills.length > 0 && p.delivered >= kills[0]!) {
            kills.shift();
            restarting = restart(p.delivered).finally(() => {
              restarting = undefined;
            });
          }
        },
      });
      await restarting;
      const context = `seed ${seed}, kills at ${JSON.stringify(atKills)}, summary ${JSON.stringify(summary)}`;
      expect(atKills.length, context).toBeGreaterThanOrEqual(1);
      expect(
        atKills.every((k) => k.exit === 'SIGKILL' && k.delivered < COUNT),
        context,
      ).toBe(true);
      expect(summary, context).toMatchObject({ delivered: COUNT, dead: 0, remaining: 0 });
      expect(summary.retried, context).toBeGreaterThan(0);
    } finally {
      await client.close();
      await outbox.close();
    }
    expectEachSignalExactlyOnce(outboxPath, serverPath);
  }, 90_000);
});
