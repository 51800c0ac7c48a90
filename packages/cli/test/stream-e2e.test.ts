// The live stream end to end, every part real: `sigpost serve` processes on a SQLite file or on one
// PostgreSQL schema, producers posting through HmacClient, the subscriber SDK (in this process and in a
// consumer process with a FileCursor), `sigpost subscribers revoke` and `sigpost stream`. The server
// and the SDK were each tested alone (the SDK against @sigpost/test-support/stream-server); these tests check
// that they agree on docs/stream.md. What a subscriber received is compared with the store's events.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, watch } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Admin, openStore, SecretBox } from '@sigpost/ingest';
import { HmacClient, OutboundConfig } from '@sigpost/outbound';
import {
  isSubscriberError,
  MemoryCursor,
  SignalSubscriber,
  type SignalSubscriberOptions,
  type StreamEvent,
  SubscriberRefusedError,
} from '@sigpost/subscriber';
import { validSignal } from '@sigpost/test-support/fixtures';
import { killProcesses, type RunningProcess, startProcess } from '@sigpost/test-support/process';
import pg from 'pg';
import pino from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { register as registerSubscribers } from '../src/commands/subscribers.js';
import { main } from '../src/main.js';
import { captureIO } from '../src/test-helpers/io.js';

const BIN = fileURLToPath(new URL('../src/bin.ts', import.meta.url));
const CONSUMER = fileURLToPath(new URL('./fixtures/stream-consumer.ts', import.meta.url));
const KEY = randomBytes(32).toString('base64');
const SECRET = 'stream-e2e-secret-of-enough-bytes';
const PG_URL = process.env.SIGPOST_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const WAIT_MS = 45_000; // ms: the longest any awaited condition may take on a loaded machine
const SILENT = pino({ level: 'silent' });

