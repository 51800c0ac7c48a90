// The live stream (GET /api/v1/stream) on 127.0.0.1, SQLite store, in this process:
// 1. End-to-end latency idle: producer POST start → the subscriber has the event, p50/p99 over
//    sequential signals, beside the POST → 201 latency of the same requests (the part ingest takes).
// 2. Fan-out: N subscribers, a burst of events committed in batches; deliveries/s and CPU µs per
//    delivery (this process: server and clients), against a raw `ws` server broadcasting the same
//    bytes to the same number of clients in the same run (target ≥ 0.7×).
//   npx tsc -b packages/ingest && npm run bench -- stream
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Admin, openStore, SecretBox, type Store, startServer } from '@sigpost/ingest';
import { buildSignature, INGEST_PATH } from '@sigpost/protocol';
import WebSocket, { WebSocketServer } from 'ws';
import { validSignal } from '../test-support/fixtures.js';

const SECRET = 'bench-secret-key-min-16-bytes-long';
const PRODUCER = 'bench-producer';
const SEQUENTIAL = Number(process.env.BENCH_STREAM_SEQUENTIAL ?? 500);
const SUBSCRIBERS = Number(process.env.BENCH_STREAM_SUBSCRIBERS ?? 1_000);
const EVENTS = Number(process.env.BENCH_STREAM_EVENTS ?? 200);
const TARGET = 0.7;

const dir = mkdtempSync(join(tmpdir(), 'sigpost-stream-bench-'));
const store: Store = await openStore({ dbPath: join(dir, 'bench.db') });
const box = SecretBox.fromKey(Buffer.alloc(32, 9));
const admin = new Admin(store, box);
await admin.addProducer({ id: PRODUCER, secret: SECRET });
const { token } = await admin.createSubscriber({ name: 'bench' });
const server = await startServer({
  store,
  secretBox: box,
  handleSignals: false,
  processMetrics: false,
  config: {
    port: 0,
    rateLimit: { perSecond: 1e9, burst: 1e9 },
    streamMaxConnectionsPerToken: SUBSCRIBERS + 10,
  },
});
const wsUrl = `${server.url.replace('http', 'ws')}/api/v1/stream`;

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
const fmt = (ms: number) => `${ms.toFixed(3)} ms`;

// 1. Latency, idle
{
  const ws = new WebSocket(wsUrl, { headers: { Authorization: `Bearer ${token}` } });
  let onEvent: (() => void) | undefined;
  ws.on('message', (data) => {
    if (String(data).startsWith('{"type":"signal.')) onEvent?.();
  });
  await new Promise((resolve) => ws.once('message', resolve)); // hello
  const endToEnd: number[] = [];
  const toAnswer: number[] = [];
  for (let i = 0; i < SEQUENTIAL + 50; i++) {
    const timestamp = new Date().toISOString();
    const body = JSON.stringify(validSignal({ reason: `bench ${i}`, timestamp }));
    const headers = {
      'content-type': 'application/json',
      'x-producer-id': PRODUCER,
      'x-timestamp': timestamp,
      'x-idempotency-key': randomUUID(),
      'x-signature': buildSignature({ secret: SECRET, body, timestamp, producerId: PRODUCER }),
    };
    const received = new Promise<number>((resolve) => {
      onEvent = () => resolve(performance.now());
    });
    const start = performance.now();
    const res = await fetch(`${server.url}${INGEST_PATH}`, { method: 'POST', headers, body });
    await res.arrayBuffer();
    const answered = performance.now();
    const at = await received;
    if (i >= 50) {
      endToEnd.push(at - start);
      toAnswer.push(answered - start);
    }
  }
  ws.close();
  endToEnd.sort((a, b) => a - b);
  toAnswer.sort((a, b) => a - b);
  console.log(
    `latency idle (${SEQUENTIAL} sequential signals): POST start → event received p50 ${fmt(percentile(endToEnd, 0.5))}, p99 ${fmt(percentile(endToEnd, 0.99))}; POST → 201 p50 ${fmt(percentile(toAnswer, 0.5))}, p99 ${fmt(percentile(toAnswer, 0.99))}`,
  );
}

