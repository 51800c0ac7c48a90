// SIGKILL durability with real processes: every signal that got a 201 is in the store after a crash at
// a random moment. The server runs as a child process (node + tsx on the TypeScript source).
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { INGEST_PATH } from '@sigpost/protocol';
import { killProcesses } from '@sigpost/test-support/process';
import { type ServerProcess, startServerProcess } from '@sigpost/test-support/server-process';
import { afterEach, describe, expect, it } from 'vitest';
import { Admin } from './admin.js';
import { SecretBox } from './secrets.js';
import { SqliteStore } from './store/sqlite.js';
import { PRODUCER, SECRET, SIGNAL, signed, tempDir } from './test-helpers/fixtures.js';
import { StreamClient } from './test-helpers/stream-client.js';

const cleanups: (() => void)[] = [];

afterEach(() => {
  killProcesses();
  for (const cleanup of cleanups.splice(0)) cleanup();
});

/** The real server as a process on the SQLite file `dbPath`, with no rate limit to speak of. */
async function spawnServer(dbPath: string, key: string): Promise<ServerProcess> {
  return startServerProcess(['--db', dbPath], {
    SIGPOST_SECRET_KEY: key,
    SIGPOST_RATE_LIMIT_PER_SECOND: '1000000',
    SIGPOST_RATE_LIMIT_BURST: '1000000',
  });
}

