// Ingest throughput and latency, driven by wrk (1 thread, 50 connections, keep-alive, 127.0.0.1), with
// BENCH_INGEST_REQUESTS (default 200 000) unique pre-signed requests per run, each sent once (bench/wrk.ts,
// bench/ingest-wrk.lua). Side by side, each server in its own child process:
//   bare     node:http reading the body and answering a fixed 201 (the ceiling of node on this machine);
//   naive    fastify 5 + HMAC verify + JSON schema + one SQLite INSERT … ON CONFLICT per request (WAL,
//            synchronous = NORMAL): what a user would write in an afternoon (bench/naive-server.ts);
//   naive-gc the same with one transaction per event-loop turn (group commit);
//   sigpost  startServer as `sigpost serve` runs it (pino at info, one line per request, the lines of one
//            event-loop turn written together, here synchronously to /dev/null), SQLite (WAL, synchronous = FULL), every check;
//   sigpost on PostgreSQL (own schema, dropped after; skipped with a message when unreachable).
// The machine is shared and noisy, so bare, naive, naive-gc and sigpost run in BENCH_INGEST_ROUNDS
// interleaved rounds (default 3, a fresh process and database each) and the run with the median
// accepted/s of each is shown; PostgreSQL runs once. Each server's CPU is read from /proc before and
// after a run and given in µs per accepted request by thread: the event loop, the threads the server
// started itself (sigpost's SQLite writer), the rest (GC, libuv pool). Then sequential latency (one
// connection, one request in flight) of bare and sigpost. Any non-2xx answer fails the run, as does a
// ratio below the floor.
//   npx tsc -b && npm run bench -- ingest
//   BENCH_INGEST_REQUESTS=20000 BENCH_INGEST_ROUNDS=1 node --import tsx bench/ingest.bench.ts   (quick)
//   BENCH_PROFILE_DIR=/tmp/prof BENCH_PROFILE_SERVER=sigpost …  V8 CPU profiles of the sigpost processes
//   (event loop and writer thread) in /tmp/prof
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Admin, coalescedLines, openStore, SecretBox, type Store, startServer } from '@sigpost/ingest';
import { INGEST_RESPONSE, listenLocal } from '@sigpost/test-support/fixtures';
import { pino } from 'pino';
import { startNaiveServer } from './naive-server.js';
import { PRODUCER, runWrk, SECRET, type WrkRun, writeRequests } from './wrk.js';

export const CONNECTIONS = 50;
const REQUESTS = Number(process.env.BENCH_INGEST_REQUESTS ?? 200_000);
const WARMUP = Number(process.env.BENCH_INGEST_WARMUP ?? 10_000);
const SEQUENTIAL = Number(process.env.BENCH_INGEST_SEQUENTIAL ?? 10_000);
const ROUNDS = Number(process.env.BENCH_INGEST_ROUNDS ?? 3);
const SKIP_POSTGRES = process.env.BENCH_INGEST_ONLY === 'sqlite';
const LOG_LEVEL = process.env.BENCH_INGEST_LOG_LEVEL ?? 'info';
/** Requests are signed when a round starts; a round lasts minutes, far inside this window. */
export const TOLERANCE_SECONDS = 3_600;
const FLOOR = 0.36; // the naive group-commit server's ratio in issue 11
const GOAL = 0.5;
const SEQ_P50_MS = 0.5;
const SEQ_P99_MS = 3;
const PG_URL = process.env.SIGPOST_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const SELF = fileURLToPath(import.meta.url);
const TICK_MICROS = 10_000; // /proc stat times are in clock ticks of 10 ms

type Threads = Record<string, number>; // tid → CPU µs so far
export type Cpu = { rss: number; heapUsed: number; threads: Threads };
type ChildMessage = { type: 'listening'; url: string; startupThreads: string[] } | ({ type: 'cpu' } & Cpu);

/** CPU µs of each thread of process `pid` so far (utime + stime), by thread id. */
function threadCpu(pid: number | 'self'): Threads {
  const out: Threads = {};
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      // Fields 14 and 15 (utime, stime) are at 11 and 12 after "pid (comm) ".
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out[tid] = (Number(fields[11]) + Number(fields[12])) * TICK_MICROS;
    } catch {
      // The thread ended between readdir and read.
    }
  }
  return out;
}

