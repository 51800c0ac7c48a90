// The live stream end to end: a real server on 127.0.0.1:0 over a real SQLite file, real `ws`
// clients, signals arriving through the HTTP ingest route or the store.

import { once } from 'node:events';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { INGEST_PATH } from '@sigpost/protocol';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Admin } from '../admin.js';
import type { ServerConfigInput } from '../config.js';
import { SecretBox } from '../secrets.js';
import { type RunningServer, startServer } from '../server.js';
import { SqliteStore } from '../store/sqlite.js';
import type { Store, StoredSignalStatus } from '../store/store.js';
import { acceptRequest, T0 } from '../store/test-helpers/fixtures.js';
import { PRODUCER, SECRET, SIGNAL, signed, tempDir } from '../test-helpers/fixtures.js';
import { StreamClient } from '../test-helpers/stream-client.js';

const box = SecretBox.fromKey(Buffer.alloc(32, 3));
const cleanups: (() => Promise<void> | void)[] = [];
const clients: StreamClient[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Env {
  readonly server: RunningServer;
  readonly store: Store;
  readonly admin: Admin;
  readonly url: string;
  readonly dbPath: string;
}

async function streamServer(config: ServerConfigInput = {}, existing?: string): Promise<Env> {
  let dbPath = existing;
  if (dbPath === undefined) {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    dbPath = join(dir, 'stream.db');
  }
  const store = new SqliteStore({ path: dbPath });
  await store.migrate();
  const admin = new Admin(store, box);
  if ((await store.getProducer(PRODUCER)) === undefined)
    await admin.addProducer({ id: PRODUCER, secret: SECRET });
  const server = await startServer({
    store,
    secretBox: box,
    handleSignals: false,
    processMetrics: false,
    config: { port: 0, rateLimit: { perSecond: 1e6, burst: 1e6 }, ...config },
  });
  cleanups.push(() => server.close());
  return { server, store, admin, url: server.url, dbPath };
}

function connect(env: Env, options: ConstructorParameters<typeof StreamClient>[1] = {}): StreamClient {
  const client = new StreamClient(env.url, options);
  clients.push(client);
  return client;
}

async function subscriber(
  env: Env,
  scope: { producers?: string[]; statuses?: string[] } = {},
): Promise<string> {
  return (await env.admin.createSubscriber({ name: 'test', ...scope })).token;
}

let counter = 0;
/** Stores `n` signals directly (the path the ingest route's group commit takes). */
async function put(
  store: Store,
  n: number,
  spec: { producerId?: string; status?: StoredSignalStatus; body?: string } = {},
): Promise<string[]> {
  const requests = Array.from({ length: n }, () => {
    const id = `sig_${String(++counter).padStart(26, '0')}`;
    const request = acceptRequest({ id, ...spec, at: T0 + counter });
    return spec.body === undefined ? request : { ...request, signal: { ...request.signal, body: spec.body } };
  });
  await store.acceptBatch(requests);
  return requests.map((r) => r.signal.id);
}

/** Posts one signed signal through HTTP; returns its id. */
async function post(url: string, n: number): Promise<string> {
  const { headers, body } = signed({
    body: JSON.stringify({ ...SIGNAL, reason: `stream ${n}` }),
    timestamp: new Date().toISOString(),
  });
  const res = await fetch(`${url}${INGEST_PATH}`, { method: 'POST', headers, body });
  expect(res.status).toBe(201);
  return ((await res.json()) as { signal_id: string }).signal_id;
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** How often the hub re-checks the tokens of open connections (`TOKEN_CHECK_MS` in hub.ts). */
const TOKEN_CHECK_MS = 2_000;

/**
 * Fakes `setInterval` (and, with `date`, `Date`) from now until the test's cleanup, so the hub's token
 * checks and heartbeats (and the retention purge) run when the test moves time with
 * `vi.advanceTimersByTimeAsync`, not after real seconds. Sockets, `setTimeout` and the store stay real.
 * Call it before `streamServer`, which creates those intervals.
 */
function driveIntervals({ date = false }: { date?: boolean } = {}): void {
  vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', ...(date ? (['Date'] as const) : [])] });
  cleanups.push(() => {
    vi.useRealTimers();
  });
}

/** Resolves once `condition()` holds, checking after each turn of the event loop (no fixed wait). */
async function eventually(condition: () => Promise<boolean>, what: string, turns = 100_000): Promise<void> {
  for (let i = 0; i < turns; i++) {
    if (await condition()) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error(`${what}: not after ${turns} turns of the event loop`);
}

describe('GET /api/v1/stream', () => {
  it('says hello, is ready at once without `after`, and delivers a signal posted and then decided', async () => {
    const env = await streamServer();
    const token = await subscriber(env);
    const client = connect(env, { token });
    await client.ready();
    const [hello, ready] = client.messages;
    expect(hello).toEqual({
      type: 'hello',
      protocol: 1,
      epoch: (await env.store.streamPosition()).epoch,
      subscriber: expect.stringMatching(/^sub_/),
      heartbeat_seconds: 25,
    });
    expect(ready).toEqual({ type: 'ready', head: 0 });

    await env.admin.addProducer({ id: 'manual-desk', secret: SECRET, approval: 'manual' });
    const { headers, body } = signed({ producerId: 'manual-desk', timestamp: new Date().toISOString() });
    const res = await fetch(`${env.url}${INGEST_PATH}`, { method: 'POST', headers, body });
    const { signal_id: id } = (await res.json()) as { signal_id: string };
    await client.until(() => client.events.length === 1, 'the accepted event');
    const operator = await env.admin.createToken('ops');
    const approve = await fetch(`${env.url}/api/v1/operator/signals/${id}/approve`, {
      method: 'POST',
      headers: { authorization: `Bearer ${operator.token}` },
    });
    expect(approve.status).toBe(200);
    await client.until(() => client.events.length === 2, 'the decision event');
    const [received, approved] = client.events;
    expect(received).toMatchObject({
      type: 'signal.pending_approval',
      seq: 1,
      signal: {
        signal_id: id,
        producer_id: 'manual-desk',
        status: 'pending_approval',
        instrument: SIGNAL.instrument,
        side: SIGNAL.side,
        entry_price: SIGNAL.entry_price,
        stop_loss: SIGNAL.stop_loss,
        take_profit: SIGNAL.take_profit,
        reason: SIGNAL.reason,
        decided_at: null,
        decided_by: null,
        decision_channel: null,
      },
    });
    expect(approved).toMatchObject({
      type: 'signal.approved',
      seq: 2,
      at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/),
      signal: { signal_id: id, status: 'approved', decided_by: 'operator:ops', decision_channel: 'api' },
    });
    const metrics = await (await fetch(`${env.url}/metrics`)).text();
    expect(metrics).toContain('sigpost_stream_connections 1\n');
    expect(metrics).toContain('sigpost_stream_events_sent_total 2\n');
    expect(metrics).toContain('sigpost_stream_head_seq 2\n');
    expect(metrics).toContain('sigpost_requests_total{route="/api/v1/stream",outcome="ok",problem=""} 1\n');
  });

  it('purges signals past retention with their events, in the background, and then refuses older resume points', async () => {
    // Test signals are received at T0 (2025): more than a day ago.
    driveIntervals();
    const env = await streamServer({ signalRetentionDays: 1, purgeIntervalSeconds: 1 });
    const token = await subscriber(env);
    const before = connect(env, { token });
    await before.ready();
    const [old] = await put(env.store, 2);
    const recent = await post(env.url, 1); // received now: kept
    await before.until(() => before.lastSeq === 3, 'the three events');
    expect(await env.store.getSignal(old!)).toBeDefined();
    await vi.advanceTimersByTimeAsync(1_000); // the purge interval: the purge runs in the background
    await eventually(async () => (await env.store.getSignal(old!)) === undefined, 'the purge');
    expect(await env.store.getSignal(recent)).toBeDefined();
    expect((await env.store.streamPosition()).purgedThrough).toBe(2);
    const stale = connect(env, { token, after: 1 });
    expect((await stale.closing()).code).toBe(4410);
    const fresh = connect(env, { token, after: 2 });
    await fresh.ready();
    expect(fresh.seqs).toEqual([3]);
  });

  it('replays after a seq, then goes live; a client resuming after a disconnect gets no gap and no duplicate', async () => {
    const env = await streamServer();
    const token = await subscriber(env);
    await put(env.store, 5);
    const first = connect(env, { token, after: 2 });
    await first.ready();
    expect(first.seqs).toEqual([3, 4, 5]);
    expect(first.messages.at(-1)).toEqual({ type: 'ready', head: 5 });
    await put(env.store, 2);
    await first.until(() => first.lastSeq === 7, 'live events 6 and 7');
    first.close();
    await put(env.store, 3); // committed while disconnected
    const second = connect(env, { token, after: first.lastSeq ?? 0 });
    await second.ready();
    await put(env.store, 1);
    await second.until(() => second.lastSeq === 11, 'event 11');
    expect([...first.seqs, ...second.seqs]).toEqual(range(3, 11));
  });

  it('follows the head without reading events while no connection is open; a later connection replays them, then goes live', async () => {
    const env = await streamServer();
    const token = await subscriber(env);
    const reads = vi.spyOn(env.store, 'readEvents');
    const positions = vi.spyOn(env.store, 'streamPosition');
    await put(env.store, 20);
    // The hub learns the head from the commits' notifications (and, for the file's other
    // connections, from one small position read), never from the events themselves.
    await vi.waitFor(() => expect(positions).toHaveBeenCalled());
    expect(reads).not.toHaveBeenCalled();
    const client = connect(env, { token, after: 0 });
    await client.ready();
    expect(client.messages.at(-1)).toEqual({ type: 'ready', head: 20 });
    await put(env.store, 2);
    await client.until(() => client.lastSeq === 22, 'live events 21 and 22');
    expect(client.seqs).toEqual(range(1, 22));
    expect(reads).toHaveBeenCalled();
  });

  it('switches from replay to live under concurrent ingest with no gap and no duplicate', async () => {
    const env = await streamServer();
    const token = await subscriber(env);
    await put(env.store, 1500); // several replay pages
    let writing = true;
    const writer = (async () => {
      while (writing) await put(env.store, 3);
    })();
    const viaHttp = (async () => {
      for (let i = 0; i < 20; i++) await post(env.url, i);
    })();
    const clientsDuringIngest = [connect(env, { token, after: 0 }), connect(env, { token, after: 700 })];
    await Promise.all(clientsDuringIngest.map((c) => c.ready()));
    await viaHttp;
    writing = false;
    await writer;
    const head = (await env.store.streamPosition()).head;
    for (const [i, client] of clientsDuringIngest.entries()) {
      await client.until(() => client.lastSeq === head, `client ${i} to reach ${head}`);
      expect(client.seqs).toEqual(range(i === 0 ? 1 : 701, head));
    }
    expect(head).toBeGreaterThan(1520);
  });

  it('shows a subscriber only its producers and statuses, narrowed further by the query', async () => {
    const env = await streamServer();
    const scoped = await subscriber(env, { producers: ['desk-a'], statuses: ['received', 'approved'] });
    const all = await subscriber(env);
    await put(env.store, 1, { producerId: 'desk-a' }); // 1 visible
    await put(env.store, 1, { producerId: 'desk-b' }); // 2 other producer
    await put(env.store, 1, { producerId: 'desk-a', status: 'pending_approval' }); // 3 other status
    const scopedClient = connect(env, { token: scoped, after: 0 });
    const narrowed = connect(env, { token: all, after: 0, query: 'producers=desk-b' });
    const both = connect(env, { token: all, after: 0, query: 'statuses=pending_approval,approved' });
    await Promise.all([scopedClient.ready(), narrowed.ready(), both.ready()]);
    const [pending] = await Promise.all([env.store.readEvents(2, 1)]);
    await env.store.decideSignal(pending[0]!.signal.id, 'approved', 'ops', null, T0, 'cli'); // 4 visible
    await put(env.store, 1, { producerId: 'desk-a' }); // 5 visible
    await scopedClient.until(() => scopedClient.lastSeq === 5, 'event 5');
    await both.until(() => both.lastSeq === 4, 'event 4');
    expect(scopedClient.seqs).toEqual([1, 4, 5]);
    expect(scopedClient.events[1]).toMatchObject({
      type: 'signal.approved',
      signal: { decision_channel: 'cli' },
    });
    expect(narrowed.seqs).toEqual([2]);
    expect(both.seqs).toEqual([3, 4]);
  });

  it('delivers a decision committed by another process on the SQLite file (the CLI), found by polling', async () => {
    const env = await streamServer();
    const token = await subscriber(env);
    const [id] = await put(env.store, 1, { status: 'pending_approval' });
    const client = connect(env, { token, after: 0 });
    await client.ready();
    // Another connection to the file, as `sigpost signals approve` opens: this server's store is not told.
    const cli = new SqliteStore({ path: env.dbPath });
    cleanups.push(() => cli.close());
    await cli.decideSignal(id!, 'approved', 'alice', null, T0, 'cli');
    await client.until(() => client.lastSeq === 2, 'the decision event');
    expect(client.events[1]).toMatchObject({
      type: 'signal.approved',
      signal: { signal_id: id, decided_by: 'alice', decision_channel: 'cli' },
    });
  });

  describe('refuses an upgrade with an HTTP problem before any frame', () => {
    const cases: [
      string,
      (env: Env) => Promise<ConstructorParameters<typeof StreamClient>[1]>,
      number,
      string,
    ][] = [
      ['an unknown token', async () => ({ token: 'sgs_unknown' }), 401, 'invalid-subscriber-token'],
      ['a malformed Authorization header', async () => ({ token: '' }), 401, 'invalid-subscriber-token'],
      [
        'a token in the query string, even a valid one',
        async (env) => ({ token: await subscriber(env), query: `token=${await subscriber(env)}` }),
        400,
        'token-in-query',
      ],
      ['access_token without a header', async () => ({ query: 'access_token=x' }), 400, 'token-in-query'],
      [
        'a bad after',
        async (env) => ({ token: await subscriber(env), query: 'after=-1' }),
        400,
        'invalid-stream-request',
      ],
      [
        'an unknown status',
        async (env) => ({ token: await subscriber(env), query: 'statuses=shipped' }),
        400,
        'invalid-stream-request',
      ],
      [
        'an unknown parameter',
        async (env) => ({ token: await subscriber(env), query: 'from=1' }),
        400,
        'invalid-stream-request',
      ],
      [
        'producers outside the scope',
        async (env) => ({ token: await subscriber(env, { producers: ['a'] }), query: 'producers=a,b' }),
        403,
        'stream-scope-forbidden',
      ],
      [
        'statuses outside the scope',
        async (env) => ({
          token: await subscriber(env, { statuses: ['approved'] }),
          query: 'statuses=received',
        }),
        403,
        'stream-scope-forbidden',
      ],
    ];
    for (const [name, options, status, code] of cases) {
      it(name, async () => {
        const env = await streamServer();
        const client = connect(env, await options(env));
        const refusal = await client.refused();
        expect(refusal.status).toBe(status);
        expect(refusal.contentType).toBe('application/problem+json');
        expect(refusal.body).toMatchObject({ type: `urn:sigpost:problem:${code}`, status });
        expect(JSON.stringify(refusal.body)).not.toMatch(/sgs_[A-Za-z0-9_-]{20}/);
        expect(client.messages).toEqual([]);
      });
    }

    it('a revoked token, and more connections than the per-token cap (429 with Retry-After)', async () => {
      const env = await streamServer({ streamMaxConnectionsPerToken: 2 });
      const issued = await env.admin.createSubscriber({ name: 'capped' });
      const open = [connect(env, { token: issued.token }), connect(env, { token: issued.token })];
      await Promise.all(open.map((c) => c.ready()));
      const third = connect(env, { token: issued.token });
      const refusal = await third.refused();
      expect([refusal.status, refusal.body.type, refusal.headers['retry-after']]).toEqual([
        429,
        'urn:sigpost:problem:too-many-connections',
        '5',
      ]);
      open[0]!.close();
      await open[0]!.closing();
      const again = connect(env, { token: issued.token });
      await again.ready(); // a slot was freed
      await env.admin.revokeSubscriber(issued.id);
      const revoked = await connect(env, { token: issued.token }).refused();
      expect(revoked.status).toBe(401);
    });

    it('a malformed handshake or another path, as problems too', async () => {
      const env = await streamServer();
      const { port } = new URL(env.url);
      const upgrade = (path: string, headers: Record<string, string>) =>
        new Promise<{ status: number; type: string; body: { type: string } }>((resolve, reject) => {
          const request = httpRequest({
            host: '127.0.0.1',
            port,
            path,
            headers: { connection: 'Upgrade', upgrade: 'websocket', ...headers },
          });
          request.on('response', (res) => {
            let text = '';
            res.on('data', (chunk: Buffer) => {
              text += chunk;
            });
            res.on('end', () =>
              resolve({
                status: res.statusCode ?? 0,
                type: String(res.headers['content-type']),
                body: JSON.parse(text),
              }),
            );
          });
          request.on('upgrade', () => reject(new Error('upgraded')));
          request.on('error', reject);
          request.end();
        });
      const key = { 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' };
      const badVersion = await upgrade('/api/v1/stream', { ...key, 'sec-websocket-version': '8' });
      expect([badVersion.status, badVersion.type, badVersion.body.type]).toEqual([
        400,
        'application/problem+json',
        'urn:sigpost:problem:invalid-stream-request',
      ]);
      const badKey = await upgrade('/api/v1/stream', {
        'sec-websocket-key': 'short',
        'sec-websocket-version': '13',
      });
      expect(badKey.status).toBe(400);
      const elsewhere = await upgrade('/api/v1/other', { ...key, 'sec-websocket-version': '13' });
      expect([elsewhere.status, elsewhere.body.type]).toEqual([404, 'urn:sigpost:problem:not-found']);
    });

    it('a plain GET without Upgrade', async () => {
      const env = await streamServer();
      const res = await fetch(`${env.url}/api/v1/stream`);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { type: string }).type).toBe(
        'urn:sigpost:problem:invalid-stream-request',
      );
    });
  });

  it('authenticates a browser by its first message, and closes 4401 on a bad or missing one', async () => {
    const env = await streamServer({ streamAuthTimeoutSeconds: 1 });
    const token = await subscriber(env);
    await put(env.store, 2);
    const browser = connect(env, { after: 1 });
    await new Promise((resolve) => browser.ws.once('open', resolve));
    expect(browser.messages).toEqual([]);
    browser.ws.send(JSON.stringify({ type: 'auth', token }));
    await browser.ready();
    expect(browser.messages.map((m) => m.type)).toEqual(['hello', 'signal.received', 'ready']);

    const wrong = connect(env, {});
    wrong.ws.once('open', () => wrong.ws.send(JSON.stringify({ type: 'auth', token: 'sgs_nope' })));
    expect((await wrong.closing()).code).toBe(4401);
    // The auth timeout is a server timer: fake timeouts from here, and move time by the timeout once the
    // server holds the silent connection (its connection gauge counts connections not yet authenticated).
    const connections = async (n: number) =>
      (await (await fetch(`${env.url}/metrics`)).text()).includes(`sigpost_stream_connections ${n}\n`);
    await eventually(() => connections(1), 'the server to drop the refused connection');
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    cleanups.push(() => {
      vi.useRealTimers();
    });
    const silent = connect(env, {});
    await eventually(() => connections(2), 'the server to hold the silent connection');
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await silent.closing()).toEqual({ code: 4401, reason: 'no auth message in time' });
    expect(silent.messages).toEqual([]);
  });

  describe("the console's session cookie on the upgrade", () => {
    /** Signs in to the console of `env` as a browser on its origin would; returns the cookie pair. */
    async function consoleCookie(env: Env, name: string): Promise<{ cookie: string; tokenId: string }> {
      const operator = await env.admin.createToken(name);
      const res = await fetch(`${env.url}/console/session`, {
        method: 'POST',
        headers: { origin: env.url, 'content-type': 'application/json' },
        body: JSON.stringify({ token: operator.token }),
      });
      expect(res.status).toBe(200);
      return { cookie: String(res.headers.get('set-cookie')).split(';')[0] ?? '', tokenId: operator.id };
    }

    it('lets a signed-in console on this origin stream everything, and refuses a foreign Origin or an ended session before any frame', async () => {
      const env = await streamServer();
      const { cookie, tokenId } = await consoleCookie(env, 'alice');
      const [first] = await put(env.store, 1);
      const viewer = connect(env, { after: 0, headers: { cookie, origin: env.url } });
      await viewer.ready();
      expect(viewer.messages.map((m) => m.type)).toEqual(['hello', 'signal.received', 'ready']);
      expect(viewer.messages[0]).toMatchObject({ subscriber: tokenId });
      expect(viewer.events[0]).toMatchObject({ signal: { signal_id: first } });
      const [second] = await put(env.store, 1, { producerId: 'another-desk' });
      await viewer.until(() => viewer.events.length === 2, 'the live event');
      expect(viewer.events[1]).toMatchObject({ seq: 2, signal: { signal_id: second } });

      // Cross-site WebSocket hijacking: a page elsewhere (even 127.0.0.1 on another port) carrying the cookie.
      for (const origin of ['http://127.0.0.1:1', 'null', undefined]) {
        const hijack = connect(env, { after: 0, headers: { cookie, ...(origin ? { origin } : {}) } });
        const refusal = await hijack.refused();
        expect([refusal.status, refusal.contentType, refusal.body.type]).toEqual([
          403,
          'application/problem+json',
          'urn:sigpost:problem:csrf-rejected',
        ]);
        expect(hijack.messages).toEqual([]);
      }
      // A cookie naming no session (signed out, expired, another server).
      const stale = connect(env, {
        headers: { cookie: `sigpost_session=${'A'.repeat(43)}`, origin: env.url },
      });
      const refusal = await stale.refused();
      expect([refusal.status, refusal.body.type]).toEqual([401, 'urn:sigpost:problem:operator-unauthorized']);
      expect(stale.messages).toEqual([]);
      // No cookie at all: nothing is sent (the browser path waits for an auth message; docs/stream.md).
      const anonymous = connect(env, { after: 0, headers: { origin: env.url } });
      await new Promise((resolve) => anonymous.ws.once('open', resolve));
      anonymous.ws.send(JSON.stringify({ type: 'auth', token: 'sgs_not-a-token' }));
      expect((await anonymous.closing()).code).toBe(4401);
      expect(anonymous.messages).toEqual([]);
    });

    it('closes the stream when the session is signed out or its token revoked', async () => {
      driveIntervals();
      const env = await streamServer();
      const alice = await consoleCookie(env, 'alice');
      const bob = await consoleCookie(env, 'bob');
      const signedOut = connect(env, { headers: { cookie: alice.cookie, origin: env.url } });
      const revoked = connect(env, { headers: { cookie: bob.cookie, origin: env.url } });
      await Promise.all([signedOut.ready(), revoked.ready()]);
      const session = await fetch(`${env.url}/console/session`, { headers: { cookie: alice.cookie } });
      const { csrf_token: csrf } = (await session.json()) as { csrf_token: string };
      const out = await fetch(`${env.url}/console/session`, {
        method: 'DELETE',
        headers: { cookie: alice.cookie, origin: env.url, 'x-csrf-token': csrf },
      });
      expect(out.status).toBe(204);
      await vi.advanceTimersByTimeAsync(TOKEN_CHECK_MS);
      expect(await signedOut.closing()).toEqual({
        code: 4401,
        reason: 'console session ended; sign in again',
      });
      expect(revoked.closed).toBeUndefined();
      expect(await env.store.revokeToken(bob.tokenId)).toBe(true);
      await vi.advanceTimersByTimeAsync(TOKEN_CHECK_MS);
      expect(await revoked.closing()).toEqual({ code: 4403, reason: 'token revoked' });
    });
  });

  it('closes a revoked token’s open connections with 4403 within seconds', async () => {
    // The server's clock is the fake one: it moves 4 s less a millisecond, and no further while the
    // test waits for the close, so a close that comes at all came within 4 s of the revocation.
    driveIntervals({ date: true });
    const env = await streamServer();
    const issued = await env.admin.createSubscriber({ name: 'soon revoked' });
    const keep = connect(env, { token: await subscriber(env) });
    const client = connect(env, { token: issued.token });
    await Promise.all([client.ready(), keep.ready()]);
    const started = Date.now();
    await env.admin.revokeSubscriber(issued.id);
    await vi.advanceTimersByTimeAsync(3_999);
    expect(await client.closing()).toEqual({ code: 4403, reason: 'token revoked' });
    expect(Date.now() - started).toBeLessThan(4_000);
    expect(keep.closed).toBeUndefined();
  });

  it('closes a slow consumer with 4429 without growing its buffer, and a resume loses nothing', async () => {
    const env = await streamServer({ streamMaxBufferedBytes: 16_384 });
    const token = await subscriber(env);
    const client = connect(env, { token });
    await client.ready();
    // The client stops reading: the kernel's socket buffers fill, then the server's send buffer.
    const socket = (client.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    socket.pause();
    const big = JSON.stringify({ ...SIGNAL, payload: { blob: 'x'.repeat(16_000) } });
    // The paused client cannot see the close; the server's metrics tell when it closed the connection.
    const closedSlow = async () =>
      (await (await fetch(`${env.url}/metrics`)).text()).includes(
        'sigpost_stream_closes_total{code="4429"} 1\n',
      );
    for (let i = 0; i < 40 && client.closed === undefined && !(await closedSlow()); i++) {
      await put(env.store, 50, { body: big });
      await new Promise((resolve) => setImmediate(resolve));
    }
    socket.resume();
    expect((await client.closing()).code).toBe(4429);
    const head = (await env.store.streamPosition()).head;
    const lastProcessed = client.lastSeq ?? 0;
    expect(lastProcessed).toBeLessThan(head);
    const resumed = connect(env, { token, after: lastProcessed });
    await resumed.until(() => resumed.lastSeq === head, 'the rest of the events');
    expect([...client.seqs, ...resumed.seqs]).toEqual(range(1, head));
  });

  it('terminates a connection that does not answer pings', async () => {
    driveIntervals({ date: true });
    const env = await streamServer({ streamHeartbeatSeconds: 1, streamPongTimeoutSeconds: 1 });
    const token = await subscriber(env);
    const deaf = connect(env, { token, autoPong: false });
    const alive = connect(env, { token });
    await Promise.all([deaf.ready(), alive.ready()]);
    const pinged = Promise.all([once(deaf.ws, 'ping'), once(alive.ws, 'ping')]);
    await vi.advanceTimersByTimeAsync(1_000); // the heartbeat: the server pings both
    await pinged;
    // `alive` answered its ping at once; a ping of its own, answered after that pong, proves the server read it.
    const roundTrip = once(alive.ws, 'pong');
    alive.ws.ping();
    await roundTrip;
    await vi.advanceTimersByTimeAsync(1_000); // the pong timeout
    expect((await deaf.closing()).code).toBe(1006); // terminated: no close frame
    expect(alive.closed).toBeUndefined();
  });

  it('closes a connection sending a frame over 4 KiB (1009) or any message after auth (4400)', async () => {
    const env = await streamServer();
    const token = await subscriber(env);
    const big = connect(env, {});
    big.ws.once('open', () => big.ws.send('x'.repeat(5_000)));
    expect((await big.closing()).code).toBe(1009);
    const chatty = connect(env, { token });
    await chatty.ready();
    chatty.ws.send('{"type":"auth","token":"again"}');
    expect((await chatty.closing()).code).toBe(4400);
  });

  it('closes connections with 1001 on shutdown, and refuses a resume point older than retained history (4410)', async () => {
    const env = await streamServer();
    const token = await subscriber(env);
    const client = connect(env, { token });
    await client.ready();
    await env.server.close();
    expect((await client.closing()).code).toBe(1001);

    const reopened = await streamServer({}, env.dbPath);
    await put(reopened.store, 3);
    await reopened.store.purgeSignals(T0 + counter); // all but the newest
    const stale = connect(reopened, { token, after: 1 });
    expect((await stale.closing()).code).toBe(4410);
    expect(stale.messages.map((m) => m.type)).toEqual(['hello']);
    const fresh = connect(reopened, { token, after: (await reopened.store.streamPosition()).purgedThrough });
    await fresh.ready();
    expect(fresh.events).toHaveLength(1);
    // after=0 is the start of the retained history, not an expired resume point (the resync after 4410).
    const fromStart = connect(reopened, { token, after: 0 });
    await fromStart.ready();
    expect(fromStart.seqs).toEqual(fresh.seqs);
  });
});
