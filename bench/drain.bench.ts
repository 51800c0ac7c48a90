// Drain throughput of the outbox against the real ingest server (@sigpost/ingest, SQLite store, in a
// child process on 127.0.0.1), beside HmacClient.postSignal called directly at the same concurrency
// through the same client. Target: drain >= 0.8x direct posting. Traffic is bounded (a few thousand
// requests) and stays on 127.0.0.1.
//
//   npm run bench -- drain
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { validSignal } from '@sigpost/test-support/fixtures';
import { HmacClient } from '../packages/outbound/src/client.js';
import { OutboundConfig } from '../packages/outbound/src/config.js';
import { Outbox } from '../packages/outbound/src/outbox/outbox.js';

const CONCURRENCY = 16;
const PER_ROUND = 1000; // signals per measured round
const ROUNDS = 3; // rounds per side, alternating
const WARMUP = 200;
const TARGET = 0.8;
const PRODUCER_ID = 'bench-producer';
const SECRET = 'bench-secret-0123456789abcdef-0123';

const quiet = { debug() {}, info() {}, warn() {}, error() {}, fatal() {} };
const signal = (n: number) =>
  validSignal({ instrument: ['GOLD', 'EURUSD', 'BTC/USD', 'SPX'][n % 4]!, payload: { n } });

if (process.argv[2] === '--server') {
  // Child mode: the ingest server, so its event loop does not share a thread with the producer's.
  const { Admin, SecretBox, SqliteStore, startServer } = await import('@sigpost/ingest');
  const store = new SqliteStore({ path: join(process.argv[3]!, 'server.db') });
  await store.migrate();
  const secretBox = SecretBox.fromKey(Buffer.alloc(32, 7));
  await new Admin(store, secretBox).addProducer({ id: PRODUCER_ID, secret: SECRET, approval: 'auto' });
  const server = await startServer({
    store,
    secretBox,
    config: { host: '127.0.0.1', port: 0, rateLimit: { perSecond: 1_000_000, burst: 1_000_000 } },
    processMetrics: false,
  });
  process.stdout.write(`LISTENING ${server.url}\n`);
} else {
  const dir = mkdtempSync(join(tmpdir(), 'sigpost-bench-drain-'));
  let child: ChildProcess | undefined;
  try {
    child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--server', dir], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const url = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child!.stdout! }).on('line', (line) => {
        if (line.startsWith('LISTENING ')) resolve(line.slice('LISTENING '.length));
      });
      child!.once('exit', (code) => reject(new Error(`ingest server exited with ${code}`)));
    });
    const config = new OutboundConfig({
      producerId: PRODUCER_ID,
      producerSecret: SECRET,
      serverBaseUrl: url,
    });
    const client = new HmacClient(config, quiet, { connections: CONCURRENCY });
    const outbox = Outbox.open(join(dir, 'outbox.db'), { logger: quiet });
    let next = 0;

    const direct = async (count: number): Promise<number> => {
      const first = next;
      next += count;
      let i = first;
      const started = performance.now();
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (i < first + count) await client.postSignal(signal(i++));
        }),
      );
      return performance.now() - started;
    };
    const drained = async (count: number): Promise<number> => {
      outbox.enqueueMany(Array.from({ length: count }, (_, k) => signal(next + k)));
      next += count;
      const started = performance.now();
      const summary = await outbox.drain({ client, concurrency: CONCURRENCY });
      const ms = performance.now() - started;
      if (summary.delivered !== count) throw new Error(`drain delivered ${summary.delivered} of ${count}`);
      return ms;
    };

    await direct(WARMUP);
    await drained(WARMUP);
    let directMs = 0;
    let drainMs = 0;
    for (let round = 0; round < ROUNDS; round++) {
      directMs += await direct(PER_ROUND);
      drainMs += await drained(PER_ROUND);
    }
    const directRate = (ROUNDS * PER_ROUND * 1000) / directMs;
    const drainRate = (ROUNDS * PER_ROUND * 1000) / drainMs;
    const ratio = drainRate / directRate;
    const fmt = (n: number) => n.toFixed(0).padStart(8);
    console.log(`server: @sigpost/ingest startServer, SQLite store, child process on 127.0.0.1`);
    console.log(
      `outbox.drain          ${fmt(drainRate)} signals/s   (concurrency ${CONCURRENCY}, durable bookkeeping)`,
    );
    console.log(
      `postSignal directly   ${fmt(directRate)} signals/s   (concurrency ${CONCURRENCY}, same client)`,
    );
    console.log(`ratio                 ${ratio.toFixed(2).padStart(8)}x          (target >= ${TARGET})`);
    await client.close();
    await outbox.close();
    if (ratio < TARGET) {
      console.error(`drain is below ${TARGET}x of direct posting`);
      process.exitCode = 1;
    }
  } finally {
    child?.kill('SIGTERM');
    if (child && child.exitCode === null) await new Promise((resolve) => child!.once('exit', resolve));
    rmSync(dir, { recursive: true, force: true });
  }
}
