import {
  type StreamServer,
  type StreamServerOptions,
  startStreamServer,
  TEST_EPOCH,
  TEST_TOKEN,
} from '@sigpost/test-support/stream-server';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryCursor } from './cursor.js';
import { isSubscriberError, type SubscriberError } from './errors.js';
import type { StreamEvent } from './events.js';
import { SignalSubscriber, type SignalSubscriberOptions } from './subscriber.js';
import { captureLogger, next } from './test-helpers/collect.js';

const servers: StreamServer[] = [];
const subscribers: SignalSubscriber[] = [];
afterEach(async () => {
  await Promise.all(subscribers.splice(0).map((s) => s.close()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function server(options: StreamServerOptions = {}): Promise<StreamServer> {
  const s = await startStreamServer(options);
  servers.push(s);
  return s;
}

function subscriber(s: StreamServer, options: Partial<SignalSubscriberOptions> = {}): SignalSubscriber {
  const sub = new SignalSubscriber({
    url: s.url,
    token: TEST_TOKEN,
    reconnect: { baseDelayMs: 20, maxDelayMs: 100 },
    ...options,
  });
  subscribers.push(sub);
  return sub;
}

const seqs = (events: readonly StreamEvent[]) => events.map((e) => e.seq);

async function failure(promise: Promise<unknown>): Promise<SubscriberError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isSubscriberError(error)) throw new Error(`expected a SubscriberError, got ${String(error)}`);
  return error;
}

describe('SignalSubscriber: replay, live, cursor', () => {
  it('replays the events after the cursor, then live ones, saving the cursor after each handler', async () => {
    const s = await server();
    for (let i = 0; i < 5; i += 1) s.append();
    const cursor = new MemoryCursor({ epoch: TEST_EPOCH, seq: 2 });
    const sub = subscriber(s, { cursor });
    const seen: number[] = [];
    const saved: (number | undefined)[] = [];
    const done = sub.run(async (event) => {
      saved.push(cursor.position?.seq);
      seen.push(event.seq);
      if (event.seq === 5) s.append({ status: 'pending_approval' });
      if (event.seq === 6) {
        expect(event.type).toBe('signal.pending_approval');
        void sub.close();
      }
    });
    await done;
    expect(seen).toEqual([3, 4, 5, 6]);
    // While seq n was handled, the cursor still said n - 1; after close, the last handled one.
    expect(saved).toEqual([2, 3, 4, 5]);
    expect(cursor.position).toEqual({ epoch: TEST_EPOCH, seq: 6 });
    const first = await s.connection(1);
    expect(first.after).toBe(2);
    expect(first.headers.authorization).toBe(`Bearer ${TEST_TOKEN}`);
    expect(s.upgrades.every((u) => !u.url.includes(TEST_TOKEN))).toBe(true);
  });

  it('with an empty cursor starts live (no after=) and resumes after the head it was told in ready', async () => {
    const s = await server();
    s.append();
    s.append();
    const sub = subscriber(s);
    const it = sub[Symbol.asyncIterator]();
    const pending = next(it, 1);
    const first = await s.connection(1);
    expect(first.after).toBeNull();
    s.closeAll(1001, 'shutting down');
    const second = await s.connection(2);
    expect(second.after).toBe(2); // the head at ready: nothing committed meanwhile is missed
    s.append();
    expect(seqs(await pending)).toEqual([3]);
  });

  it("start: { after: 0 } replays all retained history and narrows by the subscription's producers and statuses", async () => {
    const s = await server();
    s.append({ producer_id: 'bot-1' });
    s.append({ producer_id: 'bot-2' });
    s.append({ producer_id: 'bot-1', status: 'rejected' });
    s.append({ producer_id: 'bot-1', status: 'approved' });
    const sub = subscriber(s, {
      start: { after: 0 },
      producers: ['bot-1'],
      statuses: ['received', 'approved'],
    });
    const events = await next(sub[Symbol.asyncIterator](), 2);
    expect(seqs(events)).toEqual([1, 4]);
    const url = (await s.connection(1)).url;
    expect(url.searchParams.get('producers')).toBe('bot-1');
    expect(url.searchParams.get('statuses')).toBe('received,approved');
    expect(events[1]?.signal.status).toBe('approved');
    expect(events[0]?.epoch).toBe(TEST_EPOCH);
  });

  it('leaving a for-await loop with break does not acknowledge the event being handled', async () => {
    const s = await server();
    for (let i = 0; i < 3; i += 1) s.append();
    const cursor = new MemoryCursor({ epoch: null, seq: 0 });
    const sub = subscriber(s, { cursor });
    for await (const event of sub) {
      if (event.seq === 2) break;
    }
    expect(cursor.position).toEqual({ epoch: TEST_EPOCH, seq: 1 });
  });
});

describe('SignalSubscriber: reconnects', () => {
  it('reconnects after 1001 and resumes after the last seq, with no gap and no duplicate', async () => {
    const s = await server();
    for (let i = 0; i < 3; i += 1) s.append();
    const logger = captureLogger();
    const registry = new Registry();
    const sub = subscriber(s, { start: { after: 0 }, logger, registry });
    const it = sub[Symbol.asyncIterator]();
    expect(seqs(await next(it, 3))).toEqual([1, 2, 3]);
    s.closeAll(1001, 'server shutting down');
    s.append(); // committed while the subscriber is away
    const second = await s.connection(2);
    expect(second.after).toBe(3);
    s.append();
    expect(seqs(await next(it, 2))).toEqual([4, 5]);
    const reconnects = await registry.getSingleMetric('sigpost_subscriber_reconnects_total')?.get();
    expect(reconnects?.values).toEqual([expect.objectContaining({ labels: { reason: 'closed' }, value: 1 })]);
    const warn = logger.lines.find((l) => l.msg === 'stream: reconnecting');
    expect(warn?.fields).toMatchObject({ reconnect_reason: 'closed', after: 3 });
    expect(JSON.stringify(logger.lines)).not.toContain(TEST_TOKEN);
  });

  it('reconnects after the server process goes away (connection refused), with backoff', async () => {
    const s = await server();
    s.append();
    const port = s.port;
    const sub = subscriber(s, { start: { after: 0 } });
    const it = sub[Symbol.asyncIterator]();
    expect(seqs(await next(it, 1))).toEqual([1]);
    await s.close();
    // A new server on the same port with the same store.
    const again = await startStreamServerOn(port);
    again.append();
    again.append();
    expect(seqs(await next(it, 1))).toEqual([2]);
    expect((await again.connection(1)).after).toBe(1);
  });

  it('drops events at or below the last seq (a server that repeats) and counts them', async () => {
    const s = await server({ script: (i) => (i === 1 ? { repeat: 2 } : undefined) });
    for (let i = 0; i < 4; i += 1) s.append();
    const registry = new Registry();
    const sub = subscriber(s, { start: { after: 0 }, registry });
    const it = sub[Symbol.asyncIterator]();
    expect(seqs(await next(it, 4))).toEqual([1, 2, 3, 4]);
    s.closeAll(1001, 'restart');
    await s.connection(2);
    s.append();
    expect(seqs(await next(it, 1))).toEqual([5]);
    expect((await s.connection(2)).sent).toEqual([3, 4, 5]);
    const events = await registry.getSingleMetric('sigpost_subscriber_events_total')?.get();
    expect(events?.values).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ labels: { outcome: 'duplicate' }, value: 2 }),
        expect.objectContaining({ labels: { outcome: 'handled' }, value: 5 }),
      ]),
    );
  });

  it('after a slow-consumer close (4429) resumes from the last seq and loses nothing', async () => {
    const s = await server({
      script: (i) =>
        i === 0 ? { closeAfter: { events: 3, code: 4429, reason: 'slow consumer' } } : undefined,
    });
    for (let i = 0; i < 6; i += 1) s.append();
    const sub = subscriber(s, { start: { after: 0 } });
    const events = await next(sub[Symbol.asyncIterator](), 6);
    expect(seqs(events)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(await s.connections[0]?.closed).toBe(4429);
    expect(s.connections[1]?.after).toBe(3);
  });

  it('holds at most maxQueuedEvents (pausing the socket) and loses nothing when the server then closes it with 4429', async () => {
    const s = await server();
    for (let i = 0; i < 50; i += 1) s.append({ payload: { pad: 'x'.repeat(2000) } });
    const sub = subscriber(s, { start: { after: 0 }, maxQueuedEvents: 4 });
    const it = sub[Symbol.asyncIterator]();
    const first = await next(it, 2);
    const conn = await s.connection(1);
    conn.socket.close(4429, 'slow consumer');
    const rest = await next(it, 48);
    expect(seqs([...first, ...rest])).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(await conn.closed).toBe(4429);
  });

  it('against a server that closes at 1 MiB of send buffer, a slow handler loses nothing and sees nothing twice', async () => {
    const s = await server({ maxBufferedBytes: 1024 * 1024 });
    const total = 400;
    for (let i = 0; i < total; i += 1) s.append({ payload: { pad: 'x'.repeat(20_000) } });
    const sub = subscriber(s, { start: { after: 0 }, maxQueuedEvents: 8 });
    const seen: number[] = [];
    await sub.run(async (e) => {
      seen.push(e.seq);
      if (seen.length <= 20) await new Promise((r) => setImmediate(r));
      if (e.seq === total) void sub.close();
    });
    expect(seen).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    // The replay of 8 MB overflowed the buffer: the server closed with 4429 and the subscriber resumed.
    expect(await s.connections[0]?.closed).toBe(4429);
    expect(s.connections.length).toBeGreaterThan(1);
    expect(s.connections[1]?.after).toBe(s.connections[0]?.sent.at(-1));
  });

  it('treats no frame or ping for heartbeat_seconds + grace as a dead server and reconnects', async () => {
    const s = await server({ heartbeatSeconds: 1, script: (i) => (i === 0 ? { silent: true } : undefined) });
    s.append();
    const sub = subscriber(s, { start: { after: 0 }, heartbeatGraceMs: 200 });
    const started = performance.now();
    const events = await next(sub[Symbol.asyncIterator](), 1);
    const waited = performance.now() - started;
    expect(seqs(events)).toEqual([1]);
    expect(s.connections).toHaveLength(2);
    expect(waited).toBeGreaterThanOrEqual(1150);
    expect(waited).toBeLessThan(5000);
  });

  it('stays connected while the server pings within heartbeat_seconds + grace', async () => {
    const s = await server({ heartbeatSeconds: 1, pingIntervalMs: 250 });
    const sub = subscriber(s, { heartbeatGraceMs: 100 });
    const pending = next(sub[Symbol.asyncIterator](), 1);
    const conn = await s.connection(1);
    // Six pongs (1.5 s) is longer than the 1.1 s silence limit: only the pings keep it open.
    await new Promise<void>((resolve) => {
      let pongs = 0;
      conn.socket.on('pong', () => {
        pongs += 1;
        if (pongs === 6) resolve();
      });
    });
    expect(s.connections).toHaveLength(1);
    s.append();
    expect(seqs(await pending)).toEqual([1]);
  });
});

