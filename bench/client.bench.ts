// HmacClient.postSignal (built dist) against raw undici Pool.request sending equally signed requests
// (serialise, sign with node:crypto, request, read and parse the answer, all inside the loop), both
// against one bare node:http server on 127.0.0.1 in a child process that answers 201. Throughput at 50
// concurrent requests (rounds alternate between the sides; the median round is reported, with this
// process's CPU time per request, which shared machines disturb less than wall time), then
// sequential p50/p99 latency.
//   npx tsc -b packages/outbound && npm run bench -- client
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { HmacClient, OutboundConfig, type SignalInput } from '@sigpost/outbound';
import { INGEST_RESPONSE, independentSignature, validSignal } from '@sigpost/test-support/fixtures';
import pino from 'pino';
import { Pool } from 'undici';

const TARGET = 0.85;
const CONCURRENCY = 50;
const ROUNDS = 7;
const PER_ROUND = 3_000; // requests per side per round: 21k per side in all
const WARMUP = 2_000;
const SEQUENTIAL = 2_000;

const SECRET = 'bench-secret-key-min-16-bytes-long';
const PRODUCER = 'bench-producer';
const SIGNAL: SignalInput = validSignal();

// The server, in plain CommonJS for \`node -e\`. It reads each body whole, then answers; it prints its port.
const SERVER = `
const { createServer } = require('node:http');
const body = ${JSON.stringify(JSON.stringify(INGEST_RESPONSE))};
const headers = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
const server = createServer((req, res) => {
  req.on('data', () => {});
  req.on('end', () => { res.writeHead(201, headers); res.end(body); });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
process.stdin.on('end', () => process.exit(0)).resume();
`;

const server = spawn(process.execPath, ['-e', SERVER], { stdio: ['pipe', 'pipe', 'inherit'] });
const [firstLine] = (await once(server.stdout, 'data')) as [Buffer];
const origin = `http://127.0.0.1:${Number.parseInt(firstLine.toString('utf8'), 10)}`;

const client = new HmacClient(
  new OutboundConfig({ producerId: PRODUCER, producerSecret: SECRET, serverBaseUrl: origin }),
  pino({ level: 'silent' }),
  { connections: CONCURRENCY },
);
const pool = new Pool(origin, { connections: CONCURRENCY, keepAliveTimeout: 4_000 });

async function viaClient(): Promise<void> {
  await client.postSignal(SIGNAL);
}

/** What a minimal hand-written producer does per signal. */
async function viaRaw(): Promise<void> {
  const body = JSON.stringify(SIGNAL);
  const timestamp = new Date().toISOString().replace('Z', '000Z');
  const response = await pool.request({
    path: '/api/v1/signals/ingest',
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      'X-Producer-Id': PRODUCER,
      'X-Timestamp': timestamp,
      'X-Signature': independentSignature({ secret: SECRET, producerId: PRODUCER, timestamp, body }),
      'X-Idempotency-Key': randomUUID(),
    },
    body,
  });
  const json = JSON.parse(await response.body.text()) as { signal_id?: unknown };
  if (response.statusCode !== 201 || typeof json.signal_id !== 'string') throw new Error('bad answer');
}

/** Sends `total` requests from CONCURRENCY loops; returns requests per second and CPU µs per request. */
async function throughput(send: () => Promise<void>, total: number): Promise<{ rps: number; cpuUs: number }> {
  let started = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (started < total) {
        started++;
        await send();
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { rps: total / seconds, cpuUs: (cpu.user + cpu.system) / total };
}

async function latencies(send: () => Promise<void>, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await send();
    out.push(performance.now() - t0);
  }
  return out;
}

const quantile = (sorted: number[], q: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
const median = (xs: number[]): number =>
  quantile(
    [...xs].sort((a, b) => a - b),
    0.5,
  );
const fmt = (n: number) => Math.round(n).toLocaleString('en-US').padStart(7);

await throughput(viaClient, WARMUP);
await throughput(viaRaw, WARMUP);
const ours: { rps: number; cpuUs: number }[] = [];
const raw: { rps: number; cpuUs: number }[] = [];
for (let round = 0; round < ROUNDS; round++) {
  if (round % 2 === 0) {
    ours.push(await throughput(viaClient, PER_ROUND));
    raw.push(await throughput(viaRaw, PER_ROUND));
  } else {
    raw.push(await throughput(viaRaw, PER_ROUND));
    ours.push(await throughput(viaClient, PER_ROUND));
  }
}
const oursRps = median(ours.map((r) => r.rps));
const rawRps = median(raw.map((r) => r.rps));
const ratio = oursRps / rawRps;
const ok = ratio >= TARGET;
console.log(
  `${CONCURRENCY} concurrent, median of ${ROUNDS} alternating rounds × ${PER_ROUND.toLocaleString('en-US')} requests per side`,
);
console.log(
  `postSignal ${fmt(oursRps)} signals/s   raw undici Pool.request ${fmt(rawRps)} req/s   ratio ${ratio.toFixed(2)} (target ≥ ${TARGET.toFixed(2)}) ${ok ? 'ok' : 'MISSED'}`,
);
const oursCpu = median(ours.map((r) => r.cpuUs));
const rawCpu = median(raw.map((r) => r.cpuUs));
console.log(
  `client CPU per request: postSignal ${oursCpu.toFixed(1)} µs   raw ${rawCpu.toFixed(1)} µs   ratio ${(rawCpu / oursCpu).toFixed(2)}`,
);

// Sequential latency, also in alternating blocks so that both sides see the same machine.
const seqOurs: number[] = [];
const seqRaw: number[] = [];
for (let block = 0; block < 4; block++) {
  seqOurs.push(...(await latencies(viaClient, SEQUENTIAL / 4)));
  seqRaw.push(...(await latencies(viaRaw, SEQUENTIAL / 4)));
}
seqOurs.sort((a, b) => a - b);
seqRaw.sort((a, b) => a - b);
const ms = (n: number) => `${n.toFixed(3)} ms`;
console.log(`sequential, ${SEQUENTIAL.toLocaleString('en-US')} requests per side`);
console.log(
  `postSignal p50 ${ms(quantile(seqOurs, 0.5))} p99 ${ms(quantile(seqOurs, 0.99))}   raw p50 ${ms(quantile(seqRaw, 0.5))} p99 ${ms(quantile(seqRaw, 0.99))}`,
);

await client.close();
await pool.close();
server.stdin.end();
if (!ok) process.exitCode = 1;