/** Connects `n` clients to `url`; resolves with a promise that settles when each has `expected` messages. */
async function clients(url: string, n: number, headers: Record<string, string>, skip: number) {
  const sockets: WebSocket[] = [];
  let done = 0;
  let resolveAll: () => void = () => {};
  const all = new Promise<void>((resolve) => {
    resolveAll = resolve;
  });
  await Promise.all(
    Array.from({ length: n }, async () => {
      const ws = new WebSocket(url, { headers });
      sockets.push(ws);
      let seen = 0;
      await new Promise<void>((resolve) => {
        ws.on('message', () => {
          seen++;
          if (seen === skip) resolve();
          if (seen === skip + EVENTS && ++done === n) resolveAll();
        });
      });
    }),
  );
  return { sockets, all };
}

// 2. Fan-out through the stream
const stream = await (async () => {
  const { sockets, all } = await clients(`${wsUrl}`, SUBSCRIBERS, { Authorization: `Bearer ${token}` }, 2); // hello, ready
  const head = (await store.streamPosition()).head;
  const cpu = process.cpuUsage();
  const start = performance.now();
  for (let i = 0; i < EVENTS; i += 20) {
    const batch = Array.from({ length: Math.min(20, EVENTS - i) }, (_, j) => {
      const id = `sig_${String(head + i + j + 1).padStart(26, '0')}`;
      const body = JSON.stringify(validSignal({ reason: `fan-out ${i + j}` }));
      return {
        signal: {
          id,
          producerId: PRODUCER,
          idempotencyKey: null,
          instrument: 'XAUUSD',
          side: 'buy' as const,
          status: 'received' as const,
          message: null,
          body,
          receivedAt: Date.now(),
          decidedAt: null,
          decidedBy: null,
        },
        idempotencyKey: null,
        requestHash: id,
        idempotencyExpiresAt: Date.now() + 60_000,
        signature: id,
        signedAt: Date.now(),
        signatureExpiresAt: Date.now() + 60_000,
        response: { status: 201, body: '{}' },
      };
    });
    await store.acceptBatch(batch);
  }
  await all;
  const seconds = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu);
  for (const ws of sockets) ws.terminate();
  const deliveries = SUBSCRIBERS * EVENTS;
  return { perSecond: deliveries / seconds, cpuMicros: (used.user + used.system) / deliveries };
})();

// The same bytes through a bare ws server, broadcast in the same shape (one Buffer, every client).
const raw = await (async () => {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
  await new Promise((resolve) => wss.once('listening', resolve));
  const port = (wss.address() as { port: number }).port;
  wss.on('connection', (ws) => ws.send('{"type":"hello"}'));
  const { sockets, all } = await clients(`ws://127.0.0.1:${port}`, SUBSCRIBERS, {}, 1);
  const frames = (await store.readEvents(0, EVENTS)).map((e) =>
    Buffer.from(
      JSON.stringify({ type: `signal.${e.signal.status}`, seq: e.seq, at: e.at, signal: e.signal }),
    ),
  );
  const cpu = process.cpuUsage();
  const start = performance.now();
  for (let i = 0; i < EVENTS; i += 20) {
    for (const frame of frames.slice(i, i + 20))
      for (const client of wss.clients) client.send(frame, { binary: false });
    await new Promise((resolve) => setImmediate(resolve));
  }
  await all;
  const seconds = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu);
  for (const ws of sockets) ws.terminate();
  wss.close();
  const deliveries = SUBSCRIBERS * EVENTS;
  return { perSecond: deliveries / seconds, cpuMicros: (used.user + used.system) / deliveries };
})();

const ratio = stream.perSecond / raw.perSecond;
console.log(
  `fan-out (${SUBSCRIBERS} subscribers × ${EVENTS} events): stream ${Math.round(stream.perSecond)} deliveries/s, ${stream.cpuMicros.toFixed(2)} CPU µs/delivery; raw ws broadcast ${Math.round(raw.perSecond)} deliveries/s, ${raw.cpuMicros.toFixed(2)} CPU µs/delivery; ratio ${ratio.toFixed(2)} (target ≥ ${TARGET})`,
);
await server.close();
rmSync(dir, { recursive: true, force: true });
process.exit(ratio >= TARGET ? 0 : 1);