describe('SignalSubscriber: errors that stop it', () => {
  it('a revoked token (4403) stops the subscription with SUBSCRIBER_REVOKED and no reconnect', async () => {
    const s = await server();
    s.append();
    const sub = subscriber(s, { start: { after: 0 } });
    const seen: number[] = [];
    const done = sub.run((event) => {
      seen.push(event.seq);
      s.revoke(TEST_TOKEN);
    });
    const error = await failure(done);
    expect(error.code).toBe('SUBSCRIBER_REVOKED');
    expect(error).toMatchObject({ closeCode: 4403 });
    expect(seen).toEqual([1]);
    expect(s.upgrades).toHaveLength(1);
  });

  it('a refused upgrade (401 problem+json) stops with SUBSCRIBER_REFUSED carrying the problem, without retrying', async () => {
    const s = await server();
    const sub = subscriber(s, { token: 'sgs_not-a-known-token-00000000000000000000000' });
    const error = await failure(sub.run(() => {}));
    expect(error.code).toBe('SUBSCRIBER_REFUSED');
    expect(error).toMatchObject({
      httpCode: 401,
      problem: { type: 'urn:sigpost:problem:invalid-subscriber-token', status: 401 },
    });
    expect(error.message).not.toContain('sgs_not-a-known');
    expect(s.upgrades).toHaveLength(1);
  });

  it('an https:// URL to a plain-HTTP port stops with SUBSCRIBER_NOT_TLS at once, without reconnecting', async () => {
    const s = await server();
    const logger = captureLogger();
    const sub = subscriber(s, { url: s.url.replace(/^http:/, 'https:'), logger });
    const error = await failure(sub.run(() => {}));
    expect(error.code).toBe('SUBSCRIBER_NOT_TLS');
    expect(error.message).toBe(
      `The server at ${new URL(s.url).host} does not speak TLS on this port: use http:// (or ws://) for a plain-HTTP server, or the port where it serves TLS`,
    );
    expect((error.cause as Error).message).toMatch(/wrong version number/);
    expect(logger.lines.filter((l) => l.msg === 'stream: reconnecting')).toEqual([]);
    expect(s.upgrades).toHaveLength(0);
  });

  it('refuses to resume across epochs: a cursor from another store', async () => {
    const s = await server();
    s.append();
    const sub = subscriber(s, { cursor: new MemoryCursor({ epoch: 'ep_other', seq: 0 }) });
    const error = await failure(sub.run(() => {}));
    expect(error.code).toBe('SUBSCRIBER_EPOCH_MISMATCH');
    expect(error).toMatchObject({ expectedEpoch: 'ep_other', serverEpoch: TEST_EPOCH });
  });

  it('refuses an epoch change between two connections, after delivering what it had', async () => {
    const s = await server({ script: (i) => (i === 1 ? { epoch: 'ep_recreated' } : undefined) });
    s.append();
    const sub = subscriber(s, { start: { after: 0 } });
    const seen: number[] = [];
    const done = sub.run((event) => {
      seen.push(event.seq);
      s.closeAll(1001, 'restart');
    });
    const error = await failure(done);
    expect(error.code).toBe('SUBSCRIBER_EPOCH_MISMATCH');
    expect(seen).toEqual([1]);
  });

  it('a server whose head is behind the cursor is a gap (SUBSCRIBER_GAP)', async () => {
    const s = await server();
    s.append();
    s.append();
    const sub = subscriber(s, { cursor: new MemoryCursor({ epoch: TEST_EPOCH, seq: 7 }) });
    const error = await failure(sub.run(() => {}));
    expect(error.code).toBe('SUBSCRIBER_GAP');
    expect(error).toMatchObject({ afterSeq: 7, nextSeq: 2 });
  });

  it('with contiguous: true a skipped seq is a gap, reported after the events before it', async () => {
    const s = await server({ script: () => ({ skip: [3] }) });
    for (let i = 0; i < 4; i += 1) s.append();
    const sub = subscriber(s, { start: { after: 0 }, contiguous: true });
    const seen: number[] = [];
    const error = await failure(sub.run((e) => void seen.push(e.seq)));
    expect(seen).toEqual([1, 2]);
    expect(error).toMatchObject({ code: 'SUBSCRIBER_GAP', afterSeq: 2, nextSeq: 4 });
  });

  it('a resume point older than the retained history (4410) stops with SUBSCRIBER_CURSOR_EXPIRED', async () => {
    const s = await server({ oldestAfter: 5 });
    const sub = subscriber(s, { cursor: new MemoryCursor({ epoch: TEST_EPOCH, seq: 2 }) });
    const error = await failure(sub.run(() => {}));
    expect(error).toMatchObject({
      code: 'SUBSCRIBER_CURSOR_EXPIRED',
      closeCode: 4410,
      closeReason: 'cursor-expired',
    });
  });

  it('with onCursorExpired, resyncs and goes on from the point it returns', async () => {
    const s = await server({ oldestAfter: 5 });
    for (let i = 0; i < 7; i += 1) s.append();
    const asked: unknown[] = [];
    const sub = subscriber(s, {
      cursor: new MemoryCursor({ epoch: TEST_EPOCH, seq: 2 }),
      onCursorExpired: (info) => {
        asked.push(info);
        return { after: 5 };
      },
    });
    const events = await next(sub[Symbol.asyncIterator](), 2);
    expect(seqs(events)).toEqual([6, 7]);
    expect(asked).toEqual([{ after: 2, epoch: TEST_EPOCH, reason: 'cursor-expired' }]);
  });

  it('a handler that throws stops with SUBSCRIBER_HANDLER_FAILED and leaves the cursor before that event', async () => {
    const s = await server();
    s.append();
    s.append();
    const cursor = new MemoryCursor({ epoch: null, seq: 0 });
    const sub = subscriber(s, { cursor });
    const boom = new Error('broker down');
    const error = await failure(
      sub.run((e) => {
        if (e.seq === 2) throw boom;
      }),
    );
    expect(error.code).toBe('SUBSCRIBER_HANDLER_FAILED');
    expect(error.cause).toBe(boom);
    expect(cursor.position?.seq).toBe(1);
  });
});

