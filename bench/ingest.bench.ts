// Full ingest (verify + rate limit + validation + idempotency + replay guard + group-commit durable
// store) accepted signals/s at 50 connections, against a bare node:http server answering 201, with
// the same load generator (autocannon, unique pre-signed requests) on the same machine, 127.0.0.1 only.
// Each server runs in its own child process; its CPU time (in all, and per thread) is read over IPC
// before and after the run. The machine is shared and noisy, so bare and SQLite are measured in
// BENCH_INGEST_ROUNDS interleaved rounds (default 3, a fresh database each) and the medians are
// compared. Prints the ratio (target ≥ 0.5 on SQLite), CPU µs per accepted signal, p50/p99; then the
// same server with a store that answers at once (what the HTTP side alone allows); then PostgreSQL
// (skipped with a message when unreachable).
//   npx tsc -b packages/ingest && npm run bench -- ingest
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Admin, openStore, SecretBox, type Store, startServer } from '@sigpost/ingest';
import { buildSignature } from '@sigpost/protocol';
import { INGEST_RESPONSE, listenLocal, validSignal } from '../test-support/fixtures.js';

// autocannon ships no types; this is the part of its programmatic API used here.
interface AutocannonResult {
  '2xx': number;
  non2xx: number;
  errors: number;
  timeouts: number;
  latency: { p50: number; p99: number };
}
type Autocannon = (options: {
  url: string;
  connections: number;
  amount: number;
  timeout: number;
  requests: { setupRequest: () => unknown; onResponse: () => void }[];
}) => Promise<AutocannonResult>;
const AUTOCANNON = 'autocannon';
const autocannon = (await import(AUTOCANNON)).default as Autocannon;

const TARGET = 0.5;
export const CONNECTIONS = 50;
const AMOUNT = Number(process.env.BENCH_INGEST_AMOUNT ?? 40_000); // measured requests per side
const ONLY_SQLITE = process.env.BENCH_INGEST_ONLY === 'sqlite';
const WARMUP = 5_000;
const ROUNDS = Number(process.env.BENCH_INGEST_ROUNDS ?? 3);
const PRODUCER = 'bench-producer';
const SECRET = 'bench-secret-key-min-16-bytes-long';
const PG_URL = process.env.SIGPOST_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const SELF = fileURLToPath(import.meta.url);

export type Cpu = {
  user: number;
  system: number;
  rss: number;
  heapUsed: number;
  /** CPU µs of each thread so far, by thread id (Linux: /proc/self/task; empty elsewhere). */
  threads: Record<string, { name: string; micros: number }>;
};
type ChildMessage = { type: 'listening'; url: string } | ({ type: 'cpu' } & Cpu);

// ---------------------------------------------------------------------------------------------
// Child side: `bench/ingest.bench.ts --serve ingest <sqlite path | postgres url> <schema> <key>`
// or `--serve bare`. Answers {type:'cpu'} over IPC and exits on 'exit'.
// ---------------------------------------------------------------------------------------------
async function serveChild(args: string[]): Promise<void> {
  const [kind, target = '', schema = '', key = ''] = args;
  let url: string;
  let close: () => Promise<void>;
  if (kind === 'bare') {
    const body = JSON.stringify(INGEST_RESPONSE);
    const headers = {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
    };
    const server = createServer((req, res) => {
      req.on('data', () => {});
      req.on('end', () => {
        res.writeHead(201, headers);
        res.end(body);
      });
    });
    server.keepAliveTimeout = 72_000;
    ({ url, close } = await listenLocal(server));
  } else {
    const store = target.startsWith('postgres')
      ? await openStore({ databaseUrl: target, schema })
      : await openStore({ dbPath: target });
    if (kind === 'ingest-instant-store') {
      // Every request is "stored" at once and nothing is written: the ceiling of the HTTP side.
      const stored = Object.freeze({ outcome: 'stored' as const });
      store.acceptBatch = async (batch) => batch.map(() => stored);
    }
    const server = await startServer({
      store,
      secretBox: SecretBox.fromEnv({ SIGPOST_SECRET_KEY: key }),
      handleSignals: false,
      processMetrics: false,
      config: { host: '127.0.0.1', port: 0, rateLimit: { perSecond: 1e9, burst: 1e9 } },
    });
    url = server.url;
    close = server.close;
  }
  process.on('message', async (message: string) => {
    if (message === 'cpu') {
      const { user, system } = process.cpuUsage();
      const { rss, heapUsed } = process.memoryUsage();
      process.send?.({
        type: 'cpu',
        user,
        system,
        rss,
        heapUsed,
        threads: threadCpu(),
      } satisfies ChildMessage);
    } else if (message === 'exit') {
      await close();
      process.exit(0);
    }
  });
  process.send?.({ type: 'listening', url } satisfies ChildMessage);
}