const dir = mkdtempSync(join(tmpdir(), 'sigpost-stream-e2e-'));
const subscribers: SignalSubscriber[] = [];
afterEach(async () => {
  await Promise.all(subscribers.splice(0).map((s) => s.close()));
  killProcesses();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let dbCounter = 0;
const newDb = () => join(dir, `sigpost-${++dbCounter}.db`);

// ---------------------------------------------------------------------------------------------------------
// Processes

/** `node --import tsx script …argv` (TypeScript sources), its output collected. */
function tsx(script: string, argv: readonly string[], env: Record<string, string>): RunningProcess {
  return startProcess(script, argv, { typescript: true, env });
}

interface Server extends RunningProcess {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
}

/** `sigpost serve --port <port> --db <db>`; resolves once it listens. */
async function serve(db: string, port = 0, env: Record<string, string> = {}): Promise<Server> {
  const proc = tsx(BIN, ['serve', '--port', String(port), '--db', db], {
    SIGPOST_SECRET_KEY: KEY,
    SIGPOST_LOG_LEVEL: 'warn',
    SIGPOST_RATE_LIMIT_PER_SECOND: '100000',
    SIGPOST_RATE_LIMIT_BURST: '100000',
    ...env,
  });
  const listening = /listening on (http:\/\/127\.0\.0\.1:(\d+)) /;
  await proc.until((o) => listening.test(o.stderr), 'sigpost serve to listen');
  const [, url = '', listenPort = ''] = listening.exec(proc.output.stderr) ?? [];
  return { ...proc, url, port: Number(listenPort) };
}

type Location = { readonly dbPath: string } | { readonly databaseUrl: string; readonly schema: string };

/** Creates the store (if need be) and adds `ids` as producers with SECRET. */
async function addProducers(location: Location, ids: readonly string[]): Promise<void> {
  const store = await openStore(location);
  try {
    const admin = new Admin(store, SecretBox.fromEnv({ SIGPOST_SECRET_KEY: KEY }));
    for (const id of ids) await admin.addProducer({ id, secret: SECRET });
  } finally {
    await store.close();
  }
}

/** The seqs of every event in the store, oldest first. */
async function storeSeqs(location: Location): Promise<number[]> {
  const store = await openStore(location);
  try {
    const seqs: number[] = [];
    for (;;) {
      const batch = await store.readEvents(seqs.at(-1) ?? 0, 1000);
      if (batch.length === 0) return seqs;
      seqs.push(...batch.map((e) => e.seq));
    }
  } finally {
    await store.close();
  }
}

/** `sigpost subscribers …` (in this process, the real command). */
async function subscribersCommand(argv: readonly string[], env: Record<string, string> = {}) {
  const io = captureIO({ env });
  const code = await main(['subscribers', ...argv], io, [registerSubscribers]);
  const stdout = io.out.join('');
  const stderr = io.err.join('');
  expect(code, stderr).toBe(0);
  return { stdout, stderr };
}

async function createSubscriber(db: string, env: Record<string, string> = {}) {
  const { stdout } = await subscribersCommand(['create', '--name', 'e2e', '--json', '--db', db], env);
  return JSON.parse(stdout) as { id: string; token: string };
}

function producer(url: string, id: string): HmacClient {
  const config = new OutboundConfig({ producerId: id, producerSecret: SECRET, serverBaseUrl: url });
  // Retries carry the same idempotency key: a signal committed before a crash is not stored twice.
  return new HmacClient(config, SILENT, {
    retry: { limit: 100, baseDelayMs: 20, maxDelayMs: 300, deadlineMs: WAIT_MS },
  });
}

/** Posts `n` signals one after the other; `onEach` after each answer. */
async function postMany(client: HmacClient, n: number, label: string, onEach?: (i: number) => void) {
  for (let i = 0; i < n; i++) {
    await client.postSignal({ ...validSignal({ reason: `${label}-${i}` }), timestamp: new Date() });
    onEach?.(i);
  }
}

// ---------------------------------------------------------------------------------------------------------
// SDK subscribers

interface Collected {
  readonly subscriber: SignalSubscriber;
  readonly events: StreamEvent[];
  readonly seqs: () => number[];
  /** Settles when `run` ends (rejects with the subscriber's error). */
  readonly done: Promise<void>;
  until(test: () => boolean, what: string): Promise<void>;
}

function subscribe(
  url: string,
  token: string,
  start: 'live' | { after: number },
  options: Partial<SignalSubscriberOptions> = {},
): Collected {
  const subscriber = new SignalSubscriber({
    url,
    token,
    cursor: new MemoryCursor(),
    start,
    reconnect: { baseDelayMs: 50, maxDelayMs: 500 },
    ...options,
  });
  subscribers.push(subscriber);
  const events: StreamEvent[] = [];
  const waiters = new Set<() => void>();
  const done = subscriber.run((event) => {
    events.push(event);
    for (const check of [...waiters]) check();
  });
  done.catch(() => {});
  return {
    subscriber,
    events,
    seqs: () => events.map((e) => e.seq),
    done,
    until(test, what) {
      return new Promise<void>((resolve, reject) => {
        const finish = (error?: Error) => {
          waiters.delete(check);
          clearTimeout(timer);
          if (error) reject(error);
          else resolve();
        };
        const check = () => {
          if (test()) finish();
        };
        const timer = setTimeout(
          () =>
            finish(
              new Error(`waiting for ${what}: not within ${WAIT_MS} ms (last seq ${events.at(-1)?.seq})`),
            ),
          WAIT_MS,
        );
        waiters.add(check);
        done.then(
          () => finish(new Error(`waiting for ${what}: the subscriber stopped`)),
          (error: unknown) =>
            finish(new Error(`waiting for ${what}: the subscriber failed`, { cause: error })),
        );
        check();
      });
    },
  };
}

/** Resolves when `file`'s text passes `test` (re-checked on every change in its directory), bounded by WAIT_MS. */
function fileSettles(file: string, test: (text: string) => boolean, what: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const check = () => {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch {
        return;
      }
      if (!test(text)) return;
      watcher.close();
      clearTimeout(timer);
      resolve();
    };
    const watcher = watch(dirname(file), check);
    const timer = setTimeout(() => {
      watcher.close();
      reject(new Error(`waiting for ${what}: not within ${WAIT_MS} ms`));
    }, WAIT_MS);
    check();
  });
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

// ---------------------------------------------------------------------------------------------------------

describe('the stream end to end on SQLite (sigpost serve processes)', { timeout: 120_000 }, () => {
  it('switches from replay to live under concurrent ingest: every event once, in seq order', async () => {
    const db = newDb();
    await addProducers({ dbPath: db }, ['desk-a', 'desk-b', 'desk-c']);
    const server = await serve(db);
    const { token } = await createSubscriber(db);
    const clients = ['desk-a', 'desk-b', 'desk-c'].map((id) => producer(server.url, id));
    await postMany(clients[0] as HmacClient, 60, 'before'); // history to replay

    // The subscriber starts from 0 while all three producers post: the switch from replay to live
    // happens with commits racing it.
    let posted = 0;
    const posting = Promise.all(clients.map((c, i) => postMany(c, 60, `during-${i}`, () => posted++)));
    const early = subscribe(server.url, token, { after: 0 });
    // A second subscriber joins from 0 midway, when the first is live and commits keep coming.
    await early.until(() => posted >= 60, 'half the concurrent posts');
    const late = subscribe(server.url, token, { after: 0 });
    await posting;

    const expected = await storeSeqs({ dbPath: db });
    expect(expected).toEqual(range(1, 60 + 3 * 60)); // one event per accepted signal, no hole
    for (const [name, s] of Object.entries({ early, late })) {
      await s.until(() => s.events.length >= expected.length, `${name} to receive ${expected.length} events`);
      expect(s.seqs(), name).toEqual(expected);
      expect(new Set(s.events.map((e) => e.signal.signal_id)).size, name).toBe(expected.length);
    }
    expect(early.events.filter((e) => e.signal.reason?.startsWith('during-'))).toHaveLength(180);
    expect(await server.stop()).toBe(0);
  });

  it('resumes after the server is SIGKILLed mid-stream and restarted on the same file: no gap, no duplicate', async () => {
    const db = newDb();
    await addProducers({ dbPath: db }, ['desk-a', 'desk-b']);
    let server = await serve(db);
    const { port } = server;
    const { token } = await createSubscriber(db);
    const sub = subscribe(server.url, token, { after: 0 });
    const clients = ['desk-a', 'desk-b'].map((id) => producer(server.url, id));
    let posted = 0;
    const posting = Promise.all(clients.map((c, i) => postMany(c, 100, `p${i}`, () => posted++)));

    await sub.until(() => sub.events.length >= 40, '40 events before the crash');
    await server.kill();
    const receivedAtCrash = sub.events.length;
    server = await serve(db, port); // the same port: the SDK and the producers retry the same URL
    await posting;
    expect(posted).toBe(200);

    const expected = await storeSeqs({ dbPath: db });
    // Producers retried with their idempotency keys: one signal (and one event) per post.
    expect(expected).toEqual(range(1, 200));
    expect(receivedAtCrash).toBeLessThan(200); // the crash did happen mid-stream
    await sub.until(() => sub.events.length >= expected.length, 'every event after the restart');
    expect(sub.seqs()).toEqual(expected);
    expect(await server.stop()).toBe(0);
  });

  it('a consumer process SIGKILLed with a FileCursor resumes at its last handled event or the one in flight', async () => {
    const db = newDb();
    await addProducers({ dbPath: db }, ['desk-a']);
    const server = await serve(db);
    const { token } = await createSubscriber(db);
    await postMany(producer(server.url, 'desk-a'), 150, 'c');
    const cursor = join(dir, 'consumer.cursor.json');
    const [log1, log2] = [join(dir, 'consumer-1.log'), join(dir, 'consumer-2.log')];
    const env = { SIGPOST_SUBSCRIBER_TOKEN: token };
    const read = (file: string) => {
      const lines = readFileSync(file, 'utf8').trim().split('\n');
      const seqs = (kind: string) =>
        lines.filter((l) => l.startsWith(`${kind} `)).map((l) => Number(l.split(' ')[1]));
      return { starts: seqs('start'), dones: seqs('done') };
    };
    const doneLines = (o: { stdout: string }) =>
      o.stdout.split('\n').filter((l) => l.startsWith('done ')).length;

    const first = tsx(CONSUMER, [server.url, cursor, log1], env);
    await first.until((o) => doneLines(o) >= 30, 'the consumer to handle 30 events');
    expect(await first.stop('SIGKILL')).toBeNull();
    const before = read(log1);
    const lastDone = before.dones.at(-1) as number;
    const lastStarted = before.starts.at(-1) as number;
    expect(before.dones).toEqual(range(1, lastDone)); // handled in order, none skipped
    expect([lastDone, lastDone + 1]).toContain(lastStarted); // at most one in flight
    expect(lastDone).toBeLessThan(150); // killed mid-stream

    const second = tsx(CONSUMER, [server.url, cursor, log2], env);
    await second.until((o) => o.stdout.includes('done 150\n'), 'the restarted consumer to reach seq 150');
    const after = read(log2);
    const resumedAt = after.starts[0] as number;
    // Never further back than the last handled event, never past the one in flight (or the next one).
    expect(resumedAt).toBeGreaterThanOrEqual(lastDone);
    expect(resumedAt).toBeLessThanOrEqual(lastDone + 1);
    expect(after.dones).toEqual(range(resumedAt, 150));
    // The cursor is saved just after the handler resolved (when the consumer asks for the next event).
    await fileSettles(cursor, (text) => JSON.parse(text).seq === 150, 'the cursor file to reach seq 150');
    expect(await second.stop('SIGKILL')).toBeNull();
    expect(await server.stop()).toBe(0);
  });

  it('`sigpost subscribers revoke` closes a connected SDK subscriber with its revoked error within seconds', async () => {
    const db = newDb();
    await addProducers({ dbPath: db }, ['desk-a']);
    const server = await serve(db);
    const { id, token } = await createSubscriber(db);
    const sub = subscribe(server.url, token, { after: 0 });
    await postMany(producer(server.url, 'desk-a'), 1, 'r');
    await sub.until(() => sub.events.length === 1, 'the first event (the subscriber is connected)');

    const revokedAt = Date.now();
    await subscribersCommand(['revoke', '--id', id, '--db', db]);
    const error = await sub.done.then(
      () => undefined,
      (e: unknown) => e,
    );
    const elapsed = Date.now() - revokedAt;
    expect(isSubscriberError(error) && error.code).toBe('SUBSCRIBER_REVOKED');
    expect(error).toMatchObject({ closeCode: 4403 });
    expect(elapsed).toBeLessThan(10_000); // the server re-checks tokens every 2 s
    expect(await server.stop()).toBe(0);
  });

  it('a scoped token sees only its producers and statuses, decisions included; the SDK narrows within the scope and is refused outside it', async () => {
    const db = newDb();
    const store = await openStore({ dbPath: db });
    let operatorToken: string;
    try {
      const admin = new Admin(store, SecretBox.fromEnv({ SIGPOST_SECRET_KEY: KEY }));
      await admin.addProducer({ id: 'desk-m', secret: SECRET, approval: 'manual' });
      await admin.addProducer({ id: 'desk-x', secret: SECRET });
      operatorToken = (await admin.createToken('ops')).token;
    } finally {
      await store.close();
    }
    const server = await serve(db);
    const { stdout } = await subscribersCommand([
      ...['create', '--name', 'scoped', '--producers', 'desk-m'],
      ...['--statuses', 'pending_approval,approved,rejected', '--json', '--db', db],
    ]);
    const { token } = JSON.parse(stdout) as { token: string };
    const scoped = subscribe(server.url, token, { after: 0 });
    const approvedOnly = subscribe(server.url, token, { after: 0 }, { statuses: ['approved'] });
    const outside = subscribe(server.url, token, { after: 0 }, { producers: ['desk-x'] });

    const [m, x] = [producer(server.url, 'desk-m'), producer(server.url, 'desk-x')];
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      ids.push(
        (await m.postSignal({ ...validSignal({ reason: `m${i}` }), timestamp: new Date() })).signal_id,
      );
      await x.postSignal({ ...validSignal({ reason: `x${i}` }), timestamp: new Date() });
    }
    const decide = async (id: string | undefined, action: string, body?: object) => {
      const res = await fetch(`${server.url}/api/v1/operator/signals/${id}/${action}`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${operatorToken}`,
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      expect(res.status, await res.text()).toBe(200);
    };
    await decide(ids[0], 'approve');
    await decide(ids[1], 'reject', { reason: 'too late' });

    await scoped.until(() => scoped.events.length >= 5, 'the five events in scope');
    expect(scoped.events.map((e) => [e.type, e.signal.signal_id])).toEqual([
      ['signal.pending_approval', ids[0]],
      ['signal.pending_approval', ids[1]],
      ['signal.pending_approval', ids[2]],
      ['signal.approved', ids[0]],
      ['signal.rejected', ids[1]],
    ]);
    // The seqs are the store's, with the out-of-scope events (desk-x) left out.
    const all = await storeSeqs({ dbPath: db });
    expect(all).toHaveLength(3 + 3 + 2);
    expect(all).toEqual(expect.arrayContaining(scoped.seqs()));
    await approvedOnly.until(() => approvedOnly.events.length >= 1, 'the approval');
    expect(approvedOnly.events.map((e) => [e.seq, e.signal.status])).toEqual([
      [scoped.events[3]?.seq, 'approved'],
    ]);

    const refusal = await outside.done.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(refusal).toBeInstanceOf(SubscriberRefusedError);
    expect(refusal).toMatchObject({
      httpCode: 403,
      problem: { type: 'urn:sigpost:problem:stream-scope-forbidden' },
    });
    expect(await server.stop()).toBe(0);
  });

  it("the SDK stays connected through the server's pings, and detects a frozen (SIGSTOPped) server by its silence", async () => {
    const db = newDb();
    await addProducers({ dbPath: db }, ['desk-a']);
    const server = await serve(db, 0, { SIGPOST_STREAM_HEARTBEAT_SECONDS: '1' });
    const { token } = await createSubscriber(db);
    const warnings: { fields: Record<string, unknown>; at: number }[] = [];
    let warned: () => void = () => {};
    const firstWarning = new Promise<void>((resolve) => {
      warned = resolve;
    });
    const log = () => {};
    const logger = {
      debug: log,
      info: log,
      error: log,
      warn: (fields: object) => {
        warnings.push({ fields: fields as Record<string, unknown>, at: Date.now() });
        warned();
      },
    };
    const sub = subscribe(server.url, token, { after: 0 }, { heartbeatGraceMs: 1_000, logger });
    const client = producer(server.url, 'desk-a');
    await postMany(client, 1, 'before');
    await sub.until(() => sub.events.length === 1, 'the first event');
    // Idle for three silence windows (1 s heartbeat + 1 s grace): the pings alone keep it connected.
    await new Promise((resolve) => setTimeout(resolve, 6_000));
    expect(warnings).toEqual([]);

    const stoppedAt = Date.now();
    server.child.kill('SIGSTOP');
    try {
      await Promise.race([
        firstWarning,
        sub.done.then(() => {
          throw new Error('the subscriber stopped instead of reconnecting');
        }),
      ]);
    } finally {
      server.child.kill('SIGCONT');
    }
    expect(warnings[0]?.fields).toMatchObject({ reconnect_reason: 'silent' });
    expect((warnings[0]?.at ?? 0) - stoppedAt).toBeLessThan(10_000);
    await postMany(client, 1, 'after');
    await sub.until(() => sub.events.length === 2, 'the event after the server woke up');
    expect(sub.seqs()).toEqual([1, 2]);
    expect(await server.stop()).toBe(0);
  });

  it('a slow consumer is closed by the server (4429) and the SDK resumes where it was: every event once', async () => {
    const db = newDb();
    await addProducers({ dbPath: db }, ['desk-a']);
    // The smallest send buffer the server allows, so that a consumer that stops reading overflows it soon.
    const server = await serve(db, 0, { SIGPOST_STREAM_MAX_BUFFERED_BYTES: '16384' });
    const { token } = await createSubscriber(db);
    const TOTAL = 400;
    const warnings: Record<string, unknown>[] = [];
    const signal = () => {
      let resolve: () => void = () => {};
      const promise = new Promise<void>((r) => {
        resolve = r;
      });
      return { promise, resolve };
    };
    const [connected, blocked, released, all] = [signal(), signal(), signal(), signal()];
    const log = () => {};
    const subscriber = new SignalSubscriber({
      url: server.url,
      token,
      start: 'live',
      maxQueuedEvents: 4, // then the SDK stops reading the socket
      reconnect: { baseDelayMs: 50, maxDelayMs: 500 },
      logger: {
        debug: log,
        error: log,
        info: (_fields: object, msg: string) => {
          if (msg === 'stream: connected') connected.resolve();
        },
        warn: (fields: object) => warnings.push({ ...fields }),
      },
    });
    subscribers.push(subscriber);
    const seqs: number[] = [];
    const consuming = subscriber.run(async (event) => {
      seqs.push(event.seq);
      if (seqs.length === 1) {
        blocked.resolve();
        await released.promise; // the consumer stalls on its first event while the producer goes on
      }
      if (seqs.length === TOTAL) all.resolve();
    });
    consuming.catch(() => {});
    const bounded = (what: string, p: Promise<unknown>) =>
      Promise.race([
        p,
        consuming.then(() => Promise.reject(new Error(`${what}: the subscriber stopped`))),
        new Promise((_, reject) =>
          setTimeout(() => reject(new Error(`${what}: not within ${WAIT_MS} ms (${seqs.length})`)), WAIT_MS),
        ),
      ]);
    await bounded('connecting', connected.promise);

    // 400 signals of about 40 KB (strings are capped at 4096 characters): 16 MB, more than loopback's
    // socket buffers hold.
    const payload = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`k${i}`, 'x'.repeat(4_000)]));
    const client = producer(server.url, 'desk-a');
    const post = (reason: string) =>
      client.postSignal({ ...validSignal({ reason, payload }), timestamp: new Date() });
    await post('first');
    await bounded('the first event', blocked.promise);
    for (let i = 1; i < TOTAL; i++) await post(`big-${i}`);
    released.resolve();

    const expected = await storeSeqs({ dbPath: db });
    expect(expected).toHaveLength(TOTAL);
    await bounded('every event', all.promise);
    expect(seqs).toEqual(expected);
    expect(warnings.map((w) => w.error_message)).toContain(
      'closed 4429 (slow consumer: send buffer full; resume from your last seq)',
    );
    expect(await server.stop()).toBe(0);
  });

  it("a resume point older than the retained history gets 4410; the SDK's documented resync ({ after: 0 }) then replays what is retained", async () => {
    const db = newDb();
    await addProducers({ dbPath: db }, ['desk-a']);
    const server = await serve(db);
    const { token } = await createSubscriber(db);
    const client = producer(server.url, 'desk-a');
    await postMany(client, 3, 'old');
    const store = await openStore({ dbPath: db });
    try {
      expect(await store.purgeSignals(Date.now() + 1_000)).toBe(3); // retention, as the server's purge does it
      expect((await store.streamPosition()).purgedThrough).toBe(3);
    } finally {
      await store.close();
    }
    await postMany(client, 2, 'kept');

    const expired: { after: number; reason: string }[] = [];
    const sub = subscribe(
      server.url,
      token,
      { after: 1 },
      {
        onCursorExpired: ({ after, reason }) => {
          expired.push({ after, reason });
          return { after: 0 }; // packages/subscriber/README.md, "Resync after 4410"
        },
      },
    );
    await sub.until(() => sub.events.length >= 2, 'the two retained events');
    expect(sub.seqs()).toEqual([4, 5]);
    expect(sub.events.map((e) => e.signal.reason)).toEqual(['kept-0', 'kept-1']);
    expect(expired).toEqual([{ after: 1, reason: expect.stringContaining('cursor-expired') }]);
    expect(await server.stop()).toBe(0);
  });

  it('`sigpost stream` prints JSON Lines from the real server and resumes from its cursor file', async () => {
    const db = newDb();
    await addProducers({ dbPath: db }, ['desk-a']);
    const server = await serve(db);
    const { token } = await createSubscriber(db);
    const client = producer(server.url, 'desk-a');
    await postMany(client, 5, 'first');
    const cursor = join(dir, 'cli.cursor.json');
    const env = { SIGPOST_SUBSCRIBER_TOKEN: token };
    const lines = (stdout: string) =>
      stdout
        .split('\n')
        .filter(Boolean)
        .map(
          (l) => JSON.parse(l) as { type: string; seq: number; epoch: string; signal: { reason: string } },
        );

    const one = tsx(BIN, ['stream', '--url', server.url, '--after', '0', '--cursor-file', cursor], env);
    await one.until((o) => lines(o.stdout).length === 5, 'five lines');
    expect(await one.stop('SIGINT')).toBe(0);
    const printed = lines(one.output.stdout);
    expect(printed.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(printed.map((e) => e.type)).toEqual(Array(5).fill('signal.received'));
    expect(printed.map((e) => e.signal.reason)).toEqual(range(0, 4).map((i) => `first-${i}`));
    expect(JSON.parse(readFileSync(cursor, 'utf8'))).toEqual({ epoch: printed[0]?.epoch, seq: 5 });

    await postMany(client, 3, 'second');
    const two = tsx(BIN, ['stream', '--url', server.url, '--after', '0', '--cursor-file', cursor], env);
    await two.until((o) => lines(o.stdout).length === 3, 'three more lines');
    expect(await two.stop('SIGINT')).toBe(0);
    expect(lines(two.output.stdout).map((e) => [e.seq, e.signal.reason])).toEqual([
      [6, 'second-0'],
      [7, 'second-1'],
      [8, 'second-2'],
    ]);
    expect(JSON.parse(readFileSync(cursor, 'utf8'))).toMatchObject({ seq: 8 });
    expect(await server.stop()).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------------------

const pgAdmin = new pg.Pool({ connectionString: PG_URL, max: 1 });
pgAdmin.on('error', () => {});
const pgUnreachable = await pgAdmin.query('SELECT 1').then(
  () => undefined,
  (error: unknown) => (error instanceof Error ? error.message || String(error) : String(error)),
);
if (pgUnreachable !== undefined) {
  if (process.env.CI === 'true') throw new Error(`PostgreSQL at ${PG_URL} is unreachable: ${pgUnreachable}`);
  console.warn(`\n⚠ SKIPPING the two-server stream test: PostgreSQL is unreachable (${pgUnreachable})\n`);
}
const schema = `sigpost_stream_e2e_${process.pid}_${Date.now().toString(36)}`;
afterAll(async () => {
  if (pgUnreachable === undefined) await pgAdmin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await pgAdmin.end();
});

describe.runIf(pgUnreachable === undefined)(
  'the stream end to end on PostgreSQL',
  { timeout: 120_000 },
  () => {
    it('two servers on one database, producers and SDK subscribers on both: every event once, in seq order', async () => {
      const location = { databaseUrl: PG_URL, schema };
      await addProducers(location, ['desk-a', 'desk-b', 'desk-c', 'desk-d']);
      const env = { SIGPOST_DB_SCHEMA: schema };
      const [a, b] = await Promise.all([serve(PG_URL, 0, env), serve(PG_URL, 0, env)]);
      if (!a || !b) throw new Error('two servers');
      const { token } = await createSubscriber(PG_URL, env);

      const subs = [subscribe(a.url, token, { after: 0 }), subscribe(b.url, token, { after: 0 })];
      const clients = [
        producer(a.url, 'desk-a'),
        producer(a.url, 'desk-b'),
        producer(b.url, 'desk-c'),
        producer(b.url, 'desk-d'),
      ];
      let posted = 0;
      const posting = Promise.all(clients.map((c, i) => postMany(c, 50, `pg${i}`, () => posted++)));
      // Two more join from 0 while both servers commit, one on each.
      await subs[0]?.until(() => posted >= 100, 'half the posts');
      subs.push(subscribe(a.url, token, { after: 0 }), subscribe(b.url, token, { after: 0 }));
      await posting;

      const expected = await storeSeqs(location);
      expect(expected).toHaveLength(200);
      for (const [i, s] of subs.entries()) {
        await s.until(() => s.events.length >= expected.length, `subscriber ${i} to receive every event`);
        expect(s.seqs(), `subscriber ${i}`).toEqual(expected);
      }
      // Each server committed some: the events crossed servers through LISTEN/NOTIFY.
      const producers = new Set(subs[0]?.events.map((e) => e.signal.producer_id));
      expect(producers).toEqual(new Set(['desk-a', 'desk-b', 'desk-c', 'desk-d']));
      expect(await a.stop()).toBe(0);
      expect(await b.stop()).toBe(0);
    });
  },
);