describe('SignalSubscriber: maxAgeSeconds', () => {
  const old = () => new Date(Date.now() - 3_600_000).toISOString();

  it('skips signals older than maxAgeSeconds, and the cursor moves past them', async () => {
    const s = await server();
    s.append({ timestamp: old() });
    s.append();
    s.append({ timestamp: old() });
    const cursor = new MemoryCursor({ epoch: null, seq: 0 });
    const registry = new Registry();
    const sub = subscriber(s, { cursor, maxAgeSeconds: 60, registry });
    const seen: StreamEvent[] = [];
    await sub.run((e) => {
      seen.push(e);
      if (e.seq === 2) {
        s.append({ timestamp: old() });
        s.append();
      }
      if (e.seq === 5) void sub.close();
    });
    expect(seqs(seen)).toEqual([2, 5]);
    expect(seen.every((e) => !e.stale && e.ageSeconds < 60)).toBe(true);
    expect(cursor.position?.seq).toBe(5);
    const events = await registry.getSingleMetric('sigpost_subscriber_events_total')?.get();
    expect(events?.values).toEqual(
      expect.arrayContaining([expect.objectContaining({ labels: { outcome: 'stale_skipped' }, value: 3 })]),
    );
  });

  it("with stale: 'deliver' hands stale signals over marked stale", async () => {
    const s = await server();
    s.append({ timestamp: old() });
    s.append();
    const sub = subscriber(s, { start: { after: 0 }, maxAgeSeconds: 60, stale: 'deliver' });
    const [a, b] = await next(sub[Symbol.asyncIterator](), 2);
    expect(a).toMatchObject({ seq: 1, stale: true });
    expect(a?.ageSeconds).toBeGreaterThan(3500);
    expect(b).toMatchObject({ seq: 2, stale: false });
  });
});

