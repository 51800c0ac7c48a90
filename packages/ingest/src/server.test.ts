// The server on a real socket (127.0.0.1, port 0): what app.inject cannot show.
import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { HmacClient, OutboundClientError, OutboundConfig } from '@sigpost/outbound';
import { HEADERS, INGEST_PATH } from '@sigpost/protocol';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Admin } from './admin.js';
import { SecretBox } from './secrets.js';
import { type RunningServer, startServer } from './server.js';
import { SqliteStore } from './store/sqlite.js';
import type { AcceptRequest, Store } from './store/store.js';
import {
  deferred,
  PRODUCER,
  SECRET,
  SIGNAL,
  signed,
  tempDir,
  withOverride,
} from './test-helpers/fixtures.js';

let server: RunningServer | undefined;
let cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  await server?.close();
  server = undefined;
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
});

async function start(options: { wrapStore?: (store: Store) => Store; maxBodyBytes?: number } = {}) {
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  const dbPath = join(dir, 'server.db');
  const real = new SqliteStore({ path: dbPath });
  await real.migrate();
  const box = SecretBox.fromKey(randomBytes(32));
  await new Admin(real, box).addProducer({ id: PRODUCER, secret: SECRET });
  const store = options.wrapStore ? options.wrapStore(real) : real;
  server = await startServer({
    store,
    secretBox: box,
    handleSignals: false,
    processMetrics: false,
    config: {
      port: 0,
      maxBodyBytes: options.maxBodyBytes ?? 65_536,
      rateLimit: { perSecond: 1e6, burst: 1e6 },
    },
  });
  return { server, dbPath, real };
}

/** A real signed request with the current time (the server runs on the wall clock). */
function liveRequest(reason = 'live') {
  const body = JSON.stringify({ ...SIGNAL, reason });
  return signed({ body, timestamp: new Date().toISOString() });
}

function post(url: string, headers: Record<string, string>, body: string | Buffer) {
  return fetch(`${url}${INGEST_PATH}`, { method: 'POST', headers, body });
}

describe('body limit on a real socket', () => {
  it('answers 413 from Content-Length before the body is sent', async () => {
    const { server } = await start();
    const { port } = new URL(server.url);
    const socket = connect(Number(port), '127.0.0.1');
    cleanups.push(() => {
      socket.destroy();
    });
    const response = new Promise<string>((resolve) => {
      let text = '';
      socket.on('data', (d) => {
        text += d.toString('utf8');
        if (text.includes('\r\n\r\n') && text.includes('}')) resolve(text);
      });
    });
    // Headers only: the 1 MB body is never sent, yet the answer comes.
    socket.write(
      `POST ${INGEST_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n`,
    );
    const text = await response;
    expect(text.startsWith('HTTP/1.1 413 Payload Too Large\r\n')).toBe(true);
    expect(text).toContain('"type":"urn:sigpost:problem:body-too-large"');
  });

  it('answers 413 while a chunked body is still streaming, without waiting for its end', async () => {
    const { server } = await start();
    const { port } = new URL(server.url);
    const chunk = Buffer.alloc(8 * 1024, 'a');
    let sent = 0;
    const result = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port: Number(port),
          method: 'POST',
          path: INGEST_PATH,
          headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
        },
        (res) => {
          let body = '';
          res.on('data', (d) => {
            body += d;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', (error) => {
        // The server may close the socket while we still write: only a missing answer is a failure.
        if (sent === 0) reject(error);
      });
      // Stream up to 8 MiB, one chunk per turn, and never call end(): only the limit can stop this.
      const pump = () => {
        if (req.destroyed || sent >= 8 * 1024 * 1024) return;
        sent += chunk.length;
        if (req.write(chunk)) setImmediate(pump);
        else req.once('drain', pump);
      };
      pump();
    });
    expect(result.status).toBe(413);
    expect(JSON.parse(result.body).type).toBe('urn:sigpost:problem:body-too-large');
    expect(sent).toBeLessThan(8 * 1024 * 1024);
  });
});