/** CPU µs so far of every PostgreSQL server process on this machine (all of them: the cluster is shared). */
function postgresCpu(): number {
  let micros = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (!stat.includes('(postgres)')) continue;
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      micros += (Number(fields[11]) + Number(fields[12])) * TICK_MICROS;
    } catch {
      // Gone, or not ours to read.
    }
  }
  return micros;
}

// ---------------------------------------------------------------------------------------------
// Child side: `ingest.bench.ts --serve bare | naive <db> | naive-gc <db> | sigpost <db | url> <schema> <key>`.
// Answers 'cpu' over IPC and exits on 'exit'.
// ---------------------------------------------------------------------------------------------
async function serveChild(args: string[]): Promise<void> {
  const [kind, target = '', schema = '', key = ''] = args;
  // Start libuv's thread pool first, so that the threads present now are node's own and any thread that
  // appears later is the server's (sigpost's SQLite writer).
  await readFile(SELF);
  const startupThreads = Object.keys(threadCpu('self'));
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
  } else if (kind === 'naive' || kind === 'naive-gc') {
    const app = await startNaiveServer({
      dbPath: target,
      secrets: new Map([[PRODUCER, SECRET]]),
      toleranceSeconds: TOLERANCE_SECONDS,
      groupCommit: kind === 'naive-gc',
    });
    const address = app.server.address() as { port: number };
    url = `http://127.0.0.1:${address.port}`;
    close = () => app.close();
  } else if (kind === 'sigpost') {
    const store = target.startsWith('postgres')
      ? await openStore({ databaseUrl: target, schema })
      : await openStore({ dbPath: target });
    // As `sigpost serve` logs (packages/cli/src/commands/serve.ts): pino, the lines of one event-loop
    // turn in one synchronous write.
    const devNull = openSync('/dev/null', 'w');
    const logger = pino(
      { level: LOG_LEVEL, base: { service: 'sigpost-ingest' } },
      coalescedLines((chunk) => writeSync(devNull, chunk)),
    );
    const server = await startServer({
      store,
      logger,
      secretBox: SecretBox.fromEnv({ SIGPOST_SECRET_KEY: key }),
      handleSignals: false,
      config: {
        host: '127.0.0.1',
        port: 0,
        toleranceSeconds: TOLERANCE_SECONDS,
        rateLimit: { perSecond: 1e9, burst: 1e9 },
        // bench/stream-rss.bench.ts holds 5,000 stream connections open (wrk uses 50).
        maxConnections: 100_000,
      },
    });
    url = server.url;
    close = async () => {
      await server.close();
      closeSync(devNull);
    };
  } else {
    throw new Error(`unknown server kind ${kind}`);
  }
  process.on('message', async (message: string) => {
    if (message === 'cpu') {
      const { rss, heapUsed } = process.memoryUsage();
      process.send?.({ type: 'cpu', rss, heapUsed, threads: threadCpu('self') } satisfies ChildMessage);
    } else if (message === 'exit') {
      await close();
      process.exit(0);
    }
  });
  process.send?.({ type: 'listening', url, startupThreads } satisfies ChildMessage);
}