/** Posts distinct signals with `concurrency` workers until `stop()`; collects the ids answered 201. */
function load(url: string, concurrency: number, secret: () => string = () => SECRET) {
  const accepted: string[] = [];
  const refused: number[] = [];
  let networkErrors = 0;
  let running = true;
  let n = 0;
  const worker = async () => {
    while (running) {
      const { headers, body } = signed({
        body: JSON.stringify({ ...SIGNAL, reason: `durable ${n++}` }),
        timestamp: new Date().toISOString(),
        secret: secret(),
      });
      try {
        const res = await fetch(`${url}${INGEST_PATH}`, { method: 'POST', headers, body });
        const text = await res.text();
        if (res.status === 201) accepted.push((JSON.parse(text) as { signal_id: string }).signal_id);
        else refused.push(res.status);
      } catch {
        // The connection died with the server; this request got no 201, so it promised nothing.
        networkErrors++;
        if (!running) return;
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  };
  const workers = Array.from({ length: concurrency }, worker);
  return {
    accepted,
    refused,
    get networkErrors() {
      return networkErrors;
    },
    async stop() {
      running = false;
      await Promise.all(workers);
    },
  };
}

/** Resolves once `list` has at least `n` items. */
async function until(list: readonly unknown[], n: number): Promise<void> {
  while (list.length < n) await new Promise((r) => setTimeout(r, 5));
}

describe('durability', () => {
  it('keeps every signal that got a 201 when the server is SIGKILLed at a random moment', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const dbPath = join(dir, 'durable.db');
    const key = randomBytes(32).toString('base64');
    const setup = new SqliteStore({ path: dbPath });
    await setup.migrate();
    await new Admin(setup, SecretBox.fromEnv({ SIGPOST_SECRET_KEY: key })).addProducer({
      id: PRODUCER,
      secret: SECRET,
    });
    await setup.close();

    const allAccepted: string[] = [];
    for (let round = 0; round < 2; round++) {
      const server = await spawnServer(dbPath, key);
      const { url } = server;
      const traffic = load(url, 16);
      // Kill once some signals were accepted, after a random extra delay, with requests in flight.
      while (traffic.accepted.length < 20) await new Promise((r) => setTimeout(r, 5));
      const delay = 20 + Math.floor(Math.random() * 200);
      await new Promise((r) => setTimeout(r, delay));
      await server.kill();
      await traffic.stop();
      expect(traffic.accepted.length, `round ${round}, killed after ${delay} ms`).toBeGreaterThan(20);
      allAccepted.push(...traffic.accepted);
    }

    // Restart, and check through the restarted server's own store file.
    const restarted = await spawnServer(dbPath, key);
    expect((await fetch(`${restarted.url}/readyz`)).status).toBe(200);
    expect(await restarted.stop()).toBe(0);
    const store = new SqliteStore({ path: dbPath });
    try {
      const missing: string[] = [];
      for (const id of allAccepted) if (!(await store.getSignal(id))) missing.push(id);
      expect(missing).toEqual([]);
      expect(new Set(allAccepted).size).toBe(allAccepted.length);
      // The stream lost no event and invented none: one per stored signal, seqs 1..n with no hole.
      const events = [];
      for (let page = await store.readEvents(0, 1000); page.length > 0; ) {
        events.push(...page);
        page = await store.readEvents(page.at(-1)!.seq, 1000);
      }
      const { received } = await store.countSignalsByStatus();
      expect(events.map((e) => e.seq)).toEqual(Array.from({ length: received }, (_, i) => i + 1));
      const withEvent = new Set(events.map((e) => e.signal.id));
      expect(withEvent.size).toBe(received);
      expect(allAccepted.filter((id) => !withEvent.has(id))).toEqual([]);
    } finally {
      await store.close();
    }
  }, 60_000);

  it('a stream subscriber resumes across a server SIGKILL with no gap and no duplicate', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const dbPath = join(dir, 'stream.db');
    const key = randomBytes(32).toString('base64');
    const setup = new SqliteStore({ path: dbPath });
    await setup.migrate();
    const admin = new Admin(setup, SecretBox.fromEnv({ SIGPOST_SECRET_KEY: key }));
    await admin.addProducer({ id: PRODUCER, secret: SECRET });
    const { token } = await admin.createSubscriber({ name: 'survivor' });

    const first = await spawnServer(dbPath, key);
    const client = new StreamClient(first.url, { token, after: 0 });
    cleanups.push(() => client.close());
    const traffic = load(first.url, 8);
    await client.until(() => client.events.length >= 30, '30 events before the kill');
    await first.kill();
    await traffic.stop();
    expect((await client.closing()).code).toBe(1006);

    const second = await spawnServer(dbPath, key);
    const resumed = new StreamClient(second.url, { token, after: client.lastSeq ?? 0 });
    cleanups.push(() => resumed.close());
    await resumed.ready();
    const more = load(second.url, 2);
    await until(more.accepted, 10);
    await more.stop();
    const accepted = [...traffic.accepted, ...more.accepted];
    const total = (await setup.countSignalsByStatus()).received;
    await resumed.until(() => resumed.lastSeq === total, `seq ${total}`);
    await second.stop();
    await setup.close();

    const events = [...client.events, ...resumed.events];
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    const streamed = new Set(events.map((e) => (e.signal as { signal_id: string }).signal_id));
    expect(streamed.size).toBe(total);
    expect(accepted.filter((id) => !streamed.has(id))).toEqual([]);
  }, 60_000);

  it('lets a producer switch secrets while sending continuously with zero failed requests', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const dbPath = join(dir, 'rotation.db');
    const key = randomBytes(32).toString('base64');
    const box = SecretBox.fromEnv({ SIGPOST_SECRET_KEY: key });
    const operator = new SqliteStore({ path: dbPath });
    await operator.migrate();
    const admin = new Admin(operator, box);
    const first = await admin.addProducer({ id: PRODUCER, secret: SECRET });
    const server = await spawnServer(dbPath, key);

    let current = SECRET;
    const traffic = load(server.url, 4, () => current);
    await until(traffic.accepted, 30);
    // Another process (this one, with its own connection) rotates; the producer switches at once.
    const rotated = await admin.rotateSecret(PRODUCER);
    current = rotated.secret;
    const switched = traffic.accepted.length;
    await until(traffic.accepted, switched + 30);
    await admin.retireSecret(PRODUCER, first.secretId);
    const retired = traffic.accepted.length;
    await until(traffic.accepted, retired + 30);
    await traffic.stop();
    await operator.close();
    await server.stop();

    expect(traffic.refused).toEqual([]);
    expect(traffic.networkErrors).toBe(0);
    expect(traffic.accepted.length).toBeGreaterThanOrEqual(90);
  }, 60_000);
});