describe('SignalSubscriber: options', () => {
  it('refuses a token in the URL without echoing it, and other bad options naming them', () => {
    const make = (o: Partial<SignalSubscriberOptions>) => () =>
      new SignalSubscriber({ url: 'http://127.0.0.1:1', token: TEST_TOKEN, ...o });
    expect(make({ url: 'http://127.0.0.1:1/api/v1/stream?token=sgs_secret123' })).toThrow(
      /Never put the token/,
    );
    try {
      make({ url: 'http://127.0.0.1:1/?access_token=sgs_secret123' })();
    } catch (error) {
      expect(String(error)).not.toContain('sgs_secret123');
    }
    expect(make({ url: 'ftp://x' })).toThrow(/http, https, ws or wss/);
    expect(make({ token: 'a b' })).toThrow(/token/);
    expect(make({ statuses: ['done' as never] })).toThrow(/statuses/);
    expect(make({ producers: [] })).toThrow(/producers/);
    expect(make({ maxAgeSeconds: -1 })).toThrow(/maxAgeSeconds/);
    expect(make({ start: { after: -1 } })).toThrow(/start/);
    expect(make({ logger: {} as never })).toThrow(/debug\(\)/);
  });
});

// A second stream server on a given port (the first one's, after it stopped).
async function startStreamServerOn(port: number): Promise<StreamServer> {
  const s = await startStreamServer({ port });
  servers.push(s);
  return s;
}

