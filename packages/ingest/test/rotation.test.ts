// Secret rotation with real processes: a producer sends without pause to an ingest server process while
// an operator rotates its secret with the `sigpost` CLI against the same SQLite file; the producer
// switches to the new secret, the old one is retired, and not one request fails.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CliIO, main } from '@sigpost/cli';
import { HmacClient, OutboundClientError, OutboundConfig, type SignalInput } from '@sigpost/outbound';
import { validSignal } from '@sigpost/test-support/fixtures';
import { killProcesses } from '@sigpost/test-support/process';
import { type ServerProcess, startServerProcess } from '@sigpost/test-support/server-process';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';

const KEY = randomBytes(32).toString('base64');
const PRODUCER = 'rotating-desk';
const WORKERS = 4; // requests in flight at any moment
const PER_PHASE = 40; // accepted signals per phase: old secret, new secret, after retirement

const dir = mkdtempSync(join(tmpdir(), 'sigpost-rotation-'));
const db = join(dir, 'sigpost.db');
const clients: HmacClient[] = [];
let server: ServerProcess | undefined;

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await server?.stop();
  killProcesses();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs `sigpost <argv>` in process with the store's key in its environment. */
async function sigpost(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIO = {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    stdin: (async function* () {})(),
    env: { SIGPOST_SECRET_KEY: KEY },
    isTTY: false,
  };
  const code = await main(argv, io);
  return { code, stdout, stderr };
}

function clientFor(secret: string, url: string): HmacClient {
  const config = new OutboundConfig({ producerId: PRODUCER, producerSecret: secret, serverBaseUrl: url });
  // No retries: a request that fails once counts as failed.
  const client = new HmacClient(config, pino({ level: 'silent' }), { retry: false });
  clients.push(client);
  return client;
}

function signal(n: number): SignalInput {
  return { ...validSignal({ reason: `rotation ${n}`, payload: undefined }), timestamp: new Date() };
}

function describeFailure(error: unknown): string {
  if (error instanceof OutboundClientError) return `${error.httpCode ?? error.code}: ${error.message}`;
  return String(error);
}

/**
 * `WORKERS` loops posting signals back to back with whichever client is current when each request
 * starts. Counts the 201s per client, keeps every failure.
 */
function sendContinuously(first: HmacClient) {
  let current = first;
  let running = true;
  let n = 0;
  const accepted = new Map<HmacClient, number>();
  const inFlight = new Map<HmacClient, Set<Promise<unknown>>>();
  const signalIds: string[] = [];
  const failures: string[] = [];
  const waiters: { ready: () => boolean; resolve: () => void }[] = [];

  const wake = () => {
    for (const waiter of [...waiters]) {
      // A failure ends every wait too: the test then reports it instead of timing out.
      if (waiter.ready() || failures.length > 0) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  };

  const worker = async () => {
    while (running) {
      const client = current;
      const request = client.postSignal(signal(n++));
      const pending = inFlight.get(client) ?? new Set();
      inFlight.set(client, pending.add(request));
      try {
        const response = await request;
        accepted.set(client, (accepted.get(client) ?? 0) + 1);
        signalIds.push(response.signal_id);
      } catch (error) {
        failures.push(describeFailure(error));
      } finally {
        pending.delete(request);
        wake();
      }
    }
  };
  const loops = Array.from({ length: WORKERS }, worker);

  return {
    failures,
    signalIds,
    acceptedWith: (client: HmacClient) => accepted.get(client) ?? 0,
    /** Resolves once `client` has had `count` more signals accepted (or something failed). */
    acceptMore(client: HmacClient, count: number): Promise<void> {
      const target = (accepted.get(client) ?? 0) + count;
      return new Promise((resolve) => {
        waiters.push({ ready: () => (accepted.get(client) ?? 0) >= target, resolve });
        wake();
      });
    },
    /** Makes `next` the client of every request started from now on; resolves when the old client's requests have settled. */
    async switchTo(next: HmacClient): Promise<void> {
      const previous = current;
      current = next;
      await Promise.allSettled([...(inFlight.get(previous) ?? [])]);
    },
    async stop(): Promise<void> {
      running = false;
      await Promise.all(loops);
    },
  };
}

describe('secret rotation against a running server process', () => {
  it('switches a producer that sends without pause to a new secret with zero failed requests, then refuses the retired secret', async () => {
    const added = await sigpost('producers', 'add', '--id', PRODUCER, '--db', db, '--json');
    expect(added.code, added.stderr).toBe(0);
    const old = JSON.parse(added.stdout) as { secret_id: string; secret: string };

    server = await startServerProcess(['--db', db], {
      SIGPOST_SECRET_KEY: KEY,
      // A running server honours a retirement once its secret cache expires (5 s by default);
      // without the cache the 401 below can be asserted at once, with no waiting.
      SIGPOST_SECRET_CACHE_MS: '0',
      SIGPOST_RATE_LIMIT_PER_SECOND: '1000000',
      SIGPOST_RATE_LIMIT_BURST: '1000000',
    });
    const oldClient = clientFor(old.secret, server.url);
    const traffic = sendContinuously(oldClient);
    let newClient: HmacClient | undefined;
    try {
      await traffic.acceptMore(oldClient, PER_PHASE);

      // Rotate while the old secret is in use, then switch the producer over.
      const rotated = await sigpost('producers', 'rotate', '--id', PRODUCER, '--db', db, '--json');
      expect(rotated.code, rotated.stderr).toBe(0);
      const fresh = JSON.parse(rotated.stdout) as { secret_id: string; secret: string };
      newClient = clientFor(fresh.secret, server.url);
      await traffic.acceptMore(oldClient, PER_PHASE); // both secrets verify now
      await traffic.switchTo(newClient);
      await traffic.acceptMore(newClient, PER_PHASE);

      // Retire the old secret while the producer keeps sending with the new one.
      const retired = await sigpost(
        'producers',
        'retire-secret',
        '--id',
        PRODUCER,
        '--secret-id',
        old.secret_id,
        '--db',
        db,
      );
      expect(retired.code, retired.stderr).toBe(0);
      await traffic.acceptMore(newClient, PER_PHASE);
    } finally {
      await traffic.stop();
    }

    expect(traffic.failures).toEqual([]);
    expect(traffic.acceptedWith(oldClient)).toBeGreaterThanOrEqual(2 * PER_PHASE);
    expect(newClient).toBeDefined();
    if (newClient === undefined) return;
    expect(traffic.acceptedWith(newClient)).toBeGreaterThanOrEqual(2 * PER_PHASE);

    // After retirement the old secret is refused, the new one still accepted.
    const refused = await oldClient.postSignal(signal(-1)).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(OutboundClientError);
    expect(refused).toMatchObject({
      httpCode: 401,
      details: { type: 'urn:sigpost:problem:invalid-signature', status: 401 },
    });
    const accepted = await newClient.postSignal(signal(-2));
    expect(accepted.status).toBe('received');
    traffic.signalIds.push(accepted.signal_id);

    // Every 201 was stored, once.
    expect(await server.stop()).toBe(0);
    const store = await openStore({ dbPath: db });
    try {
      const counts = await store.countSignalsByStatus();
      expect(counts.received).toBe(traffic.signalIds.length);
      expect(new Set(traffic.signalIds).size).toBe(traffic.signalIds.length);
      for (const id of traffic.signalIds) expect(await store.getSignal(id)).toBeDefined();
    } finally {
      await store.close();
    }
  }, 30_000);
});