describe('graceful shutdown', () => {
  it('finishes an in-flight request, refuses new connections, commits, then closes the store', async () => {
    const entered = deferred();
    const release = deferred();
    let closedStore = false;
    const { server, dbPath } = await start({
      wrapStore: (store) =>
        withOverride(store, {
          acceptBatch: async (batch: readonly AcceptRequest[]) => {
            entered.resolve();
            await release.promise;
            return store.acceptBatch(batch);
          },
          close: async () => {
            closedStore = true;
            return store.close();
          },
        }),
    });
    const { headers, body } = liveRequest('in flight during shutdown');
    const inFlight = post(server.url, headers, body);
    await entered.promise;
    const closing = server.close();
    // The listening socket is closed at once: a new connection is refused.
    await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
    expect(closedStore).toBe(false);
    release.resolve();
    const res = await inFlight;
    expect(res.status).toBe(201);
    expect(res.headers.get('connection')).toBe('close');
    const { signal_id } = (await res.json()) as { signal_id: string };
    await closing;
    expect(closedStore).toBe(true);
    const reopened = new SqliteStore({ path: dbPath });
    cleanups.push(() => reopened.close());
    expect((await reopened.getSignal(signal_id))?.status).toBe('received');
  });

  it('answers requests on an open connection with 503 once draining has begun', async () => {
    const { server } = await start();
    server.app.sigpost.draining = true;
    const res = await fetch(`${server.url}/healthz`);
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(((await res.json()) as { detail: string }).detail).toBe(
      'the server is shutting down; retry shortly',
    );
    server.app.sigpost.draining = false;
  });

  it('is idempotent: closing twice, or again later, closes the store once', async () => {
    let storeCloses = 0;
    const { server } = await start({
      wrapStore: (store) =>
        withOverride(store, {
          close: async () => {
            storeCloses++;
            return store.close();
          },
        }),
    });
    await Promise.all([server.close(), server.close()]);
    await server.close();
    expect(storeCloses).toBe(1);
  });
});

describe('end to end with the SDK', () => {
  it("accepts signals posted by @sigpost/outbound's HmacClient, and replays a retry by its key", async () => {
    const { server, real } = await start();
    const config = new OutboundConfig({
      producerId: PRODUCER,
      producerSecret: SECRET,
      serverBaseUrl: server.url,
    });
    const client = new HmacClient(config, pino({ level: 'silent' }));
    cleanups.push(() => client.close());
    const first = await client.postSignal(
      { ...SIGNAL, reason: 'from the SDK' },
      { idempotencyKey: 'sdk-key-1' },
    );
    expect(first.status).toBe('received');
    const again = await client.postSignal(
      { ...SIGNAL, reason: 'from the SDK' },
      { idempotencyKey: 'sdk-key-1' },
    );
    expect(again).toEqual(first);
    expect((await real.getSignal(first.signal_id))?.idempotencyKey).toBe('sdk-key-1');
    const error = await client
      .postSignal({ ...SIGNAL, reason: 'other body' }, { idempotencyKey: 'sdk-key-1' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OutboundClientError);
    expect((error as OutboundClientError).httpCode).toBe(422);
  });

  it('refuses the SDK with the wrong secret, and says so', async () => {
    const { server } = await start();
    const config = new OutboundConfig({
      producerId: PRODUCER,
      producerSecret: 'not-the-secret-at-all-0123',
      serverBaseUrl: server.url,
    });
    const client = new HmacClient(config, pino({ level: 'silent' }));
    cleanups.push(() => client.close());
    const error = (await client.postSignal({ ...SIGNAL }).catch((e: unknown) => e)) as OutboundClientError;
    expect(error.httpCode).toBe(401);
    expect(error.details).toMatchObject({ type: 'urn:sigpost:problem:invalid-signature' });
  });

  it('keeps idempotency headers on a real socket', async () => {
    const { server } = await start();
    const request = liveRequest('twice');
    const first = await post(server.url, request.headers, request.body);
    const second = await post(server.url, request.headers, request.body);
    expect(second.headers.get(HEADERS.idempotentReplayed)).toBe('true');
    expect(await second.text()).toBe(await first.text());
  });
});