describe('SignalSubscriber: close()', () => {
  it('returns at once while waiting to reconnect', async () => {
    const s = await server();
    s.append();
    const sub = subscriber(s, {
      start: { after: 0 },
      reconnect: { baseDelayMs: 60_000, maxDelayMs: 60_000 },
      random: () => 0.99,
    });
    const it = sub[Symbol.asyncIterator]();
    await next(it, 1);
    const serverSaw = (await s.connection(1)).closed;
    s.closeAll(1001, 'bye');
    await serverSaw;
    const started = performance.now();
    await sub.close();
    expect(performance.now() - started).toBeLessThan(1000);
    expect((await it.next()).done).toBe(true);
  });
});

describe('SignalSubscriber: metrics', () => {
  it('reports the cursor, the lag in seq behind the known head and the lag in seconds', async () => {
    const s = await server();
    for (let i = 0; i < 5; i += 1) s.append();
    const registry = new Registry();
    const sub = subscriber(s, { start: { after: 0 }, registry });
    await sub.run((event) => {
      if (event.seq === 3) void sub.close();
    });
    const value = async (name: string) => (await registry.getSingleMetric(name)?.get())?.values[0]?.value;
    expect(await value('sigpost_subscriber_cursor_seq')).toBe(3);
    expect(await value('sigpost_subscriber_lag_seq')).toBe(2);
    const lagSeconds = await value('sigpost_subscriber_lag_seconds');
    expect(lagSeconds).toBeGreaterThanOrEqual(0);
    expect(lagSeconds).toBeLessThan(10);
    expect(await value('sigpost_subscriber_connected')).toBe(0);
    // A second subscriber on the same registry shares the metrics instead of failing on duplicate names.
    expect(() => subscriber(s, { registry })).not.toThrow();
  });
});