/** Per-thread CPU time from /proc (utime + stime, clock ticks of 10 ms), to tell the event loop from the writer thread. */
function threadCpu(): Cpu['threads'] {
  const out: Cpu['threads'] = {};
  let tids: string[];
  try {
    tids = readdirSync('/proc/self/task');
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const name = stat.slice(stat.indexOf('(') + 1, close);
      const fields = stat.slice(close + 2).split(' ');
      // Fields 14 and 15 of stat (utime, stime) are at 11 and 12 after "pid (comm) ".
      out[tid] = { name, micros: (Number(fields[11]) + Number(fields[12])) * 10_000 };
    } catch {
      // The thread ended between readdir and read.
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Parent side
// ---------------------------------------------------------------------------------------------
/** A server in a child process, driven over IPC. */
export class Child {
  readonly #child: ChildProcess;
  constructor(args: string[]) {
    // BENCH_PROFILE_DIR=/tmp/prof writes a V8 CPU profile of each server process there.
    const profile = process.env.BENCH_PROFILE_DIR
      ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`]
      : [];
    this.#child = fork(SELF, ['--serve', ...args], {
      execArgv: ['--import', 'tsx', ...profile],
      stdio: 'inherit',
    });
  }
  next(): Promise<ChildMessage> {
    return new Promise((resolve, reject) => {
      const onMessage = (m: unknown) => {
        this.#child.off('exit', onExit);
        resolve(m as ChildMessage);
      };
      const onExit = (code: number | null) => {
        this.#child.off('message', onMessage);
        reject(new Error(`bench server exited with ${code}`));
      };
      this.#child.once('message', onMessage);
      this.#child.once('exit', onExit);
    });
  }
  get pid(): number | undefined {
    return this.#child.pid;
  }
  async url(): Promise<string> {
    const m = await this.next();
    if (m.type !== 'listening') throw new Error('expected the listening message');
    return m.url;
  }
  async cpu(): Promise<Cpu> {
    const reply = this.next();
    this.#child.send('cpu');
    const m = await reply;
    if (m.type !== 'cpu') throw new Error('expected a cpu message');
    return m;
  }
  async stop(): Promise<void> {
    const exited = new Promise((resolve) => this.#child.once('exit', resolve));
    this.#child.send('exit');
    await exited;
  }
}

export interface PreSigned {
  method: 'POST';
  path: string;
  headers: Record<string, string>;
  body: string;
}

/** Unique, validly signed requests with the current time (each has its own body, key and signature). */
export function preSign(n: number, tag: string): PreSigned[] {
  const out: PreSigned[] = [];
  const timestamp = new Date().toISOString();
  for (let i = 0; i < n; i++) {
    const body = JSON.stringify(validSignal({ reason: `bench ${tag} ${i}`, timestamp }));
    out.push({
      method: 'POST',
      path: '/api/v1/signals/ingest',
      headers: {
        'content-type': 'application/json',
        'x-producer-id': PRODUCER,
        'x-timestamp': timestamp,
        'x-signature': buildSignature({ secret: SECRET, body, timestamp, producerId: PRODUCER }),
        'x-idempotency-key': randomUUID(),
      },
      body,
    });
  }
  return out;
}

export interface Run {
  accepted: number;
  other: number;
  perSecond: number;
  p50: number;
  p99: number;
  cpuMicrosPerRequest: number;
  sysMicrosPerRequest: number;
  /** CPU µs per accepted request of each thread using ≥ 5: the event loop, then (for SQLite) its writer thread. */
  threads: { name: string; micros: number }[];
  /** Mean requests per transaction (group commit), from the server's /metrics; undefined for bare. */
  batch?: number;
}

async function meanBatch(url: string): Promise<number | undefined> {
  const res = await fetch(`${url}/metrics`);
  if (res.status !== 200) return undefined;
  const text = await res.text();
  const sum = /^sigpost_commit_batch_size_sum (\S+)$/m.exec(text)?.[1];
  const count = /^sigpost_commit_batch_size_count (\S+)$/m.exec(text)?.[1];
  return sum && count ? Number(sum) / Number(count) : undefined;
}

export async function load(child: Child, url: string, requests: PreSigned[], amount: number): Promise<Run> {
  let next = 0;
  const before = await child.cpu();
  const started = process.hrtime.bigint();
  // autocannon resolves on its one-second ticker, so the run's end is taken from the last response
  // instead (timing the promise would round every run up to whole seconds).
  let lastResponse = started;
  const result = await autocannon({
    url,
    connections: CONNECTIONS,
    amount,
    timeout: 30,
    requests: [
      {
        // Hands each request out once; the pool is larger than `amount` + one per connection.
        setupRequest: () => requests[next++ % requests.length] as PreSigned,
        onResponse: () => {
          lastResponse = process.hrtime.bigint();
        },
      },
    ],
  });
  const seconds = Number(lastResponse - started) / 1e9;
  const after = await child.cpu();
  const accepted = result['2xx'];
  const cpu = after.user + after.system - before.user - before.system;
  return {
    accepted,
    other: result.non2xx + result.errors + result.timeouts,
    perSecond: accepted / seconds,
    p50: result.latency.p50,
    p99: result.latency.p99,
    cpuMicrosPerRequest: cpu / Math.max(1, accepted),
    sysMicrosPerRequest: (after.system - before.system) / Math.max(1, accepted),
    threads: Object.entries(after.threads)
      .map(([tid, t]) => ({
        name: tid === String(child.pid) ? 'event loop' : t.name,
        micros: (t.micros - (before.threads[tid]?.micros ?? 0)) / Math.max(1, accepted),
      }))
      .filter((t) => t.micros >= 5)
      .sort((a, b) => b.micros - a.micros),
  };
}

async function measure(label: string, args: string[]): Promise<Run> {
  const child = new Child(args);
  const url = await child.url();
  try {
    await load(child, url, preSign(WARMUP + CONNECTIONS * 2, `${label}-warmup`), WARMUP);
    const run = await load(child, url, preSign(AMOUNT + CONNECTIONS * 2, label), AMOUNT);
    const batch = args[0] === 'ingest' ? await meanBatch(url) : undefined;
    return batch === undefined ? run : { ...run, batch };
  } finally {
    await child.stop();
  }
}

/** The run with the median accepted/s. */
function median(runs: readonly Run[]): Run {
  return [...runs].sort((a, b) => a.perSecond - b.perSecond)[Math.floor(runs.length / 2)] as Run;
}

export async function setupProducer(store: Store, key: string): Promise<void> {
  await new Admin(store, SecretBox.fromEnv({ SIGPOST_SECRET_KEY: key })).addProducer({
    id: PRODUCER,
    secret: SECRET,
  });
}

export const fmt = (n: number, digits = 0) =>
  n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

function line(name: string, run: Run): string {
  return (
    `${name.padEnd(26)} ${fmt(run.perSecond).padStart(7)} accepted/s   p50 ${fmt(run.p50, 1).padStart(5)} ms   ` +
    `p99 ${fmt(run.p99, 1).padStart(5)} ms   CPU ${fmt(run.cpuMicrosPerRequest, 1).padStart(6)} µs/request (${fmt(run.sysMicrosPerRequest, 1)} sys)` +
    (run.batch === undefined ? '' : `   ${fmt(run.batch, 1)} signals/commit`) +
    (run.other > 0 ? `   (${run.other} not 2xx!)` : '') +
    (run.threads.length > 1
      ? `\n${' '.repeat(27)}by thread (µs/request): ${run.threads.map((t) => `${t.name} ${fmt(t.micros)}`).join(', ')}`
      : '')
  );
}

async function pgReachable(): Promise<boolean> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2_000 });
  try {
    await client.connect();
    await client.end();
    return true;
  } catch {
    return false;
  }
}

async function dropSchema(schema: string): Promise<void> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await client.end();
}

async function main(): Promise<void> {
  console.log(
    `POST /api/v1/signals/ingest, ${CONNECTIONS} connections, ${fmt(AMOUNT)} unique pre-signed requests per run ` +
      `(after ${fmt(WARMUP)} warm-up), autocannon, 127.0.0.1, ${ROUNDS} interleaved rounds`,
  );
  const key = randomBytes(32).toString('base64');
  const dir = mkdtempSync(join(tmpdir(), 'sigpost-bench-'));
  try {
    const newDatabase = async (name: string) => {
      const dbPath = join(dir, `${name}.db`);
      const setup = await openStore({ dbPath });
      await setupProducer(setup, key);
      await setup.close();
      return dbPath;
    };
    const bares: Run[] = [];
    const sqlites: Run[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const bare = await measure('bare', ['bare']);
      const sqlite = await measure('sqlite', ['ingest', await newDatabase(`round-${round}`), '', key]);
      bares.push(bare);
      sqlites.push(sqlite);
      console.log(
        `round ${round}: bare ${fmt(bare.perSecond)}/s, SQLite ${fmt(sqlite.perSecond)}/s → ${fmt(sqlite.perSecond / bare.perSecond, 2)}`,
      );
    }
    const bare = median(bares);
    const sqlite = median(sqlites);
    console.log('medians:');
    console.log(line('bare node:http (201)', bare));
    console.log(line('ingest, SQLite (WAL, FULL)', sqlite));
    const ratio = sqlite.perSecond / bare.perSecond;
    const everyAccepted = sqlites.every((r) => r.accepted === AMOUNT);
    console.log(
      `ratio SQLite/bare (medians): ${fmt(ratio, 2)} (target ≥ ${TARGET}) ${ratio >= TARGET ? 'OK' : 'BELOW TARGET'}; ` +
        `every request accepted: ${everyAccepted ? 'yes' : 'no'}`,
    );

    const instant = await measure('instant', ['ingest-instant-store', await newDatabase('instant'), '', key]);
    console.log(line('ingest, store answers at once', instant));
    console.log(
      `ratio instant-store/bare: ${fmt(instant.perSecond / bare.perSecond, 2)} (the HTTP side alone: ` +
        'routing, verification, validation, group commit, responses)',
    );

    if (ONLY_SQLITE) {
      console.log('BENCH_INGEST_ONLY=sqlite: PostgreSQL figure skipped');
    } else if (await pgReachable()) {
      const schema = `bench_${randomBytes(4).toString('hex')}`;
      try {
        const pgStore = await openStore({ databaseUrl: PG_URL, schema });
        await setupProducer(pgStore, key);
        await pgStore.close();
        const pgRun = await measure('postgres', ['ingest', PG_URL, schema, key]);
        console.log(line('ingest, PostgreSQL', pgRun));
        console.log(`ratio PostgreSQL/bare: ${fmt(pgRun.perSecond / bare.perSecond, 2)}`);
      } finally {
        await dropSchema(schema);
      }
    } else {
      console.log(
        `PostgreSQL at ${PG_URL.replace(/:[^:@/]*@/, ':***@')} is unreachable: PostgreSQL figure skipped`,
      );
    }
    if (ratio < TARGET) process.exitCode = 1;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// Run as a script (not when bench/ingest-rss.bench.ts imports the helpers above).
if (process.argv[1] === SELF) {
  if (process.argv[2] === '--serve') await serveChild(process.argv.slice(3));
  else await main();
}
