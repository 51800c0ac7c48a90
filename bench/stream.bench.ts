// The live stream (GET /api/v1/stream) on 127.0.0.1, SQLite store, in this process:
// 1. End-to-end latency idle: producer POST start → the subscriber has the event, p50/p99 over
//    sequential signals, beside the POST → 201 latency of the same requests (the part ingest takes).
//    Then the same at a steady 1,000 signals/s (open loop: each POST starts on schedule, whether or not
//    the previous ones were answered), with the rate achieved and the load average printed beside it.
//    BENCH_STREAM_RATE (1000 signals/s) and BENCH_STREAM_LOADED_SECONDS (5) change it. Producer, server
//    and subscriber share this process: on a loaded machine the loaded figure is the first to suffer.
// 2. Fan-out: N subscribers, a burst of events committed in batches; deliveries/s and CPU µs per
//    delivery (this process: server and clients), against a raw `ws` server broadcasting the same
//    bytes to the same number of clients in the same run (target ≥ 0.7×).
//   npx tsc -b packages/ingest && npm run bench -- stream.bench
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Admin, openStore, SecretBox, type Store, startServer } from '@sigpost/ingest';
import { buildSignature, INGEST_PATH } from '@sigpost/protocol';
import { validSignal } from '@sigpost/test-support/fixtures';
import { Pool } from 'undici';
import WebSocket, { WebSocketServer } from 'ws';

const SECRET = 'bench-secret-key-min-16-bytes-long';
const PRODUCER = 'bench-producer';
const SEQUENTIAL = Number(process.env.BENCH_STREAM_SEQUENTIAL ?? 500);
const RATE = Number(process.env.BENCH_STREAM_RATE ?? 1_000); // signals/s for the loaded latency
const LOADED_SECONDS = Number(process.env.BENCH_STREAM_LOADED_SECONDS ?? 5);
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
const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
console.log(`load average (1, 5, 15 min) at start: ${load()}`);

/** A validly signed ingest request for a signal whose reason is `reason`. */
function signedRequest(reason: string): { headers: Record<string, string>; body: string } {
  const timestamp = new Date().toISOString();
  const body = JSON.stringify(validSignal({ reason, timestamp }));
  const headers = {
    'content-type': 'application/json',
    'x-producer-id': PRODUCER,
    'x-timestamp': timestamp,
    'x-idempotency-key': randomUUID(),
    'x-signature': buildSignature({ secret: SECRET, body, timestamp, producerId: PRODUCER }),
  };
  return { headers, body };
}

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
    const { headers, body } = signedRequest(`bench ${i}`);
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

// 1b. Latency at RATE signals/s: POSTs started on an open-loop schedule (a 1 ms timer starts every POST
// that is due) over 64 keep-alive connections, one subscriber; POST start → event received for each signal, matched by its reason.
{
  const total = RATE * LOADED_SECONDS;
  const skip = Math.floor(total / 10); // the first tenth warms up
  const ws = new WebSocket(wsUrl, { headers: { Authorization: `Bearer ${token}` } });
  const startedAt = new Float64Array(total);
  const answeredAt = new Float64Array(total);
  const receivedAt = new Float64Array(total);
  let received = 0;
  let allReceived: () => void = () => {};
  const everyEvent = new Promise<void>((resolve) => {
    allReceived = resolve;
  });
  ws.on('message', (data) => {
    const now = performance.now();
    const text = String(data);
    if (!text.startsWith('{"type":"signal.')) return;
    const reason = (JSON.parse(text) as { signal: { reason: string } }).signal.reason;
    if (!reason.startsWith('loaded ')) return;
    receivedAt[Number(reason.slice(7))] = now;
    if (++received === total) allReceived();
  });
  await new Promise((resolve) => ws.once('message', resolve)); // hello
  // Keep-alive connections, as a producer fleet would hold; POSTs beyond them wait in the pool's queue
  // (counted in their latency: the schedule, not the answers, says when each one starts).
  const pool = new Pool(server.url, { connections: 64 });
  const posts: Promise<void>[] = [];
  let failures = 0;
  const post = (i: number) => {
    const { headers, body } = signedRequest(`loaded ${i}`);
    startedAt[i] = performance.now();
    return pool.request({ method: 'POST', path: INGEST_PATH, headers, body }).then(async (res) => {
      await res.body.arrayBuffer();
      answeredAt[i] = performance.now();
      if (res.statusCode !== 201) failures++;
    });
  };
  const t0 = performance.now();
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - t0) * RATE) / 1000) + 1);
    while (sent < due) posts.push(post(sent++));
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  const sendSeconds = (performance.now() - t0) / 1000;
  await Promise.all(posts);
  if (failures > 0) throw new Error(`${failures} of ${total} POSTs were not answered 201`);
  await everyEvent;
  ws.close();
  await pool.close();
  const endToEnd = Array.from(
    { length: total - skip },
    (_, k) => receivedAt[skip + k]! - startedAt[skip + k]!,
  );
  const toAnswer = Array.from(
    { length: total - skip },
    (_, k) => answeredAt[skip + k]! - startedAt[skip + k]!,
  );
  endToEnd.sort((a, b) => a - b);
  toAnswer.sort((a, b) => a - b);
  console.log(
    `latency at ${RATE} signals/s (${total} signals in ${LOADED_SECONDS} s, achieved ${Math.round(total / sendSeconds)}/s; producer, server and subscriber in this process): POST start → event received p50 ${fmt(percentile(endToEnd, 0.5))}, p99 ${fmt(percentile(endToEnd, 0.99))}; POST → 201 p50 ${fmt(percentile(toAnswer, 0.5))}, p99 ${fmt(percentile(toAnswer, 0.99))}; load average now ${load()}`,
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