describe('SignalSubscriber: refusals worth retrying, unknown and invalid frames', () => {
  it('retries a 429 or 503 refusal of the upgrade, after Retry-After', async () => {
    const s = await server({
      refuse: (i) =>
        i === 0
          ? { status: 429, code: 'too-many-connections', retryAfter: '0' }
          : i === 1
            ? { status: 503, code: 'store-unavailable' }
            : undefined,
    });
    s.append();
    const logger = captureLogger();
    const sub = subscriber(s, { start: { after: 0 }, logger });
    expect(seqs(await next(sub[Symbol.asyncIterator](), 1))).toEqual([1]);
    expect(s.upgrades).toHaveLength(3);
    const reconnects = logger.lines.filter((l) => l.msg === 'stream: reconnecting').map((l) => l.fields);
    expect(reconnects).toEqual([
      expect.objectContaining({
        reconnect_reason: 'refused',
        delay_ms: 0,
        error_message: expect.stringContaining('HTTP 429'),
      }),
      expect.objectContaining({
        reconnect_reason: 'refused',
        error_message: expect.stringContaining('HTTP 503'),
      }),
    ]);
  });

  it('skips an event of an unknown type (the cursor moves past it) and ignores an unknown control message', async () => {
    const s = await server({ script: () => ({ frames: [JSON.stringify({ type: 'notice', text: 'hi' })] }) });
    s.append();
    s.append({}, { type: 'signal.archived' });
    s.append();
    const cursor = new MemoryCursor({ epoch: null, seq: 0 });
    const sub = subscriber(s, { cursor });
    const seen: number[] = [];
    await sub.run((e) => {
      seen.push(e.seq);
      if (e.seq === 3) void sub.close();
    });
    expect(seen).toEqual([1, 3]);
    expect(cursor.position?.seq).toBe(3);
  });

  it('stops with SUBSCRIBER_PROTOCOL_ERROR on a frame that is not JSON, or on another protocol version', async () => {
    const garbage = await server({ script: () => ({ frames: ['not json'] }) });
    const a = await failure(subscriber(garbage).run(() => {}));
    expect(a).toMatchObject({
      code: 'SUBSCRIBER_PROTOCOL_ERROR',
      message: expect.stringContaining('not JSON'),
    });
    const v2 = await server({ script: () => ({ protocol: 2 }) });
    const b = await failure(subscriber(v2).run(() => {}));
    expect(b).toMatchObject({
      code: 'SUBSCRIBER_PROTOCOL_ERROR',
      message: expect.stringContaining('protocol 2'),
    });
    expect(v2.upgrades).toHaveLength(1);
  });

  it('Symbol.asyncDispose closes it', async () => {
    const s = await server();
    s.append();
    const sub = subscriber(s, { start: { after: 0 } });
    const it = sub[Symbol.asyncIterator]();
    await next(it, 1);
    const pending = it.next();
    await sub[Symbol.asyncDispose]();
    expect((await pending).done).toBe(true);
    expect(await s.connections[0]?.closed).toBe(1000);
  });
});