// ---------------------------------------------------------------------------------------------
// Parent side
// ---------------------------------------------------------------------------------------------
/** A server in a child process, driven over IPC. */
export class Child {
  readonly #child: ChildProcess;
  #startupThreads = new Set<string>();
  constructor(args: string[]) {
    // BENCH_PROFILE_DIR=/tmp/prof writes a V8 CPU profile of each server process (and worker thread)
    // there; BENCH_PROFILE_SERVER=sigpost (or bare, naive, naive-gc) limits it to that kind of server.
    const only = process.env.BENCH_PROFILE_SERVER;
    const profile =
      process.env.BENCH_PROFILE_DIR && (only === undefined || only === args[0])
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
  /** Whether thread `tid` was started by the server after node's start-up (e.g. a writer thread). */
  isServerThread(tid: string): boolean {
    return !this.#startupThreads.has(tid);
  }
  async url(): Promise<string> {
    const m = await this.next();
    if (m.type !== 'listening') throw new Error('expected the listening message');
    this.#startupThreads = new Set(m.startupThreads);
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

/** CPU µs per accepted request, by thread. */
export interface CpuPerRequest {
  eventLoop: number;
  /** Threads the server started (sigpost on SQLite: its writer thread); 0 when none. */
  server: number;
  /** node's own other threads: GC helpers, libuv pool. */
  other: number;
  total: number;
}

export interface Run extends WrkRun {
  cpu: CpuPerRequest;
  /** Mean requests per transaction (group commit), from sigpost's /metrics. */
  batch?: number;
  /** CPU µs per request of all PostgreSQL server processes on the machine (meaningful for PostgreSQL runs only). */
  postgres?: number;
}

/** Loads `child` with wrk from `file` until `count` responses; CPU is read from the child around the run. */
export async function load(
  child: Child,
  url: string,
  file: string,
  count: number,
  connections = CONNECTIONS,
): Promise<Run> {
  const before = await child.cpu();
  const pgBefore = postgresCpu();
  const run = await runWrk({ url, file, count, connections, maxSeconds: 60 + count / 200 });
  const pgAfter = postgresCpu();
  const after = await child.cpu();
  const per = (micros: number) => micros / Math.max(1, run.ok);
  const cpu: CpuPerRequest = { eventLoop: 0, server: 0, other: 0, total: 0 };
  for (const [tid, micros] of Object.entries(after.threads)) {
    const used = per(micros - (before.threads[tid] ?? 0));
    if (tid === String(child.pid)) cpu.eventLoop += used;
    else if (child.isServerThread(tid)) cpu.server += used;
    else cpu.other += used;
    cpu.total += used;
  }
  return { ...run, cpu, postgres: per(pgAfter - pgBefore) };
}

async function meanBatch(url: string): Promise<number | undefined> {
  const res = await fetch(`${url}/metrics`);
  if (res.status !== 200) return undefined;
  const text = await res.text();
  const sum = /^sigpost_commit_batch_size_sum (\S+)$/m.exec(text)?.[1];
  const count = /^sigpost_commit_batch_size_count (\S+)$/m.exec(text)?.[1];
  return sum && count ? Number(sum) / Number(count) : undefined;
}

export async function setupProducer(store: Store, key: string): Promise<void> {
  await new Admin(store, SecretBox.fromEnv({ SIGPOST_SECRET_KEY: key })).addProducer({
    id: PRODUCER,
    secret: SECRET,
  });
}

export const fmt = (n: number, digits = 0) =>
  n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** Request files: warm-up, then the measured run at 50 connections or the sequential one (each request unique). */
interface Files {
  warmup: string;
  measured: string;
}

const failures: string[] = [];
const load1 = () =>
  loadavg()
    .map((n) => fmt(n, 1))
    .join(' ');

function check(label: string, run: WrkRun, count: number): void {
  if (run.other > 0 || run.wrapped || run.ok !== count) {
    const why = `${label}: ${run.other} non-2xx of ${count}${run.wrapped ? ', requests repeated' : ''}`;
    failures.push(run.sample ? `${why}; first: ${run.sample}` : why);
    console.log(`  FAILED ${failures.at(-1)}`);
  }
}

/**
 * Starts the server `args` in a child, warms it up at 50 connections, then measures `count` requests at
 * `connections` (50, or 1 for sequential latency).
 */
async function measure(
  label: string,
  args: string[],
  files: Files,
  count = REQUESTS,
  connections = CONNECTIONS,
) {
  const child = new Child(args);
  const url = await child.url();
  try {
    check(`${label} warm-up`, await load(child, url, files.warmup, WARMUP), WARMUP);
    const run = await load(child, url, files.measured, count, connections);
    check(label, run, count);
    console.log(
      `  ${label}: ${fmt(run.perSecond)}/s, p50 ${fmt(run.latency.p50, 2)} ms, p99 ${fmt(run.latency.p99, 2)} ms, ` +
        `CPU ${fmt(run.cpu.total)} µs/request (load ${load1()})`,
    );
    const batch = args[0] === 'sigpost' ? await meanBatch(url) : undefined;
    return batch === undefined ? run : { ...run, batch };
  } finally {
    await child.stop();
  }
}

/** The run with the median accepted/s. */
function median(runs: readonly Run[]): Run {
  return [...runs].sort((a, b) => a.perSecond - b.perSecond)[Math.floor(runs.length / 2)] as Run;
}

const NAMES: Record<string, string> = {
  bare: 'bare `node:http`, reads the body, fixed 201',
  naive: 'naive fastify + HMAC + schema + INSERT per request (NORMAL)',
  'naive-gc': 'naive, group commit per event-loop turn (NORMAL)',
  sigpost: '`sigpost serve`, SQLite (WAL, FULL)',
  postgres: '`sigpost serve`, PostgreSQL',
};

function row(name: string, run: Run, bare: Run, postgres = false): string {
  const cpu = run.cpu;
  const cells = [
    name,
    fmt(run.perSecond),
    fmt(run.perSecond / bare.perSecond, 2),
    fmt(run.latency.p50, 2),
    fmt(run.latency.p99, 2),
    fmt(cpu.eventLoop),
    cpu.server >= 0.5 ? fmt(cpu.server) : '—',
    fmt(cpu.other),
    fmt(cpu.total) +
      (postgres && run.postgres !== undefined ? ` + ${fmt(run.postgres)} in postgres processes` : ''),
    run.batch === undefined ? '' : fmt(run.batch, 1),
    String(run.other),
  ];
  return `| ${cells.join(' | ')} |`;
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
    `POST /api/v1/signals/ingest with wrk: 1 thread, ${CONNECTIONS} connections, keep-alive, 127.0.0.1; ` +
      `${fmt(REQUESTS)} unique pre-signed requests per run after ${fmt(WARMUP)} warm-up; ${ROUNDS} interleaved ` +
      `round(s); sigpost log level ${LOG_LEVEL}. Load average at start: ${load1()}`,
  );
  const key = randomBytes(32).toString('base64');
  const dir = mkdtempSync(join(tmpdir(), 'sigpost-bench-'));
  const newFiles = async (tag: string, count = REQUESTS): Promise<Files> => {
    const files = { warmup: join(dir, `${tag}-warmup.req`), measured: join(dir, `${tag}-measured.req`) };
    await writeRequests(files.warmup, WARMUP + CONNECTIONS * 2, `${tag}-warmup`);
    await writeRequests(files.measured, count + CONNECTIONS * 2, tag);
    return files;
  };
  try {
    let databases = 0;
    const newSigpostDb = async () => {
      const dbPath = join(dir, `sigpost-${++databases}.db`);
      const setup = await openStore({ dbPath });
      await setupProducer(setup, key);
      await setup.close();
      return dbPath;
    };
    const runs: Record<string, Run[]> = { bare: [], naive: [], 'naive-gc': [], sigpost: [] };
    for (let round = 1; round <= ROUNDS; round++) {
      const files = await newFiles(`round-${round}`);
      const results: Record<string, Run> = {
        bare: await measure('bare', ['bare'], files),
        naive: await measure('naive', ['naive', join(dir, `naive-${round}.db`)], files),
        'naive-gc': await measure('naive-gc', ['naive-gc', join(dir, `naive-gc-${round}.db`)], files),
        sigpost: await measure('sigpost', ['sigpost', await newSigpostDb(), '', key], files),
      };
      for (const [name, run] of Object.entries(results)) runs[name]?.push(run);
      const bare = results.bare as Run;
      console.log(
        `round ${round} (load ${load1()}): ` +
          Object.entries(results)
            .map(([name, r]) => `${name} ${fmt(r.perSecond)}/s (${fmt(r.perSecond / bare.perSecond, 2)})`)
            .join(', '),
      );
      rmSync(files.warmup);
      rmSync(files.measured);
    }

    let postgres: Run | undefined;
    if (SKIP_POSTGRES) {
      console.log('BENCH_INGEST_ONLY=sqlite: PostgreSQL skipped');
    } else if (await pgReachable()) {
      const schema = `bench_${randomBytes(4).toString('hex')}`;
      const files = await newFiles('postgres');
      try {
        const pgStore = await openStore({ databaseUrl: PG_URL, schema });
        await setupProducer(pgStore, key);
        await pgStore.close();
        postgres = await measure('postgres', ['sigpost', PG_URL, schema, key], files);
      } finally {
        await dropSchema(schema);
        rmSync(files.warmup);
        rmSync(files.measured);
      }
    } else {
      console.log(`PostgreSQL at ${PG_URL.replace(/:[^:@/]*@/, ':***@')} is unreachable: skipped`);
    }

    // Sequential latency: one connection, one request in flight, on a fresh server after its warm-up.
    const seqFiles = await newFiles('sequential', SEQUENTIAL);
    const seqBare = await measure('bare sequential', ['bare'], seqFiles, SEQUENTIAL, 1);
    const seqSigpost = await measure(
      'sigpost sequential',
      ['sigpost', await newSigpostDb(), '', key],
      seqFiles,
      SEQUENTIAL,
      1,
    );

    const bare = median(runs.bare ?? []);
    console.log(
      `\nMedians of ${ROUNDS} round(s) (PostgreSQL: one run); CPU in µs per accepted request by thread ` +
        '("server threads": threads the server started, i.e. sigpost\'s SQLite writer; "other": GC, libuv):\n',
    );
    console.log(
      '| server | accepted/s | vs bare | p50 ms | p99 ms | CPU event loop | CPU server threads | CPU other | CPU total | signals/batch | non-2xx |',
    );
    console.log('|---|---|---|---|---|---|---|---|---|---|---|');
    for (const name of ['bare', 'naive', 'naive-gc', 'sigpost']) {
      console.log(row(NAMES[name] as string, median(runs[name] ?? []), bare));
    }
    if (postgres) console.log(row(NAMES.postgres as string, postgres, bare, true));

    console.log(`\nSequential (1 connection, 1 request in flight, ${fmt(SEQUENTIAL)} requests):\n`);
    console.log('| server | p50 ms | p90 ms | p99 ms | max ms | requests/s |');
    console.log('|---|---|---|---|---|---|');
    for (const [name, r] of [
      ['bare', seqBare],
      ['sigpost', seqSigpost],
    ] as const) {
      const l = r.latency;
      console.log(
        `| ${NAMES[name]} | ${fmt(l.p50, 3)} | ${fmt(l.p90, 3)} | ${fmt(l.p99, 3)} | ${fmt(l.max, 1)} | ${fmt(r.perSecond)} |`,
      );
    }

    const ratio = median(runs.sigpost ?? []).perSecond / bare.perSecond;
    const verdict = (ok: boolean) => (ok ? 'met' : 'NOT met');
    console.log(
      `\nsigpost/bare ${fmt(ratio, 2)}: floor ≥ ${FLOOR} ${verdict(ratio >= FLOOR)}, goal ≥ ${GOAL} ${verdict(ratio >= GOAL)}; ` +
        `sequential p50 ${fmt(seqSigpost.latency.p50, 2)} ms (≤ ${SEQ_P50_MS}: ${verdict(seqSigpost.latency.p50 <= SEQ_P50_MS)}), ` +
        `p99 ${fmt(seqSigpost.latency.p99, 2)} ms (≤ ${SEQ_P99_MS}: ${verdict(seqSigpost.latency.p99 <= SEQ_P99_MS)}). ` +
        `Load average at end: ${load1()}`,
    );
    if (ratio < FLOOR) failures.push(`sigpost/bare ${fmt(ratio, 2)} is below the floor ${FLOOR}`);
    if (failures.length > 0) {
      console.log(`\nFAILED:\n${failures.map((f) => `- ${f}`).join('\n')}`);
      process.exitCode = 1;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// Run as a script (not when bench/ingest-rss.bench.ts imports the helpers above).
if (process.argv[1] === SELF) {
  if (process.argv[2] === '--serve') await serveChild(process.argv.slice(3));
  else await main();
}
